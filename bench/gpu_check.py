"""The GPU check: brian2cuda 1.0b1 on a machine with an NVIDIA GPU, CUDA 13 and Python 3.12.

Run on the GPU machine through ``bash bench/gpu_check.sh`` (it installs the modern set from wheels
carried in ``.whl/``: nothing is fetched there). Every step is a real ``brainsim`` command in a
subprocess, with a time limit taken from what is left of the budget (default 540 s, inside the
10 minutes a device command may run); a step that runs out of time is reported as such (Diehl &
Cook then reports the samples it completed, read from its checkpoint).

1. ``brainsim jeffress --ipd 30`` on cuda_standalone;
2. ``brainsim compare --neuron cuba`` on 2,048 stimuli of ``models/ipd_seed``, on cpp_standalone
   (all cores) and on cuda_standalone: both must be identical to torch spike for spike, so the CUDA
   predictions are identical to cpp_standalone's;
3. ``brainsim compare --neuron coba`` on cuda_standalone (accuracy next to torch);
4. ``brainsim mnist train`` on 1,000 samples at 400 and at 6,400 neurons, on cuda_standalone and on
   cpp_standalone with all cores: seconds per sample (compilation excluded) and the ratios.

Without a GPU (``--no-gpu``) the same steps run with cuda_standalone ``--build-only`` (code generation)
and small sizes, which checks the script itself::

    bash bench/gpu_check.sh                       # on the GPU machine
    python bench/gpu_check.py --no-gpu            # here: cpp_standalone runs, CUDA code generation
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_MODEL = ROOT / "models" / "ipd_seed"


class Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def brainsim(args: list, budget: Budget, cap: float, log: Path) -> tuple[int | None, str, float]:
    """(exit code or None if timed out, stdout, wall seconds) of ``python -m brainsim ARGS``."""
    limit = max(1.0, min(cap, budget.left() - 5))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "brainsim", *map(str, args)], capture_output=True, text=True,
                              timeout=limit, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        log.write_text(f"timed out after {limit:.0f} s\n{exc.stdout or ''}\n{exc.stderr or ''}")
        return None, "", time.perf_counter() - t0
    log.write_text(proc.stdout + "\n" + proc.stderr)
    if proc.returncode != 0:
        print(f"  (exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or ''})", flush=True)
    return proc.returncode, proc.stdout, time.perf_counter() - t0


def cuda_args(gpu: bool) -> list[str]:
    return ["--device", "cuda_standalone"] + ([] if gpu else ["--build-only"])


def step_jeffress(gpu: bool, budget: Budget, work: Path) -> dict:
    rc, out, wall = brainsim(["jeffress", "--ipd", "30", "--json", *cuda_args(gpu)], budget, 180,
                             work / "jeffress.log")
    row = {"step": "jeffress --ipd 30, cuda_standalone", "exit": rc, "wall_s": wall}
    if rc == 0 and gpu:
        data = json.loads(out)
        row.update(estimate_deg=data.get("estimate_deg"), error_deg=data.get("error_deg"))
    return row


def step_compare(neuron: str, device: str, n_test: int, threads: int, gpu: bool, budget: Budget, work: Path) -> dict:
    args = ["compare", "--model", SEED_MODEL, "--neuron", neuron, "--n-test", n_test, "--json"]
    args += cuda_args(gpu) if device == "cuda_standalone" else ["--device", device, "--threads", threads]
    rc, out, wall = brainsim(args, budget, 240, work / f"compare_{neuron}_{device}.log")
    row = {"step": f"compare {neuron}, {n_test} stimuli, {device}", "exit": rc, "wall_s": wall}
    if rc == 0 and out.strip().startswith("{"):
        data = json.loads(out)
        for key in ("ran", "torch_accuracy", "brian2_accuracy", "identical_predictions", "hidden_spike_trains_identical",
                    "torch_hidden_spikes", "brian2_hidden_spikes", "brian2_build_seconds", "brian2_run_seconds",
                    "torch_seconds"):
            if key in data:
                row[key] = data[key]
    return row


def step_mnist(neurons: int, device: str, samples: int, threads: int, gpu: bool, budget: Budget, work: Path) -> dict:
    data_dir = work / f"mnist_{neurons}_{device}"
    args = ["mnist", "train", "--neurons", neurons, "--n-train", samples, "--data-dir", data_dir, "--no-progress",
            "--snapshots", 0]
    args += cuda_args(gpu) if device == "cuda_standalone" else ["--device", device, "--threads", threads]
    rc, _, wall = brainsim(args, budget, 420, work / f"mnist_{neurons}_{device}.log")
    row = {"step": f"mnist train, {neurons} neurons, {device}", "exit": rc, "wall_s": wall, "samples": samples}
    summary = data_dir / "training.json"
    checkpoint = data_dir / "train_checkpoint.npz"
    if rc == 0 and summary.is_file():
        s = json.loads(summary.read_text())
        row.update(done=s["done"], s_per_sample=s["seconds_per_sample"], compile_s=s["build_seconds"])
    elif checkpoint.is_file():   # ran out of time: the chunks completed so far
        import numpy as np

        with np.load(checkpoint, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
        if meta["done"]:
            row.update(done=meta["done"], s_per_sample=meta["sim_seconds"] / meta["done"],
                       compile_s=meta["build_seconds"], partial=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-gpu", action="store_true", help="CUDA code generation only, small sizes")
    parser.add_argument("--budget-s", type=float, default=540.0, help="time for all steps (default 540 s)")
    parser.add_argument("--samples", type=int, default=None, help="Diehl & Cook samples (default 1000; 20 --no-gpu)")
    parser.add_argument("--n-test", type=int, default=None, help="compare stimuli (default 2048; 64 --no-gpu)")
    parser.add_argument("--big", type=int, default=None, help="the large network (default 6400; 1600 --no-gpu)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "runs" / "gpu_check")))
    args = parser.parse_args(argv)
    gpu = not args.no_gpu
    samples = args.samples or (1000 if gpu else 20)
    n_test = args.n_test or (2048 if gpu else 64)
    big = args.big or (6400 if gpu else 1600)
    threads = os.cpu_count() or 1
    budget = Budget(args.budget_s)
    args.out.mkdir(parents=True, exist_ok=True)
    header = {"gpu": gpu, "cores": threads, "python": sys.version.split()[0]}
    for name, cmd in (("nvidia_smi", ["nvidia-smi", "-L"]), ("nvcc", ["nvcc", "--version"])):
        try:
            header[name] = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[-1:]
        except (OSError, subprocess.SubprocessError):
            header[name] = None
    from importlib import metadata

    header["versions"] = {p: metadata.version(p) for p in ("brian2", "brian2cuda", "numpy", "Cython", "torch")
                          if _installed(metadata, p)}
    print(json.dumps(header), flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        plan = [
            lambda: step_jeffress(gpu, budget, work),
            lambda: step_compare("cuba", "cpp_standalone", n_test, threads, gpu, budget, work),
            lambda: step_compare("cuba", "cuda_standalone", n_test, threads, gpu, budget, work),
            lambda: step_compare("coba", "cuda_standalone", n_test, threads, gpu, budget, work),
            lambda: step_mnist(400, "cpp_standalone", samples, threads, gpu, budget, work),
            lambda: step_mnist(400, "cuda_standalone", samples, threads, gpu, budget, work),
            lambda: step_mnist(big, "cuda_standalone", samples, threads, gpu, budget, work),
            lambda: step_mnist(big, "cpp_standalone", samples, threads, gpu, budget, work),
        ]
        for step in plan:
            if budget.left() < 15:
                rows.append({"step": "(remaining steps skipped: budget spent)"})
                break
            row = step()
            rows.append(row)
            print(json.dumps(row), flush=True)
        for log in work.glob("*.log"):   # keep the logs beside the figures
            (args.out / log.name).write_text(log.read_text())
    result = {"header": header, "rows": rows, "checks": checks(rows, gpu)}
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2))
    print("\n".join(report(rows, result["checks"])))
    return 0 if all(ok for _, ok in result["checks"]) else 1


def _installed(metadata, package: str) -> bool:
    try:
        metadata.version(package)
        return True
    except metadata.PackageNotFoundError:
        return False


def checks(rows: list[dict], gpu: bool) -> list[tuple[str, bool]]:
    out = [("every step exited 0", all(r.get("exit") == 0 for r in rows if "exit" in r))]
    if gpu:
        cpp = next((r for r in rows if r["step"].startswith("compare cuba") and r["step"].endswith("cpp_standalone")), None)
        cuda = next((r for r in rows if r["step"].startswith("compare cuba") and r["step"].endswith("cuda_standalone")),
                    None)
        same = (cpp is not None and cuda is not None and cpp.get("identical_predictions") == 1.0
                and cuda.get("identical_predictions") == 1.0)
        out.append(("cuba on CUDA: predictions identical to cpp_standalone's (both identical to torch)", same))
    return out


def report(rows: list[dict], checks_: list) -> list[str]:
    lines = ["", "| step | exit | wall (s) | figures |", "|---|---|---:|---|"]
    for r in rows:
        figures = {k: v for k, v in r.items() if k not in ("step", "exit", "wall_s")}
        text = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
        lines.append(f"| {r['step']} | {r.get('exit', '')} | {r.get('wall_s', 0):.1f} | {text} |")
    by = {(r["step"].split(", ")[1], r["step"].split(", ")[2]): r for r in rows
          if r.get("step", "").startswith("mnist train") and "s_per_sample" in r}
    sizes = sorted({int(k[0].split()[0]) for k in by})
    if sizes:
        lines += ["", "| Diehl & Cook | cpp_standalone s/sample | cuda_standalone s/sample | cpp / cuda |",
                  "|---|---:|---:|---:|"]
        for n in sizes:
            cpp = by.get((f"{n} neurons", "cpp_standalone"))
            cuda = by.get((f"{n} neurons", "cuda_standalone"))
            c = f"{cpp['s_per_sample']:.4f}" if cpp else "-"
            g = f"{cuda['s_per_sample']:.4f}" if cuda else "-"
            ratio = f"{cpp['s_per_sample'] / cuda['s_per_sample']:.2f}x" if cpp and cuda else "-"
            lines.append(f"| {n} neurons | {c} | {g} | {ratio} |")
    lines.append("")
    lines += [f"{'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks_]
    return lines


if __name__ == "__main__":
    sys.exit(main())
