"""Surrogate-gradient IPD training experiments: train, evaluate, analyse.

Plain functions taking configuration dataclasses (used by ``brainsim ipd``, the ``ipd`` and
``ipd-evaluate`` sweeps, the bench and the tests). Protocol of the seeds (000/002): 4096 training
stimuli (64 batches of 64), 10 epochs, Adam with lr 0.01, 30 hidden LIF neurons, 12 classes, test on
2048 fresh stimuli. The parameter surface:

``IPDProtocol``     what is trained (its network, a :class:`~brainsim.netspec.NetConfig`, nested) and
                    how; ``PRESETS`` holds the documented ones, :func:`protocol_from` a preset with
                    fields overridden by their flat names (``hidden``, ``readout``, ``epochs``, ...)
``ProtocolChoice``  the preset and the shortcut ``tau_ms`` (both layers)
``IPDExecution``    where it runs (torch device, spiking-layer backend, torch threads)
``IPDEvaluation``   the test set of ``evaluate`` and ``analyse`` (seed, size) and torch threads

Random streams: the stimuli of :func:`brainsim.stimuli.ipd.training_stimuli` (``[S, 0]``, or
``[S, 0, epoch]`` with fresh data every epoch) and :func:`brainsim.stimuli.ipd.test_stimuli`
(``[S, 1]``), S the run's seed; batch order of epoch e ``[S, 2, e]``; weight initialisation a
torch.Generator seeded with S. ``brainsim ipd train --repeats`` runs on the sweep engine
(:func:`brainsim.sweeps.repeats.run_repeats`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from ..io import ensure_output_dir
from ..netspec.ipd import NetConfig
from ..netspec.modeldir import MANIFEST
from ..outdir import Overwrite, claim_output_dir
from ..params import check_fields, param, param_group, to_flat
from ..params import build as build_config
from ..progress import Progress, note
from ..stimuli.ipd import (DEFAULT_CLASSES, TUTORIAL, IPDClasses, IPDStimulusParams, test_stimuli,
                           training_stimuli)

if TYPE_CHECKING:  # annotations only: torch is imported when a network is trained
    from ..snn.models import IPDNet

CHECKPOINT = "checkpoint.pt"
LR_SCHEDULES = ("constant", "cosine")    # the schedules of brainsim.snn.training.OptimConfig
BACKENDS = ("auto", "native", "torch")


def torch_threads_param(**names):
    """The field of torch's thread count (``names``: its option and sweep names where they differ)."""
    return param(1, "torch threads", ge=1, **names)


@dataclass(frozen=True)
class IPDProtocol:
    """A training run: the network to train (``net``) and how to train and test it. Written to the
    manifest as ``protocol`` in flat form (:meth:`to_dict`). Raises UserError on invalid values.

    ``net.n_inputs``, ``net.n_classes`` and ``net.dt_ms`` are set from the stimulus and the classes
    when the network is built (:meth:`net_config`)."""

    net: NetConfig = param_group(NetConfig, "network")
    epochs: int = param(10, "training epochs", ge=1)
    batch_size: int = param(64, "batch size", ge=1)
    n_train: int = param(4096, "training stimuli", ge=1)
    n_test: int = param(2048, "test stimuli", ge=1)
    fresh_data: bool = param(False, "new training stimuli every epoch")
    lr: float = param(0.01, "Adam learning rate", gt=0)
    lr_schedule: str = param("constant", "learning-rate schedule: constant or cosine (to 5 % of lr)",
                             choices=LR_SCHEDULES)
    plain_ears: bool = param(False, "train and test on plain ears (no fibre phase delays: learnable delays, if any, "
                             "must do all the work)")
    seed: int = param(0, "random seed (stimuli, batch order, initial weights)", ge=0)
    preset: str = param("seed", "the preset this protocol starts from (PRESETS)", cli="")

    def __post_init__(self):
        check_fields(self)
        if self.batch_size > self.n_train:
            raise UserError(f"batch size {self.batch_size} is larger than the training set ({self.n_train})")

    def stimulus(self, base: IPDStimulusParams = TUTORIAL) -> IPDStimulusParams:
        """The stimulus this protocol trains on: ``base``, without fibre phase delays for plain ears."""
        return replace(base, phase_delays=False) if self.plain_ears else base

    def net_config(self, stimulus: IPDStimulusParams = TUTORIAL, classes: IPDClasses = DEFAULT_CLASSES) -> NetConfig:
        """The network to build for ``stimulus`` and ``classes``."""
        return replace(self.net, n_inputs=stimulus.n_fibres, n_classes=classes.n_classes, dt_ms=stimulus.dt_ms)

    def optim_config(self):
        """The optimiser settings of :func:`brainsim.snn.training.train_epochs` (imports torch)."""
        from ..snn.training import OptimConfig

        return OptimConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, lr_schedule=self.lr_schedule)

    def to_dict(self) -> dict:
        """Flat form: the protocol's sweepable fields by their flat names (``hidden``, ``readout``,
        ``epochs``, ...; the network's sizes and discretisation, set from the stimulus, left out)."""
        return {k: v for k, v in to_flat(self).items() if k in _PROTOCOL_NAMES}


