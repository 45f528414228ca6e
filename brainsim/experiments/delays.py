"""Delay learning experiments: lagging-variable delays in Brian2 and differentiable delays in torch.

The task (issue 5, seed 001): SG1 emits a random spike pattern, repeated; SG2 emits the same pattern
``offset`` ms earlier; learn a delay for SG2 equal to the offset. Both methods see the same pattern
(same generator, same seed). Results are plain dicts (JSON-ready apart from numpy arrays kept under
``"traces"``).

Protocol (used by the CLI, the benchmark and the tests):
- pattern: ``n_spikes`` spike times drawn uniformly in a ``period_ms`` window, on the ``dt_ms`` grid,
  redrawn until every gap (circularly, across repetitions) is at least ``min_gap_ms``; repeated
  back to back. SG1 starts at ``max_delay_ms`` so that SG2 = SG1 - offset stays at t >= 0.
- lagging: one Brian2 run of ``duration_s``; the learned delay is the learner's ``delay`` at the end.
- torch: ``repetitions`` periods per epoch, one Adam step per epoch on the coincidence objective;
  the learned delay is the layer's delay after ``epochs``.
- both start from ``initial_delay_ms`` (1 ms: short, see docs/delays.md); "needed" = simulated time / epochs after which the
  error stays below ``tolerance_ms`` (0.5 ms) to the end.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..circuits.lagging import DelayLearnerParams
from ..devices import DeviceConfig
from ..errors import UserError
from ..outdir import Overwrite, claim_output_dir
from ..params import check_fields, param, param_group
from ..progress import Progress
from .ipd import PRESETS

METHODS = ("lagging", "torch")


def surrogate_param():
    """The field of the delay shift's gradient (one declaration for every torch run)."""
    return param("interpolate", "gradient of the shift: interpolate or straight_through", metavar="NAME")


def tolerance_param():
    """The field of the tolerance within which a delay counts as learned (both methods)."""
    return param(0.5, "a delay within this of the offset counts as learned", unit="ms", gt=0, cli="")


# -- the task -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatternParams:
    """A random spike pattern, repeated back to back, on a time grid of ``dt_ms`` (the time step of
    both methods). Raises UserError on invalid values."""

    period_ms: float = param(100.0, "pattern period", unit="ms", gt=0)
    n_spikes: int = param(4, "spikes per pattern", ge=1, cli="--pattern-spikes")
    min_gap_ms: float = param(20.0, "minimum gap between pattern spikes", unit="ms", gt=0)
    dt_ms: float = param(0.1, "time step", unit="ms", gt=0)

    def __post_init__(self):
        check_fields(self)
        if self.n_spikes * self.min_gap_ms > self.period_ms:
            raise UserError(f"{self.n_spikes} spikes at least {self.min_gap_ms:g} ms apart do not fit in "
                            f"a {self.period_ms:g} ms period")


@dataclass(frozen=True)
class DelayTask:
    """The offset task: SG2 fires SG1's random pattern ``offset_ms`` earlier; ``seed`` draws the
    pattern (and seeds the learning)."""

    offset_ms: float = param(7.0, "how much earlier SG2 fires than SG1", unit="ms", gt=0)
    seed: int = param(0, "random seed of the pattern", ge=0)
    pattern: PatternParams = param_group(PatternParams, "task")

    def __post_init__(self):
        check_fields(self)


def random_pattern(params: PatternParams, rng: np.random.Generator | int) -> np.ndarray:
    """Sorted spike times (ms, on the dt grid) in [0, period) with circular gaps >= min_gap_ms."""
    rng = np.random.default_rng(rng)
    for _ in range(10_000):
        times = np.sort(np.round(np.round(rng.uniform(0, params.period_ms, params.n_spikes) / params.dt_ms) * params.dt_ms, 9))
        times = times[times < params.period_ms]
        if len(times) != params.n_spikes:
            continue
        gaps = np.diff(np.concatenate([times, times[:1] + params.period_ms]))
        if gaps.min() >= params.min_gap_ms - 1e-9:
            return times
    raise UserError("could not draw a pattern with these gaps; lower min_gap_ms or n_spikes")


