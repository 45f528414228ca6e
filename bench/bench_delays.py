"""Delay learning, both methods side by side, offsets 1..10 ms.

For every seed: the lagging-variable circuit (Brian2, one run with one learner per offset, all fed
by the same pattern) and the torch delay layer (one training per offset) learn the offset; the
table gives the learned delay, its error, and the simulated time (lagging) or epochs (torch) after
which the error stayed below 0.5 ms. Wall times are printed with their ratio (measured in this run).

    python bench/bench_delays.py                       # seeds 0, 1, 2; runtime numpy target
    python bench/bench_delays.py --seeds 0 --device cpp_standalone --markdown table.md
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from brainsim.circuits.lagging import DelayLearnerParams
from brainsim.devices import DeviceConfig
from brainsim.experiments import delays as ex
from brainsim.progress import Progress


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offsets", default="1,2,3,4,5,6,7,8,9,10", help="offsets in ms (default: 1..10)")
    parser.add_argument("--seeds", default="0,1,2", help="pattern seeds (default: 0,1,2)")
    parser.add_argument("--device", default="runtime", choices=("runtime", "cpp_standalone"))
    parser.add_argument("--duration-s", type=float, default=1.5, help="lagging: simulated time (default 1.5 s)")
    parser.add_argument("--epochs", type=int, default=150, help="torch: epochs (default 150)")
    parser.add_argument("--initial-delay-ms", type=float, default=1.0, help="both methods start here (default 1 ms)")
    parser.add_argument("--pattern-spikes", type=int, default=4, help="spikes per 100 ms pattern (default 4)")
    parser.add_argument("--min-gap-ms", type=float, default=20.0, help="minimum gap between pattern spikes (default 20)")
    parser.add_argument("--markdown", help="also write the first seed's table as markdown to this file")
    args = parser.parse_args(argv)
    offsets = [float(v) for v in args.offsets.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    device = DeviceConfig(name=args.device)
    pattern = ex.PatternParams(n_spikes=args.pattern_spikes, min_gap_ms=args.min_gap_ms)
    lag_params = ex.LaggingRunParams(circuit=DelayLearnerParams(initial_delay_ms=args.initial_delay_ms),
                                     duration_s=args.duration_s)
    torch_params = ex.TorchRunParams(epochs=args.epochs, initial_delay_ms=args.initial_delay_ms)

    rows, walls = [], {"lagging": 0.0, "torch": 0.0}
    bar = Progress(len(seeds) * (1 + len(offsets)), "bench_delays", "runs")
    done = 0
    for seed in seeds:
        t0 = time.perf_counter()
        lag = ex.run_lagging_many(offsets, seed, lag_params, pattern=pattern, device=device)
        walls["lagging"] += time.perf_counter() - t0
        done += 1
        bar.update(done)
        for offset, lag_result in zip(offsets, lag):
            t0 = time.perf_counter()
            torch_result = ex.run_torch(offset, seed, torch_params, pattern=pattern)
            walls["torch"] += time.perf_counter() - t0
            done += 1
            bar.update(done)
            rows.append((seed, offset, lag_result.summary, torch_result.summary))
    bar.finish()

    header = ("| seed | offset (ms) | lagging: learned (ms) | error (ms) | simulated s to <0.5 ms "
              "| torch: learned (ms) | error (ms) | epochs to <0.5 ms |")
    rule = "|---:|---:|---:|---:|---:|---:|---:|---:|"
    lines = [header, rule]
    for seed, offset, lag, tor in rows:
        need = "never" if lag["simulated_s_needed"] is None else f"{lag['simulated_s_needed']:.2f}"
        epochs = "never" if tor["epochs_needed"] is None else str(tor["epochs_needed"])
        lines.append(f"| {seed} | {offset:g} | {lag['learned_delay_ms']:.3f} | {lag['error_ms']:.3f} | {need} "
                     f"| {tor['learned_delay_ms']:.3f} | {tor['error_ms']:.3f} | {epochs} |")
    print("\n".join(lines))
    lag_err = np.array([r[2]["error_ms"] for r in rows])
    tor_err = np.array([r[3]["error_ms"] for r in rows])
    lag_need = [r[2]["simulated_s_needed"] for r in rows]
    tor_need = [r[3]["epochs_needed"] for r in rows]
    print()
    finite = lambda values: [v for v in values if v is not None] or [float("nan")]
    print(f"lagging: max error {lag_err.max():.3f} ms, {np.sum(lag_err < 0.5)}/{len(rows)} within 0.5 ms, "
          f"simulated time to 0.5 ms: median {np.median(finite(lag_need)):.2f} s, "
          f"max {max(finite(lag_need)):.2f} s (of {args.duration_s:g} s simulated)")
    print(f"torch:   max error {tor_err.max():.3f} ms, {np.sum(tor_err < 0.5)}/{len(rows)} within 0.5 ms, "
          f"epochs to 0.5 ms: median {np.median(finite(tor_need)):.0f}, "
          f"max {max(finite(tor_need))} (of {args.epochs})")
    per_offset = {k: v / (len(seeds) * len(offsets)) for k, v in walls.items()}
    print(f"wall per offset: lagging {per_offset['lagging']:.2f} s ({args.device}, {len(offsets)} learners per run), "
          f"torch {per_offset['torch']:.2f} s; ratio torch/lagging {per_offset['torch'] / per_offset['lagging']:.2f}")
    if args.markdown:
        from brainsim.io import write_text

        first = [line for line in lines[2:] if line.startswith(f"| {seeds[0]} |")]
        write_text(args.markdown, "\n".join(lines[:2] + first) + "\n")
    ok = bool(np.all(lag_err < 0.5) and np.all(tor_err < 0.5))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
