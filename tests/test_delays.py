"""Differentiable delays in torch: exact integer shifts, gradient signs, learning the task and the toy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from brainsim.experiments import delays as ex
from brainsim.snn.delays import DelayLayer, DelayParameters, coincidence, delayed_projection, shift

SURROGATES = ("interpolate", "straight_through")


def _spikes(steps, channels, where):
    x = torch.zeros(2, steps, channels)
    for t, c in where:
        x[:, t, c] = 1.0
    return x


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_integer_delays_shift_spikes_exactly_and_nothing_is_lost(surrogate):
    x = _spikes(12, 3, [(0, 0), (4, 1), (11, 1), (11, 2)])
    delays = torch.tensor([0.0, 3.0, 6.0])
    y = shift(x, delays, DelayParameters(6, surrogate))
    assert y.shape == (2, 18, 3)
    expected = torch.zeros_like(y)
    for t, c in [(0, 0), (4, 1), (11, 1), (11, 2)]:
        expected[:, t + int(delays[c]), c] = 1.0
    assert torch.equal(y, expected)          # binary, exact, the last spike (11 + 6 = 17) kept


def test_per_synapse_delays_broadcast_to_n_in_by_n_out():
    x = _spikes(5, 2, [(1, 0), (2, 1)])
    layer = DelayLayer((2, 3), max_delay=4, init="zero")
    with torch.no_grad():
        layer.delays.copy_(torch.tensor([[0.0, 1.0, 2.0], [4.0, 3.0, 0.0]]))
    y = layer(x.unsqueeze(-1))
    assert y.shape == (2, 9, 2, 3)
    for i, t0 in enumerate([1, 2]):
        for j in range(3):
            column = y[0, :, i, j]
            assert torch.nonzero(column).ravel().tolist() == [t0 + int(layer.delays[i, j])]


def test_fractional_delay_splits_the_spike_and_gradient_points_the_right_way():
    x = _spikes(10, 1, [(2, 0)])
    d = torch.tensor([2.3], requires_grad=True)
    y = shift(x, d, DelayParameters(5, "interpolate"))
    assert y[0, 4, 0].item() == pytest.approx(0.7) and y[0, 5, 0].item() == pytest.approx(0.3)
    # Want more at t = 5 (later): increasing d helps, so d(loss)/dd < 0.
    (-y[0, 5, 0]).backward()
    assert d.grad.item() < 0
    d.grad = None
    y = shift(x, d, DelayParameters(5, "interpolate"))
    (-y[0, 4, 0]).backward()                 # want more at t = 4 (earlier): gradient > 0
    assert d.grad.item() > 0


def test_straight_through_gradient_has_the_right_sign_and_vanishes_at_the_optimum():
    # Reference spike at t = 6; input spike at t = 2 (best delay 4); loss = - coincidence after filtering.
    x = _spikes(12, 1, [(2, 0)])
    ref = torch.zeros(1, 12 + 8, 1)
    ref[0, 6, 0] = 1.0
    grads = {}
    for start in (2.6, 4.0, 5.4):            # rounds to 3 (too early), 4 (right), 5 (too late)
        d = torch.tensor([start], requires_grad=True)
        y = shift(x[:1], d, DelayParameters(8, "straight_through"))
        assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
        loss = -coincidence(ref, y, tau_steps=2.0).sum()
        loss.backward()
        grads[start] = d.grad.item()
    assert grads[2.6] < 0 < grads[5.4]       # gradient descent moves d towards 4 from both sides
    assert abs(grads[4.0]) < 0.1 * min(abs(grads[2.6]), abs(grads[5.4]))


def test_interpolation_gradient_matches_finite_differences():
    x = torch.rand(2, 15, 3, dtype=torch.float64)
    d = torch.tensor([1.3, 4.7, 2.2], dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda dd: shift(x, dd, DelayParameters(6, "interpolate")), (d,))


@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("kind", ["fractional", "integer"])
def test_delayed_projection_equals_summed_shifts_values_and_gradients(surrogate, kind):
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 20, 5, generator=gen) < 0.3).double()
    weight = torch.randn(5, 4, dtype=torch.double, generator=gen)
    values = torch.rand(5, 4, generator=gen, dtype=torch.double) * 6
    if kind == "integer":
        values = values.round()
    params = DelayParameters(6, surrogate)
    for full in (True, False):
        grads = []
        for fn in (lambda w, d: delayed_projection(x, w, d, params, full=full),
                   lambda w, d: (shift(x.unsqueeze(-1), d, params) * w).sum(2)[:, :None if full else 20]):
            w, d = weight.clone().requires_grad_(True), values.clone().requires_grad_(True)
            out = fn(w, d)
            grads.append((out.detach(),) + torch.autograd.grad((out ** 2).sum() + out.sum(), (w, d)))
        for a, b in zip(*grads):
            assert torch.allclose(a, b, atol=1e-10)


def test_delayed_ipd_network_runs_and_delays_get_gradients():
    from brainsim.snn.delays import DelayedIPDNet
    from brainsim.snn.models import NetConfig

    model = DelayedIPDNet(NetConfig(n_inputs=20, n_hidden=6), max_delay_steps=10, seed=0, backend="torch")
    x = (torch.rand(4, 30, 20) < 0.1).float()
    out = model(x)
    assert out["scores"].shape == (4, 12) and out["hidden_spikes"].shape == (4, 30, 6)
    out["scores"].pow(2).sum().backward()
    assert model.delay_raw.grad is not None and model.delay_raw.grad.abs().sum() > 0
    with torch.no_grad():
        model.delay_raw.add_(100.0)
    model.project()
    assert model.delays.max().item() == pytest.approx(10.0)


@pytest.mark.parametrize("offset", [1.0, 9.5])
def test_torch_learns_the_offset(offset):
    # From 5 ms: one offset below, one above the start.
    r = ex.run_torch(offset, seed=2, params=ex.TorchRunParams(epochs=80, repetitions=2, initial_delay_ms=5.0)).summary
    assert r["error_ms"] < 0.5, r
    assert r["epochs_needed"] is not None and r["epochs_needed"] < 80


def test_straight_through_learns_the_offset_too():
    r = ex.run_torch(6.0, seed=4, params=ex.TorchRunParams(epochs=80, repetitions=2, surrogate="straight_through"))
    assert r.summary["error_ms"] < 0.5, r.summary
    assert r.delay_ms[0] == pytest.approx(1.0) and r.step[-1] == 80    # the trajectory from the start


def test_toy_problem_recovers_planted_shifts():
    """Seed 001's toy problem (smaller): every planted shift of every class is recovered."""
    r = ex.toy_problem(1, ex.ToyParams(classes=6, inputs=3, epochs=200))
    assert r.planted.shape == (6, 2)
    assert r.summary["recovered_fraction"] == 1.0, (r.planted, r.learned)
    assert np.all(np.round(r.learned) == r.planted)


