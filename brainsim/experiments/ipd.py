"""Surrogate-gradient IPD training experiments: train, evaluate, analyse, repeats.

Plain functions taking parameters and returning plain dicts (used by ``brainsim ipd``, the bench and
the tests). Protocol of the seeds (000/002): 4096 training stimuli (64 batches of 64), 10 epochs,
Adam with lr 0.01, 30 hidden LIF neurons, 12 classes, test on 2048 fresh stimuli.

Random streams (``numpy.random.default_rng``), all derived from the run's seed S:
    training stimuli      [S, 0]           (or [S, 0, epoch] with fresh data every epoch)
    test stimuli          [S, 1]           (``brainsim ipd evaluate --seed S`` uses the same stream)
    batch order of epoch e [S, 2, e]
    weight initialisation torch.Generator seeded with S
Stimuli are those of :mod:`brainsim.stimuli.ipd` (one random start phase per stimulus).
"""
from __future__ import annotations

import csv
import io
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import atomic_path, write_text
from ..netspec.ipd import NetConfig
from ..stimuli.ipd import DEFAULT_CLASSES, TUTORIAL, IPDClasses, IPDStimulusParams, random_stimuli

CHECKPOINT = "checkpoint.pt"

# The protocol's network fields under their flat names (manifest "protocol", CLI options, sweeps,
# the repeats table): flat name -> NetConfig field.
NET_FIELDS = {"model": "model", "readout": "readout", "hidden": "n_hidden", "tau_hidden_ms": "tau_hidden_ms",
              "tau_out_ms": "tau_out_ms", "tau_hetero": "tau_hetero", "learn_tau": "learn_tau",
              "positive_weights": "positive_weights", "pop_per_class": "pop_per_class"}


@dataclass(frozen=True)
class IPDProtocol:
    """A training run: the network to train (``net``) and how to train and test it. Written to the
    manifest as ``protocol`` in flat form (:meth:`to_dict`).

    ``net.n_inputs``, ``net.n_classes`` and ``net.dt_ms`` are set from the stimulus and the classes
    when the network is built (:meth:`net_config`)."""

    net: NetConfig = field(default_factory=NetConfig)
    epochs: int = 10
    batch_size: int = 64
    n_train: int = 4096
    n_test: int = 2048
    fresh_data: bool = False        # new training stimuli every epoch
    lr: float = 0.01                # Adam learning rate
    lr_schedule: str = "constant"
    seed: int = 0
    preset: str = "seed"

    def validate(self) -> None:
        """UserError if a training option is invalid (the network validates itself)."""
        from ..snn.training import LR_SCHEDULES

        for name in ("epochs", "batch_size", "n_train", "n_test"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name.replace('_', '-')} must be a positive integer")
        if not (np.isfinite(float(self.lr)) and float(self.lr) > 0):
            raise UserError("lr must be a positive number")
        if self.batch_size > self.n_train:
            raise UserError(f"batch size {self.batch_size} is larger than the training set ({self.n_train})")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"unknown learning-rate schedule {self.lr_schedule!r} (constant or cosine)")

    def net_config(self, stimulus: IPDStimulusParams = TUTORIAL, classes: IPDClasses = DEFAULT_CLASSES) -> NetConfig:
        """The network to build for ``stimulus`` and ``classes``."""
        return replace(self.net, n_inputs=stimulus.n_fibres, n_classes=classes.n_classes, dt_ms=stimulus.dt_ms)

    def optim_config(self):
        from ..snn.training import OptimConfig

        return OptimConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, lr_schedule=self.lr_schedule)

    def to_dict(self) -> dict:
        """Flat form: the network fields of :data:`NET_FIELDS`, then the training fields."""
        training = asdict(self)
        del training["net"]
        return {**{flat: getattr(self.net, name) for flat, name in NET_FIELDS.items()}, **training}


