"""Diehl & Cook (2015) unsupervised STDP network for digit recognition.

P. U. Diehl and M. Cook (2015), "Unsupervised learning of digit recognition using spike-timing-dependent
plasticity", Front. Comput. Neurosci. 9:99, doi:10.3389/fncom.2015.00099. Semantics follow the Brian2
script of B. A. Lindqvist (seed 003):

* 784 Poisson inputs firing at ``pixel / 8 * intensity`` Hz (intensity 2) for 350 ms, then 150 ms rest;
* N conductance-based excitatory neurons with an adaptive threshold ``theta`` (+0.05 mV per spike,
  decaying with tau 1e7 ms, frozen outside training), a 5 ms refractory clamp and the "timer" rule
  (no spike within 50 ms of the last one);
* N inhibitory neurons: each excitatory neuron excites one, each inhibits all excitatory neurons but
  its partner (lateral inhibition);
* all-to-all input -> excitatory synapses with delays drawn uniformly in [0, 10) ms and the
  pre/post-trace STDP rule of the seed (depression ``nu_pre * post1`` at presynaptic arrivals,
  potentiation ``nu_post * pre * post2`` at postsynaptic spikes, weights clipped to [0, 1]);
* before each new sample the incoming weights of every excitatory neuron are scaled to sum to 78;
* a sample that drives fewer than 5 excitatory spikes is shown again with intensity + 1 (boost rule).

The whole schedule lives in the generated code, so that cpp_standalone and cuda_standalone run many
samples in one simulation: a one-neuron *controller* group holds the shared state (slot of the current
sample in a 2-D TimedArray of rates, intensity, spike count of the presentation) and decides at each
500 ms presentation boundary (``run_regularly``) whether to advance to the next sample or to repeat
with a higher intensity. The input, excitatory and controller groups share that state through linked
variables. Column normalisation uses running column sums (updated by each weight change) instead of
a summed variable over all N x 784 synapses at every time step.

The default time step is the paper's 0.5 ms (the seed used Brian2's default of 0.1 ms): it halves the
cost of a sample and gives the same accuracy on the benchmark protocol (docs/mnist.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from ..params import check_fields, param
from . import counter_rng

if TYPE_CHECKING:  # annotations only: Brian2 is imported when the network is built
    import brian2

# -- equations (units in every line); constants are resolved from the builder's namespace ---------

INPUT_EQS = """
rate : Hz                  # Poisson rate of this presentation (0 at rest)
next_spike : second        # time step of this input's next spike
phase_end : second         # end of the input phase of this presentation
slot : integer (linked)
intensity : 1 (linked)
in_table : integer (linked)
rng_key : integer (shared)  # key of this run's random numbers (counter_rng), one per chunk
draws : integer             # random numbers this input has drawn in this run
"""
# The seed's PoissonGroup draws one random number per input and time step (spike when rand() <
# rate * dt). The same process is drawn here by skipping ahead: the number of silent steps before
# the next spike is geometric with p = rate * dt, one draw per spike instead of one per step (the
# per-step draws were the largest single cost of a sample). p >= 1 fires at every step, p = 0 never.
# The uniform numbers come from a counter-based generator keyed per run (see counter_rng: a rerun of a
# compiled project gets a new key through run_args, which Brian2's rand() cannot).
GEOMETRIC_SKIP = """
p_step = clip(rate * dt, 0, 1)
silent = int(p_step <= 0)
always = int(p_step >= 1)
skip = (1 - always) * floor(log(1 - uniform_counter(rng_key, i, draws)) / log(1 - p_step + 0.5 * (silent + always)))
draws += 1
"""
INPUT_PHASE_START = ("rate = stimulus(slot * ms, i) * intensity * in_table\n"
                     "phase_end = t + t_present\n" + GEOMETRIC_SKIP +
                     "next_spike = t + (skip + silent * never_steps) * dt")
INPUT_THRESHOLD = "t + 0.5 * dt > next_spike and t + 0.5 * dt < phase_end"
INPUT_RESET = GEOMETRIC_SKIP + "next_spike = t + (1 + skip) * dt"

CONTROLLER_EQS = """
count : integer       # excitatory spikes in the input phase of the current presentation
slot : integer        # row of the current sample in this run's stimulus table
intensity : 1         # input intensity (the boost rule raises it)
new_sample : integer  # 1 when the current presentation starts a new sample (not a repeat)
normalise : integer   # new_sample and in_table: scale the weights now
in_table : integer      # 1 while the table still holds samples to present
n_valid : integer     # samples in this run's stimulus table
n_done : integer      # samples completed in this run (decided at presentation boundaries)
n_shown : integer     # presentations started in this run
"""
# At every presentation boundary: judge the presentation that just ended, then set up the next one.
CONTROLLER_STEP = """
finished = int(n_shown > 0) * in_table
boost = finished * int(count < min_spikes)
advance = finished * (1 - boost)
n_done += advance
slot += advance
in_table = int(slot < n_valid)
intensity = intensity + boost + advance * (base_intensity - intensity)
new_sample = advance + (1 - finished) * new_sample
normalise = new_sample * in_table
n_shown += 1
count = 0
"""
COUNT_SPIKES = "count_post += int((t + 0.5 * dt) % t_period < t_present)"

EXC_EQS = """
dv/dt = (v_rest_exc - v + i_exc + i_inh) / tau_mem_exc : volt (unless refractory)
i_exc = ge * (e_exc - v) : volt
i_inh = gi * (e_inh_exc - v) : volt
dge/dt = -ge / tau_ge : 1
dgi/dt = -gi / tau_gi : 1
dtimer/dt = 1 : second
"""
THETA_LEARNING = "dtheta/dt = -theta / tau_theta : volt\n"
THETA_FROZEN = "theta : volt (constant)\n"
NORMALISATION_VARS = """
colsum : 1              # running sum of the neuron's input weights
norm : 1                # weight scale factor at the current boundary
normalise : integer (linked)
"""
EXC_THRESHOLD = "v > theta + v_thresh_exc and timer > t_timer"
EXC_RESET = "v = v_reset_exc; timer = 0 * ms"
NORM_FACTOR = "norm = 1 + normalise * int(colsum > 0) * (column_sum / (colsum + int(colsum <= 0)) - 1)"
NORM_SCALE_WEIGHTS = "w = w * norm_post"
NORM_SCALE_SUMS = "colsum = colsum * norm"

INH_EQS = """
dv/dt = (v_rest_inh - v + i_exc + i_inh) / tau_mem_inh : volt (unless refractory)
i_exc = ge * (e_exc - v) : volt
i_inh = gi * (e_inh_inh - v) : volt
dge/dt = -ge / tau_ge : 1
dgi/dt = -gi / tau_gi : 1
"""
INH_THRESHOLD = "v > v_thresh_inh"
INH_RESET = "v = v_reset_inh"

# STDP of the seed: a presynaptic trace ``pre`` (tau 20 ms, set to 1 at each arrival) and two
# postsynaptic traces ``post1`` (tau 20 ms) and ``post2`` (tau 40 ms), set to 1 at each postsynaptic
# spike. Depression at arrivals: w -= nu_pre * post1; potentiation at postsynaptic spikes:
# w += nu_post * pre * post2 (post2 just before this spike); w clipped to [0, w_max].
# The postsynaptic traces are the same for all 784 synapses of a neuron, so they live on the neuron
# (decayed once per step by an exact factor); the presynaptic trace is exp(-(t - t_arrival) / tau_pre),
# evaluated only at postsynaptic spikes. Same values as event-driven traces, but no exponential per
# synaptic event (which dominated the seed's cost).
POST_TRACE_VARS = """
post1 : 1
post2 : 1
"""
POST_TRACE_DECAY = "post1 = post1 * decay_post1\npost2 = post2 * decay_post2"
POST_TRACE_RESET = "; post1 = 1; post2 = 1"
STDP_MODEL = """
w : 1
t_arrival : second   # last presynaptic arrival at this synapse
"""
STDP_ON_PRE = """
ge_post += w
t_arrival = t
w_before = w
w = clip(w - nu_pre * post1_post, 0, w_max)
colsum_post += w - w_before
"""
STDP_ON_POST = """
w_before = w
w = clip(w + nu_post * exp(-(t - t_arrival) / tau_pre) * post2_post, 0, w_max)
colsum_post += w - w_before
"""
NEVER = -1e4  # seconds: the time of "no arrival yet" (exp(-(t - NEVER) / tau) is 0)
EXC_RESET_LEARNING = EXC_RESET + "; theta += theta_plus" + POST_TRACE_RESET
STATIC_MODEL = "w : 1"
STATIC_ON_PRE = "ge_post += w"


@dataclass(frozen=True)
class DiehlCookParams:
    """All parameters of the network and its schedule (the seed's values unless noted)."""

    n_input: int = param(784, "input neurons (28 x 28 pixels)", gt=0)
    n_neurons: int = param(400, "excitatory (= inhibitory) neurons (the paper: 100, 400, 1600, 6400)", gt=0,
                           cli="--neurons")
    dt_ms: float = param(0.5, "time step (the paper's; the seed used 0.1 ms)", unit="ms", gt=0)
    # excitatory neurons
    v_rest_exc_mv: float = param(-65.0, "excitatory resting potential", unit="mV")
    v_reset_exc_mv: float = param(-65.0, "excitatory reset potential", unit="mV")
    v_thresh_exc_mv: float = param(-72.0, "excitatory threshold, plus theta (theta starts at 20 mV: -52 mV)",
                                   unit="mV")
    tau_mem_exc_ms: float = param(100.0, "excitatory membrane time constant", unit="ms", gt=0)
    e_inh_exc_mv: float = param(-100.0, "inhibitory reversal potential of excitatory neurons", unit="mV")
    refractory_exc_ms: float = param(5.0, "excitatory refractory period", unit="ms", gt=0)
    timer_ms: float = param(50.0, "no excitatory spike within this time of the last one", unit="ms", gt=0)
    theta_init_mv: float = param(20.0, "initial adaptive threshold theta", unit="mV")
    theta_plus_mv: float = param(0.05, "theta increase per spike (training)", unit="mV")
    tau_theta_ms: float = param(1e7, "decay time constant of theta (training)", unit="ms", gt=0)
    # inhibitory neurons
    v_rest_inh_mv: float = param(-60.0, "inhibitory resting potential", unit="mV")
    v_reset_inh_mv: float = param(-45.0, "inhibitory reset potential", unit="mV")
    v_thresh_inh_mv: float = param(-40.0, "inhibitory threshold", unit="mV")
    tau_mem_inh_ms: float = param(10.0, "inhibitory membrane time constant", unit="ms", gt=0)
    e_inh_inh_mv: float = param(-85.0, "inhibitory reversal potential of inhibitory neurons", unit="mV")
    refractory_inh_ms: float = param(2.0, "inhibitory refractory period", unit="ms", gt=0)
    # shared
    e_exc_mv: float = param(0.0, "excitatory reversal potential", unit="mV")
    tau_ge_ms: float = param(1.0, "excitatory conductance time constant", unit="ms", gt=0)
    tau_gi_ms: float = param(2.0, "inhibitory conductance time constant", unit="ms", gt=0)
    w_exc_inh: float = param(10.4, "weight excitatory -> inhibitory partner")
    w_inh_exc: float = param(17.0, "weight inhibitory -> every other excitatory neuron")
    # input synapses and STDP
    max_delay_ms: float = param(10.0, "input delays drawn uniformly in [0, max)", unit="ms", gt=0)
    w_init_scale: float = param(0.3, "initial weights (U[0, 1) + 0.01) * this", gt=0)
    nu_pre: float = param(0.0001, "STDP depression rate")
    nu_post: float = param(0.01, "STDP potentiation rate")
    tau_pre_ms: float = param(20.0, "presynaptic trace time constant", unit="ms", gt=0)
    tau_post1_ms: float = param(20.0, "first postsynaptic trace time constant", unit="ms", gt=0)
    tau_post2_ms: float = param(40.0, "second postsynaptic trace time constant", unit="ms", gt=0)
    w_max: float = param(1.0, "largest input weight")
    column_sum: float = param(78.0, "sum of every neuron's input weights after normalisation", gt=0)
    # schedule
    present_ms: float = param(350.0, "presentation of a sample", unit="ms", gt=0)
    rest_ms: float = param(150.0, "rest after a presentation", unit="ms", gt=0)
    intensity: float = param(2.0, "input rate = pixel * pixel_to_hz * intensity (raised when a sample is too "
                             "weak)", gt=0)
    pixel_to_hz: float = param(1.0 / 8.0, "input rate per pixel value and unit intensity", unit="Hz", gt=0)
    min_spikes: int = param(5, "fewer excitatory spikes: the sample is shown again with intensity + 1", ge=0)

    def __post_init__(self):
        check_fields(self)
        period_steps = (self.present_ms + self.rest_ms) / self.dt_ms
        if abs(period_steps - round(period_steps)) > 1e-9 or abs(
                self.present_ms / self.dt_ms - round(self.present_ms / self.dt_ms)) > 1e-9:
            raise UserError(f"dt {self.dt_ms} ms must divide the presentation ({self.present_ms} ms) "
                            f"and rest ({self.rest_ms} ms) periods")

    @property
    def period_ms(self) -> float:
        return self.present_ms + self.rest_ms

    @property
    def steps_per_period(self) -> int:
        return int(round(self.period_ms / self.dt_ms))

    @property
    def steps_present(self) -> int:
        return int(round(self.present_ms / self.dt_ms))

    @property
    def n_synapses(self) -> int:
        return self.n_input * self.n_neurons


@dataclass(frozen=True, eq=False)
class DiehlCookHandles:
    """What :func:`build_diehl_cook` returns: the network and the groups a caller reads or sets."""

    network: brian2.Network
    inputs: brian2.NeuronGroup
    exc: brian2.NeuronGroup
    inh: brian2.NeuronGroup
    controller: brian2.NeuronGroup
    input_synapses: brian2.Synapses
    stimulus: brian2.TimedArray   # (rows, n_input) rates in Hz before intensity
    exc_spikes: brian2.SpikeMonitor   # of the excitatory group
    learning: bool


def namespace(params: DiehlCookParams, stimulus) -> dict:
    """Constants of the equations, with units."""
    from brian2 import Hz, mV, ms

    p = params
    return {
        "stimulus": stimulus, "t_period": p.period_ms * ms, "t_present": p.present_ms * ms,
        "min_spikes": int(p.min_spikes), "base_intensity": float(p.intensity),
        "v_rest_exc": p.v_rest_exc_mv * mV, "v_reset_exc": p.v_reset_exc_mv * mV,
        "v_thresh_exc": p.v_thresh_exc_mv * mV, "tau_mem_exc": p.tau_mem_exc_ms * ms,
        "e_inh_exc": p.e_inh_exc_mv * mV, "t_timer": p.timer_ms * ms, "theta_plus": p.theta_plus_mv * mV,
        "tau_theta": p.tau_theta_ms * ms, "v_rest_inh": p.v_rest_inh_mv * mV,
        "v_reset_inh": p.v_reset_inh_mv * mV, "v_thresh_inh": p.v_thresh_inh_mv * mV,
        "tau_mem_inh": p.tau_mem_inh_ms * ms, "e_inh_inh": p.e_inh_inh_mv * mV, "e_exc": p.e_exc_mv * mV,
        "tau_ge": p.tau_ge_ms * ms, "tau_gi": p.tau_gi_ms * ms, "nu_pre": p.nu_pre, "nu_post": p.nu_post,
        "tau_pre": p.tau_pre_ms * ms, "tau_post1": p.tau_post1_ms * ms, "tau_post2": p.tau_post2_ms * ms,
        "w_max": p.w_max, "column_sum": p.column_sum, "Hz": Hz, "never_steps": 1e9,
        "decay_post1": float(np.exp(-p.dt_ms / p.tau_post1_ms)), "decay_post2": float(np.exp(-p.dt_ms / p.tau_post2_ms)),
        counter_rng.FUNCTION_NAME: counter_rng.brian2_function(),
    }


def initial_weights(params: DiehlCookParams, rng: np.random.Generator) -> np.ndarray:
    """(U[0,1) + 0.01) * 0.3, flat in Brian2's synapse order (input-major: index = i * N + j)."""
    return (rng.random(params.n_synapses) + 0.01) * params.w_init_scale


def initial_delays_ms(params: DiehlCookParams, rng: np.random.Generator) -> np.ndarray:
    """Input delays (ms) drawn uniformly in [0, max_delay_ms), input-major."""
    return rng.random(params.n_synapses) * params.max_delay_ms


def initial_theta(params: DiehlCookParams) -> np.ndarray:
    """Adaptive thresholds in volts (the unit of theta.npy)."""
    return np.full(params.n_neurons, params.theta_init_mv * 1e-3)


def column_sums(params: DiehlCookParams, weights: np.ndarray) -> np.ndarray:
    """Sum of every excitatory neuron's input weights (flat input-major weights -> (N,))."""
    return np.asarray(weights).reshape(params.n_input, params.n_neurons).sum(axis=0)


def stimulus_table(params: DiehlCookParams, images: np.ndarray, rows: int) -> np.ndarray:
    """Rates (Hz, before intensity) of ``images`` (uint8, (n, 784)), zero-padded to ``rows`` rows."""
    table = np.zeros((rows, params.n_input))
    table[:len(images)] = np.asarray(images, dtype=float) * params.pixel_to_hz
    return table


def build_diehl_cook(params: DiehlCookParams, *, learning: bool, rows: int, weights, delays_ms, theta,
                     images=None, intensity: float | None = None, new_sample: int = 1,
                     n_valid: int | None = None, rng_key: int = 0) -> DiehlCookHandles:
    """Build the network for presenting up to ``rows`` samples per run.

    ``weights`` and ``delays_ms`` are flat arrays in input-major order (index ``i * N + j``), ``theta``
    the N thresholds in volts. ``images`` (uint8, at most ``rows``) fill the stimulus table; the
    controller starts on row 0 with ``intensity`` (default: the base intensity) and ``new_sample``
    (0: the first presentation repeats a sample whose last presentation was too weak). ``rng_key``
    (0 <= key < 2**31) selects the input spikes' random numbers: the same key gives the same spikes on
    every device.
    """
    from brian2 import Hz, Network, NeuronGroup, SpikeMonitor, Synapses, TimedArray, linked_var, ms, second, volt

    p = params
    if rows < 1:
        raise ValueError("rows must be >= 1")
    images = np.zeros((0, p.n_input), np.uint8) if images is None else np.asarray(images)
    stimulus = TimedArray(stimulus_table(p, images, rows) * Hz, dt=1 * ms, name="stimulus")
    ns = namespace(p, stimulus)
    dt = p.dt_ms * ms

    controller = NeuronGroup(1, CONTROLLER_EQS, namespace=ns, dt=dt, name="controller")
    controller.intensity = p.intensity if intensity is None else intensity
    controller.new_sample = int(new_sample)
    controller.n_valid = len(images) if n_valid is None else int(n_valid)
    controller.in_table = 1
    controller.run_regularly(CONTROLLER_STEP, dt=p.period_ms * ms, when="start", order=0, name="schedule")

    to_controller = np.zeros(p.n_input, dtype=int)
    inputs = NeuronGroup(p.n_input, INPUT_EQS, threshold=INPUT_THRESHOLD, reset=INPUT_RESET, namespace=ns, dt=dt,
                         name="inputs")
    for shared in ("slot", "intensity", "in_table"):
        setattr(inputs, shared, linked_var(controller, shared, index=to_controller))
    # after the controller (order 0) has chosen this presentation's sample and intensity
    inputs.rng_key = int(rng_key)
    inputs.run_regularly(INPUT_PHASE_START, dt=p.period_ms * ms, when="start", order=1, name="input_phase")

    exc_eqs = EXC_EQS + (THETA_LEARNING + NORMALISATION_VARS + POST_TRACE_VARS if learning else THETA_FROZEN)
    exc = NeuronGroup(p.n_neurons, exc_eqs, threshold=EXC_THRESHOLD,
                      reset=EXC_RESET_LEARNING if learning else EXC_RESET,
                      refractory=p.refractory_exc_ms * ms, method="euler", namespace=ns, dt=dt, name="exc")
    exc.v = p.v_rest_exc_mv * 1e-3 * volt
    exc.timer = 10 * p.timer_ms * ms   # a fresh run may spike at once (the state after a long rest)
    exc.theta = np.asarray(theta) * volt

    inh = NeuronGroup(p.n_neurons, INH_EQS, threshold=INH_THRESHOLD, reset=INH_RESET,
                      refractory=p.refractory_inh_ms * ms, method="euler", namespace=ns, dt=dt, name="inh")
    inh.v = p.v_rest_inh_mv * 1e-3 * volt

    exc_to_inh = Synapses(exc, inh, on_pre=f"ge_post += {p.w_exc_inh!r}", namespace=ns, dt=dt, name="exc_to_inh")
    exc_to_inh.connect(j="i")
    inh_to_exc = Synapses(inh, exc, on_pre=f"gi_post += {p.w_inh_exc!r}", namespace=ns, dt=dt, name="inh_to_exc")
    inh_to_exc.connect(condition="i != j")

    if learning:
        input_synapses = Synapses(inputs, exc, model=STDP_MODEL, on_pre=STDP_ON_PRE, on_post=STDP_ON_POST,
                                  namespace=ns, dt=dt, name="input_synapses")
    else:
        input_synapses = Synapses(inputs, exc, model=STATIC_MODEL, on_pre=STATIC_ON_PRE, namespace=ns, dt=dt,
                                  name="input_synapses")
    input_synapses.connect()     # all-to-all, input-major order: synapse k = i * N + j
    if learning:
        input_synapses.t_arrival = NEVER * second
        exc.run_regularly(POST_TRACE_DECAY, when="start", order=4, name="post_traces")
    input_synapses.w = np.asarray(weights, dtype=float)
    input_synapses.delay = np.asarray(delays_ms, dtype=float) * ms

    counter = Synapses(exc, controller, on_pre=COUNT_SPIKES, namespace=ns, dt=dt, name="spike_counter")
    counter.connect()
    objects = [controller, inputs, exc, inh, exc_to_inh, inh_to_exc, input_synapses, counter]
    if learning:
        exc.colsum = column_sums(p, weights)
        exc.normalise = linked_var(controller, "normalise", index=np.zeros(p.n_neurons, dtype=int))
        exc.run_regularly(NORM_FACTOR, dt=p.period_ms * ms, when="start", order=1, name="norm_factor")
        input_synapses.run_regularly(NORM_SCALE_WEIGHTS, dt=p.period_ms * ms, when="start", order=2,
                                     name="norm_weights")
        exc.run_regularly(NORM_SCALE_SUMS, dt=p.period_ms * ms, when="start", order=3, name="norm_sums")
    exc_spikes = SpikeMonitor(exc, name="exc_spikes")
    objects.append(exc_spikes)
    network = Network(*objects, name="diehl_cook")
    return DiehlCookHandles(network, inputs, exc, inh, controller, input_synapses, stimulus, exc_spikes, learning)
