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

import numpy as np

from ..errors import UserError

METHODS = ("lagging", "torch")


# -- the task -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatternParams:
    """A random spike pattern, repeated back to back."""

    period_ms: float = 100.0
    n_spikes: int = 4
    min_gap_ms: float = 20.0
    dt_ms: float = 0.1

    def __post_init__(self):
        if self.n_spikes < 1:
            raise UserError(f"the pattern needs at least one spike, got {self.n_spikes}")
        for name in ("period_ms", "min_gap_ms", "dt_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"{name} must be a finite number > 0, got {value!r}")
        if self.n_spikes * self.min_gap_ms > self.period_ms:
            raise UserError(f"{self.n_spikes} spikes at least {self.min_gap_ms:g} ms apart do not fit in "
                            f"a {self.period_ms:g} ms period")


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
    if not math.isfinite(offset_ms):
        raise UserError(f"offset must be finite, got {offset_ms!r}")
    if offset_ms > max_delay_ms:
        raise UserError(f"offset {offset_ms:g} ms is beyond the maximum delay {max_delay_ms:g} ms")
    if offset_ms < min_delay_ms:
        raise UserError(f"offset {offset_ms:g} ms is below the shortest delay this line can make "
                        f"({min_delay_ms:g} ms)")


def steps_needed(errors: np.ndarray, tolerance: float) -> int | None:
    """Index of the first sample after which every error is < tolerance (None: not at the end)."""
    errors = np.asarray(errors)
    bad = np.nonzero(~(errors < tolerance))[0]
    if len(bad) == 0:
        return 0
    if bad[-1] == len(errors) - 1:
        return None
    return int(bad[-1] + 1)


def _alignment(window_ms, reference_ms, learnable_ms, delayed_t_ms, delayed_y):
    lo, hi = window_ms
    inside = lambda t: t[(t >= lo) & (t < hi)]
    keep = (delayed_t_ms >= lo) & (delayed_t_ms < hi)
    return {"window_ms": [lo, hi], "reference_ms": inside(reference_ms), "learnable_ms": inside(learnable_ms),
            "delayed_t_ms": delayed_t_ms[keep], "delayed": delayed_y[keep]}


# -- lagging variables in Brian2 ------------------------------------------------------------------
@dataclass(frozen=True)
class LaggingRunParams:
    stages: int = 8
    initial_delay_ms: float = 1.0
    max_delay_ms: float = 20.0
    tau_c_ms: float = 50.0
    tau_learn_ms: float = 200.0
    duration_s: float = 1.5
    tolerance_ms: float = 0.5


def run_lagging_many(offsets_ms, seed: int, params: LaggingRunParams = LaggingRunParams(),
                     pattern: PatternParams = PatternParams(), device=None, record_trace: bool = False) -> dict:
    """Learn several offsets at once: one learner per offset, one Brian2 run, the same pattern."""
    import brian2 as b2

    from ..circuits.lagging import DelayLearnerParams, build_delay_learner
    from ..devices import BrianSession, DeviceConfig

    offsets = np.atleast_1d(np.asarray(offsets_ms, dtype=float))
    circuit = DelayLearnerParams(stages=params.stages, initial_delay_ms=params.initial_delay_ms,
                                 max_delay_ms=params.max_delay_ms, tau_c_ms=params.tau_c_ms,
                                 tau_learn_ms=params.tau_learn_ms, dt_ms=pattern.dt_ms)
    for offset in offsets:
        validate_offset(offset, circuit.max_delay_ms, circuit.min_delay_ms)
    if not (math.isfinite(params.duration_s) and params.duration_s > 0):
        raise UserError(f"duration must be > 0 s, got {params.duration_s!r}")
    times = random_pattern(pattern, seed)
    duration_ms = params.duration_s * 1e3
    repetitions = max(1, int(math.ceil(duration_ms / pattern.period_ms)))
    ref_i, ref_t, lrn_i, lrn_t = [], [], [], []
    for k, offset in enumerate(offsets):
        ref, lrn = task_spikes(times, pattern.period_ms, repetitions, offset, params.max_delay_ms, pattern.dt_ms)
        keep = ref < duration_ms
        ref_i.append(np.full(keep.sum(), k)), ref_t.append(ref[keep])
        keep = lrn < duration_ms
        lrn_i.append(np.full(keep.sum(), k)), lrn_t.append(lrn[keep])
    reference = (np.concatenate(ref_i), np.concatenate(ref_t))
    learnable = (np.concatenate(lrn_i), np.concatenate(lrn_t))

    b2.seed(seed)
    wall = time.perf_counter()
    with BrianSession(device or DeviceConfig(), label="delays") as session:
        handles = build_delay_learner(circuit, reference, learnable, n_learners=len(offsets),
                                      record_trace=record_trace)
        session.run(handles.network, duration_ms * b2.ms)
        t_ms = np.asarray(handles.delay_monitor.t / b2.ms)
        delay_ms = np.asarray(handles.delay_monitor.delay / b2.ms)
        trace = None
        if record_trace:
            trace = (np.asarray(handles.trace_monitor.t / b2.ms),
                     np.asarray(getattr(handles.trace_monitor, f"x_{params.stages}")))
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
            "seed": seed, "stages": params.stages, "initial_delay_ms": params.initial_delay_ms,
            "max_delay_ms": params.max_delay_ms, "dt_ms": pattern.dt_ms, "pattern_ms": times.tolist(),
            "device": session.config.name, "wall_s": wall,
            "traces": {"t_ms": t_ms, "delay_ms": delay_ms[k]},
        }
        if trace is not None:
            sel_ref = reference[1][reference[0] == k]
            sel_lrn = learnable[1][learnable[0] == k]
            y = trace[1][k] / max(trace[1][k].max(), 1e-30)
            first = (params.max_delay_ms, params.max_delay_ms + pattern.period_ms)
            last_start = params.max_delay_ms + pattern.period_ms * (repetitions - 1)
            if last_start + pattern.period_ms > duration_ms:
                last_start = max(first[0], duration_ms - pattern.period_ms)
            last = (last_start, last_start + pattern.period_ms)
            result["traces"]["before"] = _alignment(first, sel_ref, sel_lrn, trace[0], y)
            result["traces"]["after"] = _alignment(last, sel_ref, sel_lrn, trace[0], y)
        results.append(result)
    return {"results": results, "wall_s": wall}


