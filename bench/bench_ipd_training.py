"""Benchmark: IPD training time of the seeds' protocol, project vs the seeds' reference script.

    python bench/bench_ipd_training.py [--tau-ms 2] [--readout oc] [--seeds 0 1] [--skip-best]

For each seed, runs in the same session and alternately (so both see the same machine load):
  * the reference ``../shared/reference/seed_ipd_tutorial.py TAU READOUT SEED`` (10 epochs of 64
    batches of 64, Adam lr 0.01, torch with 2 threads, Python loop over 100 time steps), and
  * ``brainsim ipd train --preset seed`` with the same tau, readout and seed (native numba time
    loop with a hand-written backward pass, 1 torch thread),
and prints the training-loop wall time of each (as each program reports it), the ratio, the total
CPU seconds of each process (imports and stimulus generation included: the fair figure when other
jobs load the machine) and the test accuracies (2048 fresh stimuli each). Then trains
``--preset best`` once and prints its test accuracy and training time.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference" / "seed_ipd_tutorial.py"


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd: list[str]) -> tuple[str, float, float]:
    cpu0, wall0 = child_cpu(), time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return proc.stdout, child_cpu() - cpu0, time.perf_counter() - wall0


def run_reference(path: Path, tau: float, readout: str, seed: int) -> dict:
    out, cpu, wall = run([sys.executable, str(path), f"{tau:g}", readout, str(seed)])
    m = re.search(r"train_s=([\d.]+) test_acc=([\d.]+)% test_err=([\d.]+)deg", out)
    if not m:
        sys.exit(f"cannot parse the reference output: {out!r}")
    return {"train_s": float(m.group(1)), "test_acc": float(m.group(2)) / 100, "test_err": float(m.group(3)),
            "cpu_s": cpu, "wall_s": wall}


def run_project(tau: float, readout: str, seed: int, preset: str = "seed", tmp: Path | None = None) -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix=f"bench_{preset}_", dir=tmp))
    cmd = [sys.executable, "-m", "brainsim", "ipd", "train", "--preset", preset, "--seed", str(seed),
           "--out", str(out_dir), "--json", "--quiet"]
    if preset == "seed":
        cmd += ["--tau-ms", f"{tau:g}", "--readout", readout]
    out, cpu, wall = run(cmd)
    data = json.loads(out.strip().splitlines()[-1])
    return {"train_s": data["train_seconds"], "train_cpu_s": data["train_cpu_seconds"],
            "test_acc": data["test_accuracy"], "test_err": data["test_mae_deg"], "n_test": data["n_test"],
            "cpu_s": cpu, "wall_s": wall}


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tau-ms", type=float, default=2.0)
    parser.add_argument("--readout", default="oc", choices=["oc", "max", "fr"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--skip-best", action="store_true", help="do not train the best preset")
    args = parser.parse_args()
    if not args.reference.is_file():
        print(f"reference script not found: {args.reference}", file=sys.stderr)
        return 2
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"protocol: seeds' (10 epochs, 64 x 64 training stimuli, batch 64, 2048 test), tau {args.tau_ms:g} ms, "
          f"readout {args.readout}")
    # compile / load the numba kernels once outside the comparison
    run([sys.executable, "-c", "from brainsim.snn.native import warm_up; warm_up()"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            ref = run_reference(args.reference, args.tau_ms, args.readout, seed)
            ours = run_project(args.tau_ms, args.readout, seed, tmp=Path(tmp))
            rows.append((seed, ref, ours))
            print(f"seed {seed}: reference train {ref['train_s']:7.1f} s wall, {ref['cpu_s']:6.1f} s CPU total, "
                  f"test acc {100 * ref['test_acc']:.1f} %, err {ref['test_err']:.2f} deg")
            print(f"        project   train {ours['train_s']:7.1f} s wall, {ours['cpu_s']:6.1f} s CPU total "
                  f"({ours['train_cpu_s']:.1f} s CPU in the loop), test acc {100 * ours['test_acc']:.1f} %, "
                  f"err {ours['test_err']:.2f} deg")
            print(f"        speed-up: training wall {ref['train_s'] / ours['train_s']:.1f}x, "
                  f"total CPU {ref['cpu_s'] / ours['cpu_s']:.1f}x", flush=True)
        wall_ratio = median([r["train_s"] / o["train_s"] for _, r, o in rows])
        cpu_ratio = median([r["cpu_s"] / o["cpu_s"] for _, r, o in rows])
        print(f"median over {len(rows)} seed(s): training wall-time ratio {wall_ratio:.1f}x, total CPU ratio "
              f"{cpu_ratio:.1f}x; mean test accuracy reference "
              f"{100 * sum(r['test_acc'] for _, r, _ in rows) / len(rows):.1f} %, project "
              f"{100 * sum(o['test_acc'] for _, _, o in rows) / len(rows):.1f} %")
        if not args.skip_best:
            best = run_project(args.tau_ms, args.readout, 0, preset="best", tmp=Path(tmp))
            print(f"best preset (seed 0): test accuracy {100 * best['test_acc']:.1f} % on {best['n_test']} fresh stimuli, "
                  f"error {best['test_err']:.2f} deg; training {best['train_s']:.0f} s wall "
                  f"({best['train_cpu_s']:.0f} s CPU), whole command {best['wall_s']:.0f} s")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
