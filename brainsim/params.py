"""Parameter fields: one home for a parameter's default, meaning, unit and valid values.

Every configuration in brainsim is a frozen dataclass whose fields are declared with :func:`param`
(a value) or :func:`param_group` (a nested configuration). The same declaration gives

* validation: ``check_fields(self)`` in ``__post_init__`` raises :class:`~brainsim.errors.UserError`
  with one line naming the class and the field, so bad values never travel further (checks that
  involve several fields stay in ``__post_init__`` and raise UserError too);
* the command-line options (:mod:`brainsim.cli.options` builds argparse options from the fields:
  option name, type, help text with unit and default, choices), so no default is restated in the CLI;
* the sweep parameters (:mod:`brainsim.sweeps.experiment` lists the same fields, flattened, with
  their types, defaults and ranges, and rebuilds the configuration from a spec's values).

Flat names. A configuration with nested groups is addressed by the *flat names* of its leaves
(:func:`flat_params`): a field's own name, or the name given by ``param(..., sweep="name")``, with the
``prefix`` / ``rename`` of the groups above it (``param_group(CobaParams, prefix="coba_")``). Flat
names are unique within a configuration (checked), and are the names of sweep parameters and, with
``-`` for ``_``, of command-line options (``cli=`` overrides the option name).

Field names carry their unit as a lower-case suffix (``_ms``, ``_hz``, ``_mv``, ``_deg``, ``_rad``,
``_s``); :data:`UNIT_SUFFIXES` lists them.

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
import functools
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
    cli: str | tuple | None = None  # option name(s); None: --flat-name; "": not a CLI option
    metavar: str | None = None
    sweep: bool | str = True       # offered as a sweep parameter (a string: under that name)
    nullable: bool = False         # None is allowed (meaning given in help)

    def describe_range(self) -> str:
        """The valid range in words ("> 0", "between -180 and 180", ...)."""
        if self.ge is not None and self.le is not None and self.gt is None and self.lt is None:
            return f"between {self.ge:g} and {self.le:g}"
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


@dataclass(frozen=True)
class GroupInfo:
    """What :func:`param_group` records about a nested configuration."""

    cls: type
    help: str = ""
    prefix: str = ""               # prepended to the flat names of the group's fields
    rename: tuple = ()             # (field name, flat name) pairs, applied before the prefix
    cli: bool = True               # the group's fields may be command-line options


def param(default: Any = MISSING, help: str = "", *, unit: str = "", ge=None, gt=None, le=None, lt=None,
          choices=None, cli: str | tuple | None = None, metavar: str | None = None, sweep: bool | str = True,
          nullable: bool = False):
    """A dataclass field with its help text, unit and valid values (see the module docstring).

    Without a default the field is required (and so is the sweep parameter made from it)."""
    info = ParamInfo(help=help, unit=unit, ge=ge, gt=gt, le=le, lt=lt,
                     choices=tuple(choices) if choices is not None else None, cli=cli, metavar=metavar,
                     sweep=sweep, nullable=nullable or default is None)
    kwargs: dict = {"metadata": {METADATA_KEY: info}}
    if default is not MISSING:
        kwargs["default"] = default
    return dataclasses.field(**kwargs)


def param_group(cls, help: str = "", *, default=None, prefix: str = "", rename: dict | None = None,
                cli: bool = True):
    """A nested configuration: a field holding another parameter dataclass.

    ``default``: the group's default instance (default: ``cls()``); ``prefix`` and ``rename`` keep
    flat names unique (``rename={"dt_ms": "stimulus_dt_ms"}``); ``cli=False``: never command-line
    options (e.g. a realisation's constants that only sweeps change)."""
    factory = cls if default is None else (lambda: default)
    info = GroupInfo(cls=cls, help=help, prefix=prefix, rename=tuple(sorted((rename or {}).items())), cli=cli)
    return dataclasses.field(default_factory=factory, metadata={METADATA_KEY: info})


def info(f: dataclasses.Field) -> ParamInfo | None:
    """The :class:`ParamInfo` of a :func:`param` field (None for anything else)."""
    value = f.metadata.get(METADATA_KEY)
    return value if isinstance(value, ParamInfo) else None


def group_info(f: dataclasses.Field) -> GroupInfo | None:
    """The :class:`GroupInfo` of a :func:`param_group` field (None for anything else)."""
    value = f.metadata.get(METADATA_KEY)
    return value if isinstance(value, GroupInfo) else None


@functools.lru_cache(maxsize=None)
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


@functools.lru_cache(maxsize=None)
def fields_of(cls) -> tuple[tuple[dataclasses.Field, ParamInfo, type | None], ...]:
    """(field, info, base type) of every :func:`param` field of ``cls``, in declaration order."""
    types = _resolved_types(cls)
    return tuple((f, info(f), base_type(types.get(f.name, f.type))) for f in dataclasses.fields(cls) if info(f))


def _field_default(f: dataclasses.Field):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


@dataclass(frozen=True)
class FlatParam:
    """A leaf parameter of a (possibly nested) configuration, by its flat name."""

    name: str                    # flat name: unique within the root configuration
    path: tuple[str, ...]        # attribute path from the root (("stimulus", "freq_hz"))
    info: ParamInfo
    kind: type | None            # bool, int, float or str
    default: Any                 # value in the root's defaults (or in the given base); MISSING: required
    owner: type                  # the dataclass that declares the field
    cli: bool = True             # no group above it forbids command-line options

    @property
    def field_name(self) -> str:
        return self.path[-1]

    @property
    def required(self) -> bool:
        return self.default is MISSING


def flat_params(cls, base=None) -> list[FlatParam]:
    """Every :func:`param` leaf of ``cls`` (nested groups included, in declaration order), with its
    default taken from ``base`` (an instance of ``cls``) or from the declarations. UserError if two
    leaves would share a flat name."""
    out: list[FlatParam] = []
    _collect(cls, base, (), "", {}, True, out)
    seen: dict[str, FlatParam] = {}
    for p in out:
        if p.name in seen:
            raise UserError(f"{cls.__name__}: fields {'.'.join(seen[p.name].path)} and {'.'.join(p.path)} "
                            f"share the flat name {p.name!r} (give the group a prefix or rename)")
        seen[p.name] = p
    return out


def _collect(cls, base, path, prefix, rename, cli, out) -> None:
    types = _resolved_types(cls)
    for f in dataclasses.fields(cls):
        value = getattr(base, f.name) if base is not None else _field_default(f)
        group = group_info(f)
        if group is not None:
            inner_prefix = prefix + group.prefix
            _collect(group.cls, value if value is not MISSING else None, path + (f.name,), inner_prefix,
                     dict(group.rename), cli and group.cli, out)
            continue
        p = info(f)
        if p is None:
            continue
        own = p.sweep if isinstance(p.sweep, str) else f.name
        name = prefix + rename.get(f.name, own)
        out.append(FlatParam(name=name, path=path + (f.name,), info=p, kind=base_type(types.get(f.name, f.type)),
                             default=value, owner=cls, cli=cli))


def to_flat(obj) -> dict:
    """{flat name: value} of a configuration instance (see :func:`flat_params`)."""
    out = {}
    for p in flat_params(type(obj), obj):
        out[p.name] = p.default
    return out


def build(cls, values: dict, base=None):
    """An instance of ``cls`` from flat-named ``values``: ``base`` (or the declared defaults) with
    those values replaced, nested groups rebuilt. Unknown names raise UserError."""
    known = {p.name: p for p in flat_params(cls, base)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(f"{cls.__name__} has no parameter {unknown[0]!r}")
    by_path: dict = {}
    for name, value in values.items():
        by_path[known[name].path] = value
    return _build_at(cls, base, (), by_path)


def _build_at(cls, base, path, by_path):
    changes = {}
    for f in dataclasses.fields(cls):
        here = path + (f.name,)
        group = group_info(f)
        if group is not None:
            inner = {k: v for k, v in by_path.items() if k[:len(here)] == here}
            if inner or base is None:
                current = getattr(base, f.name) if base is not None else _field_default(f)
                changes[f.name] = _build_at(group.cls, current, here, inner) if inner else current
        elif here in by_path:
            changes[f.name] = by_path[here]
    if base is not None:
        return dataclasses.replace(base, **changes) if changes else base
    return cls(**changes)


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
            elif type(value).__module__ == "numpy" and float(value).is_integer():
                value = int(value)
            else:
                raise UserError(f"{label} must be an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if type(value).__module__ != "numpy":
                raise UserError(f"{label} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise UserError(f"{label} must be finite, got {value!r}")
    elif kind is str and not isinstance(value, str):
        raise UserError(f"{label} must be a string, got {value!r}")
    if p.choices is not None and value not in p.choices:
        raise UserError(f"{label}: invalid choice {value!r} (choose from {', '.join(map(str, p.choices))})")
    if kind in (int, float):
        ok = ((p.ge is None or value >= p.ge) and (p.gt is None or value > p.gt)
              and (p.le is None or value <= p.le) and (p.lt is None or value < p.lt))
        if not ok:
            positive = (p.ge == 1 and p.gt is None) or (p.gt == 0 and p.ge is None)
            if kind is int and positive and p.le is None and p.lt is None:
                raise UserError(f"{label} must be a positive integer, got {value!r}")
            raise UserError(f"{label} must be {p.describe_range()}{unit}, got {value!r}")
    return value


def check_fields(obj) -> None:
    """Validate (and normalise: ints given for floats become floats) every :func:`param` field of the
    frozen dataclass instance ``obj``, and check that each :func:`param_group` field holds its class.
    Raises UserError naming the class and the field."""
    owner = type(obj).__name__
    for f, p, kind in fields_of(type(obj)):
        value = getattr(obj, f.name)
        checked = check_value(owner, f.name, value, p, kind)
        if checked is not value:
            object.__setattr__(obj, f.name, checked)
    for f in dataclasses.fields(obj):
        group = group_info(f)
        if group is not None and not isinstance(getattr(obj, f.name), group.cls):
            raise UserError(f"{owner}: {f.name} must be a {group.cls.__name__}, got {getattr(obj, f.name)!r}")


def defaults(cls) -> dict:
    """{field name: default} of a parameter dataclass (nested groups as their own dataclass default)."""
    out = {}
    for f in dataclasses.fields(cls):
        value = _field_default(f)
        if value is not MISSING:
            out[f.name] = value
    return out
