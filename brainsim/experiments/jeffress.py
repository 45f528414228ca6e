"""Jeffress experiment: stimulus -> delay-line circuit -> population decoder -> IPD estimates.

``simulate_jeffress`` runs any number of IPDs side by side in one network (one compilation in
standalone mode) and returns the raw data; ``jeffress_summary`` turns one trial into the plain dict
printed by ``brainsim jeffress --json`` and recorded by sweeps.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ..circuits.jeffress import JeffressParams, build_jeffress, detector_counts
from ..decoding import peak_index, population_vector
from ..devices import BrianSession, DeviceConfig
from ..errors import UserError
from ..stimuli.ipd import PLAIN_EARS, IPDStimulusParams, generate, wrap_angle

IPD_RANGE_DEG = (-180.0, 180.0)  # detectors tile the whole period, so any IPD can be decoded


@dataclass
class JeffressRun:
    """Everything one batch produced. Angles in radians, times in ms."""

    ipd: np.ndarray             # (trials,) true IPDs
    estimate: np.ndarray        # (trials,) population-vector estimates (NaN: no detector spiked)
    peak_ipd: np.ndarray        # (trials,) best IPD of the most active detector
    counts: np.ndarray          # (trials, detectors) spikes inside each detector's both-ears window
    rates_hz: np.ndarray        # counts / window length
    best_ipd: np.ndarray        # (detectors,)
    input_spikes: np.ndarray    # (trials, steps, fibres) the stimulus
    detector_spike_i: np.ndarray  # flat detector index (trial * n_detectors + k), all spikes
    detector_spike_t_ms: np.ndarray
    circuit: JeffressParams
    stimulus: IPDStimulusParams
    device: DeviceConfig
    seed: int
    ran: bool
    wall_s: dict

    @property
    def error(self) -> np.ndarray:
        """Circular error estimate - truth, wrapped to [-pi, pi)."""
        return wrap_angle(self.estimate - self.ipd)


def check_ipd_deg(ipd_deg) -> np.ndarray:
    ipd_deg = np.atleast_1d(np.asarray(ipd_deg, dtype=float))
    if not np.all(np.isfinite(ipd_deg)):
        raise UserError("IPD must be a finite number of degrees")
    low, high = IPD_RANGE_DEG
    if np.any((ipd_deg < low) | (ipd_deg > high)):
        raise UserError(f"IPD must be between {low:g} and {high:g} degrees")
    return ipd_deg


def simulate_jeffress(ipd_deg, circuit: JeffressParams = JeffressParams(),
                      stimulus: IPDStimulusParams = PLAIN_EARS, seed: int = 0,
                      device: DeviceConfig = DeviceConfig()) -> JeffressRun:
    """Simulate the circuit for every IPD (degrees) of ``ipd_deg`` in one network."""
    import brian2 as b2

    ipd = np.deg2rad(check_ipd_deg(ipd_deg))
    if seed < 0:
        raise UserError("seed must be >= 0")
    stimulus_rng, spread_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    wall = {}
    t0 = time.perf_counter()
    stim = generate(stimulus, ipd, stimulus_rng)
    wall["stimulus"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with BrianSession(device, label="jeffress") as session:
        b2.defaultclock.dt = circuit.dt_ms * b2.ms
        net = build_jeffress(circuit, stim, spread_rng)
        ran = session.run(net.network, net.duration_ms * b2.ms)
        if ran:
            spike_i = np.asarray(net.detector_spikes.i[:])
            spike_t = np.asarray(net.detector_spikes.t[:] / b2.ms)
        else:
            spike_i, spike_t = np.zeros(0, dtype=int), np.zeros(0)
    wall["simulation"] = time.perf_counter() - t0

    counts = detector_counts(net, spike_i, spike_t)
    lengths_ms = net.count_windows_ms[:, 1] - net.count_windows_ms[:, 0]
    rates = counts / (lengths_ms[None, :] * 1e-3)
    best = circuit.best_ipd_rad
    estimate = population_vector(rates, best).angle
    peak = np.where(counts.sum(axis=1) > 0, best[peak_index(rates)], np.nan)
    return JeffressRun(ipd=ipd, estimate=estimate, peak_ipd=peak, counts=counts, rates_hz=rates,
                       best_ipd=best, input_spikes=stim.spikes, detector_spike_i=spike_i,
                       detector_spike_t_ms=spike_t, circuit=circuit, stimulus=stimulus, device=device,
                       seed=seed, ran=ran, wall_s=wall)


def _deg(x):
    x = float(np.degrees(x))
    return None if np.isnan(x) else round(x, 4)


def jeffress_summary(run: JeffressRun, trial: int = 0) -> dict:
    """Plain, JSON-ready result of one trial."""
    silent = bool(run.counts[trial].sum() == 0)
    return {
        "ipd_deg": _deg(run.ipd[trial]),
        "estimate_deg": _deg(run.estimate[trial]),
        "error_deg": _deg(run.error[trial]),
        "peak_detector_ipd_deg": _deg(run.peak_ipd[trial]),
        "itd_ms": round(float(run.ipd[trial] / (2 * np.pi * run.stimulus.freq_hz) * 1e3), 4),
        "detector_counts": run.counts[trial].astype(int).tolist(),
        "best_ipd_deg": [round(float(x), 4) for x in np.degrees(run.best_ipd)],
        "input_spikes": int(run.input_spikes[trial].sum()),
        "detector_spikes": int(run.counts[trial].sum()),
        "silent": silent,
        "seed": run.seed,
        "device": run.device.name,
        "ran": run.ran,
        "circuit": asdict(run.circuit),
        "stimulus": {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                     for k, v in asdict(run.stimulus).items()},
        "wall_s": {k: round(v, 4) for k, v in run.wall_s.items()},
    }


def accuracy_metrics(run: JeffressRun, within_deg: float = 7.5) -> dict:
    """Mean absolute (circular) error and fraction within ``within_deg`` over all trials."""
    err = np.abs(np.degrees(run.error))
    decoded = ~np.isnan(err)
    peak_err = np.abs(np.degrees(wrap_angle(run.peak_ipd - run.ipd)))
    return {
        "n_trials": int(err.size),
        "mae_deg": float(np.nanmean(err)) if decoded.any() else None,
        "median_abs_error_deg": float(np.nanmedian(err)) if decoded.any() else None,
        f"fraction_within_{within_deg:g}_deg": float(np.mean(np.where(decoded, err, np.inf) <= within_deg)),
        "fraction_silent": float(np.mean(~decoded)),
        "peak_detector_mae_deg": float(np.nanmean(peak_err)) if decoded.any() else None,
        "mean_detector_spikes_per_trial": float(run.counts.sum(axis=1).mean()),
    }
