"""Sweep specs: a TOML file (or the same structure as a dict) naming an experiment, seeds and a grid.

Spec (TOML)::

    experiment = "jeffress"      # jeffress, ipd, ipd-evaluate, stdp, compare (or package.module:ATTR)
    repeats = 2                  # seeds first_seed .. first_seed + repeats - 1 (or: seeds = [3, 7])
    first_seed = 0               # optional
    description = "..."          # optional
    [grid]                       # every combination of these lists is one setting
    ipd_deg = [-45.0, 0.0, 45.0]
    [fixed]                      # optional: the same value in every run
    n_trials = 4

Parameter names and types are the experiment's (``brainsim sweep --list EXPERIMENT``); every value is
checked, and every setting is checked by the experiment's own parameter classes, before anything runs.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from . import experiment as experiments
from .expansion import canonical, setting_label, settings

MAX_REPEATS = 100_000
SPEC_KEYS = {"experiment", "repeats", "seeds", "first_seed", "description", "grid", "fixed"}


@dataclass(frozen=True)
class SweepSpec:
    """A checked spec: experiment name, grid (name -> tuple of values), fixed values, seeds."""

    experiment: str
    grid: dict            # name -> tuple of values (coerced), in spec order
    fixed: dict           # name -> value (coerced)
    seeds: tuple
    description: str = ""
    source: str = "<spec>"

    @property
    def n_settings(self) -> int:
        n = 1
        for values in self.grid.values():
            n *= len(values)
        return n

    @property
    def n_runs(self) -> int:
        return self.n_settings * len(self.seeds)

    @property
    def param_names(self) -> list[str]:
        return list(self.grid) + [name for name in self.fixed if name not in self.grid]

    def to_dict(self) -> dict:
        return {"experiment": self.experiment, "description": self.description, "seeds": list(self.seeds),
                "grid": {k: list(v) for k, v in self.grid.items()}, "fixed": dict(self.fixed),
                "source": self.source}


def load_spec(path) -> SweepSpec:
    """Read and validate a TOML spec; UserError (one line) for anything wrong."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"spec {path} not found") from None
    except IsADirectoryError:
        raise UserError(f"spec {path} is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read spec {path}: {exc}") from None
    return parse_spec(text, source=str(path))


def parse_spec(text: str, source: str = "<spec>") -> SweepSpec:
    """A spec from TOML text (see the module docstring)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source} is not valid TOML: {exc}") from None
    return spec_from_dict(data, source)


def spec_from_dict(data: dict, source: str = "<spec>") -> SweepSpec:
    """A spec from the same structure as a parsed TOML file (for scripts building sweeps in Python)."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a spec is a table of keys")
    unknown = sorted(set(data) - SPEC_KEYS)
    if unknown:
        raise UserError(f"{source}: unknown key {unknown[0]!r} (a spec has {', '.join(sorted(SPEC_KEYS))}; "
                        "parameters go in [grid] or [fixed])")
    name = data.get("experiment")
    if not isinstance(name, str) or not name:
        raise UserError(f"{source}: missing 'experiment = \"NAME\"' (one of {', '.join(experiments.names())})")
    experiment = experiments.get(name)
    seeds = _seeds(data, source)

    grid_table = data.get("grid")
    if grid_table is None or (isinstance(grid_table, dict) and not grid_table):
        raise UserError(f"{source}: the [grid] is empty: give at least one parameter with a list of values "
                        "(a one-value list runs a single setting)")
    if not isinstance(grid_table, dict):
        raise UserError(f"{source}: 'grid' must be a table ([grid])")
    fixed_table = data.get("fixed", {})
    if not isinstance(fixed_table, dict):
        raise UserError(f"{source}: 'fixed' must be a table ([fixed])")

    grid: dict = {}
    for key, values in grid_table.items():
        param = _param(experiment, key, source)
        if not isinstance(values, list):
            raise UserError(f"{source}: grid.{key} must be a list of values, e.g. {key} = [{values!r}]")
        if not values:
            raise UserError(f"{source}: grid.{key} is an empty list: the grid would have no runs")
        coerced = tuple(param.coerce(v, f"grid.{key}") for v in values)
        if len(set(map(canonical, coerced))) != len(coerced):
            raise UserError(f"{source}: grid.{key} lists a value twice")
        grid[key] = coerced
    fixed: dict = {}
    for key, value in fixed_table.items():
        param = _param(experiment, key, source)
        if key in grid:
            raise UserError(f"{source}: {key} is both in [grid] and in [fixed]")
        if isinstance(value, (list, dict)):
            raise UserError(f"{source}: fixed.{key} must be a single value (lists go in [grid])")
        fixed[key] = param.coerce(value, f"fixed.{key}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"{source}: description must be a string")
    spec = SweepSpec(experiment=name, grid=grid, fixed=fixed, seeds=seeds, description=description, source=source)
    check_settings(spec)
    return spec


def _seeds(data: dict, source: str) -> tuple:
    if "seeds" in data and ("repeats" in data or "first_seed" in data):
        raise UserError(f"{source}: give either seeds = [...] or repeats (and first_seed), not both")
    if "seeds" in data:
        seeds = data["seeds"]
        if (not isinstance(seeds, list) or not seeds
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
            raise UserError(f"{source}: seeds must be a non-empty list of integers >= 0")
        if len(set(seeds)) != len(seeds):
            raise UserError(f"{source}: seeds lists a seed twice")
        return tuple(seeds)
    repeats = data.get("repeats", 1)
    first = data.get("first_seed", 0)
    for key, value, low in (("repeats", repeats, 1), ("first_seed", first, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise UserError(f"{source}: {key} must be an integer >= {low}, got {value!r}")
    if repeats > MAX_REPEATS:   # a typo such as 10000000000 would exhaust memory listing the seeds
        raise UserError(f"{source}: repeats = {repeats} is more than {MAX_REPEATS:,} runs per setting")
    return tuple(range(first, first + repeats))


def _param(experiment, key: str, source: str):
    if key == "seed":
        raise UserError(f"{source}: 'seed' is not a parameter: use repeats = N, first_seed or seeds = [...]")
    try:
        return experiment.param(key)
    except KeyError:
        close = [n for n in experiment.param_names if key.lower() in n.lower() or n.lower() in key.lower()]
        hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
        raise UserError(f"{source}: unknown parameter {key!r} for experiment {experiment.name!r}{hint}; "
                        f"'brainsim sweep --list {experiment.name}' lists them") from None


def check_settings(spec: SweepSpec) -> None:
    """Let the experiment check every setting (its parameter classes) before anything runs."""
    experiment = experiments.get(spec.experiment)
    if experiment.check is None:
        return
    for params in settings(spec):
        try:
            experiment.check(experiment.resolve(params))
        except UserError as exc:
            label = setting_label(spec, params)
            raise UserError(f"{spec.source}: {label + ': ' if label else ''}{exc}") from None