def task_spikes(pattern_ms: np.ndarray, period_ms: float, repetitions: int, offset_ms: float,
                start_ms: float, dt_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (ms) of SG1 (reference) and SG2 (the same pattern ``offset_ms`` earlier)."""
    reference = (start_ms + pattern_ms[None, :] + period_ms * np.arange(repetitions)[:, None]).ravel()
    reference = np.round(reference / dt_ms) * dt_ms
    learnable = np.round((reference - offset_ms) / dt_ms) * dt_ms
    return reference, learnable


def validate_offset(offset_ms: float, max_delay_ms: float, min_delay_ms: float = 0.0) -> None:
    """UserError unless the offset (ms) is finite and a line can make it (within [min, max] ms)."""
    if not math.isfinite(offset_ms):
        raise UserError(f"offset must be finite, got {offset_ms!r}")
    if offset_ms > max_delay_ms:
        raise UserError(f"offset {offset_ms:g} ms is beyond the maximum delay {max_delay_ms:g} ms")
    if offset_ms < min_delay_ms:
        raise UserError(f"offset {offset_ms:g} ms is below the shortest delay this line can make "
                        f"({min_delay_ms:g} ms)")


def check_surrogate(name: str) -> None:
    """UserError unless ``name`` is a surrogate of :mod:`brainsim.snn.delays` (imports torch)."""
    from ..snn.delays import SURROGATES

    if name not in SURROGATES:
        raise UserError(f"unknown surrogate {name!r}; choose one of {', '.join(SURROGATES)}")


def steps_needed(errors: np.ndarray, tolerance: float) -> int | None:
    """Index of the first sample after which every error is < tolerance (None: not at the end)."""
    errors = np.asarray(errors)
    bad = np.nonzero(~(errors < tolerance))[0]
    if len(bad) == 0:
        return 0
    if bad[-1] == len(errors) - 1:
        return None
    return int(bad[-1] + 1)


@dataclass(frozen=True, eq=False)
class Alignment:
    """One pattern period of a delay run: its window (ms), the spike times (ms) of SG1 (reference)
    and SG2 (learnable) inside it, and the delayed SG2 signal (``delayed`` at ``delayed_t_ms``)."""

    window_ms: tuple[float, float]
    reference_ms: np.ndarray
    learnable_ms: np.ndarray
    delayed_t_ms: np.ndarray
    delayed: np.ndarray


def period_windows(start_ms: float, period_ms: float, end_ms: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The first and the last whole pattern period (windows in ms) of a run whose periods start at
    ``start_ms`` (the reference's first pattern) and which ends at ``end_ms``: both windows start at
    ``start_ms + k * period_ms``, so they hold the same phase of the pattern (the same spikes, shifted).
    When not even one whole period fits, both are the first (truncated) period."""
    whole = max(1, int(math.floor((end_ms - start_ms) / period_ms + 1e-9)))
    last = start_ms + period_ms * (whole - 1)
    return (start_ms, start_ms + period_ms), (last, last + period_ms)


def _alignment(window_ms, reference_ms, learnable_ms, delayed_t_ms, delayed_y) -> Alignment:
    lo, hi = window_ms
    inside = lambda t: t[(t >= lo) & (t < hi)]  # noqa: E731
    keep = (delayed_t_ms >= lo) & (delayed_t_ms < hi)
    return Alignment((lo, hi), inside(reference_ms), inside(learnable_ms), delayed_t_ms[keep], delayed_y[keep])


@dataclass(frozen=True, eq=False)
class DelayRun:
    """One learned delay: ``summary`` (JSON-ready: offset, learned delay and error in ms, convergence,
    settings; what ``brainsim delays --json`` prints) and the trajectory, the delay (ms) at every
    ``step`` (simulated time in ms for lagging, the epoch for torch), with the alignment of the first
    and the last period (None where not recorded)."""

    summary: dict
    step: np.ndarray
    delay_ms: np.ndarray
    before: Alignment | None = None
    after: Alignment | None = None


# -- lagging variables in Brian2 ------------------------------------------------------------------
@dataclass(frozen=True)
class LaggingRunParams:
    """One run of the lagging-variable learner: the circuit, the simulated time and the tolerance of
    "learned" (the circuit's time step is the pattern's)."""

    circuit: DelayLearnerParams = param_group(DelayLearnerParams)
    duration_s: float = param(1.5, "simulated time", unit="s", gt=0)
    tolerance_ms: float = tolerance_param()

    def __post_init__(self):
        check_fields(self)


def run_lagging_many(offsets_ms, seed: int, params: LaggingRunParams = LaggingRunParams(),
                     pattern: PatternParams = PatternParams(), device: DeviceConfig = DeviceConfig(),
                     record_trace: bool = False, progress: bool = False) -> list[DelayRun]:
    """Learn several offsets (ms) at once: one learner per offset, one Brian2 run of
    ``params.duration_s`` seconds on ``device``, the same pattern, time step ``pattern.dt_ms``; one
    :class:`DelayRun` per offset (``record_trace``: with the alignments)."""
    import brian2 as b2

    from ..circuits.lagging import build_delay_learner, min_delay_ms
    from ..devices import BrianSession

    offsets = np.atleast_1d(np.asarray(offsets_ms, dtype=float))
    circuit = params.circuit
    circuit.check(pattern.dt_ms)
    for offset in offsets:
        validate_offset(offset, circuit.max_delay_ms, min_delay_ms(circuit.stages, pattern.dt_ms))
    times = random_pattern(pattern, seed)
    duration_ms = params.duration_s * 1e3
    repetitions = max(1, int(math.ceil(duration_ms / pattern.period_ms)))
    ref_i, ref_t, lrn_i, lrn_t = [], [], [], []
    for k, offset in enumerate(offsets):
        ref, lrn = task_spikes(times, pattern.period_ms, repetitions, offset, circuit.max_delay_ms, pattern.dt_ms)
        keep = ref < duration_ms
        ref_i.append(np.full(keep.sum(), k)), ref_t.append(ref[keep])
        keep = lrn < duration_ms
        lrn_i.append(np.full(keep.sum(), k)), lrn_t.append(lrn[keep])
    reference = (np.concatenate(ref_i), np.concatenate(ref_t))
    learnable = (np.concatenate(lrn_i), np.concatenate(lrn_t))

    b2.seed(seed)
    wall = time.perf_counter()
    with BrianSession(device, label="delays", progress=progress) as session:
        handles = build_delay_learner(circuit, reference, learnable, pattern.dt_ms, n_learners=len(offsets),
                                      record_trace=record_trace)
        session.run(handles.network, duration_ms * b2.ms)
        t_ms = np.asarray(handles.delay_monitor.t / b2.ms)
        delay_ms = np.asarray(handles.delay_monitor.delay / b2.ms)
        trace = None
        if record_trace:
            trace = (np.asarray(handles.trace_monitor.t / b2.ms),
                     np.asarray(getattr(handles.trace_monitor, f"x_{circuit.stages}")))
    wall = time.perf_counter() - wall

    results = []
    for k, offset in enumerate(offsets):
        learned = float(delay_ms[k, -1])
        needed = steps_needed(np.abs(delay_ms[k] - offset), params.tolerance_ms)
        result = {
            "method": "lagging", "offset_ms": float(offset), "learned_delay_ms": learned,
            "error_ms": abs(learned - float(offset)), "simulated_s": params.duration_s,
            "simulated_s_needed": None if needed is None else float(t_ms[needed] / 1e3),
            "converged": abs(learned - float(offset)) < params.tolerance_ms,
            "seed": seed, "stages": circuit.stages, "initial_delay_ms": circuit.initial_delay(pattern.dt_ms),
            "max_delay_ms": circuit.max_delay_ms, "dt_ms": pattern.dt_ms, "pattern_ms": times.tolist(),
            "device": session.config.name, "wall_s": wall,
        }
        before = after = None
        if trace is not None:
            sel_ref = reference[1][reference[0] == k]
            sel_lrn = learnable[1][learnable[0] == k]
            y = trace[1][k] / max(trace[1][k].max(), 1e-30)
            first, last = period_windows(circuit.max_delay_ms, pattern.period_ms, duration_ms)
            before = _alignment(first, sel_ref, sel_lrn, trace[0], y)
            after = _alignment(last, sel_ref, sel_lrn, trace[0], y)
        results.append(DelayRun(result, t_ms, delay_ms[k], before, after))
    return results


def run_lagging(offset_ms: float, seed: int, params: LaggingRunParams = LaggingRunParams(),
                pattern: PatternParams = PatternParams(), device: DeviceConfig = DeviceConfig(),
                record_trace: bool = True, progress: bool = False) -> DelayRun:
    """Learn one offset (ms) with the lagging-variable circuit; see :func:`run_lagging_many`."""
    return run_lagging_many([offset_ms], seed, params, pattern, device, record_trace, progress)[0]


# -- differentiable delays in torch ---------------------------------------------------------------
@dataclass(frozen=True)
class TorchRunParams:
    """One run of the differentiable delay in torch (time step: the pattern's)."""

    initial_delay_ms: float = param(1.0, "delay at the start", unit="ms", ge=0)
    max_delay_ms: float = param(20.0, "largest delay", unit="ms", gt=0)
    filter_tau_ms: float = param(5.0, "exponential synaptic filter of both inputs before the coincidence",
                                 unit="ms", gt=0)
    repetitions: int = param(3, "pattern periods per epoch", ge=1)
    epochs: int = param(150, "gradient steps", ge=1)
    lr_ms: float = param(0.25, "Adam step, decayed exponentially to final_lr_ms over the epochs", unit="ms", gt=0)
    final_lr_ms: float = param(0.005, "Adam step at the last epoch", unit="ms", gt=0)
    surrogate: str = surrogate_param()
    tolerance_ms: float = tolerance_param()

    def __post_init__(self):
        check_fields(self)
        if self.initial_delay_ms > self.max_delay_ms:
            raise UserError(f"initial delay {self.initial_delay_ms:g} ms is beyond the maximum delay "
                            f"{self.max_delay_ms:g} ms")


def run_torch(offset_ms: float, seed: int, params: TorchRunParams = TorchRunParams(),
              pattern: PatternParams = PatternParams()) -> DelayRun:
    """Learn one offset with a differentiable delay on SG2 (gradient ascent on the coincidence)."""
    import torch

    from ..snn.delays import DelayLayer, coincidence

    validate_offset(offset_ms, params.max_delay_ms, 0.0)
    check_surrogate(params.surrogate)
    dt = pattern.dt_ms
    times = random_pattern(pattern, seed)
    reference, learnable = task_spikes(times, pattern.period_ms, params.repetitions, offset_ms,
                                       params.max_delay_ms, dt)
    steps = int(round((params.max_delay_ms + pattern.period_ms * params.repetitions) / dt))
    to_dense = lambda t: torch.zeros(1, steps, 1).index_put_(
        (torch.zeros(len(t), dtype=torch.long), torch.as_tensor(np.round(t / dt).astype(np.int64)),
         torch.zeros(len(t), dtype=torch.long)), torch.ones(len(t)))
    s1, s2 = to_dense(reference), to_dense(learnable)

    torch.manual_seed(seed)
    max_steps = int(round(params.max_delay_ms / dt))
    layer = DelayLayer((1,), max_steps, surrogate=params.surrogate, init=params.initial_delay_ms / dt)
    optimiser = torch.optim.Adam(layer.parameters(), lr=params.lr_ms / dt)
    gamma = (params.final_lr_ms / params.lr_ms) ** (1.0 / max(1, params.epochs - 1))
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma)
    tau_steps = params.filter_tau_ms / dt
    trajectory = [params.initial_delay_ms]
    wall = time.perf_counter()
    delayed_before = layer(s2).detach()[0, :, 0].numpy()
    for _ in range(params.epochs):
        optimiser.zero_grad()
        loss = -torch.log(coincidence(s1, layer(s2), tau_steps).sum() + 1e-12)
        loss.backward()
        optimiser.step()
        schedule.step()
        layer.clamp_()
        trajectory.append(float(layer.delays.detach()[0]) * dt)
    wall = time.perf_counter() - wall
    delayed_after = layer(s2).detach()[0, :, 0].numpy()

    trajectory = np.asarray(trajectory)
    learned = float(trajectory[-1])
    needed = steps_needed(np.abs(trajectory - offset_ms), params.tolerance_ms)
    t_out = np.arange(len(delayed_after)) * dt
    first, last = period_windows(params.max_delay_ms, pattern.period_ms,
                                 params.max_delay_ms + pattern.period_ms * params.repetitions)
    summary = {
        "method": "torch", "offset_ms": float(offset_ms), "learned_delay_ms": learned,
        "error_ms": abs(learned - float(offset_ms)), "epochs": params.epochs, "epochs_needed": needed,
        "simulated_s": params.epochs * params.repetitions * pattern.period_ms / 1e3,
        "converged": abs(learned - float(offset_ms)) < params.tolerance_ms,
        "seed": seed, "initial_delay_ms": params.initial_delay_ms, "max_delay_ms": params.max_delay_ms,
        "surrogate": params.surrogate, "dt_ms": dt, "pattern_ms": times.tolist(), "wall_s": wall,
    }
    return DelayRun(summary, np.arange(len(trajectory)), trajectory,
                    _alignment(first, reference, learnable, t_out, delayed_before),
                    _alignment(last, reference, learnable, t_out, delayed_after))


