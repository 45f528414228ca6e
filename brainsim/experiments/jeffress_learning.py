"""The self-wiring Jeffress circuit: train (one Brian2 run), freeze, evaluate like ``brainsim jeffress``.

One parameter surface, :class:`JeffressLearnConfig` (stimulus, circuit and rule, training, evaluation,
device, seed), read by ``brainsim jeffress-learn``. :func:`train_and_evaluate` runs

1. **training**: one run presenting ``n_presentations`` tones at random IPDs (uniform over
   ``+-train_range_deg``; stream ``[seed, 0]``) one after the other, the rule learning the detectors'
   delay differences (:mod:`brainsim.circuits.jeffress_learning`);
2. **freeze**: the learned delay differences and thresholds become constants;
3. **tuning curves**: every detector's rate over a grid of IPDs (stream ``[seed, 2]``); a detector's
   best IPD is the circular mean of its tuning curve (the preferred angle of the population vector);
4. **test**: 200 tones at IPDs uniform in (-90, 90) deg (the test stream ``[seed, 1]`` of
   ``stimuli.ipd.test_stimuli``), decoded by the population-vector decoder of ``brainsim jeffress``
   (:func:`brainsim.decoding.population_vector`) over those best IPDs.

Steps 3 and 4 run all their tones side by side in one network (one copy of the frozen circuit per
tone), as ``brainsim jeffress`` does.

Training runs in chunks of ``checkpoint_every`` presentations. Each chunk continues from every
detector variable of the one before (chains, v, thresholds, gate trace, delays, refractory state) and
the training clock, so the chunks add up to one run; on a standalone device each chunk is a build in
the same project folder (make recompiles only what changed). After each chunk
``<data_dir>/training_checkpoint.npz`` is written atomically; ``resume`` continues from it, and a
killed run loses at most one chunk. An unfinished checkpoint is never overwritten by a fresh run.
"""
from __future__ import annotations

import gc
import json
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..circuits.jeffress_learning import LearningJeffressParams
from ..devices import DeviceConfig
from ..errors import UserError
from ..params import check_fields, param, param_group
from ..stimuli.ipd import PLAIN_EARS, STIMULUS_NAMES, IPDStimulus, IPDStimulusParams, generate, random_ipds, test_stimuli, wrap_angle

COVERAGE_RANGE_DEG = (-90.0, 90.0)
CHECKPOINT = "training_checkpoint.npz"
CHECKPOINT_KIND = "brainsim jeffress-learn training"
#: Training fields that say how the run goes, not what it computes (a resume may change them).
RUN_FIELDS = ("checkpoint_every", "data_dir", "resume")


@dataclass(frozen=True)
class TrainingParams:
    """The training stream. Raises UserError on invalid values."""

    n_presentations: int = param(1000, "tones presented during training (one run)", ge=1, cli="--presentations")
    gap_ms: float = param(50.0, "silence after each tone (the lines empty)", unit="ms", ge=0)
    train_range_deg: float = param(180.0, "training IPDs are uniform in +-this (180: the whole period, as the "
                                   "hand-wired array tiles it)", unit="deg", gt=0, le=180)
    record_every: int = param(10, "record the delay differences every this many presentations", ge=1)
    checkpoint_every: int = param(250, "presentations per chunk of the training run; a checkpoint follows each "
                                  "chunk (the next chunk continues from every detector variable: the result "
                                  "does not depend on it)", ge=1, cli="--chunk", sweep=False)
    data_dir: str = param("runs/jeffress-learn", "folder of the training checkpoint", metavar="DIR", sweep=False)
    resume: bool = param(False, "continue an interrupted training from its checkpoint in --data-dir", sweep=False)

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True)
class EvaluationParams:
    """Evaluation of the frozen circuit. Raises UserError on invalid values."""

    n_test: int = param(200, "test tones, IPDs uniform in (-90, 90) deg", ge=1, cli="--test")
    tuning_points: int = param(72, "IPDs of the tuning-curve grid over [-180, 180)", ge=4)
    tuning_repeats: int = param(10, "tones per grid IPD", ge=1)
    inhibition: bool = param(False, "keep the lateral inhibition when evaluating (false: graded tuning "
                             "curves, as the hand-wired array has)")

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True)
class JeffressLearnConfig:
    """Train, freeze and evaluate the self-wiring Jeffress circuit."""

    stimulus: IPDStimulusParams = param_group(IPDStimulusParams, "stimulus", default=PLAIN_EARS,
                                              rename=STIMULUS_NAMES)
    circuit: LearningJeffressParams = param_group(LearningJeffressParams, "circuit and learning rule")
    training: TrainingParams = param_group(TrainingParams, "training")
    evaluation: EvaluationParams = param_group(EvaluationParams, "evaluation")
    device: DeviceConfig = param_group(DeviceConfig, "simulation device", default=DeviceConfig(name="cpp_standalone"))

    def __post_init__(self):
        check_fields(self)
        self.circuit.check_stimulus(self.stimulus)
        if self.device.build_only:
            raise UserError("--build-only does not apply: jeffress-learn needs the trained delays to go on")

    @property
    def seed(self) -> int:
        return self.circuit.seed