def test_ipd_with_learnable_delays_small_run():
    """The IPD experiment end to end on a tiny protocol (the real run is in docs/delays.md): the
    accuracy is a count of the 64 test stimuli, and a second epoch moves the learned delays."""
    runs = [ex.run_ipd_delays(0, ex.IPDDelayParams(epochs=epochs, n_train=64, n_test=64, hidden=4,
                                                   conditions="delays")) for epochs in (1, 2)]
    for out in runs:
        r = out.summary["results"]["delays"]
        assert r["test_accuracy"] * 64 == pytest.approx(round(r["test_accuracy"] * 64))
        assert np.isfinite(r["final_loss"]) and r["final_loss"] > 0
        d = out.delays_ms
        assert d.shape == (200, 4) and d.min() >= 0.0 and d.max() <= 25.0 and d.std() > 1.0
    moved = np.abs(runs[1].delays_ms - runs[0].delays_ms)
    assert moved.max() > 1e-3, "the second epoch did not change the delays"


@pytest.mark.slow
def test_cli_ipd_task(run_cli, tmp_path):
    plot = tmp_path / "ipd.png"
    result = run_cli("delays", "--task", "ipd", "--epochs", "1", "--conditions", "delays,plain", "--json",
                     "--plot", plot, timeout=1800)
    assert result.returncode == 0, result
    out = result.json()
    assert set(out["results"]) == {"delays", "plain"}
    assert plot.read_bytes()[:4] == b"\x89PNG"