# -- seed 001's toy problem -----------------------------------------------------------------------
@dataclass(frozen=True)
class ToyParams:
    """Seed 001: per class a random binary pattern; input 0 carries it at a fixed place, inputs
    1..n-1 carry it earlier by a planted shift in [0, max_shift]; recover the shifts as delays."""

    classes: int = param(20, "classes (one random binary pattern each)", ge=1)
    inputs: int = param(3, "inputs per class (input 0: the reference)", ge=2)
    pattern_steps: int = param(20, "pattern length", unit="steps", ge=1)
    spike_probability: float = param(0.3, "probability of a spike per pattern step", ge=0, le=1)
    max_shift: int = param(19, "largest planted shift", unit="steps", ge=0)
    epochs: int = param(300, "gradient steps", ge=1)
    lr: float = param(1.0, "Adam step (time steps)", gt=0)
    tau_start: float = param(12.0, "filter time constant at the start (steps), annealed coarse to fine ...", gt=0)
    tau_end: float = param(1.0, "... to this (steps), as the seed's TAU_DECAY suggested", gt=0)
    surrogate: str = surrogate_param()

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True, eq=False)
class ToyResult:
    """Seed 001's toy problem learned: ``summary`` (JSON-ready: seed, params, recovery statistics,
    wall time in s), the planted, initial and learned shifts (classes, inputs - 1; time steps) and
    the loss of every epoch."""

    summary: dict
    planted: np.ndarray
    initial: np.ndarray
    learned: np.ndarray
    loss: np.ndarray


