"""Brian2 realisations of trained IPD networks against torch on the same stimuli.

cuba must reproduce torch spike for spike (the other backend is the independent expectation);
loaders must refuse other formats and broken files with one-line errors."""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from brainsim.bridge.spec import IPDNetworkSpec, load_network
from brainsim.errors import UserError
from brainsim.stimuli.ipd import IPDClasses, IPDStimulusParams, random_stimuli, to_spike_times

SMALL_STIMULUS = IPDStimulusParams(fibres_per_ear=12, duration_ms=60.0)


def small_spec(readout: str, seed: int = 0, n_hidden: int = 10, hidden: bool = True) -> IPDNetworkSpec:
    """A random network that spikes a lot: the hard case for exact equivalence (many resets)."""
    rng = np.random.default_rng(seed)
    n_in = SMALL_STIMULUS.n_fibres
    pop = 3 if readout == "pop" else 1
    n_out = 12 * pop
    W1 = rng.normal(0.1, 0.5, size=(n_in, n_hidden)).astype(np.float32) if hidden else None
    W2 = rng.normal(0.0, 0.6, size=(n_hidden if hidden else n_in, n_out)).astype(np.float32)
    return IPDNetworkSpec(W1=W1, W2=W2,
                          tau_hidden_ms=rng.uniform(2, 20, n_hidden).astype(np.float32) if hidden else None,
                          tau_out_ms=rng.uniform(2, 20, n_out).astype(np.float32), readout=readout,
                          pop_per_class=pop, stimulus=SMALL_STIMULUS, source="test")


def run_both(spec, n=24, seed=1):
    from brainsim.circuits.ipd_network import build_cuba, read_results
    from brainsim.devices import BrianSession, DeviceConfig
    from brainsim.experiments.compare import run_torch

    import brian2 as b2

    stim = random_stimuli(spec.stimulus, n, np.random.default_rng(seed))
    T = spec.stimulus.n_steps
    idx, t_ms = to_spike_times(stim.spikes, spec.stimulus.dt_ms)
    with BrianSession(DeviceConfig("runtime", target="numpy")) as session:
        handles = build_cuba(spec, idx, t_ms, n, T)
        session.run(handles.network, T * spec.dt_ms * b2.ms)
        brian = read_results(handles, spec, spec.dt_ms)
    return run_torch(spec, stim.spikes), brian


@pytest.mark.parametrize("readout", ["oc", "max", "fr", "pop"])
def test_cuba_equals_torch_spike_for_spike(readout):
    spec = small_spec(readout, seed=len(readout))
    torch_out, brian = run_both(spec)
    assert torch_out["hidden_spikes"].sum() > 100            # the network really spikes
    np.testing.assert_array_equal(brian["hidden_spikes"], torch_out["hidden_spikes"])
    np.testing.assert_array_equal(brian["prediction"], torch_out["prediction"])
    # float64 Brian2 vs float32 torch: scores agree to float32 rounding
    np.testing.assert_allclose(brian["scores"], torch_out["scores"], rtol=1e-4, atol=1e-4)


def test_cuba_membrane_only_model():
    spec = small_spec("oc", hidden=False)
    torch_out, brian = run_both(spec, n=12)
    np.testing.assert_array_equal(brian["prediction"], torch_out["prediction"])
    np.testing.assert_allclose(brian["scores"], torch_out["scores"], rtol=1e-4, atol=1e-4)


def test_coba_conductance_mapping_matches_threshold_condition():
    """At steady state the coba spike condition g_e (E_e - V_th) - g_i (V_th - E_i) > V_th - E_L is the
    torch condition sum(w) > theta: a net weight of exactly theta sits on the threshold."""
    from brainsim.circuits.ipd_network import CobaParams

    p = CobaParams()
    U = p.V_th_mV - p.E_L_mV
    dg_e, dg_i = p.conductance(np.array([1.5, -0.5]), U, p.V_th_mV)
    drive = dg_e.sum() * (p.E_e_mV - p.V_th_mV) - dg_i.sum() * (p.V_th_mV - p.E_i_mV)
    assert drive == pytest.approx(U * 1.0)
    g_e, g_i = dg_e.sum(), dg_i.sum()
    v_inf = (p.E_L_mV + g_e * p.E_e_mV + g_i * p.E_i_mV) / (1 + g_e + g_i)
    assert v_inf == pytest.approx(p.V_th_mV)