def run_lagging(offset_ms: float, seed: int, params: LaggingRunParams = LaggingRunParams(),
                pattern: PatternParams = PatternParams(), device=None, record_trace: bool = True) -> dict:
    """Learn one offset with the lagging-variable circuit; see :func:`run_lagging_many`."""
    return run_lagging_many([offset_ms], seed, params, pattern, device, record_trace)["results"][0]


# -- differentiable delays in torch ---------------------------------------------------------------
@dataclass(frozen=True)
class TorchRunParams:
    initial_delay_ms: float = 1.0
    max_delay_ms: float = 20.0
    filter_tau_ms: float = 5.0       # exponential synaptic filter of both inputs before coincidence
    repetitions: int = 3             # pattern periods per epoch
    epochs: int = 150
    lr_ms: float = 0.25              # Adam step (ms), decayed exponentially ...
    final_lr_ms: float = 0.005       # ... to this over the epochs
    surrogate: str = "interpolate"
    tolerance_ms: float = 0.5


def exponential_filter(x, tau_steps: float):
    """Causal exponential filter along time of x (batch, time, channels), as a convolution."""
    import torch

    length = int(math.ceil(8 * tau_steps)) + 1
    kernel = torch.exp(-torch.arange(length, dtype=x.dtype) / tau_steps).flip(0)
    batch, steps, channels = x.shape
    flat = x.permute(0, 2, 1).reshape(batch * channels, 1, steps)
    flat = torch.nn.functional.pad(flat, (length - 1, 0))
    out = torch.nn.functional.conv1d(flat, kernel.view(1, 1, -1))
    return out.reshape(batch, channels, steps).permute(0, 2, 1)


def coincidence(reference, delayed, tau_steps: float):
    """Sum over time of the product of the filtered reference and the filtered delayed input."""
    pad = delayed.shape[1] - reference.shape[1]
    reference = __import__("torch").nn.functional.pad(reference, (0, 0, 0, pad))
    return (exponential_filter(reference, tau_steps) * exponential_filter(delayed, tau_steps)).sum(dim=1)