@dataclass(eq=False)
class JeffressLearnResult:
    """Everything a training and evaluation produced. Angles in radians, times in ms."""

    config: JeffressLearnConfig
    initial_delta_ms: np.ndarray      # (detectors,)
    delta_ms: np.ndarray              # (detectors,) learned, frozen
    theta: np.ndarray                 # (detectors,) adaptive thresholds at the end of training
    delta_history_ms: np.ndarray      # (records, detectors)
    history_presentation: np.ndarray  # (records,) presentations done at each record
    train_spike_counts: np.ndarray    # (detectors,) spikes during training
    tuning_ipd: np.ndarray            # (points,) grid
    tuning_rates_hz: np.ndarray       # (points, detectors) mean rate per grid IPD
    best_ipd: np.ndarray              # (detectors,) circular mean of the tuning curves
    test_ipd: np.ndarray              # (n_test,)
    test_rates_hz: np.ndarray         # (n_test, detectors)
    estimate: np.ndarray              # (n_test,) population vector (NaN: silent)
    wall_s: dict
    cpu_s: dict
    resumed_from: int = 0             # presentations a checkpoint had done before this run

    @property
    def error(self) -> np.ndarray:
        return wrap_angle(self.estimate - self.test_ipd)


def delta_to_ipd(delta_ms, freq_hz: float) -> np.ndarray:
    """IPD (radians, wrapped) whose ITD is the delay difference ``delta_ms``."""
    return wrap_angle(2 * np.pi * freq_hz * np.asarray(delta_ms, dtype=float) * 1e-3)


def coverage(best_ipd_rad, low_deg: float = COVERAGE_RANGE_DEG[0], high_deg: float = COVERAGE_RANGE_DEG[1]) -> dict:
    """How best IPDs cover [low, high] deg: the widest gap between neighbours, counting the range's ends."""
    best = np.sort(np.degrees(np.asarray(best_ipd_rad, dtype=float)))
    inside = best[(best >= low_deg) & (best <= high_deg)]
    points = np.concatenate([[low_deg], inside, [high_deg]])
    return {"range_deg": [low_deg, high_deg], "detectors_inside": int(inside.size),
            "max_gap_deg": float(np.max(np.diff(points)))}


def tuning_rates_at(tuning_ipd, tuning_rates_hz, ipd) -> np.ndarray:
    """Mean rates (len(ipd), detectors) that the tuning curves (a uniform grid over the circle,
    (points, detectors)) give at each IPD, linearly interpolated round the circle."""
    grid = np.asarray(tuning_ipd, dtype=float)
    curves = np.asarray(tuning_rates_hz, dtype=float)
    step = 2 * np.pi / grid.size
    position = ((np.asarray(ipd, dtype=float) - grid[0]) % (2 * np.pi)) / step
    low = np.floor(position).astype(int) % grid.size
    frac = (position - np.floor(position))[:, None]
    return (1 - frac) * curves[low] + frac * curves[(low + 1) % grid.size]


def _cpu() -> float:
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _run_frozen(config: JeffressLearnConfig, stimulus, delta_ms, theta, label: str, progress: bool, seed_key):
    """Rates (trials, detectors) of the frozen circuit for a batch of tones, one copy per tone."""
    import brian2 as b2

    from ..circuits.jeffress_learning import batch_spikes, build_learning_jeffress, count_window_ms
    from ..devices import BrianSession

    circuit_params = config.circuit
    idx, t = batch_spikes(stimulus, circuit_params.dt_ms, np.random.default_rng(seed_key))
    n = stimulus.spikes.shape[0]
    window = count_window_ms(circuit_params, config.stimulus, delta_ms)
    with BrianSession(config.device, label=label, progress=progress) as session:
        net = build_learning_jeffress(circuit_params, config.stimulus, idx, t, n_trials=n, delta_ms=delta_ms,
                                      theta=theta, learning=False, inhibition=config.evaluation.inhibition)
        session.run(net.network, (window[:, 1].max() + 5 * circuit_params.tau_m_ms) * b2.ms)
        spike_i = np.asarray(net.detector_spikes.i[:])
        spike_t = np.asarray(net.detector_spikes.t[:] / b2.ms)
    det = spike_i % circuit_params.n_detectors
    inside = (spike_t >= window[det, 0]) & (spike_t < window[det, 1])
    counts = np.bincount(spike_i[inside], minlength=n * circuit_params.n_detectors)
    counts = counts.reshape(n, circuit_params.n_detectors)
    return counts / ((window[:, 1] - window[:, 0])[None, :] * 1e-3)