def toy_problem(seed: int, params: ToyParams = ToyParams()) -> ToyResult:
    """Learn the planted shifts of seed 001's toy problem; returns recovery statistics."""
    import torch

    from ..snn.delays import DelayLayer, exponential_filter

    check_surrogate(params.surrogate)
    rng = np.random.default_rng(seed)
    c, n, length, max_shift = params.classes, params.inputs, params.pattern_steps, params.max_shift
    patterns = rng.random((c, length)) < params.spike_probability
    shifts = rng.integers(0, max_shift + 1, size=(c, n - 1))
    steps = 2 * max_shift + length + 2
    x = np.zeros((1, steps, c, n), dtype=np.float32)
    start = max_shift + 1
    x[0, start:start + length, :, 0] = patterns.T
    for cls in range(c):
        for k in range(1, n):
            s = start - shifts[cls, k - 1]
            x[0, s:s + length, cls, k] = patterns[cls]
    x = torch.from_numpy(x)

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    layer = DelayLayer((c, n - 1), max_shift, surrogate=params.surrogate, generator=generator)
    initial = layer.delays.detach().clone()
    optimiser = torch.optim.Adam(layer.parameters(), lr=params.lr)
    wall = time.perf_counter()
    history = []
    for epoch in range(params.epochs):
        frac = epoch / max(1, params.epochs - 1)
        tau = params.tau_start * (params.tau_end / params.tau_start) ** frac
        for group in optimiser.param_groups:
            group["lr"] = params.lr * (0.02 ** frac)
        optimiser.zero_grad()
        delayed = layer(x[..., 1:])                                     # (1, T + max, c, n - 1)
        ref = torch.nn.functional.pad(x[..., :1], (0, 0, 0, 0, 0, max_shift))
        fa = exponential_filter(ref.reshape(1, -1, c), tau).reshape(1, -1, c, 1)
        fb = exponential_filter(delayed.reshape(1, -1, c * (n - 1)), tau).reshape(1, -1, c, n - 1)
        score = (fa * fb).sum(dim=1) / (fa * fa).sum(dim=1)
        loss = -torch.log(score + 1e-9).mean()
        loss.backward()
        optimiser.step()
        layer.clamp_()
        history.append(float(loss.detach()))
    wall = time.perf_counter() - wall
    learned = layer.delays.detach().numpy()
    errors = np.abs(learned - shifts)
    summary = {"seed": seed, "params": asdict(params), "mean_abs_error": float(errors.mean()),
               "recovered_fraction": float(np.mean(errors < 0.5)),
               "exact_after_rounding": float(np.mean(np.round(learned) == shifts)), "wall_s": wall}
    return ToyResult(summary, shifts, initial.numpy(), learned, np.asarray(history))


