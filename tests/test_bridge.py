"""Brian2 realisations of trained IPD networks against torch on the same stimuli.

cuba must reproduce torch spike for spike (the other backend is the independent expectation), with
the decay factors torch computes (checked against the closed-form decay of single neurons); loaders
must refuse other formats and broken files with one-line errors."""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from brainsim.bridge.sources import load_network
from brainsim.errors import UserError
from brainsim.netspec import IPDNetworkSpec, NetConfig, decay_factor
from brainsim.stimuli.ipd import IPDClasses, IPDStimulusParams, random_stimuli, to_spike_times

SMALL_STIMULUS = IPDStimulusParams(fibres_per_ear=12, duration_ms=60.0)


def small_spec(readout: str, seed: int = 0, n_hidden: int = 10, hidden: bool = True) -> IPDNetworkSpec:
    """A random network that spikes a lot: the hard case for exact equivalence (many resets)."""
    rng = np.random.default_rng(seed)
    n_in = SMALL_STIMULUS.n_fibres
    pop = 3 if readout == "pop" else 1
    n_out = 12 * pop
    net = NetConfig(model="snn" if hidden else "membrane", readout=readout, n_inputs=n_in, n_hidden=n_hidden,
                    pop_per_class=pop)
    W1 = rng.normal(0.1, 0.5, size=(n_in, n_hidden)).astype(np.float32) if hidden else None
    W2 = rng.normal(0.0, 0.6, size=(n_hidden if hidden else n_in, n_out)).astype(np.float32)
    return IPDNetworkSpec(net=net, W1=W1, W2=W2,
                          tau_hidden_ms=rng.uniform(2, 20, n_hidden).astype(np.float32) if hidden else None,
                          tau_out_ms=rng.uniform(2, 20, n_out).astype(np.float32), stimulus=SMALL_STIMULUS,
                          source="test")


def run_cuba(spec, spikes):
    import brian2 as b2

    from brainsim.circuits.ipd_network import build_cuba, read_results
    from brainsim.devices import BrianSession, DeviceConfig

    n, T, _ = spikes.shape
    idx, t_ms = to_spike_times(spikes, spec.stimulus.dt_ms)
    with BrianSession(DeviceConfig("runtime", target="numpy")) as session:
        handles = build_cuba(spec, idx, t_ms, n, T)
        session.run(handles.network, T * spec.net.dt_ms * b2.ms)
        return read_results(handles, spec)


def run_both(spec, n=24, seed=1):
    """torch (the model built from the spec) and Brian2 cuba (the spec with torch's decay factors)."""
    from brainsim.experiments.compare import run_torch
    from brainsim.snn import IPDNet

    stim = random_stimuli(spec.stimulus, n, np.random.default_rng(seed))
    model = IPDNet.from_spec(spec)
    brian = run_cuba(spec.with_decay_factors(*model.decay_factors()), stim.spikes)
    return run_torch(model, stim.spikes), brian


