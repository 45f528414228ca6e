#!/usr/bin/env python3
"""What makes a surrogate-gradient SNN good at the IPD task? (the project ideas of seed 002)

Four studies, each a sweep of the ``ipd`` experiment (train in torch, then test on fresh stimuli):

  envelope  envelope power k = 0, 1, 2, 3, 4, 5, 10, 30, 50, 100 (rate ~ (0.5 (1 + sin))^k): seed 002's
            example project. Question: sharper envelopes are easier by eye, but does the network do
            better? (k = 0: constant rates, no phase information: chance level.)
  tau       membrane time constant of both layers, 2 to 30 ms. Question: seeds 000/002 found tau = 2 ms
            far better than 20 ms; where is the optimum?
  hidden    hidden neurons 10, 30, 100. Question: how much does a bigger hidden layer help?
  readout   output decoding oc (mean membrane), max (max over time), fr (spiking outputs, rate) at
            tau 20 and 2 ms: seed 000's comparison (box plots of repeated runs).

Plots: accuracy (train and test) with mean +- std error bars against the parameter (seed 002 style),
box plots per readout x tau (seed 000 style), in --out: envelope_accuracy.png, envelope_error.png,
tau_accuracy.png, hidden_accuracy.png, readout_accuracy.png.

Defaults are small so that all four studies run in a few minutes on 2 cores: 5 epochs of 1,024
training stimuli, 512 test stimuli, 2 seeds (accuracies are lower than the seeds' then). --full runs
the seeds' protocol (10 epochs of 4,096 stimuli, 2,048 test stimuli; 30-45 s per run) with 10 seeds,
as seed 000 did. Run again with the same --out to resume.

    python scripts/explore_ipd.py [--study envelope tau hidden readout] [--full] [--workers 2]
"""
from __future__ import annotations

import sys

from _explore import Figure, Study, best, main


def _base(args, grid: dict, **fixed) -> dict:
    protocol = {} if args.full else {"epochs": 5, "n_train": 1024, "n_test": 512}
    return {"experiment": "ipd", "repeats": args.repeats, "grid": grid,
            "fixed": {"preset": "seed", **protocol, **fixed}}


ACC = ["test_accuracy", "train_accuracy"]
ERR = ["test_mae_deg", "train_mae_deg"]

STUDIES = [
    Study("envelope", "IPD SNN: accuracy vs envelope power (seed 002)",
          lambda a: _base(a, {"envelope_power": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 30.0, 50.0, 100.0]}),
          [Figure("envelope_power", ACC, kind="errorbar", logx=True, name="envelope_accuracy"),
           Figure("envelope_power", ERR, kind="errorbar", logx=True, name="envelope_error")],
          answer=lambda rows: "best test accuracy at " + best(rows, "test_accuracy", "envelope_power")),
    Study("tau", "IPD SNN: accuracy vs membrane time constant",
          lambda a: _base(a, {"tau_ms": [2.0, 5.0, 10.0, 20.0, 30.0]}),
          [Figure("tau_ms", ACC, kind="errorbar", name="tau_accuracy")],
          answer=lambda rows: "best test accuracy at " + best(rows, "test_accuracy", "tau_ms")),
    Study("hidden", "IPD SNN: accuracy vs hidden-layer size",
          lambda a: _base(a, {"hidden": [10, 30, 100]}),
          [Figure("hidden", ACC, kind="errorbar", name="hidden_accuracy")],
          answer=lambda rows: "best test accuracy at " + best(rows, "test_accuracy", "hidden")),
    Study("readout", "IPD SNN: readouts at tau 20 and 2 ms (seed 000)",
          lambda a: _base(a, {"readout": ["oc", "max", "fr"], "tau_ms": [20.0, 2.0]}),
          [Figure(None, ACC, kind="box", name="readout_accuracy")],
          answer=lambda rows: "best test accuracy: " + best(rows, "test_accuracy", "setting")),
]

if __name__ == "__main__":
    sys.exit(main("explore_ipd.py", __doc__, STUDIES, default_out="runs/explore_ipd",
                  default_repeats=2, full_repeats=10))
