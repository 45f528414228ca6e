"""A trained IPD network as plain numpy arrays: what the Brian2 realisations need, from any source.

Sources accepted by :func:`load_network`:

* a model directory of :mod:`brainsim.snn.modeldir` (``manifest.json`` + ``weights.npz``);
* the ``weights.npz`` of such a directory (its ``manifest.json`` beside it gives the readout, the
  taus' meaning, the stimulus and the classes: the npz alone does not say how to run the weights);
* a NIR graph written by :func:`brainsim.bridge.nir_export.export_nir` (``GRAPH.nir`` with its side
  file ``GRAPH.nir.brainsim.json``).

Anything else (another format, missing files, arrays of the wrong shape) raises
:class:`~brainsim.errors.UserError`. This module never imports torch.

The dynamics are those of :mod:`brainsim.snn.core` with ``alpha = exp(-dt / tau)`` computed in
float32 as torch does, so that a Brian2 realisation can reproduce the torch model bit for bit.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..stimuli.ipd import IPDClasses, IPDStimulusParams

MODEL_FORMAT = "brainsim.ipd-model"
MODEL_FORMAT_VERSION = 1
READOUTS = ("oc", "max", "fr", "pop")
SPIKING_READOUTS = ("fr", "pop")


@dataclass(frozen=True, eq=False)
class IPDNetworkSpec:
    """Weights and dynamics of a trained IPD network (input-major weights: current = x @ W)."""

    W1: np.ndarray | None           # (n_inputs, n_hidden) float32; None for the membrane-only model
    W2: np.ndarray                  # (n_hidden or n_inputs, n_out) float32
    tau_hidden_ms: np.ndarray | None  # (n_hidden,)
    tau_out_ms: np.ndarray          # (n_out,)
    readout: str = "oc"
    threshold: float = 1.0
    dt_ms: float = 1.0
    n_classes: int = 12
    pop_per_class: int = 1
    stimulus: IPDStimulusParams = field(default_factory=IPDStimulusParams)
    classes: IPDClasses = field(default_factory=IPDClasses)
    source: str = ""
    # decay factors exactly as stored by a source that holds them rather than tau (NIR export)
    alpha_hidden_exact: np.ndarray | None = None
    alpha_out_exact: np.ndarray | None = None

    def __post_init__(self):
        if self.readout not in READOUTS:
            raise UserError(f"{self.source}: unknown readout {self.readout!r}")
        n_in_w2 = self.W2.shape[0]
        if self.W1 is not None:
            if self.W1.ndim != 2 or self.W1.shape[1] != n_in_w2:
                raise UserError(f"{self.source}: shape mismatch: W1 {self.W1.shape} does not feed W2 {self.W2.shape}")
            if self.tau_hidden_ms is None or self.tau_hidden_ms.shape != (self.W1.shape[1],):
                raise UserError(f"{self.source}: tau_hidden_ms must have one value per hidden neuron")
        if self.tau_out_ms.shape != (self.W2.shape[1],):
            raise UserError(f"{self.source}: tau_out_ms must have one value per output neuron")
        if self.W2.shape[1] != self.n_out:
            raise UserError(f"{self.source}: shape mismatch: W2 has {self.W2.shape[1]} outputs, the readout "
                            f"{self.readout} with {self.n_classes} classes needs {self.n_out}")
        if self.n_inputs != self.stimulus.n_fibres:
            raise UserError(f"{self.source}: shape mismatch: the network has {self.n_inputs} inputs, the "
                            f"stimulus {self.stimulus.n_fibres} fibres")
        for name in ("W1", "W2", "tau_hidden_ms", "tau_out_ms"):
            value = getattr(self, name)
            if value is not None and not np.all(np.isfinite(value)):
                raise UserError(f"{self.source}: {name} contains non-finite values")
        if np.any(self.tau_out_ms <= 0) or (self.tau_hidden_ms is not None and np.any(self.tau_hidden_ms <= 0)):
            raise UserError(f"{self.source}: time constants must be > 0")

    @property
    def has_hidden(self) -> bool:
        return self.W1 is not None

    @property
    def n_inputs(self) -> int:
        return (self.W1 if self.W1 is not None else self.W2).shape[0]

    @property
    def n_hidden(self) -> int:
        return 0 if self.W1 is None else self.W1.shape[1]

    @property
    def n_out(self) -> int:
        return self.n_classes * (self.pop_per_class if self.readout == "pop" else 1)

    @property
    def spiking_output(self) -> bool:
        return self.readout in SPIKING_READOUTS

    @property
    def alpha_hidden(self) -> np.ndarray | None:
        if self.alpha_hidden_exact is not None:
            return np.asarray(self.alpha_hidden_exact, dtype=np.float32)
        return None if self.tau_hidden_ms is None else decay_factor(self.tau_hidden_ms, self.dt_ms)

    @property
    def alpha_out(self) -> np.ndarray:
        if self.alpha_out_exact is not None:
            return np.asarray(self.alpha_out_exact, dtype=np.float32)
        return decay_factor(self.tau_out_ms, self.dt_ms)

    def scores(self, output_sum: np.ndarray, output_max: np.ndarray | None, n_steps: int) -> np.ndarray:
        """Class scores from per-output sums over the T recorded values (membrane or spikes) and,
        for ``max``, the per-output maxima; same definitions as :func:`brainsim.snn.core.readout_scores`."""
        if self.readout == "max":
            return np.asarray(output_max, dtype=float)
        mean = np.asarray(output_sum, dtype=float) / n_steps
        if self.readout == "pop":
            return mean.reshape(mean.shape[0], self.n_classes, self.pop_per_class).mean(axis=2)
        return mean


def decay_factor(tau_ms, dt_ms: float) -> np.ndarray:
    """alpha = exp(-dt / tau) in float32, bit for bit as the torch models compute it.

    torch's float32 exp is not always correctly rounded (about 1 % of values differ by one ulp from
    the correctly rounded result), and one ulp can flip a threshold decision, so torch itself
    computes it when it can be imported (the only callers, export and compare, use torch anyway);
    otherwise the correctly rounded value is used."""
    tau = np.maximum(np.asarray(tau_ms, dtype=np.float32), np.float32(0.1))  # models.MIN_TAU_MS clamp
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        quotient = np.float32(-dt_ms) / tau
        return np.exp(quotient.astype(np.float64)).astype(np.float32)
    return torch.exp(-float(dt_ms) / torch.from_numpy(np.ascontiguousarray(tau))).numpy().astype(np.float32)


def _dataclass_from(cls, data: dict):
    from dataclasses import fields

    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (data or {}).items() if k in names})


def spec_from_manifest(manifest: dict, arrays: dict, source: str) -> IPDNetworkSpec:
    """Build a spec from a model manifest (the ``net`` section) and its weight arrays."""
    try:
        net = manifest["net"]
        readout = str(net["readout"])
        model_kind = str(net.get("model", "snn"))
        stimulus = _dataclass_from(IPDStimulusParams, manifest.get("stimulus", {}))
        classes = _dataclass_from(IPDClasses, manifest.get("classes", {}))
        n_classes = int(net.get("n_classes", classes.n_classes))
        pop = int(net.get("pop_per_class", 1)) if readout == "pop" else 1
        threshold = float(net.get("threshold", 1.0))
        dt_ms = float(net.get("dt_ms", stimulus.dt_ms))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{source}: invalid model description ({exc})") from None

    def get(name, required=True):
        if name not in arrays:
            if required:
                raise UserError(f"{source}: array {name} is missing")
            return None
        return np.asarray(arrays[name], dtype=np.float32)

    has_hidden = model_kind != "membrane"
    W1 = get("W1") if has_hidden else None
    W2 = get("W2")
    tau_hidden = get("tau_hidden_ms").reshape(-1) if has_hidden else None
    tau_out = get("tau_out_ms").reshape(-1)
    if W2.ndim != 2:
        raise UserError(f"{source}: shape mismatch: W2 must be a matrix, got shape {W2.shape}")
    return IPDNetworkSpec(W1=W1, W2=W2, tau_hidden_ms=tau_hidden, tau_out_ms=tau_out, readout=readout,
                          threshold=threshold, dt_ms=dt_ms, n_classes=n_classes, pop_per_class=pop,
                          stimulus=stimulus, classes=classes, source=source)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a JSON object")
    return data


def _check_manifest(manifest: dict, path: Path) -> None:
    if manifest.get("format") != MODEL_FORMAT:
        raise UserError(f"{path} is not a brainsim IPD model manifest (format {manifest.get('format')!r})")
    if manifest.get("format_version") != MODEL_FORMAT_VERSION:
        raise UserError(f"{path}: model format version {manifest.get('format_version')!r} is not supported "
                        f"(this brainsim reads version {MODEL_FORMAT_VERSION})")


def _load_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: np.asarray(data[name]) for name in data.files}
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def load_network(path) -> IPDNetworkSpec:
    """Load a trained IPD network from a model directory, its weights.npz, or a brainsim NIR file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist")
    if path.is_dir():
        manifest_path = path / "manifest.json"
        if not manifest_path.is_file():
            raise UserError(f"{path} is not a model directory (no manifest.json)")
        manifest = _read_json(manifest_path)
        _check_manifest(manifest, manifest_path)
        weights = path / "weights.npz"
        if not weights.is_file():
            raise UserError(f"{path}: missing weights.npz")
        return spec_from_manifest(manifest, _load_npz(weights), str(path))
    if path.suffix == ".npz":
        manifest_path = path.parent / "manifest.json"
        if not manifest_path.is_file():
            raise UserError(f"{path}: no manifest.json beside the weights (an npz alone does not say "
                            "how to run them: give the model directory)")
        manifest = _read_json(manifest_path)
        _check_manifest(manifest, manifest_path)
        return spec_from_manifest(manifest, _load_npz(path), str(path))
    if path.suffix == ".nir":
        from .nir_import import spec_from_nir

        return spec_from_nir(path)
    raise UserError(f"{path}: not a model directory, weights.npz or .nir file")
