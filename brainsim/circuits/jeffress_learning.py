"""A Jeffress circuit that wires itself: lagging-variable delay lines learn the interaural delay map.

The hand-wired circuit (:mod:`brainsim.circuits.jeffress`, L. A. Jeffress 1948) gives detector ``k``
axonal delays whose difference is its best ITD. Here every detector ``k`` starts with a delay
difference ``Delta_k`` (random, or 0 for all) and learns it from binaural tones at random IPDs, during
one Brian2 run, with a local unsupervised rule. Brian2 cannot change synaptic ``delay`` during a run,
so the delay lines are *multistage lagging variables* (:mod:`brainsim.circuits.lagging`): chains of K
first-order stages whose time constant is a state variable.

Circuit (one copy per trial; training is one trial presented a stream of tones)::

    line of ear e onto detector k (e = 0, 1), driven by m random fibres of ear e:
        dx_e1/dt = -x_e1 / tau_e,  dx_ej/dt = (x_e(j-1) - x_ej) / tau_e   j = 2..K+1
        (a spike of one of its fibres adds 1 to x_e1)
        D_0 = B - Delta / 2,  D_1 = B + Delta / 2,  tau_e = (D_e + dt) / K
    smoothed, normalised input of ear e:  a_e = x_eK / (tau_e * m * rate_max)   (1: peak rate)
    coincidence detector:  dv/dt = (a_0 + a_1 - v) / tau_m      spike when v > theta_0 + theta
    adaptive threshold (Diehl & Cook 2015):  dtheta/dt = -theta / tau_theta, += theta_plus per spike
    lateral inhibition:  a spike of detector k subtracts w_inh from v of every other detector

``B`` is a base delay (a quarter period plus a margin), so both delays stay positive over the whole
period of delay differences ``Delta in [-P/2, P/2)`` (``Delta`` wraps: the tone is periodic).

The rule (at each spike of detector k, in its reset: STDP on the lag). The late tap ``x_e(K+1)``
and the on-time tap ``x_eK`` of the Euler chain have, for one input spike at lag L before now, the
ratio ``(L - D_min) / (D_e - D_min)`` (D_min = (K - 1) dt; see ``lagging``), so for all the input
spikes in the line's kernel the sample::

    m_e = (D_e - D_min) * (x_e(K+1) - x_eK) / (x_eK + x_floor)        = <L>_e - D_e

is how much later than D_e the line's input arrived, on average (weighted by the kernel), before
this spike. The rule moves the delay difference by the difference of the two lines' mismatches,
each weighted by ``(B / D_e)^2`` (see below), unless another detector spiked within about gate_ms
(``winner_only``; a spike in the same time step counts, so duplicates that fire together do not
learn)::

    Delta += g * eta(t) * ((B / D_1)^2 m_1 - (B / D_0)^2 m_0)
    eta(t) = eta_end + (eta - eta_end) exp(-t / tau_anneal),   g = 0 if others > 0.5 else 1

(t is the training time: a run continued in chunks passes the time done before as ``time_offset``.)

Why it converges. Ear 1 leads by the ITD ``tau = IPD / (2 pi f)``. Write p_e for the time of ear
e's envelope peak and t* for the spike. The kernel-weighted mean arrival of ear e lies between
``t* - D_e`` and the envelope peak: ``<L>_e = D_e + alpha (t* - p_e - D_e)`` with ``0 < alpha < 1``
(the product of kernel and envelope). Then ``m_1 - m_0 = alpha ((p_0 - p_1) - (D_1 - D_0)) =
alpha (tau - Delta)``: the spike time cancels and ``Delta`` relaxes towards the ITD of the stimuli
the detector fires for, from either side (a stochastic mean, step ``eta alpha``). alpha grows
with the kernel's variance K tau_e^2, so unweighted a long, broad line pulls harder than a short one
and, spikes coming on the rising edge (t* before the aligned peak), every Delta is pulled towards
0; for kernels narrower than the envelope alpha_e ~ D_e^2, which the weights (B / D_e)^2 cancel. Alone every
detector would drift to the mean ITD of all stimuli; competition makes it vector quantisation:
lateral inhibition lets the best-matched detector of a tone fire (and learn) first, and the
adaptive threshold raises the threshold of detectors that fire a lot, so every detector wins a
similar share of tones. Each ``Delta_k`` then converges to the mean ITD of its share, online
k-means on the circle of ITDs, whose fixed points for uniform training IPDs tile the period evenly.
Equal initial delays are broken by the detectors' different fibre samples (independent noise).
With ``repulsion_ms`` > 0 (default 2 ms; 0 turns it off), a spike also pushes the delay
differences of detectors that fired within gate_ms away from its own (by repulsion_ms
exp(-|gap| / repulsion_width_ms), annealed as eta), so duplicates that fire together split instead
of sharing tones.
The rule runs in generated code (reset statements, run_regularly): cpp_standalone runs a whole
training stream with no Python between presentations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from ..params import check_fields, param
from ..stimuli.ipd import IPDStimulus, IPDStimulusParams, to_spike_times
from .lagging import lag_chain_equations, min_delay_ms

if TYPE_CHECKING:  # annotations only: Brian2 is imported when a circuit is built
    import brian2

INITS = ("random", "equal")

#: Delay difference and the two lines' delays (units: second), and the detector (dimensionless v).
DETECTOR_EQUATIONS = """
delta : second
delay_0 = base_delay - delta / 2 : second
delay_1 = base_delay + delta / 2 : second
tau_0 = (delay_0 + dt) / {K} : second
tau_1 = (delay_1 + dt) / {K} : second
a_0 = x0_{K} / (tau_0 * fibres_norm) : 1
a_1 = x1_{K} / (tau_1 * fibres_norm) : 1
dv/dt = (a_0 + a_1 - v) / tau_m : 1 (unless refractory)
dtheta/dt = -theta / tau_theta : 1
dothers/dt = -others / tau_gate : 1
learning : 1 (shared)
adapting : 1 (shared)
time_offset : second (shared)
anneal = exp(-(t + time_offset) / tau_anneal) : 1
"""
#: Each line's mismatch m_e = <L>_e - D_e (see the module docstring), read at the detector's spike.
MISMATCH = "(delay_{e} - delay_min) * (x{e}_{K1} - x{e}_{K}) / (x{e}_{K} + x_floor)"
#: Weight of a line's mismatch: its kernel's variance relative to that of the base delay, to the
#: power -``variance_weighting`` (1: a short, narrow line and a long, broad one pull equally hard).
MISMATCH_WEIGHT = "(base_delay / delay_{e}) ** (2 * variance_weighting)"
THRESHOLD = "v > theta_0 + theta"
RESET = """
v = 0
theta += adapting * theta_plus
delta += learning * (1 - winner_only * int(others > 0.5)) * (eta_end + (eta - eta_end) * anneal) * ({m1} - {m0})
"""
#: The tone is periodic: a delay difference of P/2 + x is one of -P/2 + x.
WRAP_DELTA = "delta = delta - period * floor((delta + period / 2) / period)"
ON_EAR_SPIKE = "x{e}_1_post += 1"
#: The couplings between the detectors of a trial, one Synapses; each part is there only where it acts.
ON_INHIBITION = "v_post -= w_inh"
#: winner_only: the trace of other detectors' spikes that gates the rule (see RESET).
ON_GATE = "others_post += 1"
#: Repulsion of co-active detectors: a spike of detector i pushes the delay difference of every
#: detector j that spiked less than gate_ms ago (this step included) away from its own, by at most
#: repulsion_ms, less with distance (width repulsion_width_ms), annealed as the learning rate;
#: exact duplicates split by index.
ON_REPULSION = """
gap_pre_post = (delta_post - delta_pre) - period * floor((delta_post - delta_pre + period / 2) / period)
side = sign(gap_pre_post) + (1 - abs(sign(gap_pre_post))) * (2 * int(j > i) - 1)
delta_post += learning * int(t - lastspike_post < tau_gate) * repulsion * (eta_end_ratio + (1 - eta_end_ratio) * anneal_post) * side * exp(-abs(gap_pre_post) / repulsion_width)
"""


def detector_model(stages: int) -> str:
    """Equations of the detectors: two (K + 1)-stage chains (on-time tap K, late tap K + 1) + v."""
    chains = [lag_chain_equations(stages + 1, var=f"x{e}", tau=f"tau_{e}") for e in (0, 1)]
    return "\n".join(chains) + DETECTOR_EQUATIONS.format(K=stages)


def coupling_code(params: "LearningJeffressParams", learning: bool, inhibition: bool) -> str:
    """What a detector's spike does to the other detectors of its trial ("" for nothing): lateral
    inhibition (w_inh > 0 and ``inhibition``), and while learning the winner_only gate and the
    repulsion (repulsion_ms > 0). Each is independent of the others: w_inh = 0 turns off only the
    inhibition."""
    parts = [ON_INHIBITION] if inhibition and params.w_inh > 0 else []
    if learning and params.winner_only:
        parts.append(ON_GATE)
    if learning and params.repulsion_ms > 0:
        parts.append(ON_REPULSION)
    return "\n".join(part.strip() for part in parts)


def reset_code(stages: int) -> str:
    m = [f"{MISMATCH_WEIGHT.format(e=e)} * {MISMATCH.format(e=e, K=stages, K1=stages + 1)}" for e in (0, 1)]
    return RESET.format(m0=m[0], m1=m[1])


@dataclass(frozen=True)
class LearningJeffressParams:
    """The self-wiring Jeffress circuit and its rule. Raises UserError on invalid values."""

    n_detectors: int = param(36, "coincidence detectors", ge=1, cli="--detectors")
    fibres_per_line: int = param(60, "fibres of its ear that drive each delay line (a random sample per "
                                 "detector: independent noise breaks the symmetry of equal delays)", ge=1)
    stages: int = param(12, "stages K of each lagging-variable delay line", ge=2, cli=("--stages", "-K"))
    delay_margin_ms: float = param(3.0, "shortest delay: the base delay is a quarter period plus this",
                                   unit="ms", gt=0)
    init: str = param("random", "initial delay differences: random (uniform over the period) or equal (all 0)",
                      choices=INITS)
    eta: float = param(0.5, "learning rate: step of the delay difference per detector spike, as a fraction of "
                       "the lines' mismatch", ge=0)
    variance_weighting: float = param(1.0, "weight each line's mismatch by (base delay / its delay)^(2 x this): "
                                      "1 cancels the pull of long lines' broad kernels towards Delta = 0", ge=0)
    tau_m_ms: float = param(2.0, "detector membrane time constant", unit="ms", gt=0)
    threshold: float = param(1.3, "resting threshold theta_0 on a_0 + a_1 (1 + 1: both ears at peak rate)", gt=0)
    refractory_ms: float = param(2.0, "detector refractory period", unit="ms", ge=0)
    theta_plus: float = param(0.05, "adaptive threshold: increase per spike (0: no homeostasis)", ge=0)
    tau_theta_ms: float = param(20000.0, "adaptive threshold: decay time constant", unit="ms", gt=0)
    winner_only: bool = param(True, "only a detector that no other detector preceded by less than about "
                              "gate_ms learns from its spike (a spike in the same step counts: duplicates "
                              "that fire together do not learn)")
    gate_ms: float = param(5.0, "winner_only: time constant of the trace of other detectors' spikes", unit="ms",
                           gt=0)
    w_inh: float = param(1.0, "lateral inhibition: drop of v of every other detector per spike (0: no "
                         "inhibition; the winner-only gate and the repulsion do not depend on it)", ge=0)
    repulsion_ms: float = param(2.0, "push apart the delay differences of detectors that spike within gate_ms of "
                                "each other (at most this per spike; 0: off)", unit="ms", ge=0)
    repulsion_width_ms: float = param(4.0, "repulsion: distance of delay differences over which it falls by 1/e",
                                      unit="ms", gt=0)
    eta_end: float = param(0.1, "learning rate that eta anneals to", ge=0)
    tau_anneal_ms: float = param(100000.0, "annealing time constant of the learning rate (training time)",
                                 unit="ms", gt=0)
    x_floor: float = param(0.5, "added to the on-time tap when reading a line's mismatch (weights off samples "
                           "of a silent line)", gt=0, cli="", sweep=False)
    dt_ms: float = param(0.1, "simulation time step", unit="ms", gt=0)
    seed: int = param(0, "seed of the fibre samples and of the random initial delays", ge=0, sweep=False)

    def __post_init__(self):
        check_fields(self)
        if self.delay_margin_ms < min_delay_ms(self.stages, self.dt_ms) * 4 / 3:
            raise UserError(f"delay_margin_ms must be >= {min_delay_ms(self.stages, self.dt_ms) * 4 / 3:g} ms "
                            f"for K={self.stages}, dt={self.dt_ms:g} ms (stage time constants >= 4/3 dt)")

    def with_(self, **changes) -> "LearningJeffressParams":
        return replace(self, **changes)

    def check_stimulus(self, stim: IPDStimulusParams) -> None:
        if self.fibres_per_line > stim.fibres_per_ear:
            raise UserError(f"fibres_per_line ({self.fibres_per_line}) must be <= fibres per ear "
                            f"({stim.fibres_per_ear})")

    def base_delay_ms(self, freq_hz: float) -> float:
        """Common delay B (ms): D_e = B -/+ Delta / 2 >= margin over Delta in [-P/2, P/2)."""
        return 1e3 / freq_hz / 4 + self.delay_margin_ms

    def initial_delta_ms(self, freq_hz: float) -> np.ndarray:
        """Initial delay differences (ms) of the detectors."""
        if self.init == "equal":
            return np.zeros(self.n_detectors)
        period = 1e3 / freq_hz
        rng = np.random.default_rng([self.seed, 7])
        return rng.uniform(-period / 2, period / 2, self.n_detectors)

    def fibre_samples(self, fibres_per_ear: int) -> np.ndarray:
        """(n_detectors, 2, fibres_per_line) fibre indices (within a trial) of every line."""
        rng = np.random.default_rng([self.seed, 11])
        out = np.empty((self.n_detectors, 2, self.fibres_per_line), dtype=int)
        for k in range(self.n_detectors):
            for ear in (0, 1):
                out[k, ear] = ear * fibres_per_ear + rng.choice(fibres_per_ear, self.fibres_per_line, replace=False)
        return out


@dataclass(frozen=True, eq=False)
class LearningJeffressCircuit:
    """What :func:`build_learning_jeffress` returns."""

    network: brian2.Network
    fibres: brian2.SpikeGeneratorGroup     # n_trials * n_fibres
    detectors: brian2.NeuronGroup          # n_trials * n_detectors: chains, v, theta, delta
    ears: tuple                            # (ear 0, ear 1) Synapses: fibres -> lines
    coupling: brian2.Synapses | None       # detector -> other detectors of the same trial (coupling_code)
    detector_spikes: brian2.SpikeMonitor
    delta_monitor: brian2.StateMonitor | None   # delta of trial 0's detectors over the run
    n_trials: int
    n_detectors: int


def spread_in_bins(indices, times_ms, bin_ms: float, dt_ms: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Place each spike uniformly (whole steps of ``dt_ms``) inside its stimulus bin of ``bin_ms``,
    sorted by time: continuous arrival times, so no delay profits from the stimulus grid."""
    n_sub = max(1, int(np.floor(bin_ms / dt_ms + 1e-9)))
    times_ms = times_ms + np.random.default_rng(rng).integers(0, n_sub, size=times_ms.shape) * dt_ms
    order = np.argsort(times_ms, kind="stable")
    return indices[order], times_ms[order]