def protocol_from(preset: str, **overrides) -> IPDProtocol:
    """The preset's protocol with the given (non-None) fields replaced, by their flat names
    (:meth:`IPDProtocol.to_dict`: ``hidden``, ``readout``, ``epochs``, ...). UserError if invalid."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    base = PRESETS[preset]
    known = set(base.to_dict()) - {"preset"}
    unknown = sorted(k for k in overrides if k not in known)
    if unknown:
        raise TypeError(f"protocol_from() got unknown fields: {', '.join(unknown)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    net = replace(base.net, **{NET_FIELDS[k]: v for k, v in changes.items() if k in NET_FIELDS})
    protocol = replace(base, net=net, preset=preset, **{k: v for k, v in changes.items() if k not in NET_FIELDS})
    protocol.validate()
    return protocol


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


# --- data -------------------------------------------------------------------------------------------

def training_stimuli(protocol: IPDProtocol, epoch: int = 0, stimulus: IPDStimulusParams = TUTORIAL):
    """The ``protocol.n_train`` training stimuli (of epoch ``epoch`` with fresh data): stream
    ``[seed, 0]`` (``[seed, 0, epoch]``)."""
    key = [protocol.seed, 0, epoch] if protocol.fresh_data else [protocol.seed, 0]
    return random_stimuli(stimulus, protocol.n_train, np.random.default_rng(key))


def test_stimuli(seed: int, n: int, stimulus: IPDStimulusParams = TUTORIAL):
    """``n`` test stimuli of stream ``[seed, 1]`` (what ``brainsim ipd evaluate --seed S`` uses)."""
    return random_stimuli(stimulus, n, np.random.default_rng([int(seed), 1]))


# --- progress ---------------------------------------------------------------------------------------

class _Progress:
    """progressbar2 bar on a terminal; one line per epoch otherwise (logs stay readable)."""

    def __init__(self, total_batches: int, epochs: int, label: str, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.epochs = epochs
        self.label = label
        self.done = 0
        if enabled and sys.stderr.isatty():
            import progressbar

            self.bar = progressbar.ProgressBar(max_value=total_batches, fd=sys.stderr, prefix=f"{label} ")

    def batch(self):
        self.done += 1
        if self.bar is not None:
            self.bar.update(min(self.done, self.bar.max_value))

    def epoch(self, epoch: int, record: dict):
        if self.enabled and self.bar is None:
            print(f"{self.label} epoch {epoch + 1}/{self.epochs}: loss {record['loss']:.4f}, "
                  f"train batch accuracy {100 * record['train_batch_accuracy']:.1f} %, "
                  f"{record['seconds']:.1f} s", file=sys.stderr, flush=True)

    def finish(self):
        if self.bar is not None:
            self.bar.finish()


# --- training ---------------------------------------------------------------------------------------

def _set_threads(threads: int | None):
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


def _machine(device: str = "cpu") -> dict:
    """What a bit-exact repeat of a CPU training run needs besides the versions (recorded in its
    manifest): torch dispatches its kernels by the CPU's vector instruction set (AVX2, AVX512, ...),
    and the two give other roundings (docs/ipd_training.md, "Determinism")."""
    import platform

    import torch

    machine = {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "architecture": platform.machine()}
    if device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    return machine


def _save_checkpoint(path: Path, model, optimizer, history, protocol: IPDProtocol, cpu_s: float, wall_s: float):
    import torch

    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"protocol": protocol.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "history": history, "cpu_s": cpu_s, "wall_s": wall_s}, tmp)


def _load_checkpoint(path: Path, protocol: IPDProtocol):
    import torch

    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - a damaged checkpoint is ignored (training restarts)
        return None
    if state.get("protocol") != protocol.to_dict():
        return None
    return state


def train_ipd(protocol: IPDProtocol, out_dir=None, *, device: str = "cpu", backend: str = "auto",
              threads: int | None = 1, progress: bool = True, command: str | None = None,
              stimulus: IPDStimulusParams = TUTORIAL, label: str = "train", deterministic: bool = False) -> dict:
    """Train one network. With ``out_dir``: checkpoint every epoch there (resumed if the protocol is
    the same) and write the model directory. Returns a dict with ``model``, ``history``, ``scores``,
    ``train_seconds`` (wall, training loop only), ``train_cpu_seconds`` and ``manifest``.
    ``deterministic``: one torch thread and torch's deterministic algorithms
    (:func:`brainsim.snn.determinism.deterministic_torch`; CPU training repeats without it)."""
    if deterministic:
        if threads not in (None, 1):
            raise UserError("--deterministic trains with one torch thread; leave out --threads")
        threads = 1
    import torch

    from ..netspec.modeldir import write_model
    from ..snn.determinism import deterministic_torch
    from ..snn.metrics import classification_metrics, predicted_classes
    from ..snn.models import IPDNet
    from ..snn.training import predict, train_epochs

    protocol.validate()
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here")
    if device == "cuda" and backend == "native":
        raise UserError("the native backend runs on the CPU; use --backend torch or auto with --device cuda")
    _set_threads(threads)
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    model = IPDNet(protocol.net_config(stimulus, DEFAULT_CLASSES), seed=protocol.seed, backend=backend)
    optim = protocol.optim_config()
    start_epoch, history, optimizer_state, cpu_before, wall_before = 0, [], None, 0.0, 0.0
    checkpoint_path = out_dir / CHECKPOINT if out_dir is not None else None
    if checkpoint_path is not None:
        state = _load_checkpoint(checkpoint_path, protocol)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer_state, history = state["optimizer"], state["history"]
            start_epoch = len(history)
            cpu_before, wall_before = state["cpu_s"], state["wall_s"]
            if progress:
                print(f"{label}: resuming from {checkpoint_path} after epoch {start_epoch}", file=sys.stderr)

    cache: dict = {}

    def epoch_data(epoch: int):
        key = epoch if protocol.fresh_data else 0
        if key not in cache:
            cache.clear()
            stim = training_stimuli(protocol, key, stimulus)
            cache[key] = (stim.spikes, DEFAULT_CLASSES.to_class(stim.ipd), stim.ipd)
        return cache[key][:2]

    n_batches = protocol.n_train // protocol.batch_size
    if not protocol.fresh_data:
        epoch_data(0)  # generate the fixed training set before the clock starts, as the seeds do
    if backend in ("auto", "native") and device == "cpu":
        from ..snn.native import warm_up

        warm_up()  # numba compilation (cached on disk) is not training time
    bar = _Progress(n_batches * (protocol.epochs - start_epoch), protocol.epochs, label, progress)
    timer = {"cpu": 0.0, "wall": 0.0}
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def on_epoch_end(epoch, hist, optimizer):
        bar.epoch(epoch, hist[-1])
        if checkpoint_path is not None and epoch + 1 < protocol.epochs:
            _save_checkpoint(checkpoint_path, model, optimizer, hist, protocol,
                             cpu_before + time.process_time() - cpu0, wall_before + time.perf_counter() - wall0)

    with deterministic_torch(deterministic):
        history = train_epochs(model, epoch_data, optim, seed=protocol.seed, device=device, start_epoch=start_epoch,
                               optimizer_state=optimizer_state, history=history, on_epoch_end=on_epoch_end,
                               on_batch_end=bar.batch)
    timer["cpu"] = cpu_before + time.process_time() - cpu0
    timer["wall"] = wall_before + time.perf_counter() - wall0
    bar.finish()

    model.to("cpu")
    train_spikes, _ = epoch_data(protocol.epochs - 1 if protocol.fresh_data else 0)
    train_ipd_rad = cache[next(iter(cache))][2]
    train_scores = predict(model, train_spikes)["scores"]
    train_metrics = classification_metrics(train_ipd_rad, predicted_classes(train_scores))
    test = test_stimuli(protocol.seed, protocol.n_test, stimulus)
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
        "device": device, "backend": backend, "threads": threads, "deterministic": bool(deterministic),
        "test_confusion": test_metrics["confusion"].tolist(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": _versions(),
        "machine": _machine(device),
    }
    if out_dir is not None:
        write_model(out_dir, model.to_spec(stimulus, DEFAULT_CLASSES, source=str(out_dir)), manifest, history)
        if checkpoint_path.exists():
            checkpoint_path.unlink()
    return {"model": model, "history": history, "scores": scores, "train_seconds": timer["wall"],
            "train_cpu_seconds": timer["cpu"], "manifest": manifest, "test_metrics": test_metrics}


# --- evaluation -------------------------------------------------------------------------------------

def evaluate_model(model_dir, seed: int = 0, n_test: int = 2048, threads: int | None = 1) -> dict:
    """Accuracy, mean absolute errors and confusion matrix of a saved model on fresh test stimuli
    (stream [seed, 1]). JSON-ready dict."""
    from ..snn.inference import load_model, run_model
    from ..snn.metrics import classification_metrics, predicted_classes

    if n_test < 1:
        raise UserError("n-test must be a positive integer")
    _set_threads(threads)
    loaded = load_model(model_dir)
    test = test_stimuli(seed, n_test, loaded.stimulus)
    out = run_model(loaded, test.spikes)
    metrics = classification_metrics(test.ipd, predicted_classes(out["scores"]), loaded.classes)
    result = {"model": str(model_dir), "seed": int(seed), "n_test": metrics["n"],
              "accuracy": metrics["accuracy"], "mae_deg": metrics["mae_deg"],
              "mae_class_deg": metrics["mae_class_deg"], "chance_accuracy": 1.0 / loaded.classes.n_classes,
              "confusion": metrics["confusion"].tolist(),
              "readout": loaded.model.config.readout, "model_kind": loaded.model.config.model}
    return result


# --- analysis figures -------------------------------------------------------------------------------

def analyse_model(model_dir, out_dir=None, seed: int = 0, n_test: int = 2048, threads: int | None = 1) -> dict:
    """Write the seeds' analysis figures for a saved model; returns the figure paths and metrics."""
    from ..plotting import ipd as plots
    from ..snn.inference import load_model, run_model
    from ..snn.metrics import classification_metrics, predicted_classes

    _set_threads(threads)
    loaded = load_model(model_dir)
    out_dir = Path(out_dir) if out_dir is not None else Path(model_dir) / "analysis"
    out_dir.mkdir(parents=True, exist_ok=True)
    test = test_stimuli(seed, n_test, loaded.stimulus)
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
    else:
        figures["weights"] = plots.single_weight_matrix(spec.W2, out_dir / "weights.png")
    return {"figures": {k: str(v) for k, v in figures.items()}, "accuracy": metrics["accuracy"],
            "mae_deg": metrics["mae_deg"], "out_dir": str(out_dir)}


