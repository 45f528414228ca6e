"""Parameter fields: one home for a parameter's default, meaning, unit and valid values.

Every configuration in brainsim is a frozen dataclass whose fields are declared with :func:`param`.
The same declaration gives

* validation: ``check_fields(self)`` in ``__post_init__`` raises :class:`~brainsim.errors.UserError`
  with one line naming the field, so bad values never travel further;
* the command-line options (``brainsim.cli.options`` builds argparse options from the fields: option
  name, type, help text with unit and default, choices), so no default is restated in the CLI;
* the sweep parameters (the sweep adapters list and convert the same fields).

Field names carry their unit as a lower-case suffix (``_ms``, ``_hz``, ``_mv``, ``_deg``, ``_rad``,
``_s``); :data:`UNIT_SUFFIXES` lists them. Nested configurations are fields whose type is itself such
a dataclass (``stimulus: IPDStimulusParams = param_group(IPDStimulusParams)``).

Example::

    @dataclass(frozen=True)
    class ToneParams:
        freq_hz: float = param(20.0, "tone frequency", unit="Hz", gt=0, cli="--freq")
        fibres: int = param(100, "fibres per ear", ge=1)

        def __post_init__(self):
            check_fields(self)
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import MISSING, dataclass
from typing import Any

from .errors import UserError

METADATA_KEY = "brainsim"
UNIT_SUFFIXES = {"_ms": "ms", "_s": "s", "_hz": "Hz", "_mv": "mV", "_deg": "deg", "_rad": "rad"}


@dataclass(frozen=True)
class ParamInfo:
    """What :func:`param` records about a field (``field.metadata['brainsim']``)."""

    help: str
    unit: str = ""
    ge: float | None = None        # value >= ge
    gt: float | None = None        # value > gt
    le: float | None = None        # value <= le
    lt: float | None = None        # value < lt
    choices: tuple | None = None
    cli: str | None = None         # option name; None: --field-name; "" : not a CLI option
    metavar: str | None = None
    sweep: bool = True             # offered as a sweep parameter
    nullable: bool = False         # None is allowed (meaning given in help)

    def describe_range(self) -> str:
        parts = []
        if self.ge is not None:
            parts.append(f">= {self.ge:g}")
        if self.gt is not None:
            parts.append(f"> {self.gt:g}")
        if self.le is not None:
            parts.append(f"<= {self.le:g}")
        if self.lt is not None:
            parts.append(f"< {self.lt:g}")
        return " and ".join(parts)


def param(default: Any = MISSING, help: str = "", *, unit: str = "", ge=None, gt=None, le=None, lt=None,
          choices=None, cli: str | None = None, metavar: str | None = None, sweep: bool = True,
          nullable: bool = False, default_factory: Any = MISSING):
    """A dataclass field with its help text, unit and valid values (see the module docstring)."""
    info = ParamInfo(help=help, unit=unit, ge=ge, gt=gt, le=le, lt=lt,
                     choices=tuple(choices) if choices is not None else None, cli=cli, metavar=metavar,
                     sweep=sweep, nullable=nullable or default is None)
    kwargs = {"metadata": {METADATA_KEY: info}}
    if default_factory is not MISSING:
        kwargs["default_factory"] = default_factory
    elif default is not MISSING:
        kwargs["default"] = default
    return dataclasses.field(**kwargs)


def param_group(cls, help: str = ""):
    """A nested configuration: a field holding another parameter dataclass (its defaults by default)."""
    return dataclasses.field(default_factory=cls, metadata={METADATA_KEY: ParamInfo(help=help, sweep=False, cli="")})


def info(f: dataclasses.Field) -> ParamInfo | None:
    return f.metadata.get(METADATA_KEY)


def _resolved_types(cls) -> dict:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - forward references that cannot be resolved: fall back to strings
        return {f.name: f.type for f in dataclasses.fields(cls)}


def base_type(annotation) -> type | None:
    """int, float, bool or str for ``int``, ``float | None``, ... (None for anything else)."""
    if isinstance(annotation, str):
        for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
            if annotation.replace(" ", "").split("|")[0] == name:
                return kind
        return None
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    candidates = args if args else [annotation]
    for kind in (bool, int, float, str):
        if kind in candidates:
            return kind
    return None


def fields_of(cls) -> list[tuple[dataclasses.Field, ParamInfo, type | None]]:
    """(field, info, base type) of every :func:`param` field of ``cls``, in declaration order."""
    types = _resolved_types(cls)
    return [(f, info(f), base_type(types.get(f.name, f.type))) for f in dataclasses.fields(cls) if info(f)]


def check_value(owner: str, name: str, value, p: ParamInfo, kind: type | None):
    """``value`` converted to ``kind`` (ints stay ints, floats accept ints); UserError if invalid."""
    label = f"{owner}: {name}" if owner else name
    unit = f" {p.unit}" if p.unit else ""
    if value is None:
        if p.nullable:
            return None
        raise UserError(f"{label} must be set")
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{label} must be true or false, got {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise UserError(f"{label} must be an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{label} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise UserError(f"{label} must be finite, got {value!r}")
    elif kind is str and not isinstance(value, str):
        raise UserError(f"{label} must be a string, got {value!r}")
    if p.choices is not None and value not in p.choices:
        raise UserError(f"{label} must be one of {', '.join(map(str, p.choices))}; got {value!r}")
    if kind in (int, float):
        ok = ((p.ge is None or value >= p.ge) and (p.gt is None or value > p.gt)
              and (p.le is None or value <= p.le) and (p.lt is None or value < p.lt))
        if not ok:
            raise UserError(f"{label} must be {p.describe_range()}{unit}, got {value!r}")
    return value


def check_fields(obj) -> None:
    """Validate (and normalise: ints given for floats become floats) every :func:`param` field of the
    frozen dataclass instance ``obj``. Raises UserError naming the class and the field."""
    owner = type(obj).__name__
    for f, p, kind in fields_of(type(obj)):
        value = getattr(obj, f.name)
        checked = check_value(owner, f.name, value, p, kind)
        if checked is not value:
            object.__setattr__(obj, f.name, checked)


def defaults(cls) -> dict:
    """{field name: default} of a parameter dataclass (nested groups as their own dataclass default)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out