def _plain(obj):
    """JSON-ready copy of a dataclass dict (numpy scalars as Python numbers)."""
    return json.loads(json.dumps(obj, default=float))


def training_fingerprint(config: JeffressLearnConfig) -> dict:
    """What a training computes: a checkpoint resumes only a run with the same fingerprint."""
    training = {k: v for k, v in asdict(config.training).items() if k not in RUN_FIELDS}
    return _plain({"circuit": asdict(config.circuit), "stimulus": asdict(config.stimulus), "training": training})


def _load_checkpoint(path: Path, config: JeffressLearnConfig) -> tuple[dict, dict]:
    from ..io import load_npz

    arrays = load_npz(path)
    try:
        meta = json.loads(str(arrays.pop("meta")))
        ok = meta.get("kind") == CHECKPOINT_KIND
    except (KeyError, ValueError, RecursionError, AttributeError):
        ok = False
    if not ok:
        raise UserError(f"{path} is not a brainsim jeffress-learn checkpoint (no readable meta data)")
    missing = [k for k in ("delta_history_ms", "history_presentation", "spike_counts", "initial_delta_ms")
               if k not in arrays]
    if missing or not isinstance(meta.get("done"), int) or not isinstance(meta.get("n"), int):
        raise UserError(f"{path} is not a usable jeffress-learn checkpoint: missing {', '.join(missing) or 'counts'}")
    return meta, arrays


def _start_or_resume(config: JeffressLearnConfig) -> tuple[Path, dict | None, dict | None]:
    """(checkpoint path, meta and arrays of the run to continue, or None twice for a fresh start)."""
    from ..progress import note

    tr = config.training
    path = Path(tr.data_dir) / CHECKPOINT
    for stale in path.parent.glob(f".{path.stem}.*"):   # what a kill during a checkpoint's write left
        stale.unlink(missing_ok=True)
    if not path.exists():
        if tr.resume:
            note(f"jeffress-learn: --resume: no checkpoint {path}, starting from presentation 0")
        return path, None, None
    meta, arrays = _load_checkpoint(path, config)
    if not tr.resume:
        if meta["done"] < meta["n"]:
            raise UserError(f"{tr.data_dir} holds an unfinished jeffress-learn training ({meta['done']}/{meta['n']} "
                            "presentations): pass --resume to continue it, or use another --data-dir")
        return path, None, None
    mine = training_fingerprint(config)
    for group in ("circuit", "stimulus", "training"):
        theirs = meta["fingerprint"].get(group, {})
        for key in sorted(set(mine[group]) | set(theirs)):
            if mine[group].get(key) != theirs.get(key):
                raise UserError(f"cannot resume: the checkpoint {path} has {group} {key}={theirs.get(key)!r}, "
                                f"this run {mine[group].get(key)!r}")
    note(f"jeffress-learn: resuming from presentation {meta['done']} of {meta['n']} (checkpoint {path})")
    return path, meta, arrays


