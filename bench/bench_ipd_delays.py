"""Benchmark (issue 16): accuracy and training time of the IPD network with and without learned delays,
on the tutorial's input and on plain ears, in one run.

    python bench/bench_ipd_delays.py [--seeds 0 1 2] [--variants ...] [--out DIR] [--epochs N]
                                     [--n-train N] [--n-test N] [--threads 1] [--jeffress-weight W]

Every variant trains on the protocol of ``--preset delays`` (64 hidden, hidden tau 1 ms, output tau
2 ms, oc readout, 20 epochs of 8192 fresh stimuli, batch 128, Adam 0.005 with cosine decay) with the
training seed S, and is scored on the 8192 fresh test stimuli of stream [S, 1]:

  none-tutorial    tutorial input (fibre phase delays), no learned delays
  dcls-tutorial    tutorial input, DCLS-style learned delays (= brainsim ipd train --preset delays)
  none-plain       plain ears, no learned delays (the delays' lower bound)
  dcls-plain       plain ears, DCLS-style learned delays (= --preset delays-plain)
  layer-tutorial   tutorial input, issue 5's differentiable delay layer (linear interpolation between
                   the two neighbouring steps, brainsim.snn.delays.DelayedIPDNet), max delay 20 ms;
                   its real-valued delays are also rounded to whole steps and scored again ("rounded")
  layer-plain      the same on plain ears
  jeffress-plain   plain ears, a hand-wired Jeffress array (64 coincidence detectors for ITDs
                   evenly spaced over +-12.5 ms, fixed delays and weights) with only the readout
                   trained (brainsim.experiments.ipd.jeffress_array_spec, train_readout)
  best-tutorial    (not in the default list) --preset best: no delays, 128 hidden, 40 epochs

Time is the CPU and wall time of each variant's training and test (one torch thread by default, so
CPU ~ wall on an idle machine). For the delay models the Jeffress correlation (best ITD against
the ear 1 - ear 0 delay difference, brainsim.experiments.ipd.delay_map) is reported too. With
``--out`` every finished (variant, seed) is kept in DIR/results.json and skipped when the command is
run again, so an interrupted benchmark resumes, and the delay models are saved as model directories
DIR/models/VARIANT_seedS (``brainsim ipd analyse --model ...`` draws their Jeffress figure).
``--epochs / --n-train / --n-test`` shrink the protocol for a quick look (the figures in
docs/ipd_training.md use the defaults).
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

from brainsim.errors import UserError  # noqa: E402
from brainsim.experiments.ipd import JEFFRESS_ARRAY_WEIGHT  # noqa: E402
from brainsim.io import write_json  # noqa: E402

VARIANTS = {
    "none-tutorial": ("delays", False, "tutorial input, no learned delays"),
    "dcls-tutorial": ("delays", True, "tutorial input, DCLS-style learned delays"),
    "none-plain": ("delays-plain", False, "plain ears, no learned delays"),
    "dcls-plain": ("delays-plain", True, "plain ears, DCLS-style learned delays"),
    "layer-tutorial": ("delays", False, "tutorial input, issue 5's delay layer (linear interpolation)"),
    "layer-plain": ("delays-plain", False, "plain ears, issue 5's delay layer (linear interpolation)"),
    "jeffress-plain": ("delays-plain", None, "plain ears, hand-wired Jeffress array, readout trained"),
    "best-tutorial": ("best", False, "--preset best (no delays, 128 hidden, 40 epochs)"),
}
DEFAULT_VARIANTS = [v for v in VARIANTS if v != "best-tutorial"]


def _protocol(variant: str, seed: int, args):
    from brainsim.experiments.ipd import protocol_from

    preset, learn, _ = VARIANTS[variant]
    overrides = dict(seed=seed, epochs=args.epochs, n_train=args.n_train, n_test=args.n_test)
    if learn is not None:
        overrides["learn_delays"] = learn
    return protocol_from(preset, **overrides)


def _jeffress_r(spec, hidden_spikes, ipd) -> float:
    from brainsim.experiments.ipd import delay_map

    return delay_map(spec, hidden_spikes, ipd)["correlation"]


def _save_model(directory: Path, spec, protocol, accuracy: float, variant: str) -> None:
    """The trained network as a brainsim model directory (for ``brainsim ipd analyse / evaluate``)."""
    from brainsim.netspec.modeldir import write_model

    command = f"python bench/bench_ipd_delays.py --variants {variant} --seeds {protocol.seed} --out DIR"
    write_model(directory, spec, {"command": command, "seed": protocol.seed, "protocol": protocol.to_dict(),
                                  "scores": {"test_accuracy": accuracy, "n_test": protocol.n_test,
                                             "test_seed": protocol.seed}})


def _train_delay_layer(protocol):
    """Issue 5's delay layer (:class:`brainsim.snn.delays.DelayedIPDNet`) trained on ``protocol``;
    returns test accuracy, error (deg), the network with its delays rounded to whole steps (a spec)
    and that spec's test accuracy."""
    from brainsim.experiments.ipd import train_network
    from brainsim.snn.delays import DelayedIPDNet
    from brainsim.snn.metrics import classification_metrics, predicted_classes
    from brainsim.snn.models import IPDNet
    from brainsim.snn.training import predict

    stimulus = protocol.stimulus()
    config = protocol.net_config(stimulus)
    model = DelayedIPDNet(config, config.max_delay_steps, seed=protocol.seed)
    result = train_network(model, protocol, stimulus)
    spec = model.to_spec(stimulus)
    rounded = predict(IPDNet.from_spec(spec), _test_spikes(protocol, stimulus))["scores"]
    accuracy_rounded = classification_metrics(result["test_ipd"], predicted_classes(rounded))["accuracy"]
    return result["test_accuracy"], result["test_mae_deg"], spec, accuracy_rounded


