"""torch vs Brian2 on 2048 IPD test stimuli: wall time of the same evaluation, and agreement.

For each realisation (cuba by default; add coba with --neuron cuba coba) the Brian2 network holds
all stimuli side by side and is compiled once (cpp_standalone); the compiled program is then run
--repeats times (the fastest run is "compile excluded": program start, loading the input spikes,
simulation, writing the results). "Compile included" = code generation + compilation + that run.
torch evaluates the same stimuli (float32, CPU, --torch-threads threads, batches of 512) --repeats
times after one warm-up (numba JIT), fastest run reported. Goal: Brian2 <= 20x torch, compile excluded.

    python bench/bench_compare.py                                   # models/ipd_seed, cuba, 2048 stimuli
    python bench/bench_compare.py --model models/ipd_best --neuron cuba coba --markdown bench.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "ipd_seed"), help="model directory")
    parser.add_argument("--neuron", nargs="+", default=["cuba"], choices=("cuba", "coba"))
    parser.add_argument("--n-test", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads of the Brian2 program (default 1)")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--markdown", help="also write the table as markdown here")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    import torch

    from brainsim.bridge.sources import load_network
    from brainsim.devices import DeviceConfig
    from brainsim.experiments.compare import run_brian2
    from brainsim.stimuli.ipd import test_stimuli
    from brainsim.snn import IPDNet, predict

    torch.set_num_threads(args.torch_threads)
    spec = load_network(args.model)
    stim = test_stimuli(spec.stimulus, args.seed, args.n_test)
    model = IPDNet.from_spec(spec)
    spec = spec.with_decay_factors(*model.decay_factors())  # Brian2 runs torch's own decay factors
    predict(model, stim.spikes[:64], batch_size=512, keep_traces=True)  # warm-up (numba JIT)
    torch_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = predict(model, stim.spikes, batch_size=512, keep_traces=True)
        torch_times.append(time.perf_counter() - t0)
    torch_pred = np.argmax(out["scores"], axis=1)
    t_torch = min(torch_times)
    rows = []
    for neuron in args.neuron:
        print(f"[bench] {neuron}: generating, compiling and running ...", file=sys.stderr, flush=True)
        res = run_brian2(spec, stim.spikes, neuron, DeviceConfig("cpp_standalone", threads=args.threads),
                         repeats=args.repeats)
        rows.append({"neuron": neuron, "compile_s": res.build_s, "run_s": res.run_s,
                     "runs": res.run_s_all, "identical": float(np.mean(res.outputs.prediction == torch_pred)),
                     "ratio_excl": res.run_s / t_torch, "ratio_incl": (res.build_s + res.run_s) / t_torch})
    header = (f"model {args.model} ({spec.net.readout}, {spec.n_hidden} hidden), {args.n_test} stimuli, seed {args.seed}; "
              f"torch {t_torch:.3f} s (fastest of {args.repeats}, {args.torch_threads} thread(s)); "
              f"Brian2 cpp_standalone, {args.threads} thread(s)")
    lines = ["| realisation | compile (s) | run, compile excluded (s) | Brian2 / torch, excl. | Brian2 / torch, incl. "
             "| identical predictions |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['neuron']} | {r['compile_s']:.1f} | {r['run_s']:.2f} | {r['ratio_excl']:.1f}x | "
                     f"{r['ratio_incl']:.0f}x | {100 * r['identical']:.1f} % |")
    print(header)
    print("\n".join(lines))
    for r in rows:
        verdict = "meets" if r["ratio_excl"] <= 20 else "misses"
        print(f"{r['neuron']}: {r['ratio_excl']:.1f}x torch with compilation excluded ({verdict} the <= 20x goal); "
              f"runs {', '.join(f'{t:.2f}' for t in r['runs'])} s")
    if args.markdown:
        from brainsim.io import write_text

        write_text(args.markdown, header + "\n\n" + "\n".join(lines) + "\n")
    if args.json:
        from brainsim.io import write_json

        write_json(args.json, {"model": args.model, "n_test": args.n_test, "seed": args.seed,
                               "torch_s": t_torch, "torch_threads": args.torch_threads,
                               "brian2_threads": args.threads, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