def build_learning_jeffress(params: LearningJeffressParams, stim: IPDStimulusParams, spike_indices, spike_times_ms,
                            n_trials: int = 1, delta_ms=None, theta=None, learning: bool = True,
                            inhibition: bool = True, record_delta_every_ms: float | None = None,
                            state: dict | None = None, time_offset_ms: float = 0.0) -> LearningJeffressCircuit:
    """Build ``n_trials`` independent copies of the circuit on time step ``params.dt_ms``.

    ``spike_indices`` / ``spike_times_ms``: the input, index ``trial * n_fibres + fibre`` (a stimulus
    stream for training, a batch for testing). ``delta_ms``: delay differences to start from (none:
    ``params.init``); ``theta``: adaptive thresholds to start from (none: 0). ``learning=False``
    freezes the circuit (no delay changes, no threshold adaptation, no gate or repulsion);
    ``inhibition=False`` leaves the lateral inhibition out. ``state``: every detector variable to
    start from, as :func:`detector_state` read it at the end of a previous chunk of the same stream (it overrides
    ``delta_ms`` and ``theta``), and ``time_offset_ms`` the training time that chunk ended at: a
    training continued chunk by chunk equals one run. Call inside a :class:`brainsim.devices.BrianSession`.
    """
    import brian2 as b2

    params.check_stimulus(stim)
    K, n_det, n_fibres = params.stages, params.n_detectors, stim.n_fibres
    dt = params.dt_ms * b2.ms
    period_ms = 1e3 / stim.freq_hz
    fibres = b2.SpikeGeneratorGroup(n_trials * n_fibres, np.asarray(spike_indices, dtype=int),
                                    np.asarray(spike_times_ms, dtype=float) * b2.ms, dt=dt, name="fibres")
    namespace = {
        "base_delay": params.base_delay_ms(stim.freq_hz) * b2.ms,
        "delay_min": min_delay_ms(K, params.dt_ms) * b2.ms,
        "fibres_norm": params.fibres_per_line * stim.rate_max_hz * b2.Hz,
        "tau_m": params.tau_m_ms * b2.ms,
        "tau_theta": params.tau_theta_ms * b2.ms,
        "theta_0": params.threshold,
        "theta_plus": params.theta_plus,
        "eta": params.eta,
        "x_floor": params.x_floor,
        "period": period_ms * b2.ms,
        "w_inh": params.w_inh,
        "winner_only": 1.0 if params.winner_only else 0.0,
        "tau_gate": params.gate_ms * b2.ms,
        "eta_end": params.eta_end,
        "tau_anneal": params.tau_anneal_ms * b2.ms,
        "variance_weighting": params.variance_weighting,
        "repulsion": params.repulsion_ms * b2.ms,
        # the repulsion anneals as eta(t) / eta (eta = 0 learns nothing: no annealing to guard)
        "eta_end_ratio": params.eta_end / params.eta if params.eta > 0 else 1.0,
        "repulsion_width": params.repulsion_width_ms * b2.ms,
    }
    detectors = b2.NeuronGroup(n_trials * n_det, detector_model(K), threshold=THRESHOLD, reset=reset_code(K),
                               refractory=params.refractory_ms * b2.ms, method="euler", dt=dt,
                               namespace=namespace, name="detectors")
    start = params.initial_delta_ms(stim.freq_hz) if delta_ms is None else np.asarray(delta_ms, dtype=float)
    detectors.delta = np.tile(start, n_trials) * b2.ms
    detectors.theta = 0.0 if theta is None else np.tile(np.asarray(theta, dtype=float), n_trials)
    detectors.learning = 1.0 if learning else 0.0
    detectors.adapting = 1.0 if learning else 0.0
    detectors.time_offset = time_offset_ms * b2.ms
    if state is not None:
        for name in carried_variables(detectors):
            values = np.tile(np.asarray(state[name], dtype=float), n_trials)
            if name == "not_refractory":
                values = values > 0.5
            setattr(detectors, name + "_", values)   # SI values, as detector_state reads them
    objects = [fibres, detectors]
    if learning:
        detectors.run_regularly(WRAP_DELTA, dt=dt, when="after_resets", name="wrap_delta")

    samples = params.fibre_samples(stim.fibres_per_ear)   # (n_det, 2, m)
    ears = []
    for e in (0, 1):
        syn = b2.Synapses(fibres, detectors, on_pre=ON_EAR_SPIKE.format(e=e), dt=dt, name=f"ear_{e}_lines")
        det = np.repeat(np.arange(n_det), params.fibres_per_line)
        fib = samples[:, e, :].ravel()
        trial = np.arange(n_trials)[:, None]
        syn.connect(i=(trial * n_fibres + fib[None]).ravel(), j=(trial * n_det + det[None]).ravel())
        ears.append(syn)
    objects += ears
    coupling = None
    on_pre = coupling_code(params, learning, inhibition)
    if on_pre and n_det > 1:
        coupling = b2.Synapses(detectors, detectors, on_pre=on_pre, dt=dt, namespace=namespace,
                               name="detector_coupling")
        pre, post = np.meshgrid(np.arange(n_det), np.arange(n_det), indexing="ij")
        others = pre != post
        offset = (np.arange(n_trials) * n_det)[:, None]
        coupling.connect(i=(offset + pre[others][None]).ravel(), j=(offset + post[others][None]).ravel())
        objects.append(coupling)
    spikes = b2.SpikeMonitor(detectors, name="detector_spikes")
    objects.append(spikes)
    delta_monitor = None
    if record_delta_every_ms:
        delta_monitor = b2.StateMonitor(detectors, "delta", record=np.arange(n_det), dt=record_delta_every_ms * b2.ms,
                                        when="end", name="delta_monitor")
        objects.append(delta_monitor)
    network = b2.Network(*objects)
    return LearningJeffressCircuit(network=network, fibres=fibres, detectors=detectors, ears=tuple(ears),
                                   coupling=coupling, detector_spikes=spikes, delta_monitor=delta_monitor,
                                   n_trials=n_trials, n_detectors=n_det)


