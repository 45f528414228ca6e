"""Benchmark of the self-wiring Jeffress circuit (issue #17) against the hand-wired one, in one run.

For every training seed and initialisation (random, equal): train (one cpp_standalone run), freeze,
measure tuning curves, decode the 200 test tones of the seed (plain ears, 20 Hz, IPDs uniform in
(-90, 90) deg) with the population vector; report MAE, the widest gap between best IPDs in
(-90, 90) deg and the training CPU time. The hand-wired circuit (``brainsim jeffress``) is run on the
same test IPDs in the same run, and on the first seed the ablations: no competition (no lateral
inhibition, no adaptive threshold, no winner-only gate, no repulsion), no homeostasis (no adaptive
threshold), no lateral inhibition, no repulsion.

    python bench/bench_jeffress_learn.py                          # 3 seeds x 2 inits + ablations
    python bench/bench_jeffress_learn.py --seeds 0 --inits random --presentations 500 --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brainsim.circuits.jeffress import JeffressParams  # noqa: E402
from brainsim.devices import DeviceConfig  # noqa: E402
from brainsim.experiments.jeffress import JeffressConfig, accuracy_metrics, simulate_jeffress  # noqa: E402
from brainsim.experiments.jeffress_learning import (  # noqa: E402
    JeffressLearnConfig, coverage, summary, train_and_evaluate)
from brainsim.stimuli.ipd import test_stimuli  # noqa: E402

#: ablations on the first seed: (label, changes to the circuit parameters)
ABLATIONS = (
    ("no competition", dict(w_inh=0.0, theta_plus=0.0, winner_only=False, repulsion_ms=0.0)),
    ("no homeostasis", dict(theta_plus=0.0)),
    ("no lateral inhibition", dict(w_inh=0.0)),
    ("no repulsion", dict(repulsion_ms=0.0)),
)


def learned(config: JeffressLearnConfig) -> dict:
    s = summary(train_and_evaluate(config))
    return {"seed": config.seed, "init": config.circuit.init, "mae_deg": s["mae_deg"],
            "mae_tuning_rates_deg": s["mae_tuning_rates_deg"],
            "max_gap_deg": s["coverage"]["max_gap_deg"], "inside": s["coverage"]["detectors_inside"],
            "training_cpu_s": s["cpu_s"]["training"], "training_wall_s": s["wall_s"]["training"],
            "training_simulation_s": s["wall_s"]["training_simulation"]}


def hand_wired(config: JeffressLearnConfig) -> dict:
    test = test_stimuli(config.stimulus, config.seed, config.evaluation.n_test)
    jc = JeffressConfig(stimulus=config.stimulus, circuit=JeffressParams(n_detectors=config.circuit.n_detectors),
                        device=DeviceConfig("cpp_standalone"), seed=config.seed)
    t0 = time.perf_counter()
    run = simulate_jeffress(np.degrees(test.ipd), jc)
    return {"seed": config.seed, "init": "hand-wired", "mae_deg": accuracy_metrics(run)["mae_deg"],
            "max_gap_deg": coverage(jc.circuit.best_ipd_rad)["max_gap_deg"], "training_cpu_s": 0.0,
            "wall_s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--inits", nargs="+", default=["random", "equal"], choices=["random", "equal"])
    parser.add_argument("--presentations", type=int, default=None, help="training tones (default: the config's)")
    parser.add_argument("--skip-ablation", action="store_true", help="leave the ablations out")
    parser.add_argument("--only-ablation", action="store_true", help="run only the ablations (first seed)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()

    base = JeffressLearnConfig()
    if args.presentations:
        base = replace(base, training=replace(base.training, n_presentations=args.presentations))
    rows = []
    for seed in [] if args.only_ablation else args.seeds:
        for init in args.inits:
            config = replace(base, circuit=base.circuit.with_(seed=seed, init=init))
            rows.append(learned(config))
            print(json.dumps(rows[-1]), flush=True)
        rows.append(hand_wired(replace(base, circuit=base.circuit.with_(seed=seed))))
        print(json.dumps(rows[-1]), flush=True)
    for label, changes in [] if args.skip_ablation else ABLATIONS:
        config = replace(base, circuit=base.circuit.with_(seed=args.seeds[0], init=args.inits[0], **changes))
        row = learned(config)
        row["init"] += f" ({label})"
        rows.append(row)
        print(json.dumps(row), flush=True)

    print("\n| seed | circuit | MAE (deg) | MAE on mean rates (deg) | widest gap in (-90, 90) (deg) "
          "| training CPU (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        mae = "n/a" if r["mae_deg"] is None else f"{r['mae_deg']:.2f}"
        mean_rates = "-" if r.get("mae_tuning_rates_deg") is None else f"{r['mae_tuning_rates_deg']:.2f}"
        print(f"| {r['seed']} | {r['init']} | {mae} | {mean_rates} | {r['max_gap_deg']:.1f} "
              f"| {r['training_cpu_s']:.1f} |")
    if args.json:
        from brainsim.io import write_json

        write_json(args.json, rows)


if __name__ == "__main__":
    main()
