"""torch vs Brian2 on a trained IPD network: the same test stimuli through both, side by side.

Protocol: test stimuli from the stream ``numpy.random.default_rng([seed, 1])`` (as ``brainsim ipd
evaluate --seed S``), dense spikes for torch, the same spikes as indices/times for Brian2. torch runs
the model (:mod:`brainsim.snn`, float32, CPU); Brian2 runs the ``cuba`` or ``coba`` realisation of
:mod:`brainsim.circuits.ipd_network` with all stimuli side by side in one network (one compilation,
one run). Reported: accuracy and mean absolute error (true IPD vs predicted class midpoint, degrees)
of both, the fraction of identical predictions, per-hidden-neuron correlation of spike counts over
stimuli (and for cuba the fraction of identical hidden spike bins), both confusion matrices
(``[true, predicted]``), and wall times (torch; Brian2 build/compile and run separately for the
standalone devices).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..circuits.ipd_network import NEURONS, CobaParams, IPDNetworkOutputs
from ..devices import DeviceConfig
from ..errors import UserError
from ..netspec.ipd import IPDNetworkSpec
from ..params import check_fields, param, param_group
from .ipd import torch_threads_param


@dataclass(frozen=True)
class CompareParams:
    """One comparison: the Brian2 realisation, the test stimuli (stream ``[seed, 1]``), torch threads
    and the Brian2 device (cpp_standalone by default: one compilation, all stimuli in one run)."""

    neuron: str = param("cuba", "Brian2 realisation: cuba (the torch equations exactly, dt 1 ms) or coba "
                        "(conductance-based neurons in mV and ms, dt 0.1 ms)", choices=NEURONS)
    n_test: int = param(256, "test stimuli (stream [seed, 1], as brainsim ipd evaluate)", ge=1)
    seed: int = param(0, "seed of the test stimuli", ge=0, sweep=False)
    torch_threads: int = torch_threads_param()
    coba: CobaParams = param_group(CobaParams, "coba realisation", prefix="coba_", cli=False)
    device: DeviceConfig = param_group(DeviceConfig, "simulation device", default=DeviceConfig("cpp_standalone"))

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True, eq=False)
class TorchRun:
    """torch on the test stimuli: scores (n, classes), predictions (n,), hidden spikes (n, T,
    n_hidden, bool) and their counts (n, n_hidden) (None for the membrane-only model), output spike
    counts (n, n_out; None unless the readout spikes: fr / pop), wall time (s)."""

    scores: np.ndarray
    prediction: np.ndarray
    hidden_spikes: np.ndarray | None
    hidden_counts: np.ndarray | None
    output_counts: np.ndarray | None
    seconds: float


@dataclass(frozen=True, eq=False)
class Brian2Run:
    """Brian2 on the test stimuli: the outputs (None when the device only generated code, in
    ``project_dir``) and wall times in seconds: ``build_s`` (code generation and compilation of a
    standalone project), ``run_s`` (the fastest run), ``run_s_all`` (every run), ``total_s``."""

    outputs: IPDNetworkOutputs | None
    project_dir: Path | None
    build_s: float
    run_s: float
    run_s_all: tuple[float, ...]
    total_s: float

    @property
    def ran(self) -> bool:
        return self.outputs is not None


@dataclass(frozen=True, eq=False)
class ComparisonArrays:
    """Per-stimulus data of a comparison, for figures: true IPDs (rad), both predictions, and the
    per-stimulus hidden spike counts (n, n_hidden) of both (None without a hidden layer)."""

    ipd_rad: np.ndarray
    torch_prediction: np.ndarray
    brian2_prediction: np.ndarray
    torch_counts: np.ndarray | None
    brian2_counts: np.ndarray | None


@dataclass(frozen=True, eq=False)
class Comparison:
    """A comparison: ``summary`` (JSON-ready: what ``brainsim compare --json`` prints) and the arrays
    behind it (None when Brian2 only generated code)."""

    summary: dict[str, Any]
    arrays: ComparisonArrays | None


def torch_model(spec: IPDNetworkSpec, threads: int | None = 1):
    """The :class:`~brainsim.snn.IPDNet` of a spec, with ``threads`` torch threads."""
    import torch

    from ..snn.models import IPDNet

    if threads:
        torch.set_num_threads(int(threads))
    return IPDNet.from_spec(spec)


def run_torch(model, spikes: np.ndarray) -> TorchRun:
    """A torch model on dense test spikes (n, T, fibres)."""
    from ..snn.training import predict

    t0 = time.perf_counter()
    out = predict(model, spikes, batch_size=512, keep_traces=True)
    seconds = time.perf_counter() - t0
    hidden = out["hidden_spikes"] > 0.5 if "hidden_spikes" in out else None
    output = (out["output"] > 0.5).sum(axis=1).astype(np.int64) if model.config.spiking_output else None
    return TorchRun(scores=out["scores"], prediction=np.argmax(out["scores"], axis=1), hidden_spikes=hidden,
                    hidden_counts=None if hidden is None else hidden.sum(axis=1), output_counts=output,
                    seconds=seconds)


def run_brian2(spec: IPDNetworkSpec, spikes: np.ndarray, neuron: str, device_config: DeviceConfig,
               coba_params: CobaParams = CobaParams(), record_hidden: bool = True, repeats: int = 1,
               progress: bool = False) -> Brian2Run:
    """Simulate all stimuli (dense spikes (n, T, fibres) on the stimulus time grid) in one Brian2
    network. Standalone devices compile once (announced on stderr with ``progress``) and run the
    program ``repeats`` times; wall times in seconds."""
    import brian2 as b2

    from ..circuits.ipd_network import build, read_results
    from ..devices import BrianSession
    from ..lifecycle import ChunkRunner
    from ..stimuli.ipd import to_spike_times

    n, T, _ = spikes.shape
    indices, times_ms = to_spike_times(spikes, spec.stimulus.dt_ms)
    duration = T * spec.stimulus.dt_ms * b2.ms
    t0 = time.perf_counter()
    with BrianSession(device_config, label=f"compare-{neuron}", progress=progress) as session:
        runner = ChunkRunner(session, duration)
        build_network = lambda: build(spec, neuron, indices, times_ms, n, T, coba=coba_params,  # noqa: E731
                                      record_hidden=record_hidden)
        run_all = []
        # standalone: compile once, then time the runs alone (the program loads its data, simulates,
        # writes results); runtime: one run
        for _ in range(max(1, int(repeats)) if device_config.standalone else 1):
            outcome = runner.run(build_network)
            if outcome is None:
                build_s = runner.build_seconds
                return Brian2Run(None, session.project_dir, build_s, 0.0, (), time.perf_counter() - t0)
            handles, timing = outcome
            run_all.append(timing.seconds)
        build_s = runner.build_seconds
        outputs = read_results(handles, spec)
    return Brian2Run(outputs, session.project_dir, build_s, min(run_all), tuple(run_all), time.perf_counter() - t0)


def spike_counts(torch_counts: np.ndarray | None, brian2_counts: np.ndarray | None, layer: str) -> dict:
    """Total spikes of one layer (``hidden`` or ``output``) in torch and Brian2 over all stimuli, and
    their ratio Brian2 / torch: ``{torch_LAYER_spikes, brian2_LAYER_spikes, LAYER_spike_ratio}``; None
    where the layer does not spike (a leaky readout, the membrane-only model) or torch is silent."""
    if torch_counts is None or brian2_counts is None:
        return {f"torch_{layer}_spikes": None, f"brian2_{layer}_spikes": None, f"{layer}_spike_ratio": None}
    t, b = int(np.sum(torch_counts)), int(np.sum(brian2_counts))
    return {f"torch_{layer}_spikes": t, f"brian2_{layer}_spikes": b, f"{layer}_spike_ratio": b / t if t else None}


def _count_correlations(a: np.ndarray, b: np.ndarray) -> list:
    """Pearson correlation over stimuli of each hidden neuron's spike count (None if one is constant)."""
    out = []
    for j in range(a.shape[1]):
        x, y = a[:, j].astype(float), b[:, j].astype(float)
        if x.std() == 0 or y.std() == 0:
            out.append(None)  # silent (or constant) in one of them: undefined
        else:
            out.append(float(np.corrcoef(x, y)[0, 1]))
    return out


