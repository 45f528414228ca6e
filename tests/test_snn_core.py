"""Dynamics of the functional core against hand-computed traces, and the native (numba) layer's
forward and hand-written backward pass against autograd through the plain torch loop."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from brainsim.snn.core import (LeakyParams, LIFParams, leaky_layer, leaky_layer_loop, leaky_layer_mean,  # noqa: E402
                               lif_layer, lif_layer_loop, readout_loss, readout_scores)
from brainsim.errors import UserError  # noqa: E402
from brainsim.netspec import IPDNetworkSpec  # noqa: E402
from brainsim.snn import IPDNet, NetConfig  # noqa: E402


def _current(values):
    return torch.tensor(values, dtype=torch.float32).reshape(1, -1, 1)


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_lif_single_spike_trace_by_hand(backend):
    # alpha 0.5, threshold 1, I = [1.5, 0, 0, 0, 0]:
    # v1 = 1.5; s2 = H(1.5 - 1) = 1, v2 = 0.75 (reset uses s1 = 0); s3 = H(-0.25) = 0, v3 = 0 (s2 = 1)
    s = lif_layer(_current([1.5, 0, 0, 0, 0]), LIFParams(0.5), backend)
    assert s.flatten().tolist() == [0, 0, 1, 0, 0]
    s, v = lif_layer_loop(_current([1.5, 0, 0, 0, 0]), LIFParams(0.5), return_v=True)
    assert v.flatten().tolist() == pytest.approx([0, 1.5, 0.75, 0, 0])


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_lif_doublet_from_delayed_reset(backend):
    # I = [3, 0, 0, 0, 0]: v1 = 3 -> s2 = 1; v2 = 1.5 (not yet reset) -> s3 = 1; v3 = 0 -> s4 = 0
    s = lif_layer(_current([3, 0, 0, 0, 0]), LIFParams(0.5), backend)
    assert s.flatten().tolist() == [0, 0, 1, 1, 0]


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_lif_subthreshold_and_last_current_unused(backend):
    # a current that never reaches threshold gives no spikes; I_{T-1} is never used
    assert lif_layer(_current([0.4, 0.4, 0.0, 0.0]), LIFParams(0.9), backend).sum() == 0
    assert lif_layer(_current([0, 0, 0, 50.0]), LIFParams(0.9), backend).sum() == 0
    # threshold is strict: v exactly 1 does not spike
    assert lif_layer(_current([1.0, 0, 0, 0]), LIFParams(0.5), backend).sum() == 0


def test_leaky_layer_by_hand_and_readouts():
    current = _current([1, 2, 0, 0])
    v_expected = [0, 1, 2.5, 1.25]  # v_{t+1} = 0.5 v_t + I_t
    for v in (leaky_layer(current, LeakyParams(0.5)), leaky_layer_loop(current, LeakyParams(0.5))):
        assert v.flatten().tolist() == pytest.approx(v_expected)
    v = leaky_layer(current, LeakyParams(0.5))
    assert readout_scores(v, "oc", 1).item() == pytest.approx(np.mean(v_expected))
    assert readout_scores(v, "max", 1).item() == pytest.approx(2.5)
    assert leaky_layer_mean(current, LeakyParams(0.5)).item() == pytest.approx(np.mean(v_expected))


def test_leaky_filter_equals_loop_per_neuron_alpha():
    gen = torch.Generator().manual_seed(1)
    current = torch.randn(3, 50, 4, generator=gen)
    alpha = torch.tensor([0.1, 0.5, 0.9, 0.999])
    ref = leaky_layer_loop(current, LeakyParams(alpha))
    assert torch.allclose(leaky_layer(current, LeakyParams(alpha)), ref, atol=1e-5)
    assert torch.allclose(leaky_layer_mean(current, LeakyParams(alpha)), ref.mean(1), atol=1e-5)


def test_pop_readout_and_loss():
    # 2 classes x 2 outputs, T = 4: class 0 neurons spike 2 + 0 times, class 1 neurons 4 + 4 times
    out = torch.zeros(1, 4, 4)
    out[0, :2, 0] = 1
    out[0, :, 2:] = 1
    scores = readout_scores(out, "pop", 2)
    assert scores.flatten().tolist() == pytest.approx([2 / 8, 8 / 8])
    loss = readout_loss(scores, torch.tensor([1]), "pop", correct_rate=1.0, incorrect_rate=0.0)
    assert loss.item() == pytest.approx(((0.25 - 0) ** 2 + (1 - 1) ** 2) / 2)
    ce = readout_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([0]), "oc")
    assert ce.item() == pytest.approx(np.log(2))


def test_native_forward_equals_torch_loop_on_random_currents():
    gen = torch.Generator().manual_seed(0)
    current = torch.randn(8, 60, 7, generator=gen) * 0.7 + 0.35
    alpha = torch.linspace(0.3, 0.97, 7)
    a = lif_layer(current, LIFParams(alpha), "torch")
    b = lif_layer(current, LIFParams(alpha), "native")
    assert a.sum() > 20  # the case exercises spikes and resets
    assert torch.equal(a, b)


@pytest.mark.parametrize("slope", [5.0, 1.5])
def test_native_gradients_equal_autograd(slope):
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(5, 40, 6, generator=gen) * 0.8 + 0.3
    weight = torch.randn(5, 40, 6, generator=gen)
    grads = []
    for backend in ("torch", "native"):
        current = base.clone().requires_grad_()
        alpha = torch.linspace(0.5, 0.95, 6).requires_grad_()
        s = lif_layer(current, LIFParams(alpha, 1.0, slope), backend)
        (s * weight).sum().backward()
        grads.append((current.grad, alpha.grad))
    (g_cur_t, g_alpha_t), (g_cur_n, g_alpha_n) = grads
    assert g_cur_t.abs().max() > 0.1
    assert torch.allclose(g_cur_n, g_cur_t, rtol=1e-4, atol=1e-5)
    assert torch.allclose(g_alpha_n, g_alpha_t, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("readout", ["oc", "max", "fr", "pop"])
def test_network_weight_gradients_equal_between_backends(readout):
    config = NetConfig(readout=readout, n_inputs=20, n_hidden=8, n_classes=3, pop_per_class=2,
                       tau_hidden_ms=5.0, tau_out_ms=5.0, learn_tau=True)
    gen = torch.Generator().manual_seed(4)
    x = (torch.rand(6, 30, 20, generator=gen) < 0.3).float()
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    nets = [IPDNet(config, seed=1, backend=b) for b in ("torch", "native")]
    for net in nets:
        with torch.no_grad():  # stronger input weights so that both layers spike
            net.W1.mul_(4.0)
            net.W2.mul_(4.0)
        readout_loss(net(x, traces=False)["scores"], labels, readout).backward()
    a, b = nets
    assert a(x)["hidden_spikes"].sum() > 0
    for name in ("W1", "W2"):
        ga, gb = getattr(a, name).grad, getattr(b, name).grad
        assert ga.abs().max() > 0
        assert torch.allclose(ga, gb, rtol=1e-4, atol=1e-6), name
    assert torch.allclose(a.tau_hidden.tau_ms.grad, b.tau_hidden.tau_ms.grad, rtol=1e-3, atol=1e-6)


def test_positive_weights_projection_and_hetero_tau():
    config = NetConfig(n_inputs=10, n_hidden=5, n_classes=3, positive_weights=True, tau_hetero=True,
                       tau_hidden_ms=4.0, tau_out_ms=4.0)
    net = IPDNet(config, seed=2)
    assert (net.W1 >= 0).all() and (net.W2 >= 0).all()
    with torch.no_grad():
        net.W1.sub_(1.0)
    net.project()
    assert (net.W1 >= 0).all()
    taus = net.tau_hidden.tau_ms
    assert taus.std() > 0 and (taus > 0).all()


def test_membrane_only_model_has_no_hidden_layer():
    net = IPDNet(NetConfig(model="membrane", n_inputs=10, n_classes=3), seed=0)
    out = net(torch.ones(2, 5, 10))
    assert out["scores"].shape == (2, 3) and "hidden_spikes" not in out
    with pytest.raises(UserError, match="membrane"):
        NetConfig(model="membrane", readout="fr")


@pytest.mark.parametrize("config", [
    NetConfig(readout="pop", n_inputs=10, n_hidden=5, n_classes=3, pop_per_class=2, tau_hetero=True, learn_tau=True,
              tau_hidden_ms=3.0, tau_out_ms=7.0),
    NetConfig(model="membrane", readout="max", n_inputs=10, n_classes=3, tau_hetero=True),
], ids=["pop_hetero_learned", "membrane"])
def test_spec_round_trip_gives_the_same_network(config):
    """to_spec -> from_spec: the same weights, time constants, decay factors and outputs."""
    from brainsim.stimuli.ipd import IPDClasses, IPDStimulusParams

    net = IPDNet(config, seed=3)
    spec = net.to_spec(IPDStimulusParams(fibres_per_ear=5), IPDClasses(n_classes=3))
    assert isinstance(spec, IPDNetworkSpec) and spec.net == config and spec.W2.dtype == np.float32
    back = IPDNet.from_spec(spec)
    for a, b in zip(net.decay_factors(), back.decay_factors()):
        assert (a is None and b is None) or np.array_equal(a, b)
    np.testing.assert_array_equal(spec.alpha_out, net.tau_out.alpha(config.dt_ms).detach().numpy())
    x = (torch.rand(4, 30, 10, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    with torch.no_grad():
        out_a, out_b = net(x), back(x)
    for key in out_a:
        assert torch.equal(out_a[key], out_b[key]), key
    spec.W2[:] = 0  # the spec holds copies: the model is untouched
    assert net.W2.abs().sum() > 0


def test_spec_refuses_inconsistent_arrays():
    net = IPDNet(NetConfig(n_inputs=200, n_hidden=4), seed=0)
    spec = net.to_spec()
    with pytest.raises(UserError, match="shape mismatch"):
        IPDNetworkSpec(net=spec.net, W1=spec.W1[:, :3], W2=spec.W2, tau_hidden_ms=spec.tau_hidden_ms,
                       tau_out_ms=spec.tau_out_ms)
    with pytest.raises(UserError, match="alpha_out"):
        spec.with_decay_factors(spec.alpha_hidden, spec.alpha_out * 0.9)
