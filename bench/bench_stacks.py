"""The legacy and the modern tested set side by side: Jeffress, Diehl & Cook speed, bridge speed.

Runs the project's own benchmarks once with each interpreter, alternating which set goes first from
one benchmark to the next (so that a drift in machine load does not favour one set), and prints each
figure for both sets with the ratio modern / legacy (> 1: the modern set is slower or larger).

* ``bench_jeffress.py --n N``: MAE of four stimulus conditions, warm start-up of
  ``brainsim jeffress --ipd 30`` and of ``python -c "import brian2"`` (median of 5, wall and CPU);
* ``bench_mnist.py speed --which project``: Diehl & Cook training, 400 neurons, cpp_standalone,
  one thread: wall and CPU seconds per sample (compilation excluded), compilation seconds;
* ``bench_compare.py --neuron cuba coba``: ``models/ipd_seed`` on 2,048 stimuli, fastest of 3 runs of
  the compiled Brian2 program and of torch.

    python bench/bench_stacks.py --modern .venv-modern/bin/python          # legacy = this python
    python bench/bench_stacks.py --legacy python3 --modern /path/to/python3.12 --quick
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _versions(python: str) -> str:
    code = ("import platform, importlib.metadata as m; print('python', platform.python_version(), *["
            "f'{p} {m.version(p)}' for p in ('brian2', 'numpy', 'Cython', 'torch', 'numba')], sep='; ')")
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def _run(python: str, script: str, args: list[str], log: Path) -> float:
    cmd = [python, str(ROOT / "bench" / script), *args]
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"bench_stacks: {' '.join(cmd)} failed (exit {proc.returncode}); see {log}")
    return time.perf_counter() - t0


def jeffress(python: str, work: Path, n: int) -> dict:
    out = work / "jeffress.json"
    _run(python, "bench_jeffress.py", ["--n", str(n), "--json", str(out)], work / "jeffress.log")
    res = json.loads(out.read_text())
    figures = {f"Jeffress MAE, {r['stimulus']}, {r['freq_hz']:.0f} Hz (deg)": r["mae_deg"] for r in res["accuracy"]}
    t = res["timing"]
    figures.update({
        "`import brian2`, warm (s)": t["import_brian2_warm_s"],
        "`brainsim jeffress --ipd 30`, warm (s)": t["jeffress_warm_s"],
        "`brainsim jeffress` minus `import brian2`, warm CPU (s)": t["jeffress_minus_import_warm_cpu_s"],
    })
    return figures


def mnist(python: str, work: Path, samples: int) -> dict:
    out = work / "mnist"
    _run(python, "bench_mnist.py", ["speed", "--which", "project", "--project-samples", str(samples),
                                    "--out", str(out)], work / "mnist.log")
    res = json.loads((out / "results_speed.json").read_text())["project"]
    return {f"Diehl & Cook 400 neurons, wall s/sample ({samples} samples)": res["s_per_sample"],
            f"Diehl & Cook 400 neurons, CPU s/sample ({samples} samples)": res["cpu_s_per_sample"],
            "Diehl & Cook compilation (s)": res["compile_s"]}


def bridge(python: str, work: Path, n_test: int) -> dict:
    out = work / "compare.json"
    _run(python, "bench_compare.py", ["--neuron", "cuba", "coba", "--n-test", str(n_test), "--json", str(out)],
         work / "compare.log")
    res = json.loads(out.read_text())
    figures = {f"torch, {n_test} stimuli (s)": res["torch_s"]}
    for row in res["rows"]:
        figures[f"Brian2 {row['neuron']}, {n_test} stimuli, compile excluded (s)"] = row["run_s"]
        figures[f"Brian2 {row['neuron']} compilation (s)"] = row["compile_s"]
        figures[f"Brian2 {row['neuron']} predictions identical to torch (%)"] = 100 * row["identical"]
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--legacy", default=sys.executable, help="interpreter of the legacy set (default: this one)")
    parser.add_argument("--modern", required=True, help="interpreter of the modern set (a venv's python)")
    parser.add_argument("--quick", action="store_true", help="smaller runs (50 IPDs, 100 samples, 512 stimuli)")
    parser.add_argument("--markdown", help="also write the table as markdown here")
    args = parser.parse_args(argv)
    for python in (args.legacy, args.modern):
        if shutil.which(python) is None and not Path(python).is_file():
            parser.error(f"no interpreter {python}")
    n_ipd, samples, n_test = (50, 100, 512) if args.quick else (100, 200, 2048)
    sets = {"legacy": args.legacy, "modern": args.modern}
    versions = {name: _versions(py) for name, py in sets.items()}
    benches = [("jeffress", lambda py, w: jeffress(py, w, n_ipd)), ("mnist", lambda py, w: mnist(py, w, samples)),
               ("bridge", lambda py, w: bridge(py, w, n_test))]
    figures = {"legacy": {}, "modern": {}}
    with tempfile.TemporaryDirectory(prefix="bench-stacks-") as tmp:
        for k, (name, bench) in enumerate(benches):
            order = ["legacy", "modern"] if k % 2 == 0 else ["modern", "legacy"]
            for which in order:
                work = Path(tmp) / f"{name}-{which}"
                work.mkdir()
                print(f"[bench_stacks] {name} on the {which} set ...", file=sys.stderr, flush=True)
                figures[which].update(bench(sets[which], work))
    lines = [f"legacy: {versions['legacy']}", f"modern: {versions['modern']}", "",
             "| figure | legacy | modern | modern / legacy |", "|---|---:|---:|---:|"]
    for key, old in figures["legacy"].items():
        new = figures["modern"].get(key)
        ratio = f"{new / old:.2f}" if new is not None and old else "-"
        lines.append(f"| {key} | {old:.4g} | {new:.4g} | {ratio} |")
    print("\n".join(lines))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
