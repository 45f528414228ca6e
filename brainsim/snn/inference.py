"""Running trained IPD networks in torch: a model directory (or any network spec) as an
:class:`~brainsim.snn.models.IPDNet`, and its outputs on input spikes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..netspec.ipd import IPDNetworkSpec
from ..netspec.modeldir import SavedModel, read_model
from ..stimuli.ipd import IPDClasses, IPDStimulusParams
from .models import IPDNet
from .training import predict


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model directory read into torch: the model and what the directory holds."""

    model: IPDNet
    saved: SavedModel

    @property
    def spec(self) -> IPDNetworkSpec:
        return self.saved.spec

    @property
    def manifest(self) -> dict:
        return self.saved.manifest

    @property
    def directory(self) -> Path:
        return self.saved.directory

    @property
    def stimulus(self) -> IPDStimulusParams:
        return self.saved.spec.stimulus

    @property
    def classes(self) -> IPDClasses:
        return self.saved.spec.classes


def load_model(path, backend: str = "auto") -> LoadedModel:
    """Load a model directory (or its weights.npz) as a torch model; ``backend`` of the spiking
    layers: auto, native or torch. UserError if it is missing, malformed or of another format version."""
    saved = read_model(path)
    return LoadedModel(model=IPDNet.from_spec(saved.spec, backend=backend), saved=saved)


def run_model(loaded: LoadedModel | str | Path, spikes, batch_size: int = 256, device: str = "cpu") -> dict:
    """Run a loaded model (or a model directory) on dense input spikes, 0/1 of shape (samples, T,
    fibres) or (T, fibres), one step per stimulus time bin. Returns numpy arrays: ``scores``
    (samples, classes), ``prediction`` (samples,), ``output`` (samples, T, n_out; membrane v_t for
    oc/max, spikes s_t for fr/pop) and ``hidden_spikes`` (samples, T, n_hidden; absent for the
    membrane-only model)."""
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
