"""Lagging-variable delay lines and a circuit that learns its delay during the run.

A *multistage lagging variable* (H. R. Wilson, *Spikes, Decisions and Actions: The Dynamical
Foundations of Neuroscience*, Oxford University Press 1999, ch. 2) is a chain of K first-order
stages with a common time constant tau_d::

    dx_1/dt = -x_1 / tau_d              (a presynaptic spike adds 1 to x_1)
    dx_k/dt = (x_{k-1} - x_k) / tau_d   k = 2..K

The response of the last stage to one spike is x_K(t) = (t/tau_d)^(K-1) exp(-t/tau_d) / (K-1)!,
i.e. tau_d times the Erlang (gamma) density of shape K and scale tau_d: the chain delays its input
by K * tau_d on average, with a spread (standard deviation) of sqrt(K) * tau_d. Unlike a Brian2
synaptic ``delay``, tau_d is an ordinary state variable, so the delay can change at any time step
of a run, in every device (runtime, cpp_standalone, cuda_standalone): the learning rule below lives
entirely in generated code.

Delay learning (the concept of seed 001, finished). A reference source SG1 (fixed) and a learnable
source SG2 (which fires the same pattern ``offset`` earlier) meet on a learner. SG2 drives the
chain; SG1 samples it. Seed 001 let two coincidence neurons N1 and N2, reading SG2 through two
different delays, compete and moved the loser's delay. Here the two competitors are two taps of the
same chain: "on time" (stage K) and "late" (stage K+1). For an SG2 spike that preceded the SG1 spike
by a lag L, x_{K+1}(L) / x_K(L) = L / (K tau_d) = L / D: the late tap wins exactly when the delay is
too short, and the ratio says by how much. Every reference spike adds the on-time tap to a leaky
coincidence trace c_now and the lag this comparison reads, weighted by the on-time tap, to c_lag;
the delay relaxes towards their ratio, the coincidence-weighted mean lag::

    on SG1 spike:  c_now += x_K ;  c_lag += x_K * D(x_{K+1} / x_K) = D x_{K+1}    (continuous time)
    dD/dt = (c_lag - D * c_now) / (tau_learn * (c_now + c_floor))

With D constant over the traces' memory tau_c, c_lag - D c_now = D (c_late - c_now), the signed
difference of the two competitors' coincidences: the N1/N2 competition, made graded.

Why it converges: with one matched pair per reference spike, c_lag / c_now = offset, so the rule
reads dD/dt = (offset - D) / tau_learn: the delay relaxes exponentially to the offset, with time
constant tau_learn, from either side, whatever the chain length (each sample's lag is read with the
delay it was taken at, so fast early changes do not overshoot). With many pairs the fixed point is
the kernel-weighted mean of the lags (mean shift with a gamma kernel), so unmatched pairs must lie
far from the matched lag in units of the spread sqrt(K) * tau_d: a sparse pattern (pattern spikes
further apart than the longest delay) keeps them out of the way. The iteration is local, hence the
learner starts short (1 ms): the kernel's tail then reaches the nearest positive lag first, and with
such a pattern that is the matched one (unmatched lags are offset + gap, longer). Started long, the
tail may meet an unmatched lag first (an SG2 spike paired with a later SG1 spike) and the delay
settles there. The ratio is scale-free, so even a tiny tail works: ``c_floor`` only avoids 0/0 and
is far below any coincidence the chain can produce (double precision). The gradient of x_K with
respect to tau_d is (K x_{K+1} - (K-1) x_K) / tau_d, so this is also a normalised (Newton-like)
ascent on the coincidence of the delayed input with the reference.

Discrete time: with forward Euler at step dt each stage is a geometric filter, and the mean latency
of x_K as Brian2 samples it (a spike enters x_1 at the end of its step) is K * tau_d - dt. The
variable ``delay`` is that latency; the stages use tau_d = (delay + dt) / K, so ``delay`` is exact
in simulation. For the Euler chain the tap ratio at lag L is exactly
x_{K+1} / x_K = (L - D_0) / (D - D_0) with D_0 = (K - 1) dt, the shortest delay, so each sample
reads the lag as D_0 + (D - D_0) x_{K+1} / x_K with D - D_0 = K (tau_d - dt) (this is what
ON_REFERENCE_SPIKE adds to c_lag): dD/dt = (offset - D) / tau_learn holds exactly in simulation,
with its fixed point ``delay == offset``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from ..params import check_fields, param

if TYPE_CHECKING:  # annotations only: Brian2 is imported when a circuit is built
    import brian2


# -- equations ------------------------------------------------------------------------------------
def lag_chain_equations(stages: int, var: str = "x", tau: str = "tau_d") -> str:
    """Equations of a K-stage lagging variable ``var_1 .. var_K`` with stage time constant ``tau``.

    A presynaptic spike should add to ``var_1`` (``on_pre='x_1_post += 1'``); the delayed signal is
    ``var_K``. ``tau`` must be defined elsewhere in the model (parameter, state variable or
    subexpression, with units of time).
    """
    _check_stages(stages)
    lines = [f"d{var}_1/dt = -{var}_1 / {tau} : 1"]
    lines += [f"d{var}_{k}/dt = ({var}_{k - 1} - {var}_{k}) / {tau} : 1" for k in range(2, stages + 1)]
    return "\n".join(lines)


#: The delay line as a reusable block: ``delay`` (mean latency) is a parameter anything may change
#: during the run; the stage time constant follows from it.
LAG_LINE_DELAY = """
delay : second
tau_d = (delay + dt) / {K} : second
"""

#: The learner's extra variables: coincidence traces sampled by reference spikes, and the rule.
LEARNER_RULE = """
dc_now/dt = -c_now / tau_c : 1
dc_lag/dt = -c_lag / tau_c : second
ddelay/dt = learning * (c_lag - delay * c_now) / (tau_learn * (c_now + c_floor)) : second
tau_d = (delay + dt) / {K} : second
learning : 1
"""

#: A learnable spike enters the first stage; a reference spike samples the on-time and late taps.
ON_LEARNABLE_SPIKE = "x_1_post += 1"
#: The late-to-on-time tap ratio gives the lag of the sample: L = D_0 + K (tau_d - dt) x_{K+1} / x_K.
ON_REFERENCE_SPIKE = ("c_now_post += x_{K}_post\n"
                      "c_lag_post += delay_min * x_{K}_post + {K} * (tau_d_post - dt) * x_{K1}_post")

#: Keep the delay where the chain is a well-defined Euler scheme (tau_d >= dt) and below its maximum.
CLIP_DELAY = "delay = clip(delay, delay_min, delay_max)"


def lag_line_model(stages: int) -> str:
    """Full model of a group of delay lines (K stages, delay as a parameter)."""
    return lag_chain_equations(stages) + "\n" + LAG_LINE_DELAY.format(K=stages)


def learner_model(stages: int) -> str:
    """Full model of a group of delay learners (K + 1 stages: on-time tap K, late tap K + 1)."""
    return lag_chain_equations(stages + 1) + "\n" + LEARNER_RULE.format(K=stages)


# -- parameters -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LagLineParams:
    """A K-stage lagging-variable delay line. Raises UserError on invalid values."""

    stages: int = param(8, "stages K of the lag chain", ge=1)
    delay_ms: float = param(5.0, "mean latency K * tau_d - dt (initial value; may change in the run)", unit="ms")
    dt_ms: float = param(0.05, "time step", unit="ms", gt=0)

    def __post_init__(self):
        _check_stages(self.stages)
        check_fields(self)
        if self.delay_ms < min_delay_ms(self.stages, self.dt_ms):
            raise UserError(f"delay_ms must be >= {min_delay_ms(self.stages, self.dt_ms):g} ms "
                            f"(tau_d >= dt for K={self.stages}, dt={self.dt_ms:g} ms), got {self.delay_ms!r}")

    @property
    def tau_ms(self) -> float:
        """Stage time constant tau_d (ms)."""
        return (self.delay_ms + self.dt_ms) / self.stages


@dataclass(frozen=True)
class DelayLearnerParams:
    """The delay-learning circuit (see the module docstring for the rule). Its time step is that of
    the spike trains it learns from: :func:`build_delay_learner` takes it. Raises UserError on
    invalid values (:meth:`check` also against a time step)."""

    stages: int = param(8, "stages K of the lag chain", ge=1, cli=("--stages", "-K"))
    initial_delay_ms: float | None = param(None, "delay at the start (none: 1 ms, longer for large K*dt: tau_d "
                                           ">= 4/3 dt; start short, see docs/delays.md)", unit="ms", gt=0)
    max_delay_ms: float = param(20.0, "largest delay: D is kept in [min_delay, max_delay]", unit="ms", gt=0)
    tau_c_ms: float = param(50.0, "memory of the coincidence traces", unit="ms", gt=0)
    tau_learn_ms: float = param(200.0, "time constant of the delay's relaxation to the offset", unit="ms", gt=0)
    c_floor: float = param(1e-200, "only avoids 0/0 before the first coincidence (see the module docstring)",
                           gt=0, cli="", sweep=False)

    def __post_init__(self):
        _check_stages(self.stages)
        check_fields(self)

    def initial_delay(self, dt_ms: float) -> float:
        """D at t = 0 (ms) with time step ``dt_ms``: ``initial_delay_ms``, or the default (see
        :func:`default_initial_delay_ms`)."""
        if self.initial_delay_ms is not None:
            return self.initial_delay_ms
        return default_initial_delay_ms(self.stages, dt_ms)

    def check(self, dt_ms: float) -> None:
        """UserError unless the initial delay lies in [min_delay, max_delay] with time step ``dt_ms``."""
        low, initial = min_delay_ms(self.stages, dt_ms), self.initial_delay(dt_ms)
        if not low <= initial <= self.max_delay_ms:
            raise UserError(f"initial delay must lie in [{low:g}, {self.max_delay_ms:g}] ms "
                            f"for K={self.stages}, dt={dt_ms:g} ms, got {initial:g}")


def min_delay_ms(stages: int, dt_ms: float) -> float:
    """Shortest delay (ms) of a K-stage Euler chain with tau_d >= dt (time step ``dt_ms``, ms)."""
    return (stages - 1) * dt_ms


def default_initial_delay_ms(stages: int, dt_ms: float) -> float:
    """The learner's default start (ms): 1 ms (short: the rule is local, the nearest positive lag is
    the matched one), but with tau_d >= 4/3 dt, rounded up to 0.1 ms: at tau_d = dt the Euler chain
    is a shift register without spread to learn from."""
    short = math.ceil(((4 / 3) * stages - 1) * dt_ms * 10) / 10
    return max(1.0, short)


def delay_for_tau_ms(stages: int, tau_ms: float, dt_ms: float) -> float:
    """The delay (ms) of a K-stage chain whose stages have time constant ``tau_ms``: K tau_d - dt."""
    return stages * tau_ms - dt_ms


def _check_stages(stages) -> None:
    if isinstance(stages, bool) or not isinstance(stages, (int, np.integer)) or stages < 1:
        raise UserError(f"the number of stages K must be a positive integer, got {stages!r}")


# -- builders -------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LagLineHandles:
    """What :func:`build_lag_line` returns."""

    network: brian2.Network
    line: brian2.NeuronGroup             # x_1..x_K, delay, tau_d
    source: brian2.SpikeGeneratorGroup
    monitor: brian2.StateMonitor         # of x_K and delay


def build_lag_line(params: LagLineParams, spike_indices, spike_times_ms, n_lines: int = 1,
                   record_every_ms: float | None = None) -> LagLineHandles:
    """``n_lines`` delay lines, line i driven by the spikes of index i. Records x_K and ``delay``.

    Change ``line.delay`` during the run from anywhere (``run_regularly``, ``on_pre`` of a synapse):
    the chain follows at the next step.
    """
    import brian2 as b2

    dt = params.dt_ms * b2.ms
    source = b2.SpikeGeneratorGroup(n_lines, np.asarray(spike_indices, dtype=int),
                                    np.asarray(spike_times_ms, dtype=float) * b2.ms, dt=dt, name="lag_source")
    line = b2.NeuronGroup(n_lines, lag_line_model(params.stages), method="euler", dt=dt, name="lag_line")
    line.delay = params.delay_ms * b2.ms
    feed = b2.Synapses(source, line, on_pre=ON_LEARNABLE_SPIKE, dt=dt, name="lag_feed")
    feed.connect(j="i")
    monitor = b2.StateMonitor(line, [f"x_{params.stages}", "delay"], record=True,
                              dt=(record_every_ms or params.dt_ms) * b2.ms, name="lag_monitor")
    network = b2.Network(source, line, feed, monitor)
    return LagLineHandles(network=network, line=line, source=source, monitor=monitor)


@dataclass(frozen=True, eq=False)
class DelayLearnerHandles:
    """What :func:`build_delay_learner` returns."""

    network: brian2.Network
    learner: brian2.NeuronGroup              # chain, coincidence traces, delay
    reference: brian2.SpikeGeneratorGroup    # SG1
    learnable: brian2.SpikeGeneratorGroup    # SG2
    delay_monitor: brian2.StateMonitor       # of delay
    trace_monitor: brian2.StateMonitor | None  # of x_K (alignment figures)


def build_delay_learner(params: DelayLearnerParams, reference, learnable, dt_ms: float, n_learners: int = 1,
                        record_delay_every_ms: float = 1.0, record_trace: bool = False) -> DelayLearnerHandles:
    """``n_learners`` independent learners on time step ``dt_ms`` (ms); learner i is fed by index i
    of both sources.

    ``reference`` and ``learnable`` are ``(indices, times_ms)`` pairs (SG1 and SG2). Spike times
    should lie on the ``dt_ms`` grid. ``record_trace``: also record the delayed signal x_K at every
    step (for alignment figures). UserError if the initial delay does not fit the time step.
    """
    import brian2 as b2

    params.check(dt_ms)
    K = params.stages
    dt = dt_ms * b2.ms
    ref_i, ref_t = reference
    lrn_i, lrn_t = learnable
    sg1 = b2.SpikeGeneratorGroup(n_learners, np.asarray(ref_i, dtype=int), np.asarray(ref_t, dtype=float) * b2.ms,
                                 dt=dt, name="sg1_reference")
    sg2 = b2.SpikeGeneratorGroup(n_learners, np.asarray(lrn_i, dtype=int), np.asarray(lrn_t, dtype=float) * b2.ms,
                                 dt=dt, name="sg2_learnable")
    namespace = {
        "tau_c": params.tau_c_ms * b2.ms,
        "tau_learn": params.tau_learn_ms * b2.ms,
        "c_floor": params.c_floor,
        "delay_min": min_delay_ms(K, dt_ms) * b2.ms,
        "delay_max": params.max_delay_ms * b2.ms,
    }
    learner = b2.NeuronGroup(n_learners, learner_model(K), method="euler", dt=dt, namespace=namespace,
                             name="delay_learner")
    learner.delay = params.initial_delay(dt_ms) * b2.ms
    learner.learning = 1
    learner.run_regularly(CLIP_DELAY, dt=dt, when="after_groups", name="delay_clip")
    feed = b2.Synapses(sg2, learner, on_pre=ON_LEARNABLE_SPIKE, dt=dt, name="learnable_feed")
    feed.connect(j="i")
    sample = b2.Synapses(sg1, learner, on_pre=ON_REFERENCE_SPIKE.format(K=K, K1=K + 1), dt=dt,
                         namespace={"delay_min": namespace["delay_min"]}, name="reference_sample")
    sample.connect(j="i")
    delay_monitor = b2.StateMonitor(learner, "delay", record=True, dt=record_delay_every_ms * b2.ms,
                                    name="delay_monitor")
    objects = [sg1, sg2, learner, feed, sample, delay_monitor]
    trace_monitor = None
    if record_trace:
        trace_monitor = b2.StateMonitor(learner, f"x_{K}", record=True, dt=dt, name="trace_monitor")
        objects.append(trace_monitor)
    network = b2.Network(*objects)
    return DelayLearnerHandles(network=network, learner=learner, reference=sg1, learnable=sg2,
                               delay_monitor=delay_monitor, trace_monitor=trace_monitor)


# -- closed forms ---------------------------------------------------------------------------------
def erlang_density(t_ms, stages: int, tau_ms: float) -> np.ndarray:
    """Erlang (gamma) density of shape K and scale tau: the normalised impulse response of x_K."""
    from scipy.stats import gamma

    return gamma.pdf(np.asarray(t_ms, dtype=float), a=stages, scale=tau_ms)