def run_comparison(model_path, params: CompareParams = CompareParams(), progress: bool = False) -> Comparison:
    """Run torch and Brian2 on the same ``params.n_test`` test stimuli (stream ``[params.seed, 1]``)
    and compare them. ``model_path``: a model directory, its weights.npz or a brainsim NIR export.
    Brian2 runs the decay factors the torch model computes here, so that cuba reproduces it bit for
    bit. ``progress``: say on stderr when the standalone project compiles."""
    from ..bridge.sources import load_network
    from ..snn.metrics import classification_metrics
    from ..stimuli.ipd import test_stimuli

    neuron, device_config = params.neuron, params.device
    spec = load_network(model_path)
    model = torch_model(spec, params.torch_threads)
    spec = spec.with_decay_factors(*model.decay_factors())
    stim = test_stimuli(spec.stimulus, params.seed, params.n_test)
    brian = run_brian2(spec, stim.spikes, neuron, device_config, params.coba, progress=progress)
    summary = {"model": str(model_path), "neuron": neuron, "device": device_config.name, "n_test": params.n_test,
               "seed": params.seed, "readout": spec.net.readout, "n_hidden": spec.n_hidden}
    if not brian.ran:
        summary.update(ran=False, project_dir=str(brian.project_dir), brian2_build_s=brian.build_s)
        return Comparison(summary, None)
    torch_out = run_torch(model, stim.spikes)
    b_out = brian.outputs
    m_torch = classification_metrics(stim.ipd, torch_out.prediction, spec.classes)
    m_brian = classification_metrics(stim.ipd, b_out.prediction, spec.classes)
    summary.update(
        ran=True,
        torch_accuracy=m_torch["accuracy"], brian2_accuracy=m_brian["accuracy"],
        accuracy_difference=m_brian["accuracy"] - m_torch["accuracy"],
        torch_mae_deg=m_torch["mae_deg"], brian2_mae_deg=m_brian["mae_deg"],
        identical_predictions=float(np.mean(torch_out.prediction == b_out.prediction)),
        torch_confusion=m_torch["confusion"].tolist(), brian2_confusion=m_brian["confusion"].tolist(),
        torch_seconds=torch_out.seconds, brian2_build_seconds=brian.build_s,
        brian2_run_seconds=brian.run_s, brian2_total_seconds=brian.total_s,
    )
    with_counts = spec.has_hidden and b_out.hidden_counts is not None
    summary.update(spike_counts(torch_out.hidden_counts if with_counts else None,
                                b_out.hidden_counts if with_counts else None, "hidden"))
    summary.update(spike_counts(torch_out.output_counts, b_out.output_counts, "output"))
    if with_counts:
        corr = _count_correlations(torch_out.hidden_counts, b_out.hidden_counts)
        valid = [c for c in corr if c is not None]
        summary["hidden_count_correlation"] = corr
        summary["hidden_count_correlation_mean"] = float(np.mean(valid)) if valid else None
        if neuron == "cuba":
            same = torch_out.hidden_spikes == b_out.hidden_spikes
            summary["hidden_bins_identical"] = float(np.mean(same))
            summary["hidden_spike_trains_identical"] = bool(np.all(same))
    arrays = ComparisonArrays(ipd_rad=stim.ipd, torch_prediction=torch_out.prediction,
                              brian2_prediction=b_out.prediction,
                              torch_counts=torch_out.hidden_counts if with_counts else None,
                              brian2_counts=b_out.hidden_counts if with_counts else None)
    return Comparison(summary, arrays)


def compare(model_path, params: CompareParams = CompareParams()) -> dict:
    """:func:`run_comparison`'s JSON-ready summary: model, neuron, device, n_test, seed, readout,
    n_hidden, ran; then both accuracies, their difference, MAEs (deg), identical predictions,
    confusion matrices ([true, predicted]), wall times (s), hidden and output spike totals of both and
    their ratio Brian2 / torch (None for a layer that does not spike) and, with a hidden layer,
    per-neuron spike-count correlations and (cuba) the fraction of identical hidden spike bins.
    When Brian2 only generated code: ran False, project_dir and brian2_build_s."""
    return run_comparison(model_path, params).summary


def check_model_path(path) -> Path:
    """``path`` as a Path (UserError if it does not exist)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model {path} does not exist")
    return path
