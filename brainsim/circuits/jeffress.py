"""Jeffress delay-line model of sound localisation.

L. A. Jeffress (1948), "A place theory of sound localization", J. Comp. Physiol. Psychol. 41:35-39.
See also the Brian2 example ``examples/synapses/jeffress.py`` and the Cosyne 2022 tutorial (seed 002).

Two ears of auditory-nerve fibres project through axonal delay lines onto an array of binaural
coincidence detectors. Detector ``k`` is tuned to a best IPD ``phi_k``: the fibres of ear 1 (the ear
that leads for positive IPDs) reach it ``phi_k / (2 pi f)`` later than those of ear 0, so both ears'
phase-locked volleys arrive together exactly when the stimulus IPD equals ``phi_k``. Best IPDs tile
the whole period [-180, 180) deg. Delays are split symmetrically around a common base so that every
detector sees both ears over windows of the same length.

If the fibres carry known phase delays (the tutorial's input, 0..pi/2 per ear) each fibre gets an
extra compensating delay ``pd_j / (2 pi f)``: the circuit aligns its inputs before comparing ears.

Detectors are leaky integrate-and-fire neurons with a dimensionless membrane potential::

    dv/dt = -v / tau            (not integrated while refractory)
    v > 1  ->  spike, v = 0, refractory for t_ref
    each input spike: v += w

With ``tau`` ~ 1 ms the neuron only sums inputs that arrive within about a millisecond; ``w`` is
chosen so that one ear's volley alone rarely reaches threshold but two coincident volleys do (see
``JeffressParams``). Any number of independent trials (stimuli) are simulated side by side in one
network: fibre ``s * n_fibres + f`` belongs to trial ``s`` and projects only to that trial's
detectors, so one run (and one compilation in standalone mode) evaluates a whole batch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..params import check_fields, param
from ..stimuli.ipd import IPDStimulus, IPDStimulusParams, to_spike_times

if TYPE_CHECKING:  # annotations only: Brian2 is imported when a circuit is built
    import brian2

DETECTOR_EQUATIONS = """
dv/dt = -v / tau_detector : 1 (unless refractory)
"""
DETECTOR_THRESHOLD = "v > 1"
DETECTOR_RESET = "v = 0"
SYNAPSE_ON_PRE = "v_post += w_input"


@dataclass(frozen=True)
class JeffressParams:
    """Parameters of the delay-line circuit. The tone (its frequency included) is the stimulus's:
    the delay lines are laid out for the stimulus frequency unless ``layout_freq_hz`` says otherwise.
    Raises UserError on invalid values."""

    n_detectors: int = param(36, "coincidence detectors; their best IPDs tile [-180, 180) deg in steps of "
                             "360 / n", ge=3, cli="--detectors")
    layout_freq_hz: float | None = param(None, "frequency the delay lines are laid out for (none: the "
                                         "stimulus's tone frequency)", unit="Hz", gt=0, sweep="circuit_freq_hz")
    tau_ms: float = param(1.0, "detector membrane time constant: the coincidence window", unit="ms", gt=0)
    threshold_fraction: float = param(0.8, "threshold / expected peak of v for perfectly coincident ears", gt=0)
    weight: float | None = param(None, "jump of v per input spike (none: from threshold_fraction)", gt=0)
    refractory_ms: float = param(1.0, "detector refractory period", unit="ms", ge=0)
    dt_ms: float = param(0.1, "simulation time step (the delay resolution)", unit="ms", gt=0)
    compensate_phase_delays: bool = param(True, "add pd_j / (2 pi f) to the delays of fibres with phase delays")
    spread_in_bin: bool = param(True, "place each input spike uniformly inside its stimulus time bin")

    def __post_init__(self):
        check_fields(self)

    @property
    def best_ipd_rad(self) -> np.ndarray:
        """Best IPD of every detector (radians), tiling [-pi, pi)."""
        return -np.pi + 2 * np.pi * np.arange(self.n_detectors) / self.n_detectors

    def freq_hz(self, stimulus: IPDStimulusParams) -> float:
        """Frequency (Hz) the delay lines are laid out for with this stimulus."""
        return float(self.layout_freq_hz if self.layout_freq_hz is not None else stimulus.freq_hz)

    def ear_delays_ms(self, freq_hz: float) -> tuple[np.ndarray, np.ndarray]:
        """(delay of ear 0, delay of ear 1) onto each detector, in ms, before phase compensation, for
        delay lines laid out for ``freq_hz`` (Hz).

        ear1 - ear0 = best IPD / (2 pi f); both are >= 0 and sum to half a period.
        """
        period_ms = 1e3 / freq_hz
        itd_ms = self.best_ipd_rad / (2 * np.pi) * period_ms
        base = period_ms / 4
        return base - itd_ms / 2, base + itd_ms / 2

    def with_(self, **changes) -> "JeffressParams":
        return replace(self, **changes)


@dataclass(frozen=True, eq=False)
class JeffressCircuit:
    """What a caller needs after building: the network and the handles to read it."""

    network: brian2.Network
    fibres: brian2.SpikeGeneratorGroup       # n_trials * n_fibres
    detectors: brian2.NeuronGroup            # n_trials * n_detectors
    synapses: brian2.Synapses                # fibres -> detectors
    detector_spikes: brian2.SpikeMonitor     # on the detectors
    n_trials: int
    n_detectors: int
    duration_ms: float                       # simulate at least this long (stimulus + longest delay)
    count_windows_ms: np.ndarray             # (n_detectors, 2): window in which each detector sees both ears


def input_weight(params: JeffressParams, stim: IPDStimulusParams) -> float:
    """Jump of v per input spike.

    With both ears' volleys coincident at the envelope peak, each input bin of width dt_in brings
    ``2 * N_a * rate_max * dt_in`` spikes on average; between bins v decays by exp(-dt_in / tau), so
    v peaks near ``w * 2 N_a rate_max dt_in / (1 - exp(-dt_in / tau))``. The threshold (1) is set to
    ``threshold_fraction`` of that peak, which one ear alone (half of it) reaches only rarely. Scaling
    the weight this way keeps the circuit's selectivity when fibre counts, rates or dt change.
    """
    if params.weight is not None:
        return params.weight
    dt_in_ms = stim.dt_ms
    per_bin = 2 * stim.fibres_per_ear * stim.rate_max_hz * dt_in_ms * 1e-3
    if params.spread_in_bin:  # arrivals spread evenly: v settles at w * rate * tau
        peak = per_bin * params.tau_ms / dt_in_ms
    else:
        peak = per_bin / (1 - np.exp(-dt_in_ms / params.tau_ms))
    return 1.0 / (params.threshold_fraction * peak)


def fibre_delays_ms(params: JeffressParams, stimulus: IPDStimulusParams) -> np.ndarray:
    """Delay (ms) from each fibre (rows) of ``stimulus`` to each detector (columns)."""
    freq_hz = params.freq_hz(stimulus)
    ear0, ear1 = params.ear_delays_ms(freq_hz)
    per_ear = np.where(stimulus.fibre_ear[:, None] == 0, ear0[None, :], ear1[None, :])
    compensation = np.zeros_like(stimulus.fibre_phase_delays)
    if params.compensate_phase_delays:
        compensation = stimulus.fibre_phase_delays / (2 * np.pi) * (1e3 / freq_hz)
    return per_ear + compensation[:, None]


def count_windows_ms(params: JeffressParams, freq_hz: float, stimulus_duration_ms: float,
                     max_compensation_ms: float = 0.0) -> np.ndarray:
    """Per-detector window [start, stop) of detector time (ms) in which both ears' delayed input
    exists, for delay lines laid out for ``freq_hz`` (Hz) and a stimulus of ``stimulus_duration_ms``."""
    ear0, ear1 = params.ear_delays_ms(freq_hz)
    start = np.maximum(ear0, ear1) + max_compensation_ms
    stop = np.minimum(ear0, ear1) + stimulus_duration_ms
    return np.stack([start, stop], axis=1)


def build_jeffress(params: JeffressParams, stimulus: IPDStimulus,
                   rng: np.random.Generator | int | None = None) -> JeffressCircuit:
    """Build the circuit for a batch of stimuli (one independent copy per trial), every object on
    the time step ``params.dt_ms``; the delay lines are laid out for the stimulus's tone frequency
    (or ``params.layout_freq_hz``).

    ``rng`` places input spikes inside their time bins (``spread_in_bin``). Call inside a
    :class:`brainsim.devices.BrianSession`; run it for ``circuit.duration_ms``.
    """
    import brian2 as b2

    stim = stimulus.params
    n_trials = stimulus.spikes.shape[0]
    n_fibres = stim.n_fibres
    n_det = params.n_detectors
    dt = params.dt_ms * b2.ms

    indices, times_ms = to_spike_times(stimulus.spikes, stim.dt_ms)
    if params.spread_in_bin:
        # The stimulus is a Bernoulli process on a dt grid; spreading each spike inside its bin makes
        # it continuous in time, so no detector gains from its delays being multiples of dt.
        # Offsets are whole simulation steps, so a fibre never spikes twice in one step.
        n_sub = max(1, int(np.floor(stim.dt_ms / params.dt_ms + 1e-9)))
        offsets = np.random.default_rng(rng).integers(0, n_sub, size=times_ms.shape) * params.dt_ms
        times_ms = times_ms + offsets
        order = np.argsort(times_ms, kind="stable")
        indices, times_ms = indices[order], times_ms[order]
    fibres = b2.SpikeGeneratorGroup(n_trials * n_fibres, indices, times_ms * b2.ms, dt=dt, name="fibres")

    detectors = b2.NeuronGroup(
        n_trials * n_det, DETECTOR_EQUATIONS, threshold=DETECTOR_THRESHOLD, reset=DETECTOR_RESET,
        refractory=params.refractory_ms * b2.ms, method="exact", dt=dt, name="detectors",
        namespace={"tau_detector": params.tau_ms * b2.ms},
    )

    # All fibres of a trial project to all detectors of the same trial, never across trials.
    delays = fibre_delays_ms(params, stim)  # (n_fibres, n_det)
    fibre_idx, det_idx = np.meshgrid(np.arange(n_fibres), np.arange(n_det), indexing="ij")
    trial = np.arange(n_trials)[:, None, None]
    pre = (trial * n_fibres + fibre_idx[None]).ravel()
    post = (trial * n_det + det_idx[None]).ravel()
    synapses = b2.Synapses(fibres, detectors, on_pre=SYNAPSE_ON_PRE, dt=dt, name="delay_lines",
                           namespace={"w_input": input_weight(params, stim)})
    synapses.connect(i=pre, j=post)
    synapses.delay = np.broadcast_to(delays[None], (n_trials, n_fibres, n_det)).ravel() * b2.ms

    detector_spikes = b2.SpikeMonitor(detectors, name="detector_spikes")
    network = b2.Network(fibres, detectors, synapses, detector_spikes)
    freq_hz = params.freq_hz(stim)
    compensation_span = (stim.fibre_phase_delays.max() / (2 * np.pi) * (1e3 / freq_hz)
                         if params.compensate_phase_delays else 0.0)
    windows = count_windows_ms(params, freq_hz, stim.duration_ms, compensation_span)
    return JeffressCircuit(network=network, fibres=fibres, detectors=detectors, synapses=synapses,
                           detector_spikes=detector_spikes, n_trials=n_trials, n_detectors=n_det,
                           duration_ms=float(delays.max() + stim.duration_ms + params.tau_ms * 5),
                           count_windows_ms=windows)


def detector_counts(circuit: JeffressCircuit, spike_indices=None, spike_times_ms=None) -> np.ndarray:
    """Spike counts (n_trials, n_detectors) inside each detector's both-ears window."""
    import brian2 as b2

    if spike_indices is None:
        spike_indices = np.asarray(circuit.detector_spikes.i[:])
        spike_times_ms = np.asarray(circuit.detector_spikes.t[:] / b2.ms)
    det = spike_indices % circuit.n_detectors
    start = circuit.count_windows_ms[det, 0]
    stop = circuit.count_windows_ms[det, 1]
    inside = (spike_times_ms >= start) & (spike_times_ms < stop)
    counts = np.bincount(spike_indices[inside], minlength=circuit.n_trials * circuit.n_detectors)
    return counts.reshape(circuit.n_trials, circuit.n_detectors)