def _protocol_names() -> tuple[str, ...]:
    from ..params import flat_params

    return tuple(p.name for p in flat_params(IPDProtocol) if p.info.sweep is not False)


_PROTOCOL_NAMES = _protocol_names()


@dataclass(frozen=True)
class IPDExecution:
    """Where a training runs (not what it computes)."""

    device: str = param("cpu", "torch device: cpu or cuda", choices=("cpu", "cuda"))
    backend: str = param("auto", "spiking layers: auto (native numba kernels on the CPU, the plain torch loop on "
                         "CUDA), native or torch", choices=BACKENDS)
    threads: int = torch_threads_param(cli="--threads", sweep="torch_threads")
    deterministic: bool = param(False, "one torch thread and torch's deterministic algorithms (cuBLAS, cuDNN): "
                                "for --device cuda; CPU training repeats bit for bit without it "
                                "(docs/ipd_training.md)")

    def __post_init__(self):
        check_fields(self)
        if self.device == "cuda" and self.backend == "native":
            raise UserError("the native backend runs on the CPU; use --backend torch or auto with --device cuda")
        if self.deterministic and self.threads != 1:
            raise UserError("--deterministic trains with one torch thread; leave out --threads")


@dataclass(frozen=True)
class IPDEvaluation:
    """The fresh test stimuli a saved model is scored on (stream ``[seed, 1]``), and torch threads."""

    seed: int = param(0, "seed of the test stimuli", ge=0, sweep=False)
    n_test: int = param(2048, "test stimuli", ge=1)
    threads: int = torch_threads_param(cli="--threads", sweep="torch_threads")

    def __post_init__(self):
        check_fields(self)