# -- impulse response of the lag chain ------------------------------------------------------------
@dataclass(frozen=True)
class ImpulseParams:
    """The lag chain's impulse response for several K, against the Erlang closed form."""

    stages: str = param("1,2,4,8,16", "K values, comma-separated", cli="--impulse-stages", metavar="K,K,...")
    delay_ms: float = param(5.0, "mean latency K * tau_d - dt of every chain", unit="ms", gt=0, cli="")
    dt_ms: float = param(0.01, "time step", unit="ms", gt=0, cli="")

    def __post_init__(self):
        check_fields(self)
        self.stage_list  # noqa: B018 - validates the list

    @property
    def stage_list(self) -> tuple[int, ...]:
        """The K values (UserError unless positive integers)."""
        try:
            values = tuple(int(v) for v in self.stages.split(",") if v.strip())
        except ValueError:
            raise UserError(f"the impulse stages must be comma-separated integers, got {self.stages!r}") from None
        if not values or min(values) < 1:
            raise UserError(f"the number of stages K must be a positive integer, got {self.stages!r}")
        return values


@dataclass(frozen=True, eq=False)
class ImpulseResponse:
    """The simulated impulse response of x_K of a K-stage chain: the density (per ms) at ``t_ms``
    after the spike, its mass, mean and sd (ms) against the closed form's (K tau_d, sqrt(K) tau_d),
    the Erlang density itself, its peak and the largest difference."""

    stages: int
    tau_ms: float
    t_ms: np.ndarray
    density: np.ndarray
    closed_form: np.ndarray
    mass: float
    mean_ms: float
    sd_ms: float
    expected_mean_ms: float
    expected_sd_ms: float
    max_abs_diff: float
    peak: float

    def summary(self) -> dict:
        """The scalars, JSON-ready."""
        return {k: getattr(self, k) for k in ("stages", "tau_ms", "mean_ms", "expected_mean_ms", "sd_ms",
                                              "expected_sd_ms", "max_abs_diff", "peak")}


def impulse_responses(params: ImpulseParams = ImpulseParams(), device: DeviceConfig = DeviceConfig(),
                      progress: bool = False) -> list[ImpulseResponse]:
    """Simulated impulse response of x_K for each K of ``params``, its mean and sd (ms), and the
    Erlang closed form (density per ms). ``progress``: say on stderr when a standalone project
    compiles (one per K)."""
    import brian2 as b2

    from ..circuits.lagging import LagLineParams, build_lag_line, erlang_density
    from ..devices import BrianSession

    delay_ms, dt_ms = params.delay_ms, params.dt_ms
    out = []
    for stages in params.stage_list:
        line = LagLineParams(stages=int(stages), delay_ms=delay_ms, dt_ms=dt_ms)
        tau = line.tau_ms
        duration = delay_ms + 12 * math.sqrt(stages) * tau + 10 * tau
        spike_ms = 1.0
        with BrianSession(device, label=f"lagline-K{stages}", progress=progress) as session:
            handles = build_lag_line(line, [0], [spike_ms])
            session.run(handles.network, duration * b2.ms)
            t = np.asarray(handles.monitor.t / b2.ms) - spike_ms
            y = np.asarray(getattr(handles.monitor, f"x_{stages}")[0])
        keep = t > 0
        t, y = t[keep], y[keep]
        density = y / tau                                  # x_K / tau_d: the Erlang density
        mass = density.sum() * dt_ms
        mean = float((t * density).sum() * dt_ms / mass)
        sd = float(math.sqrt(((t - mean) ** 2 * density).sum() * dt_ms / mass))
        closed = erlang_density(t, stages, tau)
        out.append(ImpulseResponse(stages=int(stages), tau_ms=tau, t_ms=t, density=density, closed_form=closed,
                                   mass=float(mass), mean_ms=mean, sd_ms=sd, expected_mean_ms=stages * tau,
                                   expected_sd_ms=math.sqrt(stages) * tau,
                                   max_abs_diff=float(np.max(np.abs(density - closed))), peak=float(closed.max())))
    return out