def run_torch(offset_ms: float, seed: int, params: TorchRunParams = TorchRunParams(),
              pattern: PatternParams = PatternParams()) -> dict:
    """Learn one offset with a differentiable delay on SG2 (gradient ascent on the coincidence)."""
    import torch

    from ..snn.delays import SURROGATES, DelayLayer

    validate_offset(offset_ms, params.max_delay_ms, 0.0)
    if params.surrogate not in SURROGATES:
        raise UserError(f"unknown surrogate {params.surrogate!r}; choose one of {', '.join(SURROGATES)}")
    if params.epochs < 1:
        raise UserError(f"epochs must be >= 1, got {params.epochs}")
    if not 0 <= params.initial_delay_ms <= params.max_delay_ms:
        raise UserError(f"initial delay must lie in [0, {params.max_delay_ms:g}] ms")
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
    first = (params.max_delay_ms, params.max_delay_ms + pattern.period_ms)
    last = (params.max_delay_ms + pattern.period_ms * (params.repetitions - 1),
            params.max_delay_ms + pattern.period_ms * params.repetitions)
    return {
        "method": "torch", "offset_ms": float(offset_ms), "learned_delay_ms": learned,
        "error_ms": abs(learned - float(offset_ms)), "epochs": params.epochs, "epochs_needed": needed,
        "simulated_s": params.epochs * params.repetitions * pattern.period_ms / 1e3,
        "converged": abs(learned - float(offset_ms)) < params.tolerance_ms,
        "seed": seed, "initial_delay_ms": params.initial_delay_ms, "max_delay_ms": params.max_delay_ms,
        "surrogate": params.surrogate, "dt_ms": dt, "pattern_ms": times.tolist(), "wall_s": wall,
        "traces": {"epoch": np.arange(len(trajectory)), "delay_ms": trajectory,
                   "before": _alignment(first, reference, learnable, t_out, delayed_before),
                   "after": _alignment(last, reference, learnable, t_out, delayed_after)},
    }


# -- seed 001's toy problem -----------------------------------------------------------------------
@dataclass(frozen=True)
class ToyParams:
    """Seed 001: per class a random binary pattern; input 0 carries it at a fixed place, inputs
    1..n-1 carry it earlier by a planted shift in [0, max_shift]; recover the shifts as delays."""

    classes: int = 20
    inputs: int = 3
    pattern_steps: int = 20
    spike_probability: float = 0.3
    max_shift: int = 19
    epochs: int = 300
    lr: float = 1.0                  # Adam step (time steps)
    tau_start: float = 12.0          # filter time constant (steps), annealed coarse to fine ...
    tau_end: float = 1.0             # ... as the seed's TAU_DECAY suggested
    surrogate: str = "interpolate"


def toy_problem(seed: int, params: ToyParams = ToyParams()) -> dict:
    """Learn the planted shifts of seed 001's toy problem; returns recovery statistics."""
    import torch

    from ..snn.delays import DelayLayer

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
    return {
        "seed": seed, "params": asdict(params), "planted": shifts, "initial": initial.numpy(),
        "learned": learned, "mean_abs_error": float(errors.mean()),
        "recovered_fraction": float(np.mean(errors < 0.5)),
        "exact_after_rounding": float(np.mean(np.round(learned) == shifts)),
        "loss": np.asarray(history), "wall_s": wall,
    }


# -- impulse response of the lag chain ------------------------------------------------------------
def impulse_responses(stages_list=(1, 2, 4, 8, 16), delay_ms: float = 5.0, dt_ms: float = 0.01,
                      device=None) -> list[dict]:
    """Simulated impulse response of x_K for each K, its mean and sd, and the Erlang closed form."""
    import brian2 as b2

    from ..circuits.lagging import LagLineParams, build_lag_line, erlang_density
    from ..devices import BrianSession, DeviceConfig

    out = []
    for stages in stages_list:
        params = LagLineParams(stages=int(stages), delay_ms=delay_ms, dt_ms=dt_ms)
        tau = params.tau_ms
        duration = delay_ms + 12 * math.sqrt(stages) * tau + 10 * tau
        spike_ms = 1.0
        with BrianSession(device or DeviceConfig(), label="lagline") as session:
            handles = build_lag_line(params, [0], [spike_ms])
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
        out.append({"stages": int(stages), "tau_ms": tau, "t_ms": t, "density": density,
                    "closed_form": closed, "mass": float(mass),
                    "mean_ms": mean, "sd_ms": sd, "expected_mean_ms": stages * tau,
                    "expected_sd_ms": math.sqrt(stages) * tau,
                    "max_abs_diff": float(np.max(np.abs(density - closed))),
                    "peak": float(closed.max())})
    return out


