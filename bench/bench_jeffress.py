"""Benchmarks of the Jeffress circuit (issue: foundation).

(a) Accuracy: N random IPDs uniform in (-90, 90) deg; mean absolute error, fraction within 7.5 deg.
    Stimuli: plain ears and the tutorial input (fibre phase delays 0..pi/2, compensated by the delay
    lines), at 20 Hz and 30 Hz. For scale, the same stimuli are also decoded by a non-spiking
    estimator that counts interaural coincidences at every lag and fits a cosine (computed here in
    numpy from the very same spike arrays).
(b) Wall time of ``brainsim jeffress --ipd 30`` (cold: empty bytecode cache; warm: median of 5) next
    to ``python -c "import brian2"`` measured in the same run.

    python bench/bench_jeffress.py            # everything (a few minutes)
    python bench/bench_jeffress.py --skip-accuracy / --skip-timing / --n 50
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brainsim.devices import DeviceConfig  # noqa: E402
from brainsim.experiments.jeffress import JeffressConfig, accuracy_metrics, simulate_jeffress  # noqa: E402
from brainsim.stimuli.ipd import PLAIN_EARS, TUTORIAL, random_ipds, wrap_angle  # noqa: E402


def coincidence_cosine_estimate(spikes: np.ndarray, params) -> np.ndarray:
    """Non-spiking reference: coincidences between the ears at every lag, then a cosine fit.

    C(l) = sum_t E0(t) E1(t - l) over the summed fibre counts of each ear (phase delays, if any, are
    first removed by shifting each fibre by its phase delay in bins); the IPD estimate is the phase
    of sum_l C(l) exp(i 2 pi f l dt) over lags spanning one period.
    """
    n, steps, _ = spikes.shape
    n_a = params.fibres_per_ear
    dt_s = params.dt_ms * 1e-3
    shift = np.rint(params.fibre_phase_delays / (2 * np.pi * params.freq_hz) / dt_s).astype(int)
    ears = np.zeros((n, 2, steps + shift.max()))
    for f in range(2 * n_a):
        ears[:, f // n_a, shift[f]:shift[f] + steps] += spikes[:, :, f]
    e0, e1 = ears[:, 0], ears[:, 1]
    period_bins = int(round(1 / (params.freq_hz * dt_s)))
    lags = np.arange(-(period_bins // 2), period_bins - period_bins // 2)
    total = np.zeros(n, dtype=complex)
    for lag in lags:
        if lag >= 0:
            c = np.einsum("nt,nt->n", e0[:, lag:], e1[:, :e1.shape[1] - lag]) / (e0.shape[1] - lag)
        else:
            c = np.einsum("nt,nt->n", e0[:, :lag], e1[:, -lag:]) / (e0.shape[1] + lag)
        total += c * np.exp(1j * 2 * np.pi * params.freq_hz * lag * dt_s)
    return np.angle(total)


def accuracy(n: int, seed: int, threads: int) -> list[dict]:
    rows = []
    for label, stim in [("plain ears", PLAIN_EARS), ("tutorial (phase delays)", TUTORIAL)]:
        for freq in (20.0, 30.0):
            stimulus = stim.with_(freq_hz=freq)
            ipd_deg = np.degrees(random_ipds(n, seed))
            t0 = time.perf_counter()
            config = JeffressConfig(stimulus=stimulus, seed=seed, device=DeviceConfig("cpp_standalone", threads=threads))
            run = simulate_jeffress(ipd_deg, config)
            wall = time.perf_counter() - t0
            m = accuracy_metrics(run)
            ref = np.abs(np.degrees(wrap_angle(coincidence_cosine_estimate(run.input_spikes, stimulus) - run.ipd)))
            rows.append({"stimulus": label, "freq_hz": freq, **m,
                         "reference_coincidence_cosine_mae_deg": float(ref.mean()),
                         "reference_fraction_within_7.5_deg": float(np.mean(ref <= 7.5)),
                         "wall_s": wall})
            print(f"  {label:24s} {freq:4.0f} Hz  MAE {m['mae_deg']:5.2f} deg  within 7.5 deg "
                  f"{100 * m['fraction_within_7.5_deg']:5.1f} %  silent {100 * m['fraction_silent']:.1f} %  "
                  f"| peak detector MAE {m['peak_detector_mae_deg']:5.2f}  "
                  f"| coincidence+cosine reference MAE {ref.mean():5.2f}  ({wall:.0f} s)", flush=True)
    return rows


def _time(cmd: list[str], env: dict) -> float:
    """Wall seconds of one run of ``cmd``; its CPU seconds go to ``_time.cpu``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _time.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall


_time.cpu = 0.0


def timing(repeats: int) -> dict:
    brainsim_cmd = [sys.executable, "-m", "brainsim", "jeffress", "--ipd", "30"]
    import_cmd = [sys.executable, "-c", "import brian2"]
    results = {}
    with tempfile.TemporaryDirectory() as cold_cache:
        env = dict(os.environ, PYTHONPYCACHEPREFIX=cold_cache)
        # cold: no bytecode cache for anything (brian2, numpy, brainsim ...), measured for each command
        results["import_brian2_cold_s"] = _time(import_cmd, env)
    with tempfile.TemporaryDirectory() as cold_cache:
        env = dict(os.environ, PYTHONPYCACHEPREFIX=cold_cache)
        results["jeffress_cold_s"] = _time(brainsim_cmd, env)
    env = dict(os.environ)
    _time(import_cmd, env), _time(brainsim_cmd, env)  # warm the caches
    imports, runs, imports_cpu, runs_cpu = [], [], [], []
    for _ in range(repeats):  # interleaved, so both see the same machine load
        imports.append(_time(import_cmd, env))
        imports_cpu.append(_time.cpu)
        runs.append(_time(brainsim_cmd, env))
        runs_cpu.append(_time.cpu)
    results["import_brian2_warm_s"] = statistics.median(imports)
    results["jeffress_warm_s"] = statistics.median(runs)
    # CPU seconds (user + system) hardly depend on what else the machine is doing
    results["import_brian2_warm_cpu_s"] = statistics.median(imports_cpu)
    results["jeffress_warm_cpu_s"] = statistics.median(runs_cpu)
    results["jeffress_minus_import_warm_cpu_s"] = results["jeffress_warm_cpu_s"] - results["import_brian2_warm_cpu_s"]
    results["jeffress_minus_import_warm_s"] = results["jeffress_warm_s"] - results["import_brian2_warm_s"]
    results["jeffress_minus_import_cold_s"] = results["jeffress_cold_s"] - results["import_brian2_cold_s"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="random IPDs per condition (default 200)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5, help="warm timing repeats (median)")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    out = {"load_average_at_start": os.getloadavg()}
    if not args.skip_accuracy:
        print(f"(a) accuracy over {args.n} random IPDs in (-90, 90) deg (cpp_standalone, one run per condition)")
        out["accuracy"] = accuracy(args.n, args.seed, args.threads)
    if not args.skip_timing:
        print("(b) wall time of `brainsim jeffress --ipd 30` vs `python -c 'import brian2'`")
        t = timing(args.repeats)
        out["timing"] = t
        print(f"  cold: import brian2 {t['import_brian2_cold_s']:.2f} s, brainsim jeffress {t['jeffress_cold_s']:.2f} s "
              f"(+{t['jeffress_minus_import_cold_s']:.2f} s)")
        print(f"  warm: import brian2 {t['import_brian2_warm_s']:.2f} s, brainsim jeffress {t['jeffress_warm_s']:.2f} s "
              f"(+{t['jeffress_minus_import_warm_s']:.2f} s; target <= 2 s)")
        print(f"  warm CPU time (user + system): import brian2 {t['import_brian2_warm_cpu_s']:.2f} s, "
              f"brainsim jeffress {t['jeffress_warm_cpu_s']:.2f} s (+{t['jeffress_minus_import_warm_cpu_s']:.2f} s)")
    out["load_average_at_end"] = os.getloadavg()
    print(f"load average (1, 5, 15 min) at start {out['load_average_at_start']}, at end {out['load_average_at_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