def carried_variables(detectors) -> list[str]:
    """The detector variables a continued run needs: the chains, v, theta, the gate trace, the delay
    difference and the refractory state."""
    return sorted(detectors.equations.diff_eq_names) + ["delta", "lastspike", "not_refractory"]


def detector_state(circuit: LearningJeffressCircuit, elapsed_ms: float) -> dict:
    """Every carried detector variable of trial 0 at the end of a run of ``elapsed_ms`` (SI values,
    ``lastspike`` relative to the end), for :func:`build_learning_jeffress` ``state=``."""
    group = circuit.detectors
    out = {}
    for name in carried_variables(group):
        values = np.asarray(getattr(group, name + "_")[:circuit.n_detectors], dtype=float)
        out[name] = values - elapsed_ms * 1e-3 if name == "lastspike" else values
    return out


def stream_spikes(stimulus: IPDStimulus, gap_ms: float, dt_ms: float, rng) -> tuple[np.ndarray, np.ndarray, float]:
    """One trial presenting the stimuli of ``stimulus`` one after the other, ``gap_ms`` of silence
    after each: (fibre indices, times in ms, duration of one presentation in ms)."""
    stim = stimulus.params
    indices, times_ms = to_spike_times(stimulus.spikes, stim.dt_ms)
    slot_ms = stim.duration_ms + gap_ms
    sample, fibre = np.divmod(indices, stim.n_fibres)
    times_ms = times_ms + sample * slot_ms
    idx, t = spread_in_bins(fibre, times_ms, stim.dt_ms, dt_ms, rng)
    return idx, t, slot_ms


def batch_spikes(stimulus: IPDStimulus, dt_ms: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Stimuli side by side (trial s: indices s * n_fibres + f), spread inside their bins."""
    indices, times_ms = to_spike_times(stimulus.spikes, stimulus.params.dt_ms)
    return spread_in_bins(indices, times_ms, stimulus.params.dt_ms, dt_ms, rng)


def count_window_ms(params: LearningJeffressParams, stim: IPDStimulusParams, delta_ms) -> np.ndarray:
    """(n_detectors, 2) window [start, stop) in which both lines of each detector carry the stimulus
    (the longer line's delay plus two kernel spreads, to the shorter line's delay plus the duration)."""
    base = params.base_delay_ms(stim.freq_hz)
    delta = np.asarray(delta_ms, dtype=float)
    d0, d1 = base - delta / 2, base + delta / 2
    longer = np.maximum(d0, d1)
    start = longer + 2 * longer / math.sqrt(params.stages)
    stop = np.minimum(d0, d1) + stim.duration_ms
    return np.stack([start, np.maximum(stop, start + params.dt_ms)], axis=1)