def _test_spikes(protocol, stimulus):
    from brainsim.stimuli.ipd import test_stimuli

    return test_stimuli(stimulus, protocol.seed, protocol.n_test).spikes


def run_variant(variant: str, seed: int, args) -> dict:
    """Train and score one variant; returns accuracy (fraction), error (deg), CPU and wall seconds.
    With ``args.out``, a delay model (dcls-*, layer-* with rounded delays, jeffress-plain) is saved in
    OUT/models/VARIANT_seedS."""
    from brainsim.experiments.ipd import IPDExecution, jeffress_array_spec, train_ipd, train_readout
    from brainsim.snn.training import predict
    from brainsim.stimuli.ipd import test_stimuli

    protocol = _protocol(variant, seed, args)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    r, spec, rounded = None, None, None
    if variant.startswith("layer-"):
        accuracy, mae, spec, rounded = _train_delay_layer(protocol)
    elif variant == "jeffress-plain":
        result = train_readout(jeffress_array_spec(protocol, weight=args.jeffress_weight, seed=seed), protocol)
        accuracy, mae = result["test_accuracy"], result["test_mae_deg"]
        spec = result["spec"]
        r = _jeffress_r(spec, result["hidden_spikes"], result["test_ipd"])
    else:
        result = train_ipd(protocol, None, execution=IPDExecution(threads=args.threads), progress=False)
        accuracy, mae = result.scores["test_accuracy"], result.scores["test_mae_deg"]
        if protocol.net.learn_delays:
            stimulus = protocol.stimulus()
            spec = result.model.to_spec(stimulus)
            test = test_stimuli(stimulus, seed, protocol.n_test)
            r = _jeffress_r(spec, predict(result.model, test.spikes, keep_traces=True)["hidden_spikes"], test.ipd)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if spec is not None and args.out is not None:
        _save_model(args.out / "models" / f"{variant}_seed{seed}", replace(spec, source=""), protocol, accuracy,
                    variant)
    return {"variant": variant, "seed": seed, "accuracy": accuracy, "mae_deg": mae, "n_test": protocol.n_test,
            "accuracy_rounded_delays": rounded,
            "cpu_s": cpu, "wall_s": wall,
            "jeffress_r": r, "protocol": protocol.to_dict()}


