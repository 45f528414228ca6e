"""Command-line options made from parameter dataclasses (:mod:`brainsim.params`): nothing restated.

``opts = add_options(parser, Cls)`` adds one option per :func:`~brainsim.params.param` leaf of
``Cls`` (nested groups included; option name from ``cli=`` or ``--flat-name``; type, choices, help
with unit and the default); ``opts.build(args)`` makes the instance from the options the user gave,
all others keeping the dataclass defaults (or those of ``base``). Values are checked while parsing,
so a bad one is a one-line argparse error naming the option. Options of a group declared with help
text are listed under that title.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import MISSING

from ..errors import UserError
from ..params import FlatParam, build, check_value, flat_params, group_info


def option_names(p: FlatParam) -> tuple[str, ...]:
    """``--name`` (and aliases) of a flat parameter (none: not a command-line option)."""
    if p.info.cli == "" or not p.cli:
        return ()
    if isinstance(p.info.cli, tuple):
        return p.info.cli
    return (p.info.cli or "--" + p.name.replace("_", "-"),)


def _converter(p: FlatParam):
    kind = p.kind

    def convert(text: str):
        if p.info.nullable and text.lower() in ("none", "auto"):
            return None
        try:
            value = kind(text) if kind is not None else text
        except ValueError:
            article = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {article}: {text!r}") from None
        try:
            return check_value("", "", value, p.info, kind)
        except UserError as exc:   # "<name> must be ...": argparse names the option itself
            raise argparse.ArgumentTypeError(str(exc).lstrip(": ")) from None

    convert.__name__ = (kind or str).__name__
    return convert


def _shown(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _help(p: FlatParam, default, note: str = "") -> str:
    unit = f" ({p.info.unit})" if p.info.unit else ""
    text = f"{p.info.help}{unit}; default: {_shown(default)}" if p.info.help else f"default: {_shown(default)}"
    return f"{text} ({note})" if note else text


def _metavar(p: FlatParam) -> str | None:
    if p.info.metavar:
        return p.info.metavar
    if p.info.choices:
        return "{" + ",".join(map(str, p.info.choices)) + "}"
    if p.info.unit:
        return p.info.unit.upper()
    return {int: "N", float: "X"}.get(p.kind, "TEXT")


def _group_titles(cls) -> dict[tuple, str]:
    """Attribute path of every nested group with help text -> that text."""
    out: dict[tuple, str] = {}

    def walk(c, path):
        for f in dataclasses.fields(c):
            g = group_info(f)
            if g is not None:
                if g.help:
                    out[path + (f.name,)] = g.help
                walk(g.cls, path + (f.name,))

    walk(cls, ())
    return out


def section(parser, title: str):
    """The argument group of ``parser`` titled ``title`` (made on first use, shared by later calls)."""
    if not isinstance(parser, argparse.ArgumentParser):
        return parser   # already an argument group: argparse does not nest them
    for group in parser._action_groups:
        if group.title == title:
            return group
    return parser.add_argument_group(title)


@dataclasses.dataclass(frozen=True)
class OptionSet:
    """The options :func:`add_options` added for ``cls`` (their argparse dests are the flat names),
    plus ``shared`` flat names whose options another call added."""

    cls: type
    names: tuple[str, ...]
    shared: tuple[str, ...] = ()
    base: object = None          # the instance whose values the help showed (None: the declared defaults)

    def given(self, args: argparse.Namespace) -> dict:
        """{flat name: value} of the options the user gave."""
        return {name: getattr(args, name) for name in self.names + self.shared if hasattr(args, name)}

    def build(self, args: argparse.Namespace, **extra):
        """An instance of ``cls``: the base of :func:`add_options` (or the declared defaults) with the
        given options and ``extra`` (flat names) replaced."""
        return build(self.cls, {**self.given(args), **extra}, self.base)


def add_options(parser, cls, *, only=None, exclude=(), base=None, shared=(), many=(), notes=None,
                title: str | None = None) -> OptionSet:
    """Add the options of ``cls``'s flat parameters to ``parser`` (an ArgumentParser).

    ``only`` / ``exclude`` select flat names; ``base``: an instance whose values are the defaults
    shown and what :meth:`OptionSet.build` starts from (e.g. a preset's); ``shared``: flat names whose
    options another :func:`add_options` call adds (one option feeding both configurations);
    ``many``: options that take one or more values (a list; the caller uses them); ``notes``: text
    appended to an option's help; ``title``: list the options of ``cls``'s own fields under this title
    (those of its titled groups go under the groups' titles). Unset options are absent from the
    namespace (argparse.SUPPRESS).
    """
    notes = dict(notes or {})
    titles = _group_titles(cls)
    root = section(parser, title) if title else parser
    names = []
    for p in flat_params(cls, base):
        if (only is not None and p.name not in only) or p.name in exclude or p.name in shared:
            continue
        flags = option_names(p)
        if not flags:
            continue
        target = root
        for depth in range(len(p.path) - 1, 0, -1):  # the innermost titled group
            group_title = titles.get(p.path[:depth])
            if group_title is not None:
                target = section(parser, group_title)
                break
        default = None if p.default is MISSING else p.default
        help_text = _help(p, default, notes.get(p.name, "")).replace("%", "%%")  # argparse formats help
        if p.kind is bool and p.name not in many:
            target.add_argument(*flags, dest=p.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=help_text)
        else:
            target.add_argument(*flags, dest=p.name, type=_converter(p), default=argparse.SUPPRESS,
                                metavar=_metavar(p), nargs="+" if p.name in many else None, help=help_text,
                                required=p.required)
        names.append(p.name)
    return OptionSet(cls, tuple(names), tuple(shared), base)
