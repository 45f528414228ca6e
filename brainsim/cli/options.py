"""Command-line options made from parameter dataclasses (:mod:`brainsim.params`): nothing restated.

``add_options(parser, Cls)`` adds one option per :func:`~brainsim.params.param` field (name from
``cli=`` or ``--field-name``, type, choices, help with unit, range and the dataclass default);
``build(Cls, args)`` makes the instance from the options the user gave, all others keeping the
dataclass defaults. Values are checked while parsing, so a bad one is a one-line argparse error.
"""
from __future__ import annotations

import argparse
import dataclasses

from ..errors import UserError
from ..params import ParamInfo, check_value, fields_of


def option_name(field_name: str, p: ParamInfo) -> str | None:
    if p.cli == "":
        return None
    return p.cli or "--" + field_name.replace("_", "-")


def _converter(owner: str, name: str, p: ParamInfo, kind):
    def convert(text: str):
        if p.nullable and text.lower() in ("none", "auto"):
            return None
        try:
            value = kind(text) if kind is not None else text
        except ValueError:
            article = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {article}: {text!r}") from None
        try:
            return check_value("", "", value, p, kind)
        except UserError as exc:   # "<name> must be ...": argparse names the option itself
            raise argparse.ArgumentTypeError(str(exc).lstrip(": ")) from None

    convert.__name__ = (kind or str).__name__
    return convert


def _help(p: ParamInfo, default) -> str:
    unit = f" ({p.unit})" if p.unit else ""
    shown = "none" if default is None else (f"{default:g}" if isinstance(default, float) else default)
    return f"{p.help}{unit}; default: {shown}" if p.help else f"default: {shown}"


@dataclasses.dataclass(frozen=True)
class OptionSet:
    """The options :func:`add_options` added: field name -> argparse dest."""

    cls: type
    dests: dict


def add_options(parser, cls, *, only=None, exclude=(), dest_prefix: str = "", defaults: dict | None = None
                ) -> OptionSet:
    """Add the options of ``cls``'s fields to ``parser`` (or an argument group).

    ``only``/``exclude`` select fields; ``defaults`` shows other defaults in the help (e.g. a preset's)
    without changing them. Unset options are absent from the namespace (argparse.SUPPRESS).
    """
    shown = dict(defaults or {})
    dests = {}
    for f, p, kind in fields_of(cls):
        if (only is not None and f.name not in only) or f.name in exclude:
            continue
        name = option_name(f.name, p)
        if name is None:
            continue
        default = shown.get(f.name, f.default if f.default is not dataclasses.MISSING else None)
        dest = dest_prefix + f.name
        if kind is bool:
            parser.add_argument(name, dest=dest, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=_help(p, default))
        else:
            parser.add_argument(name, dest=dest, type=_converter(cls.__name__, f.name, p, kind),
                                default=argparse.SUPPRESS, metavar=p.metavar or (p.unit.upper() or None),
                                choices=None, help=_help(p, default) + (
                                    f"; one of {', '.join(map(str, p.choices))}" if p.choices else ""))
        dests[f.name] = dest
    return OptionSet(cls, dests)


def given(options: OptionSet, args: argparse.Namespace) -> dict:
    """{field name: value} of the options the user gave."""
    return {name: getattr(args, dest) for name, dest in options.dests.items() if hasattr(args, dest)}


def build(options: OptionSet, args: argparse.Namespace, base=None, **extra):
    """An instance of ``options.cls``: ``base`` (or the defaults) with the given options and ``extra``."""
    values = {**given(options, args), **extra}
    if base is not None:
        return dataclasses.replace(base, **values)
    return options.cls(**values)
