"""What a sweep runs: an :class:`Experiment` with declared parameters and metrics, and the registry.

An experiment turns one flat dictionary of parameters (the spec's ``[grid]`` and ``[fixed]`` values
over the declared defaults) plus a seed into one flat dictionary of metrics, by calling the library in
the worker process (no subprocess per run). Every parameter is declared with its type and default, so
a spec is checked before anything runs: unknown names, wrong types, values outside a field's range
and values the experiment's own parameter classes reject are one-line errors.

The built-in experiments (:mod:`brainsim.sweeps.adapters`) do not restate their parameters: they
derive them from the fields of the experiments' configuration dataclasses (:func:`config_params`:
flat names, types, defaults, help, units, ranges; see :mod:`brainsim.params`) and rebuild the
configurations from a run's values (:func:`config_from`).

Own experiments: a spec may name ``experiment = "package.module:ATTR"``, an :class:`Experiment` (or
a function returning one) importable on every worker; :func:`register` adds one to this process.
Imports here stay light (no Brian2, no torch): the CLI imports this module to validate specs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from ..params import ParamInfo, build, check_value, flat_params

REQUIRED = object()  # default of a parameter that every spec must give


@dataclass(frozen=True)
class Param:
    """A declared parameter: name, type (int, float, bool or str), default, help; ``info``: the
    field declaration it comes from (its range is checked too)."""

    name: str
    kind: type
    default: Any
    help: str = ""
    choices: tuple | None = None
    optional: bool = False   # None (leave to the experiment) is a valid value
    info: ParamInfo | None = None

    def coerce(self, value, where: str = ""):
        """The value in the parameter's type; UserError for a value of the wrong type or range."""
        where = where or self.name
        if value is None and self.optional:
            return None
        info = self.info or ParamInfo(help=self.help, choices=self.choices)
        return check_value("", where, value, info, self.kind)

    def describe(self) -> str:
        default = "(required)" if self.default is REQUIRED else repr(self.default)
        choices = f" [{'|'.join(map(str, self.choices))}]" if self.choices else ""
        return f"{self.name} ({_kind_name(self.kind)}{choices}, default {default}): {self.help}"


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[kind]


def config_params(cls, *, base=None, only=None, exclude=(), overrides: bool = False, note: str = "",
                  prefix: str = "", rename: dict | None = None) -> list[Param]:
    """The sweep parameters of a configuration dataclass: one per sweepable flat field (see
    :func:`brainsim.params.flat_params`), defaults from ``base`` or the declarations.

    ``overrides``: every default is None ("leave it to the experiment", e.g. a preset's value) and
    ``note`` says so in the help. ``prefix`` / ``rename`` name the fields as a group would."""
    rename = rename or {}
    out = []
    for p in flat_params(cls, base):
        if p.info.sweep is False or p.name in exclude or (only is not None and p.name not in only):
            continue
        unit = f" ({p.info.unit})" if p.info.unit else ""
        default = None if overrides else (REQUIRED if p.required else p.default)
        out.append(Param(prefix + rename.get(p.name, p.name), p.kind or str, default, p.info.help + unit + note,
                         choices=p.info.choices, optional=overrides or p.info.nullable, info=p.info))
    return out


def config_from(cls, params: dict, *, base=None, overrides: bool = False, prefix: str = "",
                rename: dict | None = None):
    """The configuration of a run: ``base`` (or the declared defaults) with the run's values of the
    parameters :func:`config_params` made from ``cls`` (with ``overrides``: only those not None)."""
    rename = rename or {}
    values = {}
    for p in flat_params(cls, base):
        name = prefix + rename.get(p.name, p.name)
        if p.info.sweep is False or name not in params:
            continue
        if overrides and params[name] is None:
            continue
        values[p.name] = params[name]
    return build(cls, values, base)


@dataclass(frozen=True)
class Experiment:
    """A sweepable experiment.

    ``run(params, seed, workdir)`` gets every declared parameter (defaults filled in), the run's seed
    and a fresh scratch directory (removed afterwards) and returns a flat dict of metrics (numbers,
    strings, booleans or None). ``check(params)`` validates one setting before any run starts (raise
    UserError). ``metrics`` names the main metrics, the first one being the default of plots.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    metrics: tuple[str, ...]
    run: Callable[[dict, int, Path], dict]
    check: Callable[[dict], None] | None = None
    cost: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def resolve(self, given: dict) -> dict:
        """All parameters: defaults overridden by ``given`` (already coerced)."""
        values = {p.name: p.default for p in self.params}
        values.update(given)
        missing = [name for name, value in values.items() if value is REQUIRED]
        if missing:
            raise UserError(f"experiment {self.name!r} needs a value for {', '.join(missing)}")
        return values

    def describe(self) -> str:
        lines = [f"{self.name}: {self.summary}"]
        if self.cost:
            lines.append(f"  cost: {self.cost}")
        lines.append("  parameters:")
        lines += [f"    {p.describe()}" for p in self.params]
        lines.append(f"  metrics: {', '.join(self.metrics)}")
        return "\n".join(lines)


# --- registry -----------------------------------------------------------------------------------------

@dataclass
class _Lazy:
    """Experiments are built on first use (their parameter lists import the configuration classes)."""

    factory: Callable[[], Experiment]
    value: Experiment | None = field(default=None)

    def get(self) -> Experiment:
        if self.value is None:
            self.value = self.factory()
        return self.value


def _builtin(attr: str) -> Callable[[], Experiment]:
    def factory() -> Experiment:
        from . import adapters

        return getattr(adapters, attr)()

    return factory


_REGISTRY: dict[str, _Lazy] = {
    "jeffress": _Lazy(_builtin("jeffress")),
    "jeffress-learn": _Lazy(_builtin("jeffress_learn")),
    "ipd": _Lazy(_builtin("ipd")),
    "ipd-evaluate": _Lazy(_builtin("ipd_evaluate")),
    "stdp": _Lazy(_builtin("stdp")),
    "compare": _Lazy(_builtin("compare")),
}


def register(experiment: Experiment | Callable[[], Experiment], name: str | None = None) -> None:
    """Add an experiment to this process's registry (workers import plug-ins by ``module:attr``)."""
    if isinstance(experiment, Experiment):
        _REGISTRY[name or experiment.name] = _Lazy(lambda: experiment, experiment)
    else:
        if name is None:
            raise UserError("register(factory) needs a name")
        _REGISTRY[name] = _Lazy(experiment)


def names() -> list[str]:
    """The registered experiments' names."""
    return list(_REGISTRY)


def available() -> list[str]:
    """Registered experiments whose code is installed here."""
    out = []
    for name in _REGISTRY:
        try:
            get(name)
        except UserError:
            continue
        out.append(name)
    return out


def get(name: str) -> Experiment:
    """The experiment called ``name`` (a registered name or ``package.module:attr``); UserError if unknown."""
    if name in _REGISTRY:
        try:
            return _REGISTRY[name].get()
        except ModuleNotFoundError as exc:
            raise UserError(f"experiment {name!r} is not available in this installation ({exc})") from None
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            obj = getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise UserError(f"cannot import experiment {name!r}: {exc}") from None
        if callable(obj) and not isinstance(obj, Experiment):
            obj = obj()
        if not isinstance(obj, Experiment):
            raise UserError(f"{name!r} is not a brainsim.sweeps.Experiment")
        return obj
    raise UserError(f"unknown experiment {name!r}; choose one of {', '.join(names())} "
                    "(or package.module:ADAPTER)")
