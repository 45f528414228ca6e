#!/usr/bin/env python3
"""Sweep throughput with 1 and 2 local worker processes (goal: >= 1.7x), and the per-run overhead.

Workload: a Jeffress sweep (numpy target, the defaults of ``brainsim jeffress`` with 4 trials per run:
about 1 s per run on a free core) of ``--runs`` runs. Measured in the same process, every repeat:

  direct     the adapter called in this process, run after run (after one warm-up run): the baseline
             cost of a run with no sweep machinery at all;
  1 worker   ``run_sweep(..., workers=1)`` end to end into a fresh folder (spawning the worker,
             importing Brian2 there, dispatching, writing the table after every run);
  2 workers  the same with 2 worker processes.

Reported: runs/s, speedup = time(1 worker) / time(2 workers), overhead per run =
(time(1 worker) - runs x direct) / runs (worker start-up included, amortised over the runs), and the
machine's load average before and after (this bench is sensitive to other work on the machine:
the speedup can only reach 2x when two cores are free; the bench therefore also measures the
*ceiling*: the speedup of a pure-Python CPU loop on 2 processes over 1 in the same conditions, and
reports the sweep's speedup against it). The pure sweep overhead per run is measured
with ``--overhead-runs`` runs that do no work (tests/sweep_plugin.py): dispatch to the worker, result
back, table rewritten. Optionally (--dask) the Jeffress sweep on a dask.distributed LocalCluster with
2 worker processes.

    python bench/bench_sweep.py [--runs 24] [--repeats 2] [--dask]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # sweep_plugin: a run that does no work, for the pure overhead


def spec(runs: int):
    from brainsim import sweeps as sw

    settings = max(1, runs // 2)
    ipds = [round(-90.0 + 180.0 * k / settings, 3) for k in range(settings)]
    return sw.spec_from_dict({"experiment": "jeffress", "repeats": 2, "grid": {"ipd_deg": ipds},
                              "fixed": {"n_trials": 4}}, source="bench")


def direct(sp) -> float:
    """Seconds per run calling the adapter in this process (after a warm-up run)."""
    from brainsim import sweeps as sw

    exp = sw.get(sp.experiment)
    runs = sw.expand(sp)
    with tempfile.TemporaryDirectory() as tmp:
        exp.run(exp.resolve(runs[0].params), runs[0].seed, Path(tmp))  # warm-up (imports, first run)
        t0 = time.perf_counter()
        for run in runs:
            exp.run(exp.resolve(run.params), run.seed, Path(tmp))
        return (time.perf_counter() - t0) / len(runs)


def sweep_time(sp, workers: int | None = None, scheduler: str | None = None) -> tuple[float, list[dict]]:
    from brainsim import sweeps as sw

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = sw.run_sweep(sp, tmp, sw.SweepOptions(workers=workers, scheduler=scheduler), progress=False)
        wall = time.perf_counter() - t0
        _, rows = sw.read_table(tmp)
    if result.failed:
        raise SystemExit(f"bench sweep had {result.failed} failed runs: {result.failures[:2]}")
    return wall, rows


def _spin(n: int) -> float:
    t0 = time.perf_counter()
    s = 0
    for i in range(n):
        s += i * i
    return time.perf_counter() - t0


def cpu_ceiling(n: int = 10_000_000) -> float:
    """Speedup of 2 processes over 1 on a CPU-bound loop right now (2.0 on two free cores)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # start the processes first
        t0 = time.perf_counter()
        pool.map(_spin, [n])
        pool.map(_spin, [n])
        serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        pool.map(_spin, [n, n], chunksize=1)
        parallel = time.perf_counter() - t0
    return serial / parallel


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=24, help="runs per sweep (default 24)")
    parser.add_argument("--repeats", type=int, default=2, help="repeats of every measurement (default 2)")
    parser.add_argument("--dask", action="store_true", help="also time a 2-worker dask LocalCluster")
    parser.add_argument("--overhead-runs", type=int, default=200, help="no-op runs for the overhead (default 200)")
    args = parser.parse_args(argv)
    sp = spec(args.runs)
    n = sp.n_runs
    load0 = os.getloadavg()
    print(f"bench_sweep: {n} Jeffress runs (numpy target, 4 trials each), {args.repeats} repeats; "
          f"{os.cpu_count()} CPUs, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)
    results = {"direct": [], "1": [], "2": [], "dask2": [], "inside1": [], "ceiling": []}
    for rep in range(args.repeats):
        d = direct(sp)
        w1, rows1 = sweep_time(sp, workers=1)
        w2, _ = sweep_time(sp, workers=2)
        ceiling = cpu_ceiling()
        results["ceiling"].append(ceiling)
        results["direct"].append(d)
        results["1"].append(w1)
        results["2"].append(w2)
        results["inside1"].append(sum(float(r["wall_s"]) for r in rows1) / n)
        line = (f"  repeat {rep + 1}: direct {d:.3f} s/run; 1 worker {w1:.2f} s ({n / w1:.2f} runs/s); "
                f"2 workers {w2:.2f} s ({n / w2:.2f} runs/s); speedup {w1 / w2:.2f}x; "
                f"CPU-loop ceiling {ceiling:.2f}x")
        if args.dask:
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=40) as cluster:
                wd, _ = sweep_time(sp, scheduler=cluster.scheduler_address)
            results["dask2"].append(wd)
            line += f"; dask LocalCluster(2) {wd:.2f} s ({w1 / wd:.2f}x)"
        print(line, flush=True)
    from brainsim import sweeps as sw

    noop = sw.spec_from_dict({"experiment": "sweep_plugin:PROBE", "repeats": args.overhead_runs,
                              "grid": {"x": [0.0]}}, source="bench-noop")
    noop_small = sw.spec_from_dict({"experiment": "sweep_plugin:PROBE", "repeats": 1, "grid": {"x": [0.0]}},
                                   source="bench-noop")
    t_one, _ = sweep_time(noop_small, workers=1)   # worker start-up + one run
    t_many, _ = sweep_time(noop, workers=1)
    overhead = (t_many - t_one) / max(1, args.overhead_runs - 1)
    med = {k: statistics.median(v) for k, v in results.items() if v}
    load1 = os.getloadavg()
    print("median over repeats:")
    print(f"  direct (no sweep, in-process)   {med['direct']:.3f} s/run")
    print(f"  sweep, 1 worker                 {med['1'] / n:.3f} s/run  ({n / med['1']:.2f} runs/s)")
    print(f"  sweep, 2 workers                {med['2'] / n:.3f} s/run  ({n / med['2']:.2f} runs/s)")
    print(f"  speedup 2 vs 1 workers          {med['1'] / med['2']:.2f}x  (goal >= 1.7x)")
    print(f"  ceiling (CPU loop, 2 vs 1 proc) {med['ceiling']:.2f}x  -> sweep speedup / ceiling "
          f"{med['1'] / med['2'] / med['ceiling']:.2f}")
    print(f"  overhead per run, 1 worker      {med['1'] / n - med['direct']:.3f} s "
          f"(start-up amortised over {n} runs; inside the worker a run took {med['inside1']:.3f} s)")
    print(f"  sweep machinery per run         {1e3 * overhead:.1f} ms  ({args.overhead_runs} no-op runs, 1 worker; "
          f"start-up of a sweep with its worker {t_one:.2f} s)")
    if "dask2" in med:
        print(f"  dask LocalCluster, 2 workers    {med['dask2'] / n:.3f} s/run  ({med['1'] / med['dask2']:.2f}x)")
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