# -- delays on the IPD task (issue 5, item 6) -----------------------------------------------------
@dataclass(frozen=True)
class IPDDelayParams:
    """Learnable input delays instead of built-in fibre phase delays on the IPD task."""

    preset: str = param("seed", "training protocol of brainsim.experiments.ipd", choices=tuple(PRESETS))
    epochs: int | None = param(None, "epochs (none: the preset's)", ge=1)
    hidden: int | None = param(None, "hidden neurons (none: the preset's)", ge=1)
    tau_hidden_ms: float | None = param(None, "hidden membrane time constant (none: the preset's, 20 ms for seed)",
                                        unit="ms", gt=0)
    n_train: int | None = param(None, "training stimuli (none: the preset's)", ge=1)
    max_delay_ms: float = param(25.0, "largest input delay (half a period of the 20 Hz tone)", unit="ms", gt=0)
    delay_scale: float = param(20.0, "delay steps moved per unit of Adam step", gt=0)
    surrogate: str = surrogate_param()
    n_test: int = param(2048, "test stimuli", ge=1)
    conditions: str = param("delays,phase,plain", "networks to train, comma-separated: delays (plain ears + "
                            "learnable delays), phase (the tutorial's input with fibre phase delays), plain (plain "
                            "ears, no delays)")

    def __post_init__(self):
        check_fields(self)
        self.condition_list  # noqa: B018 - validates the list

    @property
    def condition_list(self) -> tuple[str, ...]:
        """The conditions (UserError for an unknown one)."""
        conditions = tuple(c.strip() for c in self.conditions.split(",") if c.strip())
        unknown = [c for c in conditions if c not in IPD_CONDITIONS]
        if unknown or not conditions:
            raise UserError(f"unknown condition(s) {', '.join(unknown) or '(none)'}; choose from delays, phase, plain")
        return conditions


IPD_CONDITIONS = ("delays", "phase", "plain")


@dataclass(frozen=True, eq=False)
class IPDDelayResult:
    """The IPD networks trained with and without delays: ``summary`` (JSON-ready: seed, protocol,
    params and per condition the test accuracy, error in deg, final loss, training seconds and, for
    ``delays``, statistics of the learned delays) and the learned delays (ms; (inputs, hidden); None
    without the ``delays`` condition)."""

    summary: dict
    delays_ms: np.ndarray | None


IPD_CHECKPOINT = "delays_checkpoint.pt"   # in --out while a run is unfinished; removed when it ends
IPD_SUMMARY = "summary.json"
IPD_DELAYS = "delays_ms.npy"


def run_ipd_delays(seed: int, params: IPDDelayParams = IPDDelayParams(), progress: bool = False,
                   out_dir=None, resume: bool = False, allow: Overwrite = Overwrite()) -> IPDDelayResult:
    """Train IPD networks on the brainsim IPD stimulus and report test accuracies (fractions), errors
    (deg) and training wall time (s); ``progress``: a bar over the epochs on a terminal.

    Conditions (``params.conditions``): ``delays`` (plain ears, learnable input-to-hidden delays), ``plain`` (plain ears,
    no delays: the lower bound) and ``phase`` (the tutorial's input with fibre phase delays, no
    learnable delays: the reference). The protocol (stimuli, batches, optimiser, test set) is the
    one of :mod:`brainsim.experiments.ipd`; the trainer is :func:`brainsim.snn.training.train_epochs`.

    With ``out_dir``: a checkpoint after every epoch of every condition (:data:`IPD_CHECKPOINT`), and
    at the end ``summary.json`` and ``delays_ms.npy`` (the learned delays, if ``delays`` ran), the
    checkpoint then removed. The directory is claimed (:func:`brainsim.outdir.claim_output_dir`: a
    finished run in it is refused unless ``allow.force``, a second process is kept out). ``resume``
    continues from the checkpoint (finished conditions are not trained again; the result equals an
    uninterrupted run's); without it an existing checkpoint is refused (UserError) unless
    ``allow.force`` (then discarded); with it a checkpoint of other settings or a damaged one is refused.
    """
    if out_dir is None:
        return _run_ipd_delays(seed, params, progress, None, resume=False, force=False)
    with claim_output_dir(out_dir, finished=(IPD_SUMMARY,), allow=allow, what="a finished run") as directory:
        return _run_ipd_delays(seed, params, progress, directory, resume=resume, force=allow.force or allow.shipped)