def _load(path: Path | None, settings: dict) -> list[dict]:
    if path is None or not path.exists():
        return []
    try:
        saved = json.loads(path.read_text())
        if saved["settings"] != settings:
            raise UserError(f"{path} holds a benchmark of other settings ({saved['settings']}); use another --out")
        return list(saved["rows"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a results file of this benchmark ({exc})") from None


def _rounded_note(rows: list[dict]) -> str:
    values = [r.get("accuracy_rounded_delays") for r in rows]
    if not values or None in values:
        return ""
    return "; delays rounded to whole steps: " + " ".join(f"{100 * v:.2f} %" for v in values)


def summary_table(rows: list[dict], variants: list[str]) -> list[str]:
    """One line per variant: accuracy pooled over its seeds (all test stimuli together) and per
    seed, error, mean CPU and wall seconds per training, Jeffress r."""
    lines = [f"{'variant':<16} {'pooled acc':>10} {'per seed':<24} {'err deg':>7} {'CPU s':>7} {'wall s':>7}  "
             f"{'Jeffress r':<10} what"]
    for v in variants:
        mine = [row for row in rows if row["variant"] == v]
        if not mine:
            continue
        correct = sum(round(row["accuracy"] * row["n_test"]) for row in mine)
        pooled = correct / sum(row["n_test"] for row in mine)
        per_seed = " ".join(f"{100 * row['accuracy']:.2f}" for row in mine)
        rs = [row["jeffress_r"] for row in mine if row["jeffress_r"] is not None]
        r_text = " ".join(f"{x:.2f}" for x in rs) if rs else "-"
        lines.append(f"{v:<16} {100 * pooled:9.2f}% {per_seed:<24} {np.mean([r['mae_deg'] for r in mine]):7.2f} "
                     f"{np.mean([r['cpu_s'] for r in mine]):7.0f} {np.mean([r['wall_s'] for r in mine]):7.0f}  "
                     f"{r_text:<10} {VARIANTS[v][2]}{_rounded_note(mine)}")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default: 0)")
    ap.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=DEFAULT_VARIANTS,
                    help="what to train (default: all but best-tutorial)")
    ap.add_argument("--out", type=Path, help="keep finished rows in OUT/results.json and resume from them")
    ap.add_argument("--epochs", type=int, help="epochs (default: each preset's)")
    ap.add_argument("--n-train", type=int, help="training stimuli per epoch (default: the preset's, 8192)")
    ap.add_argument("--n-test", type=int, help="test stimuli (default: the preset's, 8192)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    ap.add_argument("--jeffress-weight", type=float, default=JEFFRESS_ARRAY_WEIGHT,
                    help=f"jeffress-plain: the weight of every synapse (default: {JEFFRESS_ARRAY_WEIGHT})")
    args = ap.parse_args(argv)
    for name in ("epochs", "n_train", "n_test", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name.replace('_', '-')} must be positive")
    if min(args.seeds) < 0:
        ap.error("--seeds must be >= 0")
    if not args.jeffress_weight > 0:
        ap.error("--jeffress-weight must be positive")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        ap.error(f"--out {args.out} is not a directory")   # before the training, not after
    import torch

    torch.set_num_threads(args.threads)
    settings = {"epochs": args.epochs, "n_train": args.n_train, "n_test": args.n_test,
                "jeffress_weight": args.jeffress_weight}
    results = None if args.out is None else args.out / "results.json"
    try:
        rows = _load(results, settings)
        for seed in args.seeds:
            for variant in args.variants:
                if any(r["variant"] == variant and r["seed"] == seed for r in rows):
                    continue
                print(f"-- {variant}, seed {seed} ...", file=sys.stderr, flush=True)
                row = run_variant(variant, seed, args)
                print(f"   {100 * row['accuracy']:.2f} %, {row['cpu_s']:.0f} s CPU, {row['wall_s']:.0f} s wall",
                      file=sys.stderr, flush=True)
                rows.append(row)
                if results is not None:
                    results.parent.mkdir(parents=True, exist_ok=True)
                    write_json(results, {"settings": settings, "rows": rows})
    except (UserError, OSError) as exc:   # OSError: --out not a writable directory
        print(f"error: {exc}", file=sys.stderr)
        return 2
    chosen = [r for r in rows if r["seed"] in args.seeds and r["variant"] in args.variants]
    print(f"== IPD with and without learned delays: seeds {' '.join(map(str, args.seeds))}, "
          f"{chosen[0]['n_test'] if chosen else '?'} fresh test stimuli per seed (stream [seed, 1]), "
          f"{args.threads} torch thread(s) ==")
    print("\n".join(summary_table(chosen, args.variants)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