# --- repeats ----------------------------------------------------------------------------------------

REPEAT_FIELDS = ["model", "readout", "tau_hidden_ms", "tau_out_ms", "hidden", "epochs", "n_train", "seed",
                 "train_accuracy", "test_accuracy", "train_mae_deg", "test_mae_deg", "test_mae_class_deg",
                 "test_accuracy_seed_decoder", "train_seconds", "train_cpu_seconds"]
REPEATS_CSV = "repeats.csv"


def _read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _run_key(row) -> tuple:
    return (str(row["model"]), str(row["readout"]), float(row["tau_hidden_ms"]), float(row["tau_out_ms"]),
            int(row["hidden"]), int(row["epochs"]), int(row["n_train"]), int(row["seed"]))


def run_repeats(protocols: list[IPDProtocol], repeats: int, out_dir, *, threads: int | None = 1,
                device: str = "cpu", backend: str = "auto", progress: bool = True, command: str | None = None,
                save_models: bool = True, deterministic: bool = False) -> dict:
    """Train every protocol with seeds ``p.seed .. p.seed + repeats - 1``; append one row per run to
    ``out_dir/repeats.csv`` (runs already there are skipped: the table is the checkpoint) and draw
    box plots. Returns the rows and the figure paths."""
    from ..plotting import ipd as plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / REPEATS_CSV
    rows = _read_rows(table)
    done = {_run_key(r) for r in rows}
    # seed-major order: an interrupted job has every condition equally covered
    runs = [replace(p, seed=p.seed + k) for k in range(repeats) for p in protocols]
    for i, protocol in enumerate(runs):
        flat = protocol.to_dict()
        row_base = {k: flat[k] for k in ("model", "readout", "tau_hidden_ms", "tau_out_ms", "hidden", "epochs",
                                         "n_train", "seed")}
        if _run_key(row_base) in done:
            continue
        net = protocol.net
        label = f"[{i + 1}/{len(runs)}] {net.readout} tau {net.tau_hidden_ms:g}/{net.tau_out_ms:g} ms seed {protocol.seed}"
        run_dir = out_dir / "runs" / f"{net.model}_{net.readout}_tau{net.tau_hidden_ms:g}-{net.tau_out_ms:g}_seed{protocol.seed}"
        result = train_ipd(protocol, run_dir if save_models else None, device=device, backend=backend,
                           threads=threads, progress=False, command=command, label=label,
                           deterministic=deterministic)
        s = result["scores"]
        row = {**row_base, "train_accuracy": s["train_accuracy"], "test_accuracy": s["test_accuracy"],
               "train_mae_deg": s["train_mae_deg"], "test_mae_deg": s["test_mae_deg"],
               "test_mae_class_deg": s["test_mae_class_deg"],
               "test_accuracy_seed_decoder": "" if s["test_accuracy_seed_decoder"] is None else s["test_accuracy_seed_decoder"],
               "train_seconds": result["train_seconds"], "train_cpu_seconds": result["train_cpu_seconds"]}
        rows.append({k: str(v) for k, v in row.items()})
        _write_rows(table, rows)
        if progress:
            print(f"{label}: test accuracy {100 * s['test_accuracy']:.1f} %, error {s['test_mae_deg']:.2f} deg, "
                  f"{result['train_seconds']:.1f} s", file=sys.stderr, flush=True)
    figures = plots.repeats_boxplots(group_by_condition(rows), out_dir / "repeats_accuracy.png",
                                     out_dir / "repeats_error.png")
    summary = summarise_repeats(rows)
    return {"rows": rows, "table": str(table), "figures": [str(f) for f in figures], "summary": summary}