def _run_ipd_delays(seed: int, params: IPDDelayParams, progress: bool, out_dir: Path | None, *, resume: bool,
                    force: bool) -> IPDDelayResult:
    import torch

    from ..io import save_npy, write_json
    from ..progress import note
    from ..snn.metrics import classification_metrics, predicted_classes
    from ..snn.training import predict, save_checkpoint, train_epochs
    from ..stimuli.ipd import DEFAULT_CLASSES, test_stimuli, training_stimuli

    check_surrogate(params.surrogate)
    protocol = _ipd_protocol(seed, params)
    checkpoint = None if out_dir is None else Path(out_dir) / IPD_CHECKPOINT
    settings = _ipd_settings(seed, params)
    state = _ipd_checkpoint_state(checkpoint, settings, params, protocol, resume, force)
    results = dict(state["results"]) if state else {}
    learned = state["delays_ms"].numpy() if state and state["delays_ms"] is not None else None
    for condition in params.condition_list:
        if condition in results:
            continue
        model, stimulus = _ipd_network(condition, protocol, params, seed)
        history, optimizer_state, seconds_before = [], None, 0.0
        if state is not None and state["condition"] == condition:
            _resume_network(model, state, checkpoint)
            note(f"delays ipd: resuming condition {condition} at epoch {state['epoch']} of {protocol.epochs} "
                 f"(checkpoint {checkpoint}; conditions done: {', '.join(state['results']) or 'none'})")
            history, optimizer_state, seconds_before = state["history"], state["optimizer"], state["train_seconds"]
        cache: dict = {}

        def epoch_data(epoch, stimulus=stimulus, cache=cache):
            key = epoch if protocol.fresh_data else 0
            if key not in cache:
                cache.clear()
                stim = training_stimuli(stimulus, protocol.seed, protocol.n_train,
                                        key if protocol.fresh_data else None)
                cache[key] = (stim.spikes, DEFAULT_CLASSES.to_class(stim.ipd))
            return cache[key]

        t0 = time.perf_counter()

        def on_epoch_end(epoch, hist, optimizer, condition=condition, model=model, t0=t0,
                         seconds_before=seconds_before):
            bar.update(epoch + 1)
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optimizer, hist, **settings, condition=condition,
                                epoch=len(hist), train_seconds=seconds_before + time.perf_counter() - t0,
                                results=results, delays_ms=None if learned is None else torch.from_numpy(learned))

        torch.manual_seed(seed)
        with Progress(protocol.epochs, f"{condition}:", "epochs", enabled=progress, initial=len(history)) as bar:
            history = train_epochs(model, epoch_data, protocol.optim_config(), seed=seed, start_epoch=len(history),
                                   optimizer_state=optimizer_state, history=history, on_epoch_end=on_epoch_end)
        wall = seconds_before + time.perf_counter() - t0
        test = test_stimuli(stimulus, seed, protocol.n_test)
        metrics = classification_metrics(test.ipd, predicted_classes(predict(model, test.spikes)["scores"]))
        entry = {"test_accuracy": metrics["accuracy"], "test_mae_deg": metrics["mae_deg"],
                 "final_loss": history[-1]["loss"], "train_seconds": wall}
        if condition == "delays":
            d = model.delays.detach().numpy() * stimulus.dt_ms
            entry["delay_ms"] = {"mean": float(d.mean()), "sd": float(d.std()), "min": float(d.min()),
                                 "max": float(d.max())}
            learned = d
        results[condition] = entry
    summary = {"seed": seed, "protocol": protocol.to_dict(), "params": asdict(params), "results": results}
    if out_dir is not None:
        if learned is not None:
            save_npy(out_dir / IPD_DELAYS, learned)
        else:   # a --force run without the delays condition leaves no delays of an earlier run
            (out_dir / IPD_DELAYS).unlink(missing_ok=True)
        write_json(out_dir / IPD_SUMMARY, summary)
        checkpoint.unlink(missing_ok=True)
        # the temporary files of checkpoint writes that a kill -9 interrupted (brainsim.io.atomic_path's names)
        for partial in out_dir.glob(f".{checkpoint.stem}.*{checkpoint.suffix}"):
            partial.unlink(missing_ok=True)
    return IPDDelayResult(summary, learned)


def _ipd_protocol(seed: int, params: IPDDelayParams):
    """The training protocol of every condition: the preset's with ``params``' overrides."""
    from .ipd import protocol_from

    return protocol_from(params.preset, seed=seed, epochs=params.epochs, hidden=params.hidden,
                         tau_hidden_ms=params.tau_hidden_ms, n_train=params.n_train, n_test=params.n_test)


def _ipd_settings(seed: int, params: IPDDelayParams) -> dict:
    """What a checkpoint must have been written with to be resumed (--deterministic changes the numbers)."""
    import torch

    return {"seed": seed, "params": asdict(params), "deterministic": torch.are_deterministic_algorithms_enabled()}


