"""Jeffress experiment: stimulus -> delay-line circuit -> population decoder -> IPD estimates.

One parameter surface, :class:`JeffressConfig` (the tone stimulus, the circuit, the device, the
seed), read by ``brainsim jeffress`` (its options are the config's fields) and the ``jeffress`` sweep.
``simulate_jeffress`` runs any number of IPDs side by side in one network (one compilation in
standalone mode) and returns the raw data; ``jeffress_summary`` turns one trial into the plain dict
printed by ``brainsim jeffress --json`` and recorded by sweeps.

The tone frequency has one home, ``config.stimulus.freq_hz``: the stimulus is generated with it and
the circuit lays its delay lines out for it (unless ``config.circuit.layout_freq_hz`` is set).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ..circuits.jeffress import JeffressParams, build_jeffress, detector_counts
from ..decoding import peak_index, population_vector
from ..devices import BrianSession, DeviceConfig
from ..errors import UserError
from ..params import check_fields, param, param_group
from ..stimuli.ipd import PLAIN_EARS, STIMULUS_NAMES, IPDStimulusParams, generate, wrap_angle

IPD_RANGE_DEG = (-180.0, 180.0)  # detectors tile the whole period, so any IPD can be decoded


@dataclass(frozen=True)
class JeffressConfig:
    """One Jeffress simulation: the tone stimulus (plain ears by default: all fibres of an ear in
    phase), the delay-line circuit, the Brian2 device and the random seed."""

    stimulus: IPDStimulusParams = param_group(IPDStimulusParams, "stimulus", default=PLAIN_EARS,
                                              rename=STIMULUS_NAMES)
    circuit: JeffressParams = param_group(JeffressParams, "circuit")
    device: DeviceConfig = param_group(DeviceConfig, "simulation device")
    seed: int = param(0, "random seed (stimulus and spike placement)", ge=0, sweep=False)

    def __post_init__(self):
        check_fields(self)


@dataclass(eq=False)
class JeffressRun:
    """Everything one batch produced. Angles in radians, times in ms, rates in Hz."""

    ipd: np.ndarray             # (trials,) true IPDs
    estimate: np.ndarray        # (trials,) population-vector estimates (NaN: no detector spiked)
    peak_ipd: np.ndarray        # (trials,) best IPD of the most active detector
    counts: np.ndarray          # (trials, detectors) spikes inside each detector's both-ears window
    rates_hz: np.ndarray        # counts / window length
    best_ipd: np.ndarray        # (detectors,)
    input_spikes: np.ndarray    # (trials, steps, fibres) the stimulus
    detector_spike_i: np.ndarray  # flat detector index (trial * n_detectors + k), all spikes
    detector_spike_t_ms: np.ndarray
    config: JeffressConfig
    ran: bool
    wall_s: dict                # seconds: "stimulus", "simulation"

    @property
    def error(self) -> np.ndarray:
        """Circular error estimate - truth, wrapped to [-pi, pi)."""
        return wrap_angle(self.estimate - self.ipd)


def check_ipd_deg(ipd_deg) -> np.ndarray:
    """IPDs in degrees as a float array; UserError unless finite and within -180..180."""
    ipd_deg = np.atleast_1d(np.asarray(ipd_deg, dtype=float))
    if not np.all(np.isfinite(ipd_deg)):
        raise UserError("IPD must be a finite number of degrees")
    low, high = IPD_RANGE_DEG
    if np.any((ipd_deg < low) | (ipd_deg > high)):
        raise UserError(f"IPD must be between {low:g} and {high:g} degrees")
    return ipd_deg


def simulate_jeffress(ipd_deg, config: JeffressConfig = JeffressConfig(), progress: bool = False) -> JeffressRun:
    """Simulate the circuit for every IPD (degrees, -180..180) of ``ipd_deg`` in one network.

    ``progress``: say on stderr when a standalone project compiles."""
    import brian2 as b2

    ipd = np.deg2rad(check_ipd_deg(ipd_deg))
    stimulus_rng, spread_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2))
    wall = {}
    t0 = time.perf_counter()
    stim = generate(config.stimulus, ipd, stimulus_rng)
    wall["stimulus"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with BrianSession(config.device, label="jeffress", progress=progress) as session:
        net = build_jeffress(config.circuit, stim, spread_rng)
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
    best = config.circuit.best_ipd_rad
    estimate = population_vector(rates, best).angle
    peak = np.where(counts.sum(axis=1) > 0, best[peak_index(rates)], np.nan)
    return JeffressRun(ipd=ipd, estimate=estimate, peak_ipd=peak, counts=counts, rates_hz=rates,
                       best_ipd=best, input_spikes=stim.spikes, detector_spike_i=spike_i,
                       detector_spike_t_ms=spike_t, config=config, ran=ran, wall_s=wall)


def _deg(x):
    x = float(np.degrees(x))
    return None if np.isnan(x) else round(x, 4)


def jeffress_summary(run: JeffressRun, trial: int = 0) -> dict:
    """Plain, JSON-ready result of one trial: angles in degrees, the ITD in ms, spike counts, the
    configuration and wall times (s)."""
    silent = bool(run.counts[trial].sum() == 0)
    return {
        "ipd_deg": _deg(run.ipd[trial]),
        "estimate_deg": _deg(run.estimate[trial]),
        "error_deg": _deg(run.error[trial]),
        "peak_detector_ipd_deg": _deg(run.peak_ipd[trial]),
        "itd_ms": round(float(run.ipd[trial] / (2 * np.pi * run.config.stimulus.freq_hz) * 1e3), 4),
        "detector_counts": run.counts[trial].astype(int).tolist(),
        "best_ipd_deg": [round(float(x), 4) for x in np.degrees(run.best_ipd)],
        "input_spikes": int(run.input_spikes[trial].sum()),
        "detector_spikes": int(run.counts[trial].sum()),
        "silent": silent,
        "seed": run.config.seed,
        "device": run.config.device.name,
        "ran": run.ran,
        "circuit": asdict(run.config.circuit),
        "stimulus": {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                     for k, v in asdict(run.config.stimulus).items()},
        "wall_s": {k: round(v, 4) for k, v in run.wall_s.items()},
    }


def accuracy_metrics(run: JeffressRun, within_deg: float = 7.5) -> dict:
    """Mean absolute (circular) error in degrees and the fraction of trials within ``within_deg``
    degrees, over all trials (silent trials have no estimate)."""
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