def _write_model(directory, spec, fmt="brainsim.ipd-model", version=1):
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "weights.npz", W1=spec.W1, W2=spec.W2, tau_hidden_ms=spec.tau_hidden_ms,
             tau_out_ms=spec.tau_out_ms)
    manifest = {"format": fmt, "format_version": version,
                "net": {"model": "snn", "readout": spec.readout, "n_classes": 12, "pop_per_class": 1,
                        "threshold": 1.0, "dt_ms": 1.0},
                "stimulus": asdict(spec.stimulus), "classes": asdict(IPDClasses())}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def test_load_model_directory_and_npz(tmp_path):
    spec = small_spec("oc")
    d = _write_model(tmp_path / "m", spec)
    for path in (d, d / "weights.npz"):
        loaded = load_network(path)
        np.testing.assert_array_equal(loaded.W1, spec.W1)
        np.testing.assert_array_equal(loaded.alpha_hidden, spec.alpha_hidden)
        assert loaded.readout == "oc" and loaded.stimulus == SMALL_STIMULUS


def test_alpha_is_torch_float32_value():
    import torch

    from brainsim.experiments.compare import torch_model_from_spec

    spec = small_spec("oc")
    model = torch_model_from_spec(spec)
    np.testing.assert_array_equal(model.hidden_params().alpha.detach().numpy(), spec.alpha_hidden)
    assert torch.is_tensor(model.W1)


@pytest.mark.parametrize("case, fragment", [
    ("missing", "does not exist"),
    ("other_format", "not a brainsim IPD model"),
    ("version", "version"),
    ("npz_alone", "manifest.json"),
    ("shape", "shape mismatch"),
    ("text", "not a model directory"),
])
def test_load_errors(tmp_path, case, fragment):
    spec = small_spec("oc")
    if case == "missing":
        path = tmp_path / "nothing"
    elif case == "other_format":
        path = _write_model(tmp_path / "m", spec, fmt="keras")
    elif case == "version":
        path = _write_model(tmp_path / "m", spec, version=99)
    elif case == "npz_alone":
        path = tmp_path / "w.npz"
        np.savez(path, W1=spec.W1)
    elif case == "shape":
        path = _write_model(tmp_path / "m", spec)
        np.savez(path / "weights.npz", W1=spec.W1[:, :5], W2=spec.W2, tau_hidden_ms=spec.tau_hidden_ms[:5],
                 tau_out_ms=spec.tau_out_ms)
    else:
        path = tmp_path / "model.txt"
        path.write_text("hello")
    with pytest.raises(UserError, match=fragment):
        load_network(path)


@pytest.mark.parametrize("readout", ["max", "pop"])
def test_coba_runs_for_other_readouts(readout):
    """coba builds and runs with passive (max) and spiking (pop) outputs; scores are finite and the
    hidden layer is active (accuracy is checked on trained models in test_compare)."""
    import brian2 as b2

    from brainsim.circuits.ipd_network import CobaParams, build_coba, read_results
    from brainsim.devices import BrianSession, DeviceConfig

    spec = small_spec(readout)
    n, T = 3, spec.stimulus.n_steps
    stim = random_stimuli(spec.stimulus, n, np.random.default_rng(0))
    idx, t_ms = to_spike_times(stim.spikes, spec.stimulus.dt_ms)
    with BrianSession(DeviceConfig("runtime", target="numpy")) as session:
        handles = build_coba(spec, idx, t_ms, n, T, CobaParams())
        session.run(handles.network, T * spec.dt_ms * b2.ms)
        out = read_results(handles, spec, CobaParams().dt_ms)
    assert out["scores"].shape == (n, 12) and np.all(np.isfinite(out["scores"]))
    assert out["hidden_spikes"].sum() > 10