@pytest.mark.parametrize("readout", ["oc", "max", "fr", "pop"])
def test_cuba_equals_torch_spike_for_spike(readout):
    spec = small_spec(readout, seed=len(readout))
    torch_out, brian = run_both(spec)
    assert torch_out.hidden_spikes.sum() > 100            # the network really spikes
    np.testing.assert_array_equal(brian.hidden_spikes, torch_out.hidden_spikes)
    np.testing.assert_array_equal(brian.prediction, torch_out.prediction)
    # float64 Brian2 vs float32 torch: scores agree to float32 rounding
    np.testing.assert_allclose(brian.scores, torch_out.scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("readout", ["oc", "fr"])
def test_cuba_with_learned_delays_equals_torch_spike_for_spike(readout):
    """Learned input-to-hidden delays (whole steps, up to 20) become Brian2 synaptic delays: the same
    hidden spike trains and predictions; without the delays the spikes differ (the test can fail)."""
    from dataclasses import replace

    base = small_spec(readout, seed=7)
    rng = np.random.default_rng(3)
    net = replace(base.net, learn_delays=True, max_delay_ms=20.0)
    delays = rng.integers(0, 21, size=(net.n_inputs, net.n_hidden)).astype(np.int32)
    spec = replace(base, net=net, delay_steps=delays)
    torch_out, brian = run_both(spec)
    assert torch_out.hidden_spikes.sum() > 100
    np.testing.assert_array_equal(brian.hidden_spikes, torch_out.hidden_spikes)
    np.testing.assert_array_equal(brian.prediction, torch_out.prediction)
    np.testing.assert_allclose(brian.scores, torch_out.scores, rtol=1e-4, atol=1e-4)
    undelayed, _ = run_both(base)
    assert not np.array_equal(undelayed.hidden_spikes, torch_out.hidden_spikes)


def test_cuba_membrane_only_model():
    spec = small_spec("oc", hidden=False)
    torch_out, brian = run_both(spec, n=12)
    assert torch_out.hidden_spikes is None and brian.hidden_spikes is None
    np.testing.assert_array_equal(brian.prediction, torch_out.prediction)
    np.testing.assert_allclose(brian.scores, torch_out.scores, rtol=1e-4, atol=1e-4)


def _torch_differs_from_numpy_taus(n: int) -> np.ndarray:
    """Time constants (ms) at which torch's float32 exp(-1/tau) is not numpy's value (about 1 % of
    them with torch's vectorised exp; any time constants if this torch rounds exp correctly)."""
    import torch

    tau = np.linspace(2.0, 20.0, 20000, dtype=np.float32)
    torch_alpha = torch.exp(-1.0 / torch.from_numpy(tau)).numpy()
    differ = tau[torch_alpha != decay_factor(tau, 1.0)]
    return differ[:n] if differ.size >= n else tau[::1000][:n]


def test_brian2_decays_with_the_decay_factors_torch_trained_with():
    """A single input spike into leaky outputs: Brian2's membrane sum is the closed-form geometric
    series of torch's own float32 alpha (taken from the trained torch model's forward pass), and not
    that of alpha one ulp away; at time constants where numpy's exp differs from torch's."""
    import torch

    from brainsim.snn import IPDNet

    stimulus = IPDStimulusParams(fibres_per_ear=1, duration_ms=40.0)
    net = NetConfig(model="membrane", readout="oc", n_inputs=2)
    tau_out = _torch_differs_from_numpy_taus(12)
    w = 2.0 ** np.arange(-3, 9, dtype=np.float32)          # powers of two: alpha * w is exact
    model = IPDNet.from_spec(IPDNetworkSpec(net=net, W1=None, W2=np.stack([w, np.zeros(12, np.float32)]),
                                            tau_hidden_ms=None, tau_out_ms=tau_out, stimulus=stimulus))
    T = stimulus.n_steps
    x = np.zeros((1, T, 2), dtype=bool)
    x[0, 0, 0] = True                                      # one spike of fibre 0 at step 0
    with torch.no_grad():
        trace = model(torch.from_numpy(x).float())["output"][0].numpy()          # (T, 12)
    torch_alpha = (trace[2] / w).astype(np.float32)          # v_2 = alpha v_1 = alpha w
    np.testing.assert_array_equal(trace[1], w)
    spec = model.to_spec(stimulus)                         # what a trained model stores
    np.testing.assert_array_equal(spec.alpha_out, torch_alpha)
    out = run_cuba(spec, x)
    # v_t = w alpha^(t-1) for t >= 1: sum over the T recorded values
    closed = lambda a: w * (1 - a.astype(float) ** (T - 1)) / (1 - a.astype(float))  # noqa: E731
    brian_sum = out.scores[0] * T
    np.testing.assert_allclose(brian_sum, closed(torch_alpha), rtol=1e-12)
    one_ulp_off = np.nextafter(torch_alpha, np.float32(0))
    assert np.all(np.abs(brian_sum - closed(one_ulp_off)) > 1e-9 * brian_sum)


def test_coba_conductance_mapping_matches_threshold_condition():
    """At steady state the coba spike condition g_e (E_e - V_th) - g_i (V_th - E_i) > V_th - E_L is the
    torch condition sum(w) > theta: a net weight of exactly theta sits on the threshold."""
    from brainsim.circuits.ipd_network import CobaParams

    p = CobaParams()
    U = p.v_th_mv - p.e_l_mv
    dg_e, dg_i = p.conductance(np.array([1.5, -0.5]), U, p.v_th_mv)
    drive = dg_e.sum() * (p.e_e_mv - p.v_th_mv) - dg_i.sum() * (p.v_th_mv - p.e_i_mv)
    assert drive == pytest.approx(U * 1.0)
    g_e, g_i = dg_e.sum(), dg_i.sum()
    v_inf = (p.e_l_mv + g_e * p.e_e_mv + g_i * p.e_i_mv) / (1 + g_e + g_i)
    assert v_inf == pytest.approx(p.v_th_mv)


@pytest.mark.parametrize("weight, torch_spikes", [(3.0, 2), (1.5, 1)])
def test_coba_fires_torch_pairs_as_real_spikes(weight, torch_spikes):
    """One input spike of weight w (threshold units) onto a tau = 2 ms neuron: torch's membrane crosses at
    once and is still above threshold one step later iff w * alpha > theta (alpha = exp(-1/2)), which gives
    a pair of spikes (w = 3) or one spike (w = 1.5). The coba neuron fires the same number of real spikes,
    the second exactly one torch step after the first (its output synapses see both)."""
    import brian2 as b2

    from brainsim.circuits.ipd_network import CobaParams, build_coba, read_results
    from brainsim.devices import BrianSession, DeviceConfig
    from brainsim.experiments.compare import run_torch
    from brainsim.snn import IPDNet

    n_in, theta = SMALL_STIMULUS.n_fibres, 1.0
    net = NetConfig(model="snn", readout="oc", n_inputs=n_in, n_hidden=1, threshold=theta)
    W1 = np.zeros((n_in, 1), np.float32)
    W1[0, 0] = weight
    spec = IPDNetworkSpec(net=net, W1=W1, W2=np.zeros((1, 12), np.float32), tau_hidden_ms=np.array([2.0], np.float32),
                          tau_out_ms=np.full(12, 20.0, np.float32), stimulus=SMALL_STIMULUS, source="test")
    assert (weight * np.exp(-0.5) > theta) == (torch_spikes == 2)      # the closed-form expectation
    T = SMALL_STIMULUS.n_steps
    spikes = np.zeros((1, T, n_in), np.float32)
    spikes[0, 10, 0] = 1
    assert run_torch(IPDNet.from_spec(spec), spikes).hidden_counts.sum() == torch_spikes
    idx, t_ms = to_spike_times(spikes, SMALL_STIMULUS.dt_ms)
    with BrianSession(DeviceConfig("runtime", target="numpy")) as session:
        handles = build_coba(spec, idx, t_ms, 1, T, CobaParams())
        session.run(handles.network, T * net.dt_ms * b2.ms)
        times_ms = np.asarray(handles.hidden_spikes.t[:] / b2.ms)
        out = read_results(handles, spec)
    assert out.hidden_counts.sum() == torch_spikes == len(times_ms)
    assert 10.0 <= times_ms[0] < 11.0                                  # the crossing: within the input's step
    if torch_spikes == 2:
        assert times_ms[1] - times_ms[0] == pytest.approx(net.dt_ms)


def test_coba_refractory_period_must_exceed_the_second_spike():
    from brainsim.circuits.ipd_network import CobaParams, build_coba

    spec = small_spec("oc")
    with pytest.raises(UserError, match="refractory_ms"):
        build_coba(spec, np.array([0]), np.array([0.0]), 1, 10, CobaParams(refractory_ms=1.0))


def _write_model(directory, spec, fmt="brainsim.ipd-model", version=1):
    """A model directory as written before decay factors were stored (time constants only)."""
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "weights.npz", W1=spec.W1, W2=spec.W2, tau_hidden_ms=spec.tau_hidden_ms,
             tau_out_ms=spec.tau_out_ms)
    manifest = {"format": fmt, "format_version": version, "net": asdict(spec.net),
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
        assert loaded.net == spec.net and loaded.stimulus == SMALL_STIMULUS


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
        session.run(handles.network, T * spec.net.dt_ms * b2.ms)
        out = read_results(handles, spec)
    assert out.scores.shape == (n, 12) and np.all(np.isfinite(out.scores))
    assert out.hidden_spikes.sum() > 10