def train(config: JeffressLearnConfig, progress: bool = False) -> dict:
    """One training stream, run chunk by chunk with a checkpoint after each (see the module docstring):
    {'initial_delta_ms', 'delta_ms', 'theta', 'history_ms', 'history_presentation', 'spike_counts',
    'wall_s', 'timings', 'resumed_from'}."""
    import brian2 as b2

    from ..circuits.jeffress_learning import build_learning_jeffress, detector_state, stream_spikes
    from ..devices import BrianSession
    from ..io import ensure_output_dir, save_npz

    tr, stim, cp = config.training, config.stimulus, config.circuit
    rng = np.random.default_rng([config.seed, 0])
    span = np.deg2rad(tr.train_range_deg)
    tones = generate(stim, random_ipds(tr.n_presentations, rng, -span, span), rng)
    idx, t, slot_ms = stream_spikes(tones, tr.gap_ms, cp.dt_ms, rng)
    n = tr.n_presentations
    path, meta, arrays = _start_or_resume(config)
    if meta is None:
        initial = cp.initial_delta_ms(stim.freq_hz)
        state, done = None, 0
        history, labels = [], []
        counts = np.zeros(cp.n_detectors, dtype=np.int64)
    else:
        initial, done = arrays["initial_delta_ms"], meta["done"]
        state = {k[len("state_"):]: v for k, v in arrays.items() if k.startswith("state_")}
        history, labels = list(arrays["delta_history_ms"]), list(arrays["history_presentation"])
        counts = arrays["spike_counts"].astype(np.int64)
    resumed_from = done
    ensure_output_dir(tr.data_dir, "--data-dir")
    timings = {"build": 0.0, "run": 0.0}
    t0 = time.perf_counter()
    device = config.device
    build_root = None
    if device.standalone and device.build_dir is None:
        # one project folder for all chunks: make recompiles only the sources that changed
        build_root = tempfile.TemporaryDirectory(prefix="brainsim-jeffress-learn-")
        device = replace(device, build_dir=build_root.name)
    record_ms = slot_ms * tr.record_every
    try:
        while done < n:
            m = min(tr.checkpoint_every, n - done)
            lo_ms, hi_ms = done * slot_ms, (done + m) * slot_ms
            a, b = np.searchsorted(t, [lo_ms, hi_ms])
            label = f"jeffress-learn training {done}-{done + m} of {n}" if m < n else "jeffress-learn training"
            with BrianSession(device, label=label, progress=progress) as session:
                net = build_learning_jeffress(cp, stim, idx[a:b], t[a:b] - lo_ms, delta_ms=initial, learning=True,
                                              record_delta_every_ms=record_ms, state=state, time_offset_ms=lo_ms)
                session.run(net.network, m * slot_ms * b2.ms)
                records = np.asarray(net.delta_monitor.delta[:] / b2.ms).T      # (records, detectors)
                at = np.rint(np.asarray(net.delta_monitor.t[:] / b2.ms) / record_ms).astype(int) * tr.record_every
                state = detector_state(net, m * slot_ms)
                counts += np.bincount(np.asarray(net.detector_spikes.i[:]), minlength=cp.n_detectors)
                for key in timings:
                    timings[key] += session.timings.get(key, 0.0)
                del net
            gc.collect()   # free the chunk's names: the next chunk's code objects get the same ones (make skips them)
            history += list(records)
            labels += list(done + at)
            done += m
            chunk_meta = {"kind": CHECKPOINT_KIND, "done": done, "n": n, "fingerprint": training_fingerprint(config)}
            save_npz(path, meta=np.array(json.dumps(chunk_meta)), initial_delta_ms=initial,
                     delta_history_ms=np.asarray(history), history_presentation=np.asarray(labels),
                     spike_counts=counts, **{f"state_{k}": v for k, v in state.items()})
    finally:
        if build_root is not None:
            build_root.cleanup()
    delta = np.asarray(state["delta"]) * 1e3
    history_ms, labels = np.asarray(history, dtype=float), np.asarray(labels, dtype=int)
    if labels.size == 0 or labels[-1] != n:
        history_ms, labels = np.vstack([history_ms.reshape(-1, cp.n_detectors), delta[None]]), np.append(labels, n)
    return {"initial_delta_ms": np.asarray(initial, dtype=float), "delta_ms": delta, "theta": np.asarray(state["theta"]),
            "history_ms": history_ms, "history_presentation": labels, "spike_counts": counts,
            "wall_s": time.perf_counter() - t0, "timings": timings, "resumed_from": resumed_from}


