"""Benchmark: Diehl & Cook STDP on MNIST, brainsim vs the seed script, measured in the same run.

Two measurements, both on the embedded 5,000 MNIST digits (exported once as idx files so that the
seed script reads exactly the digits brainsim reads):

``speed``     seconds per training sample at N excitatory neurons (default 400) on the same first
              training images: the seed script (``../shared/reference/seed_diehl_cook.py``, Brian2
              runtime, Python loop per sample) vs ``brainsim mnist train`` (whole schedule in
              generated code). Reports the ratio and the peak memory (max RSS of each process tree).
``accuracy``  the protocol train / observe / test (default 2000 / 1000 / 1000) for both programs;
              prints the test accuracies, wall times and peak memory.
``threads``   brainsim only: seconds per training sample at each of --sizes (default 400 and 1600
              excitatory neurons) with each of --thread-counts (default 1 and 2 OpenMP threads), on
              the same first --project-samples images, and the speed-up of each thread count over
              one thread at the same size.

Both print one table and write ``results.json`` in --out. Examples::

    python bench/bench_mnist.py speed --seed-samples 40 --project-samples 400
    python bench/bench_mnist.py accuracy --which both
    python bench/bench_mnist.py threads --project-samples 200
    python bench/bench_mnist.py speed --which project --neurons 6400 --project-samples 100   # the largest size
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEED_SCRIPT = ROOT.parent / "shared" / "reference" / "seed_diehl_cook.py"
sys.path.insert(0, str(ROOT))


def measured(cmd: list[str], cwd=None, env=None, log: Path | None = None) -> dict:
    """Run ``cmd``; wall seconds, peak RSS of its process tree (MiB), exit code and output."""
    t0 = time.perf_counter()
    with open(log, "w") if log else open(os.devnull, "w") as sink:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        out = []
        for line in proc.stdout:
            out.append(line)
            sink.write(line)
            sink.flush()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    # Linux: a waited-for child's ru_maxrss covers its own reaped descendants too (the compiled binary).
    return {"cmd": cmd, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024, "returncode": code, "output": "".join(out)}


def check(result: dict, what: str) -> dict:
    if result["returncode"] != 0:
        sys.exit(f"bench_mnist: {what} failed (exit {result['returncode']}):\n{result['output'][-3000:]}")
    return result


def export_data(folder: Path) -> dict:
    from brainsim.stimuli.mnist import export_idx, load_embedded

    data = load_embedded()
    if not (folder / "t10k-labels-idx1-ubyte").exists():
        export_idx(data, folder)
    return data.describe()


def seed_stage(script: Path, mode: str, n: int, data_dir: Path, mnist_dir: Path, log_dir: Path) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return check(measured([sys.executable, str(script), mode, str(n), str(data_dir), str(mnist_dir)],
                          env=env, log=log_dir / f"seed_{mode}.log"), f"seed {mode}")


def project_stage(mode: str, args, n: int, data_dir: Path, mnist_dir: Path, log_dir: Path,
                  extra=()) -> dict:
    count_opt = {"train": "--n-train", "observe": "--n-observe", "test": "--n-test"}[mode]
    cmd = [sys.executable, "-m", "brainsim", "mnist", mode, count_opt, str(n), "--neurons", str(args.neurons),
           "--data-dir", str(data_dir), "--mnist-dir", str(mnist_dir), "--seed", str(args.rng_seed),
           "--dt-ms", str(args.dt_ms), "--device", args.device, *extra]
    if args.device == "cpp_standalone":     # OpenMP threads: the other devices refuse --threads
        cmd += ["--threads", str(args.threads)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return check(measured(cmd, cwd=ROOT, env=env, log=log_dir / f"project_{mode}.log"), f"brainsim {mode}")


def seed_seconds_per_sample(output: str) -> float:
    match = re.search(r"then ([0-9.]+) s/sample", output)
    if not match:
        sys.exit(f"bench_mnist: could not read the seed's s/sample from:\n{output[-2000:]}")
    return float(match.group(1))


def accuracy_of(output: str) -> float:
    match = re.search(r"Accuracy:\s*([0-9.]+)", output)
    if not match:
        sys.exit(f"bench_mnist: no 'Accuracy:' line in:\n{output[-2000:]}")
    return float(match.group(1))


def load_average() -> list[float]:
    return list(os.getloadavg())


def run_speed(args, out: Path, mnist_dir: Path) -> dict:
    res: dict = {"kind": "speed", "neurons": args.neurons, "load_before": load_average()}
    if args.which in ("both", "seed"):
        # CPU time per sample from two runs (2 and N samples): start-up and code generation cancel out
        # (the seed script needs at least 2 samples to print its timing)
        two = seed_stage(args.seed_script, "train", 2, out / "seed_speed_2", mnist_dir, out)
        seed = seed_stage(args.seed_script, "train", args.seed_samples, out / "seed_speed", mnist_dir, out)
        res["seed"] = {"samples": args.seed_samples, "s_per_sample": seed_seconds_per_sample(seed["output"]),
                       "cpu_s_per_sample": (seed["cpu_s"] - two["cpu_s"]) / (args.seed_samples - 2),
                       "wall_s": seed["wall_s"], "peak_rss_mib": seed["peak_rss_mib"],
                       "note": "Brian2 runtime (Cython), dt 0.1 ms; wall s/sample as the seed prints it "
                               "(after the first sample); CPU s/sample = (CPU of N samples - CPU of 2) / (N - 2)"}
    if args.which in ("both", "project"):
        data_dir = out / "project_speed"
        proj = project_stage("train", args, args.project_samples, data_dir, mnist_dir, out)
        summary = json.loads((data_dir / "training.json").read_text())
        res["project"] = {"samples": args.project_samples, "s_per_sample": summary["seconds_per_sample"],
                          "cpu_s_per_sample": summary["cpu_seconds_per_sample"],
                          "s_per_sample_first": summary.get("seconds_per_sample_first_chunk"),
                          "compile_s": summary.get("build_seconds"), "wall_s": proj["wall_s"],
                          "peak_rss_mib": proj["peak_rss_mib"],
                          "note": f"{args.device}, dt {args.dt_ms} ms, {args.threads} thread(s); "
                                  "s/sample = simulation time of all chunks / samples (compilation excluded); "
                                  "CPU s/sample = CPU time of the compiled program / samples"}
    if "seed" in res and "project" in res:
        res["speedup_wall"] = res["seed"]["s_per_sample"] / res["project"]["s_per_sample"]
        res["speedup_cpu"] = res["seed"]["cpu_s_per_sample"] / res["project"]["cpu_s_per_sample"]
    res["load_after"] = load_average()
    return res


def run_threads(args, out: Path, mnist_dir: Path) -> dict:
    res: dict = {"kind": "threads", "neurons": args.sizes, "samples": args.project_samples,
                 "load_before": load_average(), "cells": []}
    for neurons in args.sizes:
        for threads in args.thread_counts:
            cell_args = argparse.Namespace(**{**vars(args), "neurons": neurons, "threads": threads})
            data_dir = out / f"threads_n{neurons}_t{threads}"
            run = project_stage("train", cell_args, args.project_samples, data_dir, mnist_dir, out,
                                extra=["--force"] if (data_dir / "training.json").exists() else [])
            summary = json.loads((data_dir / "training.json").read_text())
            res["cells"].append({"neurons": neurons, "threads": threads, "s_per_sample": summary["seconds_per_sample"],
                                 "s_per_sample_first_chunk": summary["seconds_per_sample_first_chunk"],
                                 "cpu_s_per_sample": summary["cpu_seconds_per_sample"],
                                 "compile_s": summary.get("build_seconds"), "wall_s": run["wall_s"],
                                 "peak_rss_mib": run["peak_rss_mib"]})
            print(json.dumps(res["cells"][-1]), flush=True)
    for cell in res["cells"]:
        one = next(c for c in res["cells"] if c["neurons"] == cell["neurons"] and c["threads"] == args.thread_counts[0])
        cell["speedup"] = one["s_per_sample"] / cell["s_per_sample"]
        cell["speedup_first_chunk"] = one["s_per_sample_first_chunk"] / cell["s_per_sample_first_chunk"]
    res["note"] = (f"{args.device}, dt {args.dt_ms} ms; s/sample = run time of the compiled program over all "
                   "chunks / samples (compilation excluded; each chunk's start-up, building the synapses, "
                   "included, so a short chunk of boost repeats after the first one weighs in); first chunk: "
                   "the first chunk's run time / its samples; speed-up against "
                   f"{args.thread_counts[0]} thread(s) at the same size")
    res["load_after"] = load_average()
    return res


def run_accuracy(args, out: Path, mnist_dir: Path) -> dict:
    res: dict = {"kind": "accuracy", "neurons": args.neurons, "protocol": {
        "n_train": args.n_train, "n_observe": args.n_observe, "n_test": args.n_test,
        "data": "embedded 5,000 MNIST digits (4,000 train / 1,000 test split)",
        "labels": "observe on the first n_observe training images", "test": "test images never trained on"},
        "load_before": load_average()}
    stages = (("train", args.n_train), ("observe", args.n_observe), ("test", args.n_test))
    if args.which in ("both", "seed"):
        entry = {}
        for mode, n in stages:
            r = seed_stage(args.seed_script, mode, n, out / "seed_accuracy", mnist_dir, out)
            entry[f"{mode}_wall_s"] = r["wall_s"]
            entry[f"{mode}_peak_rss_mib"] = r["peak_rss_mib"]
            if mode == "test":
                entry["accuracy"] = accuracy_of(r["output"])
            if mode == "train":
                entry["train_s_per_sample"] = seed_seconds_per_sample(r["output"])
                entry["train_cpu_s"] = r["cpu_s"]
        entry["note"] = "seed test draws test images at random with replacement (randrange, seed 42)"
        res["seed"] = entry
        write_results(out, res)
    if args.which in ("both", "project"):
        entry = {}
        data_dir = out / "project_accuracy"
        for mode, n in stages:
            r = project_stage(mode, args, n, data_dir, mnist_dir, out)
            entry[f"{mode}_wall_s"] = r["wall_s"]
            entry[f"{mode}_peak_rss_mib"] = r["peak_rss_mib"]
            if mode == "test":
                entry["accuracy"] = accuracy_of(r["output"])
        summary = json.loads((data_dir / "training.json").read_text())
        entry["train_s_per_sample"] = summary["seconds_per_sample"]
        entry["train_cpu_s_per_sample"] = summary["cpu_seconds_per_sample"]
        entry["note"] = f"{args.device}, dt {args.dt_ms} ms; test on the first n_test test images"
        res["project"] = entry
    if "seed" in res and "project" in res:
        # the same n_train images, long-run averages of both programs (the seed's after its first sample)
        res["train_speedup_wall"] = res["seed"]["train_s_per_sample"] / res["project"]["train_s_per_sample"]
        # CPU: the seed's whole train process (start-up included, a few seconds) over n_train samples
        res["train_speedup_cpu"] = (res["seed"]["train_cpu_s"] / args.n_train) / res["project"]["train_cpu_s_per_sample"]
    res["load_after"] = load_average()
    return res


def write_results(out: Path, res: dict) -> None:
    from brainsim.io import write_json

    write_json(out / f"results_{res['kind']}.json", res)


def report(res: dict) -> None:
    print(f"== bench_mnist {res['kind']} ({res['neurons']} excitatory neurons) ==")
    if res["kind"] == "threads":
        print("| neurons | threads | s/sample | speed-up | s/sample, first chunk | speed-up | CPU s/sample "
              "| compile (s) | peak RSS (MiB) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for c in res["cells"]:
            print(f"| {c['neurons']} | {c['threads']} | {c['s_per_sample']:.4f} | {c['speedup']:.2f}x "
                  f"| {c['s_per_sample_first_chunk']:.4f} | {c['speedup_first_chunk']:.2f}x "
                  f"| {c['cpu_s_per_sample']:.4f} | {c['compile_s'] or 0:.1f} | {c['peak_rss_mib']:.0f} |")
        print(res["note"])
    for who in ("seed", "project"):
        if who in res:
            entry = dict(res[who])
            print(f"{who:8s} " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in entry.items()))
    if "train_speedup_wall" in res:
        print(f"speedup, wall time per training sample over the same {res['protocol']['n_train']} images "
              f"(seed / brainsim): {res['train_speedup_wall']:.1f}x")
        print(f"speedup, CPU time per training sample (seed process CPU / n_train over brainsim's): "
              f"{res['train_speedup_cpu']:.1f}x")
    if "speedup_wall" in res:
        print(f"speedup, wall time per sample (seed / brainsim): {res['speedup_wall']:.1f}x")
        print(f"speedup, CPU time per sample (seed / brainsim):  {res['speedup_cpu']:.1f}x")
    print(f"load average before {res['load_before']}, after {res['load_after']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("speed", "accuracy", "threads"))
    parser.add_argument("--which", choices=("both", "seed", "project"), default="both")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_mnist")
    parser.add_argument("--seed-script", type=Path, default=DEFAULT_SEED_SCRIPT)
    parser.add_argument("--neurons", type=int, default=400)
    parser.add_argument("--seed-samples", type=int, default=40, help="speed: training samples for the seed")
    parser.add_argument("--project-samples", type=int, default=400,
                        help="speed: training samples for brainsim (the seed's samples are its first ones)")
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-observe", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--device", default="cpp_standalone")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[400, 1600], help="threads: excitatory neurons")
    parser.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2], help="threads: OpenMP threads")
    parser.add_argument("--dt-ms", type=float, default=0.5)
    parser.add_argument("--rng-seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.kind == "threads":
        args.which = "project"
    if args.which != "project" and not args.seed_script.is_file():
        parser.error(f"seed script not found: {args.seed_script}")
    if args.kind == "speed" and args.seed_samples < 3:
        parser.error("--seed-samples must be at least 3")
    if args.neurons != 400 and args.which != "project":
        parser.error("the seed script has 400 neurons built in")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    mnist_dir = out / "mnist_idx"
    export_data(mnist_dir)
    res = {"speed": run_speed, "accuracy": run_accuracy, "threads": run_threads}[args.kind](args, out, mnist_dir)
    res["mnist_dir"] = str(mnist_dir)
    res["command"] = " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])
    write_results(out, res)
    report(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
