"""Diehl & Cook circuit: STDP rule in closed form, normalisation, boost rule, replay (numpy runtime)."""
from __future__ import annotations

import numpy as np
import pytest

brian2 = pytest.importorskip("brian2")

from brainsim.circuits import diehl_cook as dc  # noqa: E402
from brainsim.devices import BrianSession, DeviceConfig  # noqa: E402
from brainsim.experiments import mnist as exp  # noqa: E402
from brainsim.stimuli.mnist import load_embedded  # noqa: E402

P = dc.DiehlCookParams()


def _stdp_pair(pre_times_ms, post_times_ms, w0):
    """One plastic synapse driven by hand-made spike times; returns (w, colsum, actual spike times)."""
    from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, ms

    with BrianSession(DeviceConfig("runtime", target="numpy")):
        ns = dc.namespace(P, stimulus=None)
        dt = P.dt_ms * ms
        pre = SpikeGeneratorGroup(1, [0] * len(pre_times_ms), np.array(pre_times_ms) * ms, dt=dt)
        driver = SpikeGeneratorGroup(1, [0] * len(post_times_ms), np.array(post_times_ms) * ms, dt=dt)
        post = NeuronGroup(1, "v : 1\nge : 1\ncolsum : 1" + dc.POST_TRACE_VARS, threshold="v > 0.5",
                           reset="v = 0" + dc.POST_TRACE_RESET, namespace=ns, dt=dt)
        post.run_regularly(dc.POST_TRACE_DECAY, when="start")
        kick = Synapses(driver, post, on_pre="v_post = 1", dt=dt)
        kick.connect()
        syn = Synapses(pre, post, model=dc.STDP_MODEL, on_pre=dc.STDP_ON_PRE, on_post=dc.STDP_ON_POST,
                       namespace=ns, dt=dt)
        syn.connect()
        syn.w = w0
        syn.t_arrival = dc.NEVER * brian2.second
        post.colsum = w0
        mon_pre, mon_post = SpikeMonitor(pre), SpikeMonitor(post)
        net = Network(pre, driver, post, kick, syn, mon_pre, mon_post)
        net.run(200 * ms, namespace={})
        return float(syn.w[0]), float(post.colsum[0]), mon_pre.t_[:] * 1e3, mon_post.t_[:] * 1e3


def test_stdp_post_pre_post_closed_form():
    w, colsum, t_pre, t_post = _stdp_pair([30.0], [10.0, 45.0], w0=0.5)
    (t1,), (t0, t2) = t_pre, t_post
    expected = (0.5 - P.nu_pre * np.exp(-(t1 - t0) / P.tau_post1_ms)
                + P.nu_post * np.exp(-(t2 - t1) / P.tau_pre_ms) * np.exp(-(t2 - t0) / P.tau_post2_ms))
    assert w == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert colsum == pytest.approx(w, rel=1e-12)   # the running column sum follows every change


def test_stdp_first_post_spike_does_not_potentiate_and_clipping():
    # a lone pre -> post pair: post2 is 0 at the first postsynaptic spike, so no potentiation
    w, _, _, _ = _stdp_pair([20.0], [25.0], w0=0.3)
    assert w == pytest.approx(0.3)
    # depression clipped at 0, potentiation clipped at w_max
    w, colsum, _, _ = _stdp_pair([30.0], [29.0], w0=0.0)
    assert w == 0.0 and colsum == 0.0
    w, colsum, _, _ = _stdp_pair([30.0], [10.0, 31.0], w0=0.999)
    assert w == P.w_max and colsum == pytest.approx(P.w_max)


def _run_tiny(images, *, weights=None, n_neurons=4, presentations=None, learning=True, intensity=None,
              params=None, seed=1):
    p = params or dc.DiehlCookParams(n_neurons=n_neurons, dt_ms=1.0)
    rng = np.random.default_rng(seed)
    w = dc.initial_weights(p, rng) if weights is None else weights
    rows = presentations or len(images)
    with BrianSession(DeviceConfig("runtime", target="numpy")):
        brian2.seed(seed)
        h = dc.build_diehl_cook(p, learning=learning, rows=rows, weights=w, delays_ms=dc.initial_delays_ms(p, rng),
                                theta=dc.initial_theta(p), images=images, intensity=intensity)
        h.network.run(rows * p.period_ms * brian2.ms, namespace={})
        c = h.controller
        out = {"w": np.array(h.input_synapses.w[:]).reshape(p.n_input, p.n_neurons), "n_done": int(c.n_done[0]),
               "n_shown": int(c.n_shown[0]), "intensity": float(c.intensity[0]),
               "colsum": np.array(h.exc.colsum[:]) if learning else None,
               "spike_i": np.array(h.exc_spikes.i[:]), "spike_t": np.array(h.exc_spikes.t_[:]), "params": p,
               "w0": w.reshape(p.n_input, p.n_neurons)}
    return out


@pytest.fixture(scope="module")
def digits():
    return load_embedded().train_images


def test_normalisation_scales_columns_to_78_and_running_sums_are_exact(digits):
    out = _run_tiny(digits[:2], n_neurons=4)
    sums = out["w"].sum(axis=0)
    assert not np.allclose(out["w0"].sum(axis=0), 78)          # the initial weights are not normalised
    np.testing.assert_allclose(out["colsum"], sums, rtol=1e-9)  # running sums == actual sums
    spiked = np.unique(out["spike_i"])
    silent = np.setdiff1d(np.arange(4), spiked)
    # a neuron that never fired had no STDP change after its last normalisation: exactly 78
    np.testing.assert_allclose(sums[silent], 78.0, rtol=1e-9)
    assert len(spiked) > 0 and not np.allclose(sums[spiked], 78.0)


