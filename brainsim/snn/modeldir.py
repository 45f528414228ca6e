"""The IPD model directory: how a trained network is stored, loaded and run.

Layout (format ``brainsim.ipd-model``, version :data:`FORMAT_VERSION`)::

    DIR/manifest.json        format, format_version, net (NetConfig: model, readout, sizes, taus,
                             threshold, surrogate slope, dt_ms), stimulus (IPDStimulusParams),
                             classes, protocol (training options, data sizes, seeds), command,
                             scores (train / test accuracy and errors), training time, versions
    DIR/weights.npz          W1 (n_inputs, n_hidden), W2 (n_hidden, n_out) [membrane-only: W2
                             (n_inputs, n_out), no W1], tau_hidden_ms (n_hidden,), tau_out_ms (n_out,)
    DIR/training_curve.csv   epoch, loss, train_batch_accuracy, lr, seconds

Equations: :mod:`brainsim.snn.core` (per-layer update order, reset, threshold, what is recorded at
each step) with ``alpha = exp(-dt_ms / tau_ms)`` per neuron and currents ``I_t = x_t @ W1``
(hidden) and ``I_t = s_t @ W2`` (output; s = hidden spikes). Inputs are the dense spikes of
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
from ..io import save_npz, write_json, write_text
from ..stimuli.ipd import IPDClasses, IPDStimulusParams

FORMAT = "brainsim.ipd-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
CURVE = "training_curve.csv"


def versions() -> dict:
    import platform

    import numba
    import torch

    from .. import __version__

    return {"brainsim": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "numba": numba.__version__}


def save_model(directory, model, manifest: dict, history: list[dict] | None = None) -> Path:
    """Write weights, manifest (with format and version added) and training curve atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_npz(directory / WEIGHTS, **model.weights_numpy())
    if history:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(history[0].keys()))
        writer.writeheader()
        writer.writerows(history)
        write_text(directory / CURVE, buf.getvalue())
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest,
            "net": model.config.to_dict(), "training_curve": history or []}
    write_json(directory / MANIFEST, full)
    return directory


@dataclass
class LoadedModel:
    model: object            # brainsim.snn.models.IPDNet
    manifest: dict
    stimulus: IPDStimulusParams
    classes: IPDClasses
    directory: Path


def _dataclass_from(cls, data: dict):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def read_manifest(directory) -> dict:
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"model directory {directory} does not exist")
    path = directory / MANIFEST
    if not path.is_file():
        raise UserError(f"{directory} is not a model directory (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{path} is not a brainsim IPD model manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{directory}: model format version {manifest.get('format_version')!r} is not supported "
                        f"(this brainsim reads version {FORMAT_VERSION}); retrain the model")
    return manifest


def load_model(directory, backend: str = "auto") -> LoadedModel:
    """Load a model directory (UserError if it is missing, malformed or of another format version)."""
    directory = Path(directory)
    manifest = read_manifest(directory)  # checked before importing torch: bad input fails fast
    from .models import IPDNet, NetConfig

    try:
        config = _dataclass_from(NetConfig, manifest["net"])
        config.validate()
        stimulus = _dataclass_from(IPDStimulusParams, manifest["stimulus"])
        classes = _dataclass_from(IPDClasses, manifest.get("classes", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{directory / MANIFEST}: invalid model description ({exc})") from None
    weights_path = directory / WEIGHTS
    if not weights_path.is_file():
        raise UserError(f"{directory}: missing {WEIGHTS}")
    model = IPDNet(config, seed=0, backend=backend)
    try:
        with np.load(weights_path) as arrays:
            expected = model.weights_numpy()
            for name, value in expected.items():
                if name not in arrays.files or arrays[name].shape != value.shape:
                    raise UserError(f"{weights_path}: array {name} missing or of the wrong shape")
            model.load_weights_numpy({name: arrays[name] for name in expected})
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {weights_path}: {exc}") from None
    return LoadedModel(model=model, manifest=manifest, stimulus=stimulus, classes=classes, directory=directory)


def run_model(loaded: LoadedModel | str | Path, spikes, batch_size: int = 256, device="cpu") -> dict:
    """Run a loaded model (or a model directory) on dense input spikes (samples, T, fibres) or
    (T, fibres). Returns numpy arrays: ``scores`` (samples, classes), ``prediction`` (samples,),
    ``output`` (samples, T, n_out; membrane v_t for oc/max, spikes s_t for fr/pop) and
    ``hidden_spikes`` (samples, T, n_hidden; absent for the membrane-only model)."""
    from .training import predict

    if not isinstance(loaded, LoadedModel):
        loaded = load_model(loaded)
    spikes = np.asarray(spikes)
    if spikes.ndim == 2:
        spikes = spikes[None]
    n_inputs = loaded.model.config.n_inputs
    if spikes.ndim != 3 or spikes.shape[2] != n_inputs:
        raise ValueError(f"spikes must have shape (samples, T, {n_inputs})")
    out = predict(loaded.model, spikes, batch_size=batch_size, device=device, keep_traces=True)
    out["prediction"] = np.argmax(out["scores"], axis=1)
    return out


def stimulus_dict(params: IPDStimulusParams) -> dict:
    return asdict(params)
