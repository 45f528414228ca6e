"""The IPD model directory: how a trained network is stored and read back (numpy only).

Layout (format :data:`FORMAT`, version :data:`FORMAT_VERSION`)::

    DIR/manifest.json        format, format_version, command, seed, protocol (how it was trained),
                             stimulus (IPDStimulusParams), classes (IPDClasses), scores (train / test
                             accuracy and errors), training time, versions, test confusion matrix,
                             net (NetConfig: model, readout, sizes, taus, threshold, surrogate slope,
                             dt_ms), training_curve
    DIR/weights.npz          W1 (n_inputs, n_hidden), W2 (n_hidden, n_out) [membrane-only: W2
                             (n_inputs, n_out), no W1], tau_hidden_ms (n_hidden,), tau_out_ms (n_out,),
                             float32; and alpha_hidden (n_hidden,), alpha_out (n_out,): the decay
                             factors exactly as torch used them (written by brainsim since the
                             network spec; absent in older directories, whose decay factors are then
                             computed from the time constants by
                             :func:`brainsim.netspec.ipd.decay_factor`); delay_steps (n_inputs,
                             n_hidden) int32, only for networks with learnable delays
                             (net.learn_delays): the input-to-hidden delays in time steps
    DIR/training_curve.csv   epoch, loss, train_batch_accuracy, lr, seconds

The manifest is written last, so a directory with a manifest is complete. Readers of version 1
ignore arrays they do not know, so directories with stored decay factors stay version 1. The
equations are those of :mod:`brainsim.netspec.ipd`; inputs are the dense spikes of
:mod:`brainsim.stimuli.ipd` with the manifest's stimulus parameters.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import load_npz, save_npz, write_json, write_text
from ..stimuli.ipd import IPDClasses, IPDStimulusParams
from .ipd import IPDNetworkSpec, NetConfig

FORMAT = "brainsim.ipd-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
CURVE = "training_curve.csv"


@dataclass(frozen=True, eq=False)
class SavedModel:
    """A model directory as read: the network, the whole manifest, and where it lies."""

    spec: IPDNetworkSpec
    manifest: dict
    directory: Path


def dataclass_from(cls, data: dict | None):
    """``cls(**data)`` with the keys ``cls`` does not know left out (manifests may carry more).
    Anything but a JSON object, or values ``cls`` refuses, raise UserError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except (TypeError, ValueError) as exc:   # wrong types reach comparisons in __post_init__
        raise UserError(f"invalid {cls.__name__}: {' '.join(str(exc).split())}") from None


def write_model(directory, spec: IPDNetworkSpec, manifest: dict, history: list[dict] | None = None) -> Path:
    """Write ``spec`` to ``directory`` (created if needed): weights.npz, training_curve.csv (when
    ``history`` has rows) and manifest.json (``manifest`` with format, version, the spec's net,
    stimulus and classes, and the training curve), each file atomically, the manifest last."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_npz(directory / WEIGHTS, **spec.arrays())
    if history:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(history[0].keys()))
        writer.writeheader()
        writer.writerows(history)
        write_text(directory / CURVE, buf.getvalue())
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest,
            "stimulus": asdict(spec.stimulus), "classes": asdict(spec.classes),
            "net": asdict(spec.net), "training_curve": history or []}
    write_json(directory / MANIFEST, full)
    return directory


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a brainsim IPD model manifest (not a JSON object)")
    return data


def read_manifest(directory) -> dict:
    """The checked manifest of a model directory (UserError if it is missing, of another format or
    of another format version)."""
    directory = Path(directory)
    if not directory.exists():
        raise UserError(f"model {directory} does not exist")
    if not directory.is_dir():
        raise UserError(f"{directory} is not a model directory")
    path = directory / MANIFEST
    if not path.is_file():
        raise UserError(f"{directory} is not a model directory (no {MANIFEST})")
    manifest = _read_json(path)
    if manifest.get("format") != FORMAT:
        raise UserError(f"{path} is not a brainsim IPD model manifest (format {manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{directory}: model format version {manifest.get('format_version')!r} is not supported "
                        f"(this brainsim reads version {FORMAT_VERSION}); retrain the model")
    return manifest


def spec_from_manifest(manifest: dict, arrays: dict[str, np.ndarray], source: str) -> IPDNetworkSpec:
    """The network of a manifest (its ``net``, ``stimulus`` and ``classes``) with its weight arrays."""
    try:
        net = dataclass_from(NetConfig, manifest["net"])
        stimulus = dataclass_from(IPDStimulusParams, manifest.get("stimulus"))
        classes = dataclass_from(IPDClasses, manifest.get("classes"))
    except (KeyError, TypeError, ValueError, UserError) as exc:
        raise UserError(f"{source}: invalid model description ({exc})") from None

    def get(name: str, needed: bool = True):
        if name not in arrays:
            if needed:
                raise UserError(f"{source}: array {name} is missing")
            return None
        return arrays[name]

    hidden = net.has_hidden
    return IPDNetworkSpec(net=net, W1=get("W1", hidden), W2=get("W2"), tau_hidden_ms=get("tau_hidden_ms", hidden),
                          tau_out_ms=get("tau_out_ms"),
                          alpha_hidden=get("alpha_hidden", False) if hidden else None,
                          alpha_out=get("alpha_out", False), stimulus=stimulus, classes=classes, source=source,
                          delay_steps=get("delay_steps", net.learn_delays) if net.learn_delays else None)


_MODEL_FILES = {MANIFEST: "the manifest", "training_curve.csv": "the training curve"}


def not_a_model(path, wanted: str) -> str:
    """The message for a file ``path`` given where ``wanted`` (e.g. "a model directory") is needed:
    what the file is and what to give instead (its model directory, when it lies in one)."""
    path = Path(path)
    directory = path.parent
    if (directory / MANIFEST).is_file():
        what = _MODEL_FILES.get(path.name, "a file")
        return f"{path} is {what} of a model, not the model: give its directory {directory} instead"
    return f"{path} is a file, not {wanted}"


def read_model(path) -> SavedModel:
    """Read a model directory, or the ``weights.npz`` of one (its manifest beside it says how to run
    the weights). Anything else, missing files, another format or version and arrays of the wrong
    shape raise :class:`UserError`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model {path} does not exist")
    if path.is_dir():
        directory, weights = path, path / WEIGHTS
        manifest = read_manifest(directory)
        if not weights.is_file():
            raise UserError(f"{directory}: missing {WEIGHTS}")
    elif path.suffix == ".npz":
        directory, weights = path.parent, path
        if not (directory / MANIFEST).is_file():
            raise UserError(f"{path}: no {MANIFEST} beside the weights (an npz alone does not say how to run "
                            "them: give the model directory)")
        manifest = read_manifest(directory)
    else:
        raise UserError(not_a_model(path, f"a model directory (or its {WEIGHTS})"))
    spec = spec_from_manifest(manifest, load_npz(weights), str(path))
    return SavedModel(spec=spec, manifest=manifest, directory=directory)
