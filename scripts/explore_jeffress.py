#!/usr/bin/env python3
"""How precisely does the Jeffress delay-line circuit localise a tone, and what limits it?

Three studies, each a sweep of the ``jeffress`` experiment (random IPDs in -90..90 deg, 8 trials per
run, population-vector decoding; error = mean absolute circular error in degrees):

  detectors  number of coincidence detectors tiling the period: 6, 12, 24, 36, 72.
             Question: does a finer array of best IPDs give a finer estimate, or does the decoder
             interpolate well enough with few detectors?
  duration   stimulus duration: 20, 50, 100, 200 ms. Question: how does the error fall with the
             number of spikes (longer stimuli: more periods to count)?
  frequency  tone frequency (delay lines laid out for it): 10, 20, 50, 100, 200 Hz. Question: what
             happens when the 1 ms stimulus bins become a large fraction of the period?

Defaults are small (3 seeds, about a minute on 2 cores with the numpy target); --full uses 10 seeds
and 32 trials per run. Figures (mean +- std error bars, seed 002 style) go to --out:
detectors_mae_deg.png, duration_mae_deg.png, frequency_mae_deg.png (and frequency_fraction_silent.png). Run again with the same --out to
resume an interrupted run.

    python scripts/explore_jeffress.py [--study detectors duration frequency] [--full] [--workers 2]
"""
from __future__ import annotations

import sys

from _explore import Figure, Study, best, main


def _base(args, grid: dict, **fixed) -> dict:
    return {"experiment": "jeffress", "repeats": args.repeats,
            "grid": grid, "fixed": {"n_trials": 32 if args.full else 8, **fixed}}


STUDIES = [
    Study("detectors", "Jeffress: error vs number of coincidence detectors",
          lambda a: _base(a, {"n_detectors": [6, 12, 24, 36, 72]}),
          [Figure("n_detectors", ["mae_deg", "peak_detector_mae_deg"], kind="errorbar", name="detectors_mae_deg")],
          answer=lambda rows: "lowest population-vector error at " + best(rows, "mae_deg", "n_detectors", True)),
    Study("duration", "Jeffress: error vs stimulus duration",
          lambda a: _base(a, {"duration_ms": [20.0, 50.0, 100.0, 200.0]}),
          [Figure("duration_ms", ["mae_deg"], kind="errorbar", name="duration_mae_deg")],
          answer=lambda rows: "lowest error at " + best(rows, "mae_deg", "duration_ms", True)),
    Study("frequency", "Jeffress: error vs tone frequency (1 ms stimulus bins)",
          lambda a: _base(a, {"freq_hz": [10.0, 20.0, 50.0, 100.0, 200.0]}),
          [Figure("freq_hz", ["mae_deg"], kind="errorbar", name="frequency_mae_deg"),
           Figure("freq_hz", ["fraction_silent"], kind="errorbar", name="frequency_fraction_silent")],
          answer=lambda rows: "lowest error at " + best(rows, "mae_deg", "freq_hz", True)),
]

if __name__ == "__main__":
    sys.exit(main("explore_jeffress.py", __doc__, STUDIES, default_out="runs/explore_jeffress",
                  default_repeats=3, full_repeats=10))