def _ipd_network(condition: str, protocol, params: IPDDelayParams, seed: int):
    """The untrained network of ``condition`` and the stimulus it learns from."""
    from dataclasses import replace

    from ..snn.delays import DelayedIPDNet
    from ..snn.models import IPDNet
    from ..stimuli.ipd import TUTORIAL

    stimulus = TUTORIAL if condition == "phase" else replace(TUTORIAL, phase_delays=False)
    config = protocol.net_config(stimulus)
    if condition == "delays":
        max_steps = int(round(params.max_delay_ms / stimulus.dt_ms))
        return DelayedIPDNet(config, max_steps, seed=seed, delay_scale=params.delay_scale,
                             surrogate=params.surrogate), stimulus
    return IPDNet(config, seed=seed), stimulus


def _resume_network(model, state: dict, checkpoint: Path) -> None:
    """Load the checkpoint's network state into ``model``, once its model and optimizer state are seen
    to fit it (UserError naming the checkpoint otherwise)."""
    from ..snn.training import state_misfit

    problem = state_misfit(state, model)
    if problem:
        raise UserError(f"{checkpoint} cannot be resumed: {problem}; give --force to start over")
    model.load_state_dict(state["model"])


_IPD_CHECKPOINT_KEYS = ("seed", "params", "condition", "epoch", "train_seconds", "results", "delays_ms")


def _ipd_checkpoint_state(path: Path | None, settings: dict, params: IPDDelayParams, protocol, resume: bool,
                          force: bool) -> dict | None:
    """The checkpoint a run of ``settings`` continues from (None: start afresh; see
    :func:`brainsim.snn.training.checkpoint_to_resume`), its contents checked; the caller checks that
    its model and optimizer state fit the network, then says where the run continues."""
    from ..snn.training import checkpoint_to_resume, training_state_problem

    if path is None:
        return None
    state = checkpoint_to_resume(path, resume=resume, force=force, label="delays ipd", what="run",
                                 fresh="starting from the first condition")
    if state is None:
        return None
    if not all(key in state for key in _IPD_CHECKPOINT_KEYS):
        raise UserError(f"{path} is not a checkpoint of brainsim delays --task ipd")
    if not _same_plain_value({k: state.get(k) for k in settings}, settings):
        theirs = {**(state["params"] if isinstance(state["params"], dict) else {}), "seed": state["seed"],
                  "deterministic": state.get("deterministic")}
        ours = {**settings["params"], "seed": settings["seed"], "deterministic": settings["deterministic"]}
        differ = [f"{k} {ours[k]} (checkpoint: {_short(theirs.get(k))})" for k in ours
                  if not _same_plain_value(theirs.get(k), ours[k])]
        raise UserError(f"{path} is a checkpoint of other settings ({', '.join(differ) or 'params'}): resume "
                        "with the options it was started with, or use another --out")
    problem = training_state_problem(state) or _ipd_state_problem(state, params.condition_list, protocol.epochs,
                                                                  (protocol.net_config().n_inputs, protocol.net.n_hidden))
    if problem:
        raise UserError(f"{path} cannot be resumed: {problem}; give --force to start over")
    return state


def _same_plain_value(theirs, ours) -> bool:
    """``theirs`` (read from a checkpoint: anything) is plain data (dicts, lists, numbers, strings, None)
    equal to ``ours``."""
    def plain(x) -> bool:
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, (list, tuple)):
            return all(map(plain, x))
        return x is None or isinstance(x, (bool, int, float, str))

    return plain(theirs) and theirs == ours


def _short(value) -> str:
    """A checkpoint's value on one short line."""
    text = " ".join(str(value).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _ipd_state_problem(state: dict, conditions: tuple[str, ...], epochs: int,
                       delays_shape: tuple[int, int]) -> str | None:
    """What is wrong with the delay run's own fields of a checkpoint of these settings (None: nothing)."""
    import torch

    def number(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    condition, results, delays = state["condition"], state["results"], state["delays_ms"]
    if not (isinstance(condition, str) and condition in conditions):
        return f"its condition {_short(condition)} is not one of {', '.join(conditions)}"
    if not (isinstance(state["epoch"], int) and state["epoch"] == len(state["history"]) and 1 <= state["epoch"] <= epochs):
        return f"its epoch {_short(state['epoch'])} is not that of its history"
    if not number(state["train_seconds"]):
        return "'train_seconds' is not a number"
    finished = conditions[:conditions.index(condition)]
    if not isinstance(results, dict) or tuple(results) != finished:
        return f"its finished conditions are not {', '.join(finished) or 'none'}"
    for name, entry in results.items():
        if not (isinstance(entry, dict)
                and all(number(entry.get(k)) for k in ("test_accuracy", "test_mae_deg", "final_loss", "train_seconds"))):
            return f"the result of {name} is damaged"
    if ("delays" in results) != (delays is not None) or delays is not None and not (
            isinstance(delays, torch.Tensor) and tuple(delays.shape) == delays_shape and delays.is_floating_point()
            and bool(torch.isfinite(delays).all())):
        return "its learned delays are damaged"
    return None
