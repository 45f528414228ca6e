"""Expansion of a spec into runs: the cartesian product of the grid (with the fixed values) x seeds,
each run with a stable id (a hash of the experiment, the spec's values and the seed)."""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec import SweepSpec


@dataclass(frozen=True)
class Run:
    """One run: its id, the experiment, the spec's values for it, the seed and the setting's label."""

    run_id: str
    experiment: str
    params: dict          # the spec's values for this run (grid + fixed)
    seed: int
    setting: str          # "name=value, ..." of the grid values

    def task(self) -> dict:
        """The run as a plain dict (what a worker process receives)."""
        return {"run_id": self.run_id, "experiment": self.experiment, "params": dict(self.params),
                "seed": self.seed}


def settings(spec: SweepSpec) -> list[dict]:
    """Every setting: the cartesian product of the grid, with the fixed values."""
    names = list(spec.grid)
    out = []
    for combo in itertools.product(*(spec.grid[n] for n in names)):
        params = dict(zip(names, combo))
        params.update(spec.fixed)
        out.append(params)
    return out


def canonical(value) -> str:
    """A value as canonical JSON (to compare spec values)."""
    return json.dumps(value, sort_keys=True)


def run_id(experiment: str, params: dict, seed: int) -> str:
    """Stable id of one run: the same experiment, spec values and seed give the same id."""
    key = json.dumps({"experiment": experiment, "params": params, "seed": int(seed)}, sort_keys=True)
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def setting_label(spec: SweepSpec, params: dict) -> str:
    """"name=value, ..." of a setting's grid values."""
    return ", ".join(f"{n}={fmt(params[n])}" for n in spec.grid)


def fmt(value) -> str:
    """A value as printed in labels (floats with %g)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand(spec: SweepSpec, seed_major: bool = False) -> list[Run]:
    """All runs: settings (grid order) x seeds; ``seed_major``: seeds x settings (an interrupted
    sweep then has every setting equally covered)."""
    runs = []
    for params in settings(spec):
        for seed in spec.seeds:
            runs.append(Run(run_id(spec.experiment, params, seed), spec.experiment, params, seed,
                            setting_label(spec, params)))
    if seed_major:
        order = {seed: k for k, seed in enumerate(spec.seeds)}
        runs.sort(key=lambda r: order[r.seed])   # stable: settings stay in grid order
    return runs


