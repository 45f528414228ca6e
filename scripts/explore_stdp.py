#!/usr/bin/env python3
"""How do network size and input intensity shape what a short Diehl & Cook STDP run learns?

Two studies, each a sweep of the ``stdp`` experiment (train by STDP on the first n_train embedded MNIST
digits, label the neurons on n_observe training digits, classify n_test unseen test digits; the
paper's protocol, cpp_standalone, dt 0.5 ms):

  neurons    excitatory neurons 25, 50, 100 (intensity 2, the paper's). Question: with a fixed, short
             training, do more neurons (more prototypes, each trained on fewer digits) help?
  intensity  input intensity 1, 2, 4 (rate = pixel / 8 * intensity Hz; 50 neurons). Question: does a
             stronger drive (more spikes, faster STDP) learn better in a short run, and how many
             samples must be shown again by the boost rule at low intensity?

Defaults are small runs: 200 training, 200 labelling and 200 test digits, one seed per setting
(each run compiles three standalone projects, so about 1-2 minutes per run on a free core).
--full: 1,000 / 1,000 / 1,000 digits, 100 / 400 / 1,600 neurons and 3 seeds (hours).
Figures (mean +- std error bars) in --out: neurons_accuracy.png, intensity_accuracy.png,
intensity_presentations.png. Run again with the same --out to resume.

    python scripts/explore_stdp.py [--study neurons intensity] [--full] [--workers 2]
"""
from __future__ import annotations

import sys

from _explore import Figure, Study, best, main


def _base(args, grid: dict, **fixed) -> dict:
    n = 1000 if args.full else 200
    return {"experiment": "stdp", "repeats": args.repeats, "grid": grid,
            "fixed": {"n_train": n, "n_observe": n, "n_test": n, **fixed}}


STUDIES = [
    Study("neurons", "Diehl & Cook: test accuracy vs number of excitatory neurons",
          lambda a: _base(a, {"n_neurons": [100, 400, 1600] if a.full else [25, 50, 100]}),
          [Figure("n_neurons", ["accuracy"], kind="errorbar", name="neurons_accuracy")],
          answer=lambda rows: "best at " + best(rows, "accuracy", "n_neurons")),
    Study("intensity", "Diehl & Cook: test accuracy vs input intensity",
          lambda a: _base(a, {"intensity": [1.0, 2.0, 4.0]}, n_neurons=400 if a.full else 50),
          [Figure("intensity", ["accuracy"], kind="errorbar", name="intensity_accuracy"),
           Figure("intensity", ["mean_presentations_per_sample"], kind="errorbar", name="intensity_presentations")],
          answer=lambda rows: "best at " + best(rows, "accuracy", "intensity")),
]

if __name__ == "__main__":
    sys.exit(main("explore_stdp.py", __doc__, STUDIES, default_out="runs/explore_stdp",
                  default_repeats=1, full_repeats=3))