# -- delays on the IPD task (issue 5, item 6) -----------------------------------------------------
@dataclass(frozen=True)
class IPDDelayParams:
    """Learnable input delays instead of built-in fibre phase delays on the IPD task."""

    preset: str = "seed"            # training protocol of brainsim.experiments.ipd (seed or best)
    epochs: int | None = None       # None: the preset's
    hidden: int | None = None
    tau_hidden_ms: float | None = None
    n_train: int | None = None
    max_delay_ms: float = 25.0      # half a period of the 20 Hz tone
    delay_scale: float = 20.0       # delay steps moved per unit of Adam step
    surrogate: str = "interpolate"
    n_test: int = 2048


def run_ipd_delays(seed: int, params: IPDDelayParams = IPDDelayParams(), conditions=("delays", "plain", "phase"),
                   progress: bool = False) -> dict:
    """Train IPD networks on the brainsim IPD stimulus and report test accuracies.

    Conditions: ``delays`` (plain ears, learnable input-to-hidden delays), ``plain`` (plain ears,
    no delays: the lower bound) and ``phase`` (the tutorial's input with fibre phase delays, no
    learnable delays: the reference). The protocol (stimuli, batches, optimiser, test set) is the
    one of :mod:`brainsim.experiments.ipd`; the trainer is :func:`brainsim.snn.training.train_epochs`.
    """
    from dataclasses import replace

    import torch

    from ..snn.delays import DelayedIPDNet
    from ..snn.metrics import classification_metrics, predicted_classes
    from ..snn.models import IPDNet
    from ..snn.training import predict, train_epochs
    from ..stimuli.ipd import DEFAULT_CLASSES, TUTORIAL
    from .ipd import protocol_from, test_stimuli, training_stimuli

    protocol = protocol_from(params.preset, seed=seed, epochs=params.epochs, hidden=params.hidden,
                             tau_hidden_ms=params.tau_hidden_ms, n_train=params.n_train, n_test=params.n_test)
    plain = replace(TUTORIAL, phase_delays=False)
    results = {}
    for condition in conditions:
        stimulus = TUTORIAL if condition == "phase" else plain
        config = protocol.net_config(stimulus)
        max_steps = int(round(params.max_delay_ms / stimulus.dt_ms))
        if condition == "delays":
            model = DelayedIPDNet(config, max_steps, seed=seed, delay_scale=params.delay_scale,
                                  surrogate=params.surrogate)
        else:
            model = IPDNet(config, seed=seed)
        cache: dict = {}

        def epoch_data(epoch, stimulus=stimulus, cache=cache):
            key = epoch if protocol.fresh_data else 0
            if key not in cache:
                cache.clear()
                stim = training_stimuli(protocol, key, stimulus)
                cache[key] = (stim.spikes, DEFAULT_CLASSES.to_class(stim.ipd))
            return cache[key]

        torch.manual_seed(seed)
        t0 = time.perf_counter()
        bar = None
        if progress:
            import progressbar

            bar = progressbar.ProgressBar(max_value=protocol.epochs, prefix=f"{condition}: ", fd=__import__("sys").stderr)
        history = train_epochs(model, epoch_data, protocol.optim_config(), seed=seed,
                               on_epoch_end=(lambda e, h, o: bar.update(e + 1)) if bar else None)
        if bar:
            bar.finish()
        wall = time.perf_counter() - t0
        test = test_stimuli(seed, protocol.n_test, stimulus)
        metrics = classification_metrics(test.ipd, predicted_classes(predict(model, test.spikes)["scores"]))
        entry = {"test_accuracy": metrics["accuracy"], "test_mae_deg": metrics["mae_deg"],
                 "final_loss": history[-1]["loss"], "train_seconds": wall}
        if condition == "delays":
            d = model.delays.detach().numpy() * stimulus.dt_ms
            entry["delay_ms"] = {"mean": float(d.mean()), "sd": float(d.std()), "min": float(d.min()),
                                 "max": float(d.max())}
            entry["delays_ms"] = d
        results[condition] = entry
    return {"seed": seed, "protocol": protocol.to_dict(), "params": asdict(params), "results": results}
