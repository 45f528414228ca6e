"""Repeated runs of a few conditions, on the sweep engine: the table, resume and box plots.

``brainsim ipd train --repeats N --readout oc fr --tau-ms 20 2`` is a sweep of the ``ipd``
experiment: the conditions are its grid, the seeds S .. S+N-1 its seeds, run seed by seed (an
interrupted job has every condition equally covered). Results: the sweep's ``OUT/results.csv`` (the
checkpoint too: running the same command again skips finished runs), ``OUT/sweep.json`` and one box
plot per figure (one box per condition and metric, means marked; :func:`brainsim.plotting.sweep.plot_sweep`)
with the CSV of its statistics beside it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .engine import SweepOptions, SweepResult, run_sweep
from .spec import SweepSpec

STATISTICS = ("mean", "median", "std", "min", "max")


@dataclass(frozen=True)
class RepeatsResult:
    """What :func:`run_repeats` did: the sweep's counts, the table, the figures and, per condition,
    the number of finished runs and the statistics of every plotted metric
    (``{"condition": ..., "runs": n, "<metric>_<mean|median|std|min|max>": ...}``; std with ddof=1)."""

    sweep: SweepResult
    table: str
    figures: tuple[str, ...]
    summary: tuple[dict, ...]


def run_repeats(spec: SweepSpec, out_dir, figures: dict[str, tuple[str, ...]],
                options: SweepOptions = SweepOptions(workers=1), progress: bool = True) -> RepeatsResult:
    """Run ``spec`` seed by seed into ``out_dir`` (resumable), then draw ``figures``: file name ->
    metrics boxed side by side per condition (e.g. ``{"repeats_accuracy.png": ("train_accuracy",
    "test_accuracy")}``)."""
    from ..plotting.sweep import plot_sweep

    out_dir = Path(out_dir)
    result = run_sweep(spec, out_dir, replace(options, seed_major=True), progress)
    drawn, rows = [], {}
    if result.ok or result.skipped:
        for name, metrics in figures.items():
            plot = plot_sweep(out_dir, None, list(metrics), kind="box", path=out_dir / name,
                              title=f"{spec.experiment}: {len(spec.seeds)} seeds per condition")
            drawn.append(plot["figure"])
            for row in plot["summary"]:
                entry = rows.setdefault(row[plot["x"]], {"condition": row[plot["x"]], "runs": int(row["n"])})
                entry["runs"] = max(entry["runs"], int(row["n"]))
                for stat in STATISTICS:
                    entry[f"{row['metric']}_{stat}"] = float(row[stat])
    return RepeatsResult(sweep=result, table=result.table, figures=tuple(drawn), summary=tuple(rows.values()))