def _write_rows(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=REPEAT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in REPEAT_FIELDS})
    write_text(path, buf.getvalue())


def condition_label(row) -> str:
    th, to = float(row["tau_hidden_ms"]), float(row["tau_out_ms"])
    tau = f"{th:g}ms" if th == to else f"{th:g}/{to:g}ms"
    prefix = "membrane " if row.get("model") == "membrane" else ""
    return f"{prefix}{row['readout']} {tau}"


def group_by_condition(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows of the repeats table by condition label, conditions in order of first appearance."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(condition_label(row), []).append(row)
    return groups


def summarise_repeats(rows: list[dict]) -> list[dict]:
    """Per condition: number of runs, median / mean / min / max of test accuracy, median error."""
    summary = []
    for label, group in group_by_condition(rows).items():
        acc = np.array([float(r["test_accuracy"]) for r in group])
        err = np.array([float(r["test_mae_deg"]) for r in group])
        summary.append({"condition": label, "runs": len(group), "test_accuracy_median": float(np.median(acc)),
                        "test_accuracy_mean": float(acc.mean()), "test_accuracy_min": float(acc.min()),
                        "test_accuracy_max": float(acc.max()), "test_accuracy_std": float(acc.std()),
                        "test_mae_deg_median": float(np.median(err))})
    return summary


def default_threads() -> int:
    """One torch thread: on this shared 2-core machine a second thread mostly adds contention."""
    return int(os.environ.get("BRAINSIM_THREADS", "1"))
