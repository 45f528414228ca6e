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
from pathlib import Path

import numpy as np

from ..errors import UserError

NEURONS = ("cuba", "coba")


def torch_model_from_spec(spec):
    """An :class:`brainsim.snn.models.IPDNet` carrying the spec's weights (adapter: any source of the
    bridge, e.g. a NIR export, becomes the torch model it came from)."""
    from ..snn.models import IPDNet, NetConfig

    config = NetConfig(model="snn" if spec.has_hidden else "membrane", readout=spec.readout,
                       n_inputs=spec.n_inputs, n_hidden=max(spec.n_hidden, 1), n_classes=spec.n_classes,
                       pop_per_class=spec.pop_per_class if spec.readout == "pop" else 10,
                       threshold=float(spec.threshold), dt_ms=float(spec.dt_ms))
    model = IPDNet(config, seed=0)
    arrays = {"W2": spec.W2, "tau_out_ms": spec.tau_out_ms}
    if spec.has_hidden:
        arrays.update(W1=spec.W1, tau_hidden_ms=spec.tau_hidden_ms)
    model.load_weights_numpy(arrays)
    return model


def run_torch(spec, spikes: np.ndarray, threads: int | None = 1) -> dict:
    import torch

    from ..snn.training import predict

    if threads:
        torch.set_num_threads(int(threads))
    model = torch_model_from_spec(spec)
    t0 = time.perf_counter()
    out = predict(model, spikes, batch_size=512, keep_traces=True)
    seconds = time.perf_counter() - t0
    result = {"scores": out["scores"], "prediction": np.argmax(out["scores"], axis=1), "seconds": seconds}
    if "hidden_spikes" in out:
        result["hidden_spikes"] = out["hidden_spikes"] > 0.5
        result["hidden_counts"] = result["hidden_spikes"].sum(axis=1)
    return result


def run_brian2(spec, spikes: np.ndarray, neuron: str, device_config, coba_params=None,
               record_hidden: bool = True, repeats: int = 1) -> dict:
    """Simulate all stimuli in one Brian2 network. Returns the results and timings, or
    ``{"ran": False, "project_dir": ...}`` when the device only generated code. Standalone devices
    compile once and run the program ``repeats`` times (``run_s``: the fastest, ``run_s_all``)."""
    import brian2 as b2

    from ..circuits.ipd_network import CobaParams, build, read_results
    from ..devices import BrianSession
    from ..stimuli.ipd import to_spike_times

    coba_params = coba_params or CobaParams()
    n, T, _ = spikes.shape
    indices, times_ms = to_spike_times(spikes, spec.stimulus.dt_ms)
    duration = T * spec.stimulus.dt_ms * b2.ms
    sim_dt_ms = spec.dt_ms if neuron == "cuba" else coba_params.dt_ms
    t0 = time.perf_counter()
    with BrianSession(device_config, label=f"compare-{neuron}") as session:
        handles = build(spec, neuron, indices, times_ms, n, T, coba=coba_params, record_hidden=record_hidden)
        if device_config.standalone:
            handles.network.run(duration)
            # compile first, then time the run alone (the program loads its data, simulates, writes results)
            session.build(run=False)
            build_s = time.perf_counter() - t0
            if device_config.build_only:
                return {"ran": False, "project_dir": str(session.project_dir), "build_s": build_s}
            if device_config.name == "cuda_standalone" and not _can_run_cuda():
                from ..errors import DeviceNotRunError

                raise DeviceNotRunError(f"no GPU found: generated the CUDA project in {session.project_dir} "
                                        "but did not compile or run it (use --build-only to only generate code)")
            run_all = []
            for _ in range(max(1, int(repeats))):
                t1 = time.perf_counter()
                session.rerun()
                run_all.append(time.perf_counter() - t1)
            run_s = min(run_all)
        else:
            session.run(handles.network, duration)
            build_s, run_s = 0.0, time.perf_counter() - t0
            run_all = [run_s]
        result = read_results(handles, spec, sim_dt_ms)
    result.update(ran=True, build_s=build_s, run_s=run_s, run_s_all=run_all, total_s=time.perf_counter() - t0)
    return result


def _can_run_cuda() -> bool:
    from ..devices import gpu_available

    return gpu_available()


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


def compare(model_path, neuron: str = "cuba", n_test: int = 256, seed: int = 0, device_config=None,
            coba_params=None, threads: int | None = 1, spikes: np.ndarray | None = None) -> dict:
    """Run torch and Brian2 on the same test stimuli and compare them (JSON-ready dict plus arrays
    under ``_arrays`` for plotting)."""
    from ..bridge.spec import load_network
    from ..devices import DeviceConfig
    from ..snn.metrics import classification_metrics
    from .ipd import test_stimuli

    if neuron not in NEURONS:
        raise UserError(f"unknown neuron model {neuron!r} (cuba or coba)")
    if n_test < 1:
        raise UserError("n-test must be a positive integer")
    device_config = device_config or DeviceConfig("cpp_standalone")
    spec = load_network(model_path)
    stim = test_stimuli(seed, n_test, spec.stimulus)
    brian = run_brian2(spec, stim.spikes, neuron, device_config, coba_params)
    result = {"model": str(model_path), "neuron": neuron, "device": device_config.name, "n_test": int(n_test),
              "seed": int(seed), "readout": spec.readout, "n_hidden": spec.n_hidden}
    if not brian["ran"]:
        result.update(ran=False, project_dir=brian["project_dir"], brian2_build_s=brian["build_s"])
        return result
    torch_out = run_torch(spec, stim.spikes, threads)
    m_torch = classification_metrics(stim.ipd, torch_out["prediction"], spec.classes)
    m_brian = classification_metrics(stim.ipd, brian["prediction"], spec.classes)
    result.update(
        ran=True,
        torch_accuracy=m_torch["accuracy"], brian2_accuracy=m_brian["accuracy"],
        accuracy_difference=m_brian["accuracy"] - m_torch["accuracy"],
        torch_mae_deg=m_torch["mae_deg"], brian2_mae_deg=m_brian["mae_deg"],
        identical_predictions=float(np.mean(torch_out["prediction"] == brian["prediction"])),
        torch_confusion=m_torch["confusion"].tolist(), brian2_confusion=m_brian["confusion"].tolist(),
        torch_seconds=torch_out["seconds"], brian2_build_seconds=brian["build_s"],
        brian2_run_seconds=brian["run_s"], brian2_total_seconds=brian["total_s"],
    )
    arrays = {"torch_prediction": torch_out["prediction"], "brian2_prediction": brian["prediction"],
              "ipd": stim.ipd}
    if spec.has_hidden and "hidden_counts" in brian:
        corr = _count_correlations(torch_out["hidden_counts"], brian["hidden_counts"])
        valid = [c for c in corr if c is not None]
        result["hidden_count_correlation"] = corr
        result["hidden_count_correlation_mean"] = float(np.mean(valid)) if valid else None
        result["torch_hidden_spikes"] = int(torch_out["hidden_spikes"].sum())
        result["brian2_hidden_spikes"] = int(brian["hidden_spikes"].sum())
        if neuron == "cuba":
            same = torch_out["hidden_spikes"] == brian["hidden_spikes"]
            result["hidden_bins_identical"] = float(np.mean(same))
            result["hidden_spike_trains_identical"] = bool(np.all(same))
        arrays.update(torch_counts=torch_out["hidden_counts"], brian2_counts=brian["hidden_counts"])
    result["_arrays"] = arrays
    return result


def public(result: dict) -> dict:
    """The result without the arrays kept for plotting."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def check_model_path(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError(f"model {path} does not exist")
    return path