def test_normalisation_happens_before_a_blank_sample(digits):
    out = _run_tiny(np.zeros((1, 784), np.uint8), n_neurons=3, presentations=2)
    np.testing.assert_allclose(out["w"].sum(axis=0), 78.0, rtol=1e-12)


def test_boost_rule_repeats_weak_samples_with_higher_intensity():
    # a blank image drives no spikes: every presentation is repeated with intensity + 1
    out = _run_tiny(np.zeros((1, 784), np.uint8), n_neurons=3, presentations=3)
    assert out["n_done"] == 0 and out["n_shown"] == 3
    assert out["intensity"] == P.intensity + 2              # 2 at the first, 3, then 4 at the third
    outcome = exp.ChunkOutcome(out["spike_i"], np.rint(out["spike_t"] / 1e-3).astype(int), 0, None, None, 0.0)
    rep = exp.replay(out["params"], outcome, rows=3, n_valid=1, intensity=P.intensity, new_sample=1)
    assert rep.patterns == [] and rep.pending_presentations == 3
    assert rep.next_intensity == P.intensity + 3 and rep.next_new_sample == 0


def test_strong_sample_is_not_repeated_and_replay_matches_controller(digits):
    p = dc.DiehlCookParams(n_neurons=3, dt_ms=1.0)
    out = _run_tiny(digits[:2], weights=np.full(p.n_synapses, 0.5), params=p, learning=False, presentations=3)
    outcome = exp.ChunkOutcome(out["spike_i"], np.rint(out["spike_t"] / 1e-3).astype(int), out["n_done"], None,
                               None, 0.0)
    rep = exp.replay(p, outcome, rows=3, n_valid=2, intensity=P.intensity, new_sample=1)
    assert out["n_done"] == rep.n_done_before_last == 2    # both digits done at the first try
    assert rep.presentations == [1, 1] and rep.intensities == [P.intensity, P.intensity]
    assert all(pat.sum() >= p.min_spikes for pat in rep.patterns)
    # the third presentation has nothing left to show: no input, no spikes after the second sample
    assert (out["spike_t"] < 2 * p.period_ms * 1e-3 + 0.02).all()


def test_params_validation():
    from brainsim.errors import UserError

    with pytest.raises(UserError, match="divide"):
        dc.DiehlCookParams(dt_ms=0.3)
    with pytest.raises(UserError, match="n_neurons"):
        dc.DiehlCookParams(n_neurons=0)


def test_input_spikes_are_bernoulli_per_step_at_pixel_rate_and_silent_at_rest():
    """Inputs fire as the seed's PoissonGroup does: each step with p = pixel / 8 * intensity * dt, only in
    the 350 ms input phase, never for blank pixels (the geometric skip-ahead must keep this process)."""
    from brian2 import Network, SpikeMonitor, ms

    p = dc.DiehlCookParams(n_neurons=2, dt_ms=0.5, min_spikes=0)      # min_spikes 0: no repeats
    image = np.zeros((1, 784), np.uint8)
    image[0, :100], image[0, 100:200] = 255, 64
    presentations = 4
    rng = np.random.default_rng(0)
    with BrianSession(DeviceConfig("runtime", target="numpy")):
        brian2.seed(5)
        h = dc.build_diehl_cook(p, learning=False, rows=presentations, weights=np.zeros(p.n_synapses),
                                delays_ms=dc.initial_delays_ms(p, rng), theta=dc.initial_theta(p),
                                images=np.repeat(image, presentations, axis=0))
        mon = SpikeMonitor(h.inputs)
        Network(h.network.objects, mon).run(presentations * p.period_ms * ms, namespace={})
        i, t_ms = np.array(mon.i[:]), np.array(mon.t_[:]) * 1e3
    assert set(np.unique(i)) <= set(range(200))                        # blank pixels never fire
    assert ((t_ms % p.period_ms) < p.present_ms).all()                # nothing at rest
    steps = presentations * p.steps_present
    for pixels, value in ((slice(0, 100), 255), (slice(100, 200), 64)):
        prob = value * p.pixel_to_hz * p.intensity * p.dt_ms * 1e-3
        n = np.isin(i, np.arange(784)[pixels]).sum()
        expected, sd = 100 * steps * prob, np.sqrt(100 * steps * prob * (1 - prob))
        assert abs(n - expected) < 4 * sd, (value, n, expected)
    # at most one spike per input and step, as with a per-step Bernoulli draw
    assert len(np.unique(np.stack([i, np.rint(t_ms / p.dt_ms)]), axis=1).T) == len(i)
    # intervals within a presentation are geometric: P(next spike in the very next step) = p
    prob = 255 * p.pixel_to_hz * p.intensity * p.dt_ms * 1e-3
    gaps = np.concatenate([np.diff(np.sort(t_ms[(i == k) & (t_ms // p.period_ms == r)]))
                           for k in range(100) for r in range(presentations)]) / p.dt_ms
    assert np.rint(gaps).min() >= 1
    assert abs(np.mean(np.rint(gaps) == 1) - prob) < 4 * np.sqrt(prob * (1 - prob) / len(gaps))