def protocol_from(preset: str, tau_ms: float | None = None, **overrides) -> IPDProtocol:
    """The preset's protocol with the given (non-None) fields replaced, by their flat names
    (:meth:`IPDProtocol.to_dict`: ``hidden``, ``readout``, ``epochs``, ...); ``tau_ms`` (ms) sets both
    layers' time constants where ``tau_hidden_ms`` / ``tau_out_ms`` are not given. UserError if invalid."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(changes) - (set(_PROTOCOL_NAMES) - {"preset"}))
    if unknown:
        raise UserError(f"protocol_from(): unknown protocol field {unknown[0]!r}")
    if tau_ms is not None:
        changes.setdefault("tau_hidden_ms", tau_ms)
        changes.setdefault("tau_out_ms", tau_ms)
    return build_config(IPDProtocol, {**changes, "preset": preset}, base=PRESETS[preset])


PRESETS: dict[str, IPDProtocol] = {
    # The tutorial's protocol exactly (seeds 000/002): oc readout, tau 20 ms, 30 hidden, 10 epochs of
    # 64 batches of 64, Adam lr 0.01, tested on 32 batches of 64 fresh stimuli.
    "seed": IPDProtocol(),
    # Documented recipe (docs/ipd_training.md): 90.1-90.4 % on 8192 fresh test stimuli, at the
    # ceiling of this network family. 128 hidden neurons with tau 1 ms (sharp coincidence detection),
    # output tau 2 ms (the oc mean then weighs every time step almost equally), 40 epochs of 8192
    # fresh stimuli each, batch 128, Adam lr 0.005 with cosine decay; scored on 8192 test stimuli
    # (2048 would leave a standard error of 0.7 points).
    "best": IPDProtocol(net=NetConfig(readout="oc", n_hidden=128, tau_hidden_ms=1.0, tau_out_ms=2.0), preset="best",
                        epochs=40, batch_size=128, n_train=8192, n_test=8192, fresh_data=True, lr=0.005,
                        lr_schedule="cosine"),
}
# Learnable input-to-hidden delays (issue 16; docs/ipd_training.md, "Learned delays"): the best
# recipe with DCLS-style delays of up to 20 ms, on the tutorial's input and on plain ears.
# 64 hidden and 20 epochs: the delay convolution makes a step ~10x dearer than best's.
PRESETS["delays"] = replace(PRESETS["best"], net=replace(PRESETS["best"].net, n_hidden=64, learn_delays=True),
                            epochs=20, preset="delays")
PRESETS["delays-plain"] = replace(PRESETS["delays"], plain_ears=True, preset="delays-plain")


@dataclass(frozen=True)
class ProtocolChoice:
    """Which protocol ``ipd train`` (and the ``ipd`` sweep) trains: a preset, both layers' time
    constant at once if ``tau_ms`` is given; any protocol field given by name overrides further."""

    preset: str = param("seed", "seed (the tutorial's protocol exactly), best (the documented 90 % recipe), delays "
                        "(best with learnable delays) or delays-plain (the same on plain ears)",
                        choices=tuple(PRESETS))
    tau_ms: float | None = param(None, "membrane time constant of both layers (none: the preset's; "
                                 "tau_hidden_ms / tau_out_ms win)", unit="ms", gt=0)

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """What :func:`train_ipd` returns: the trained model (on the CPU), the training curve (one dict
    per epoch), the scores (accuracies as fractions, errors in degrees), wall and CPU seconds of the
    training loop, the manifest written to the model directory, and the test metrics (with the
    confusion matrix)."""

    model: IPDNet
    history: list[dict]
    scores: dict
    train_seconds: float
    train_cpu_seconds: float
    manifest: dict
    test_metrics: dict


# --- training ---------------------------------------------------------------------------------------

def _machine(device: str = "cpu") -> dict:
    """What a bit-exact repeat of a CPU training run needs besides the versions (recorded in its
    manifest): torch dispatches its kernels by the CPU's vector instruction set (AVX2, AVX512, ...),
    and even processors of one instruction set round differently (docs/ipd_training.md, "Determinism")."""
    import platform

    import torch

    from ..snn.determinism import cpu_identity

    machine = {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "architecture": platform.machine(),
               "cpu": cpu_identity()}
    if device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    return machine


def _set_threads(threads: int | None):
    """``threads`` torch threads in this process."""
    import torch

    torch.set_num_threads(max(1, int(threads or 1)))


def _versions() -> dict:
    """Versions of what trained a model (recorded in its manifest)."""
    import platform

    import numba
    import torch

    from .. import __version__

    return {"brainsim": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "numba": numba.__version__}


def _save_checkpoint(path: Path, model, optimizer, history, protocol: IPDProtocol, cpu_s: float, wall_s: float):
    from ..snn.training import save_checkpoint

    save_checkpoint(path, model, optimizer, history, protocol=protocol.to_dict(), cpu_s=cpu_s, wall_s=wall_s)


def _checkpoint_to_resume(path: Path, protocol: IPDProtocol, model, *, resume: bool, force: bool, label: str):
    """The checkpoint state to continue from (None: train from epoch 0). A checkpoint without
    ``resume`` is refused unless ``force`` (then it is discarded); with ``resume``, a damaged one, one
    of another protocol, or one whose tensors or optimizer state do not fit ``model`` is refused."""
    from ..snn.training import checkpoint_to_resume, state_misfit

    state = checkpoint_to_resume(path, resume=resume, force=force, label=label, what="training",
                                 fresh="training from epoch 0", read=read_checkpoint)
    if state is None:
        return None
    if state["protocol"] != protocol.to_dict():
        raise UserError(f"{path} is a checkpoint of another protocol (it was made with other options): "
                        "resume with the options it was started with, or give --force to start over")
    problem = state_misfit(state, model)
    if problem:
        raise UserError(f"{path} cannot be resumed: {problem}; give --force to start over")
    return state


def read_checkpoint(path) -> dict:
    """The training state in an ``ipd train`` checkpoint (``checkpoint.pt``): ``protocol`` (flat, as
    :meth:`IPDProtocol.to_dict`), ``model`` and ``optimizer`` (torch state dicts), ``history`` (one
    record per finished epoch), ``cpu_s`` and ``wall_s`` (training time so far).

    Read with ``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary
    pickled objects. A missing, damaged or foreign file is one UserError line naming it."""
    from ..snn.training import load_checkpoint

    state = load_checkpoint(path)
    problem = _checkpoint_problem(state)
    if problem:
        raise UserError(f"{path} is not an ipd train checkpoint: {problem}")
    return state


_CHECKPOINT_KEYS = ("protocol", "model", "optimizer", "history", "cpu_s", "wall_s")


def _checkpoint_problem(state) -> str | None:
    """What is wrong with the contents of a loaded checkpoint (None: nothing)."""
    from ..snn.training import training_state_problem

    def number(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    def scalar(x) -> bool:
        return x is None or isinstance(x, (bool, int, float, str))

    if not isinstance(state, dict):
        return f"holds a {type(state).__name__}, not a dict"
    missing = [k for k in _CHECKPOINT_KEYS if k not in state]
    if missing:
        return f"no {missing[0]!r}"
    protocol = state["protocol"]
    if not isinstance(protocol, dict) or not all(
            isinstance(k, str) and (scalar(v) or isinstance(v, (list, tuple)) and all(map(scalar, v)))
            for k, v in protocol.items()):
        return "'protocol' is not a dict of plain values"
    problem = training_state_problem(state)
    if problem:
        return problem
    if not (number(state["cpu_s"]) and number(state["wall_s"])):
        return "'cpu_s' or 'wall_s' is not a number"
    return None


def train_ipd(protocol: IPDProtocol, out_dir=None, *, execution: IPDExecution = IPDExecution(),
              progress: bool = True, command: str | None = None, stimulus: IPDStimulusParams = TUTORIAL,
              label: str = "train", resume: bool = False, allow: Overwrite = Overwrite()) -> TrainingResult:
    """Train one network on ``stimulus`` (without its fibre phase delays if ``protocol.plain_ears``). ``progress``: a bar over the batches on a terminal, one line
    per epoch otherwise. ``train_seconds`` is the wall time of the training loop.

    With ``out_dir``: write the model directory there, with a checkpoint after every epoch. The
    directory is claimed (:func:`brainsim.outdir.claim_output_dir`): a finished model in it is refused
    unless ``allow`` says otherwise, and a second process is kept out. A checkpoint left by an
    interrupted run is continued with ``resume`` (same protocol, same result as an uninterrupted run),
    discarded with ``allow.force``, and refused otherwise."""
    if out_dir is None:
        return _train_ipd(protocol, None, execution, progress, command, stimulus, label, resume=False, force=False)
    with claim_output_dir(out_dir, finished=(MANIFEST,), allow=allow, what="a trained model") as directory:
        return _train_ipd(protocol, directory, execution, progress, command, stimulus, label, resume=resume,
                          force=allow.force or allow.shipped)


def _train_ipd(protocol: IPDProtocol, out_dir: Path | None, execution: IPDExecution, progress: bool,
               command: str | None, stimulus: IPDStimulusParams, label: str, *, resume: bool,
               force: bool) -> TrainingResult:
    import torch

    from ..netspec.modeldir import write_model
    from ..snn.determinism import deterministic_torch
    from ..snn.metrics import classification_metrics, predicted_classes
    from ..snn.models import IPDNet
    from ..snn.training import predict, train_epochs

    device, backend, threads = execution.device, execution.backend, execution.threads
    stimulus = protocol.stimulus(stimulus)
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here")
    _set_threads(threads)

    model = IPDNet(protocol.net_config(stimulus, DEFAULT_CLASSES), seed=protocol.seed, backend=backend)
    optim = protocol.optim_config()
    start_epoch, history, optimizer_state, cpu_before, wall_before = 0, [], None, 0.0, 0.0
    checkpoint_path = out_dir / CHECKPOINT if out_dir is not None else None
    if checkpoint_path is not None:
        state = _checkpoint_to_resume(checkpoint_path, protocol, model, resume=resume, force=force, label=label)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer_state, history = state["optimizer"], state["history"]
            start_epoch = len(history)
            cpu_before, wall_before = state["cpu_s"], state["wall_s"]
            note(f"{label}: resuming from epoch {start_epoch} of {protocol.epochs} (checkpoint {checkpoint_path})")

    cache: dict = {}

    def epoch_data(epoch: int):
        key = epoch if protocol.fresh_data else 0
        if key not in cache:
            cache.clear()
            stim = training_stimuli(stimulus, protocol.seed, protocol.n_train, key if protocol.fresh_data else None)
            cache[key] = (stim.spikes, DEFAULT_CLASSES.to_class(stim.ipd), stim.ipd)
        return cache[key][:2]

    n_batches = protocol.n_train // protocol.batch_size
    if not protocol.fresh_data:
        epoch_data(0)  # generate the fixed training set before the clock starts, as the seeds do
    if backend in ("auto", "native") and device == "cpu":
        from ..snn.native import warm_up

        warm_up()  # numba compilation (cached on disk) is not training time
    bar = Progress(n_batches * (protocol.epochs - start_epoch), label, "batches", enabled=progress)
    timer = {"cpu": 0.0, "wall": 0.0}
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def on_epoch_end(epoch, hist, optimizer):
        record = hist[-1]
        bar.log(f"{label} epoch {epoch + 1}/{protocol.epochs}: loss {record['loss']:.4f}, train batch accuracy "
                f"{100 * record['train_batch_accuracy']:.1f} %, {record['seconds']:.1f} s")
        if checkpoint_path is not None and epoch + 1 < protocol.epochs:
            _save_checkpoint(checkpoint_path, model, optimizer, hist, protocol,
                             cpu_before + time.process_time() - cpu0, wall_before + time.perf_counter() - wall0)

    with deterministic_torch(execution.deterministic):
        history = train_epochs(model, epoch_data, optim, seed=protocol.seed, device=device, start_epoch=start_epoch,
                               optimizer_state=optimizer_state, history=history, on_epoch_end=on_epoch_end,
                               on_batch_end=bar.advance)
    timer["cpu"] = cpu_before + time.process_time() - cpu0
    timer["wall"] = wall_before + time.perf_counter() - wall0
    bar.finish()

    model.to("cpu")
    train_spikes, _ = epoch_data(protocol.epochs - 1 if protocol.fresh_data else 0)
    train_ipd_rad = cache[next(iter(cache))][2]
    train_scores = predict(model, train_spikes)["scores"]
    train_metrics = classification_metrics(train_ipd_rad, predicted_classes(train_scores))
    test = test_stimuli(stimulus, protocol.seed, protocol.n_test)
    test_out = predict(model, test.spikes, keep_traces=True)
    test_metrics = classification_metrics(test.ipd, predicted_classes(test_out["scores"]))
    seed_decoder = (None if protocol.net.readout == "pop"
                    else classification_metrics(test.ipd, predicted_classes(test_out["output"].sum(axis=1))))

    scores = {
        "train_accuracy": train_metrics["accuracy"], "train_mae_deg": train_metrics["mae_deg"],
        "test_accuracy": test_metrics["accuracy"], "test_mae_deg": test_metrics["mae_deg"],
        "test_mae_class_deg": test_metrics["mae_class_deg"], "n_test": test_metrics["n"],
        "test_seed": protocol.seed,
        # the seeds' analysis predicts argmax_c sum_t output (for every readout, max included)
        "test_accuracy_seed_decoder": seed_decoder["accuracy"] if seed_decoder else None,
    }
    manifest = {
        "command": command, "seed": protocol.seed, "protocol": protocol.to_dict(),
        "stimulus": asdict(stimulus), "classes": asdict(DEFAULT_CLASSES),
        "scores": scores, "train_seconds": timer["wall"], "train_cpu_seconds": timer["cpu"],
        "device": device, "backend": backend, "threads": threads, "deterministic": bool(execution.deterministic),
        "test_confusion": test_metrics["confusion"].tolist(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": _versions(),
        "machine": _machine(device),
    }
    if out_dir is not None:
        write_model(out_dir, model.to_spec(stimulus, DEFAULT_CLASSES, source=str(out_dir)), manifest, history)
        if checkpoint_path.exists():
            checkpoint_path.unlink()
    return TrainingResult(model=model, history=history, scores=scores, train_seconds=timer["wall"],
                          train_cpu_seconds=timer["cpu"], manifest=manifest, test_metrics=test_metrics)


# --- evaluation -------------------------------------------------------------------------------------

def evaluate_model(model_dir, params: IPDEvaluation = IPDEvaluation()) -> dict:
    """Accuracy (fraction), mean absolute errors (deg) and confusion matrix (rows: true class) of a
    saved model on ``params.n_test`` fresh test stimuli (stream ``[params.seed, 1]``). JSON-ready dict."""
    from ..snn.inference import load_model, run_model
    from ..snn.metrics import classification_metrics, predicted_classes

    _set_threads(params.threads)
    loaded = load_model(model_dir)
    test = test_stimuli(loaded.stimulus, params.seed, params.n_test)
    out = run_model(loaded, test.spikes)
    metrics = classification_metrics(test.ipd, predicted_classes(out["scores"]), loaded.classes)
    result = {"model": str(model_dir), "seed": params.seed, "n_test": metrics["n"],
              "accuracy": metrics["accuracy"], "mae_deg": metrics["mae_deg"],
              "mae_class_deg": metrics["mae_class_deg"], "chance_accuracy": 1.0 / loaded.classes.n_classes,
              "confusion": metrics["confusion"].tolist(),
              "readout": loaded.model.config.readout, "model_kind": loaded.model.config.model}
    return result


# --- analysis figures -------------------------------------------------------------------------------

def analyse_model(model_dir, out_dir=None, params: IPDEvaluation = IPDEvaluation()) -> dict:
    """Write the seeds' analysis figures for a saved model into ``out_dir``, computed on the test
    stimuli of ``params``; returns the figure paths, accuracy and error (deg).

    The default ``out_dir`` is ``<model name>_analysis`` in the current directory: never the model
    directory itself, so analysing a shipped model leaves ``models/`` untouched.
    """
    from ..plotting import ipd as plots
    from ..snn.inference import load_model, run_model
    from ..snn.metrics import classification_metrics, predicted_classes

    _set_threads(params.threads)
    loaded = load_model(model_dir)
    if out_dir is None:
        out_dir = Path.cwd() / f"{Path(model_dir).resolve().name}_analysis"
    out_dir = ensure_output_dir(out_dir, "--out")
    test = test_stimuli(loaded.stimulus, params.seed, params.n_test)
    out = run_model(loaded, test.spikes)
    predicted = predicted_classes(out["scores"])
    metrics = classification_metrics(test.ipd, predicted, loaded.classes)
    spec, config = loaded.spec, loaded.spec.net
    figures = {
        "loss_curve": plots.loss_curve(loaded.manifest.get("training_curve", []), out_dir / "loss_curve.png"),
        "ipd_histograms": plots.ipd_histograms(test.ipd, loaded.classes.to_ipd(predicted), loaded.classes,
                                               out_dir / "ipd_histograms.png"),
        "confusion": plots.confusion_matrix(metrics["confusion"], loaded.classes, out_dir / "confusion.png"),
        "output_traces": plots.output_traces(out["output"], test.ipd, predicted, config, loaded.classes,
                                             out_dir / "output_traces.png"),
    }
    if spec.has_hidden:
        figures["weights"] = plots.weight_matrices(spec.W1, spec.W2, out_dir / "weights.png")
        figures["weights_sorted"] = plots.weights_sorted(spec.W1, spec.W2, out_dir / "weights_sorted.png")
        figures["w1_ear_profiles"] = plots.w1_ear_profiles(spec.W1, loaded.stimulus, out_dir / "w1_ear_profiles.png")
    delay_result = {}
    if spec.delay_steps is not None:
        dmap = delay_map(spec, out["hidden_spikes"], test.ipd)
        figures["learned_delays"] = plots.learned_delays(spec.delay_steps * spec.net.dt_ms, loaded.stimulus.fibre_ear,
                                                         dmap, out_dir / "learned_delays.png")
        delay_result = {"jeffress_correlation": dmap["correlation"], "tuned_neurons": len(dmap["best_itd_ms"])}
    if not spec.has_hidden:
        figures["weights"] = plots.single_weight_matrix(spec.W2, out_dir / "weights.png")
    return {"figures": {k: str(v) for k, v in figures.items()}, "accuracy": metrics["accuracy"],
            "mae_deg": metrics["mae_deg"], "out_dir": str(out_dir), **delay_result}


#: Synaptic weight of the hand-wired Jeffress array: one ear alone stays below threshold with tau 1 ms;
#: the best readout of 0.005 .. 0.013 in a scan (docs/ipd_training.md, "The learned map against a
#: hand-wired Jeffress array").
JEFFRESS_ARRAY_WEIGHT = 0.007


def jeffress_array_spec(protocol: IPDProtocol, stimulus: IPDStimulusParams = TUTORIAL,
                        weight: float = JEFFRESS_ARRAY_WEIGHT, seed: int = 0):
    """A hand-wired Jeffress array in the network shape of ``protocol`` (its hidden size, time
    constants, readout, ``max_delay_ms``), for comparison with learned delays: hidden neuron j is a
    coincidence detector for the ITD D_j, the D_j evenly spaced over the classes' ITD range (clipped
    to +-max_delay). Every synapse has weight ``weight`` (:data:`JEFFRESS_ARRAY_WEIGHT`). Delays in whole
    steps: ear 0's synapses ``round(max_delay / 2 - D_j / 2)``, ear 1's that plus ``round(D_j)``, each
    plus the fibre's phase lead rounded (so that :func:`delay_map`'s effective delay difference is
    D_j to the step), clipped to 0 .. max_delay. The output weights are the untrained network's (seed
    ``seed``). Returns an :class:`~brainsim.netspec.ipd.IPDNetworkSpec` (float32 / int32 arrays)."""
    from ..snn.models import IPDNet

    stimulus = protocol.stimulus(stimulus)
    net = replace(protocol.net_config(stimulus, DEFAULT_CLASSES), learn_delays=True, tau_hetero=False)
    period_ms = 1e3 / stimulus.freq_hz
    itd_max_ms = min(max(abs(DEFAULT_CLASSES.low), abs(DEFAULT_CLASSES.high)) / (2 * np.pi) * period_ms,
                     net.max_delay_ms)
    itd_ms = np.linspace(-itd_max_ms, itd_max_ms, net.n_hidden)
    lead_ms = stimulus.fibre_phase_delays / (2 * np.pi) * period_ms
    # whole steps per ear first, so that the ear 1 - ear 0 difference is round(D_j) (odd ones included)
    difference = np.round(itd_ms / net.dt_ms)
    ear0 = np.round((net.max_delay_ms / 2 - itd_ms / 2) / net.dt_ms)
    per_ear = np.where(stimulus.fibre_ear[:, None] == 0, ear0[None, :], (ear0 + difference)[None, :])
    delay_steps = np.clip(per_ear + np.round(lead_ms / net.dt_ms)[:, None], 0, net.max_delay_steps).astype(np.int32)
    untrained = IPDNet(net, seed=seed).to_spec(stimulus, DEFAULT_CLASSES)
    return replace(untrained, W1=np.full((net.n_inputs, net.n_hidden), weight, np.float32), delay_steps=delay_steps,
                   source="hand-wired Jeffress array")


def train_network(model, protocol: IPDProtocol, stimulus: IPDStimulusParams, progress: bool = False) -> dict:
    """Train the parameters of ``model`` that require gradients with ``protocol``'s optimiser, epochs
    and training stimuli of ``stimulus`` (streams ``[seed, 0(, epoch)]``), then score it on
    ``protocol.n_test`` fresh test stimuli (stream ``[seed, 1]``). For networks that ``ipd train``
    does not build (a hand-wired array, issue 5's delay layer). Returns ``test_accuracy`` (fraction),
    ``test_mae_deg``, ``hidden_spikes`` and ``test_ipd`` (for :func:`delay_map`)."""
    import torch

    from ..snn.metrics import classification_metrics, predicted_classes
    from ..snn.training import predict, train_epochs

    def epoch_data(epoch: int):
        stim = training_stimuli(stimulus, protocol.seed, protocol.n_train, epoch if protocol.fresh_data else None)
        return stim.spikes, DEFAULT_CLASSES.to_class(stim.ipd)

    torch.manual_seed(protocol.seed)
    with Progress(protocol.epochs, "train:", "epochs", enabled=progress) as bar:
        train_epochs(model, epoch_data, protocol.optim_config(), seed=protocol.seed,
                     on_epoch_end=lambda epoch, hist, optimizer: bar.update(epoch + 1))
    test = test_stimuli(stimulus, protocol.seed, protocol.n_test)
    out = predict(model, test.spikes, keep_traces=True)
    metrics = classification_metrics(test.ipd, predicted_classes(out["scores"]))
    return {"test_accuracy": metrics["accuracy"], "test_mae_deg": metrics["mae_deg"],
            "hidden_spikes": out["hidden_spikes"], "test_ipd": test.ipd}


def train_readout(spec, protocol: IPDProtocol, progress: bool = False) -> dict:
    """Train only the output layer of ``spec`` (its hidden layer and delays frozen: a hand-wired
    array, :func:`jeffress_array_spec`) by :func:`train_network` on ``spec.stimulus``. Returns
    :func:`train_network`'s dict and ``spec``, the trained network."""
    from ..snn.models import IPDNet

    model = IPDNet.from_spec(spec)
    frozen = [model.W1, model.tau_hidden.tau_ms] + ([model.delay_raw] if spec.delay_steps is not None else [])
    for tensor in frozen:
        tensor.requires_grad_(False)
    result = train_network(model, protocol, spec.stimulus, progress)
    return {**result, "spec": model.to_spec(spec.stimulus, DEFAULT_CLASSES, source=spec.source)}


def delay_map(spec, hidden_spikes: np.ndarray, ipd_rad: np.ndarray, n_bins: int = 12) -> dict:
    """The Jeffress reading of a network with learned delays. Per hidden neuron and ear, the
    effective delay (ms) is the mean over its excitatory synapses (weighted by W1 > 0) of the learned
    delay minus the fibre's phase lead (phase delay / 2 pi f). The Jeffress model predicts that the
    neuron fires most for the ITD (ear 1 leading; ITD = IPD / 2 pi f) equal to its ear 1 - ear 0
    effective delay difference. The best ITD is the centre of the IPD bin (``n_bins`` over the
    stimuli's range) with the highest mean spike count; silent neurons, and neurons whose rate
    varies by less than 10 % over the bins, are left out. Returns lists ``delay_difference_ms``,
    ``best_itd_ms``, ``neurons`` and their Pearson ``correlation`` (nan with fewer than 3)."""
    stim = spec.stimulus
    period_ms = 1e3 / stim.freq_hz
    lead_ms = stim.fibre_phase_delays / (2 * np.pi) * period_ms
    effective = spec.delay_steps * spec.net.dt_ms - lead_ms[:, None]          # (n_inputs, n_hidden)
    weight = np.clip(spec.W1, 0.0, None)
    ear = stim.fibre_ear
    means = []
    for e in (0, 1):
        w = weight[ear == e]
        means.append((w * effective[ear == e]).sum(axis=0) / np.maximum(w.sum(axis=0), 1e-12))
    difference = means[1] - means[0]
    counts = hidden_spikes.sum(axis=1)                                      # (samples, n_hidden)
    edges = np.linspace(ipd_rad.min(), ipd_rad.max() + 1e-9, n_bins + 1)
    which = np.clip(np.digitize(ipd_rad, edges) - 1, 0, n_bins - 1)
    tuning = np.stack([counts[which == b].mean(axis=0) if np.any(which == b) else np.zeros(counts.shape[1])
                       for b in range(n_bins)])                              # (bins, n_hidden)
    centres_ms = 0.5 * (edges[1:] + edges[:-1]) / (2 * np.pi) * period_ms
    peak, low = tuning.max(axis=0), tuning.min(axis=0)
    tuned = np.flatnonzero((peak > 0) & (peak - low > 0.1 * peak) & (weight.sum(axis=0) > 0))
    best = centres_ms[tuning.argmax(axis=0)][tuned]
    diff = difference[tuned]
    enough = len(tuned) >= 3 and diff.std() > 0 and best.std() > 0
    corr = float(np.corrcoef(diff, best)[0, 1]) if enough else float("nan")
    return {"delay_difference_ms": diff.tolist(), "best_itd_ms": best.tolist(), "neurons": tuned.tolist(),
            "correlation": corr}