def train_and_evaluate(config: JeffressLearnConfig = JeffressLearnConfig(), progress: bool = False) -> JeffressLearnResult:
    """Train, freeze, measure tuning curves, test (see the module docstring)."""
    from ..decoding import population_vector

    wall, cpu = {}, {}
    c0, t0 = _cpu(), time.perf_counter()
    trained = train(config, progress)
    wall["training"], cpu["training"] = time.perf_counter() - t0, _cpu() - c0
    wall["training_simulation"] = trained["timings"]["run"]

    ev, stim, seed = config.evaluation, config.stimulus, config.seed
    delta, theta = trained["delta_ms"], trained["theta"]
    c0, t0 = _cpu(), time.perf_counter()
    grid = -np.pi + 2 * np.pi * np.arange(ev.tuning_points) / ev.tuning_points
    tuning_tones = generate(stim, np.repeat(grid, ev.tuning_repeats), np.random.default_rng([seed, 2]))
    test = test_stimuli(stim, seed, ev.n_test)
    # one batch (one compilation): the tuning grid, then the test tones
    both = IPDStimulus(ipd=np.concatenate([tuning_tones.ipd, test.ipd]),
                       start_phase=np.concatenate([tuning_tones.start_phase, test.start_phase]),
                       spikes=np.concatenate([tuning_tones.spikes, test.spikes]), params=stim)
    rates = _run_frozen(config, both, delta, theta, "jeffress-learn evaluation", progress, [seed, 3])
    n_tuning = tuning_tones.ipd.size
    tuning = rates[:n_tuning].reshape(ev.tuning_points, ev.tuning_repeats, -1).mean(axis=1)
    best = population_vector(tuning.T, grid).angle
    best = np.where(np.isnan(best), delta_to_ipd(delta, stim.freq_hz), best)   # a silent detector: its delay
    test_rates = rates[n_tuning:]
    estimate = population_vector(test_rates, best).angle
    wall["evaluation"], cpu["evaluation"] = time.perf_counter() - t0, _cpu() - c0
    return JeffressLearnResult(
        config=config, initial_delta_ms=trained["initial_delta_ms"], delta_ms=delta, theta=theta,
        delta_history_ms=trained["history_ms"], history_presentation=trained["history_presentation"],
        train_spike_counts=trained["spike_counts"], tuning_ipd=grid, tuning_rates_hz=tuning, best_ipd=best,
        test_ipd=test.ipd, test_rates_hz=test_rates, estimate=estimate, wall_s=wall, cpu_s=cpu,
        resumed_from=trained["resumed_from"])


def summary(result: JeffressLearnResult) -> dict:
    """Plain, JSON-ready figures: MAE, coverage, best IPDs, delays, times."""
    err = np.abs(np.degrees(result.error))
    decoded = ~np.isnan(err)
    freq = result.config.stimulus.freq_hz
    cov = coverage(result.best_ipd)
    # the same decoder on the tuning curves' mean rates at each test IPD: the error left without the
    # test tones' spike-count noise (tiling and decoder only)
    from ..decoding import population_vector

    mean_rates = tuning_rates_at(result.tuning_ipd, result.tuning_rates_hz, result.test_ipd)
    noise_free = np.abs(np.degrees(wrap_angle(population_vector(mean_rates, result.best_ipd).angle - result.test_ipd)))
    return {
        "mae_deg": float(np.nanmean(err)) if decoded.any() else None,
        "median_abs_error_deg": float(np.nanmedian(err)) if decoded.any() else None,
        "fraction_within_7.5_deg": float(np.mean(np.where(decoded, err, np.inf) <= 7.5)),
        "fraction_silent": float(np.mean(~decoded)),
        "mae_tuning_rates_deg": float(np.nanmean(noise_free)) if not np.isnan(noise_free).all() else None,
        "mean_test_rate_hz": float(np.mean(result.test_rates_hz)),
        "n_test": int(err.size),
        "coverage": cov,
        "targets": {"max_gap_le_20_deg": cov["max_gap_deg"] <= 20.0,
                    "mae_le_5_deg": bool(decoded.any() and np.nanmean(err) <= 5.0),
                    "training_cpu_le_600_s": result.cpu_s["training"] <= 600.0},
        "best_ipd_deg": np.round(np.degrees(result.best_ipd), 3).tolist(),
        "delay_ipd_deg": np.round(np.degrees(delta_to_ipd(result.delta_ms, freq)), 3).tolist(),
        "initial_delta_ms": np.round(result.initial_delta_ms, 4).tolist(),
        "learned_delta_ms": np.round(result.delta_ms, 4).tolist(),
        "train_spikes_per_detector": result.train_spike_counts.astype(int).tolist(),
        "seed": result.config.seed,
        "init": result.config.circuit.init,
        "resumed_from_presentation": result.resumed_from,
        "config": {"circuit": asdict(result.config.circuit), "training": asdict(result.config.training),
                   "evaluation": asdict(result.config.evaluation), "device": result.config.device.name,
                   "stimulus": {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                                for k, v in asdict(result.config.stimulus).items()}},
        "wall_s": {k: round(float(v), 3) for k, v in result.wall_s.items()},
        "cpu_s": {k: round(float(v), 3) for k, v in result.cpu_s.items()},
    }
