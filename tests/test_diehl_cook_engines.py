"""The compiled (cpp_standalone, chunked reruns) and runtime engines agree on a tiny network.

With inputs that fire at every time step (rate * dt >= 1) the simulation has no randomness left, so
both engines must produce the same spikes, weights and thresholds, chunk after chunk. Noisy inputs
then check that the reruns of one compiled project take their random numbers from the key given to
each run (different keys differ, the same key repeats), and that the counter-based generator gives
the runtime engine the very same random input spikes.
"""
from __future__ import annotations

import numpy as np
import pytest

from brainsim.circuits import diehl_cook as dc
from brainsim.devices import DeviceConfig
from brainsim.experiments import mnist as exp

PARAMS = dc.DiehlCookParams(n_neurons=6, dt_ms=0.5, pixel_to_hz=20.0)   # 255 px -> 10 kHz: fires every step


def _images():
    rng = np.random.default_rng(3)
    images = np.zeros((4, 784), np.uint8)
    for k in range(4):
        images[k, rng.choice(784, 12, replace=False)] = 255
    return images


def _run(device: DeviceConfig, images, chunks, rows, params=PARAMS, learning=True, after=None):
    rng = np.random.default_rng(0)
    weights, delays = dc.initial_weights(params, rng), dc.initial_delays_ms(params, rng)
    theta = dc.initial_theta(params)
    intensity, new_sample, results = params.intensity, 1, []
    with exp.Presenter(params, learning, rows, device, delays, label="engines") as pres:
        for k, chunk in enumerate(chunks):
            out = pres.present(images[chunk], intensity, new_sample, weights, theta, rng_key=100 + k)
            rep = exp.replay(params, out, rows, len(chunk), intensity, new_sample)
            assert rep.n_done_before_last == out.n_done_in_sim
            intensity, new_sample = rep.next_intensity, rep.next_new_sample
            if learning:
                weights, theta = out.weights, out.theta
            results.append((out, rep))
        if after is not None:
            results.append(after(pres, weights, theta))
    return results, weights, theta


NOISE_KEYS = (1, 2, 1)


def _noisy(pres, weights, theta):
    noisy = np.repeat(np.full((1, 784), 6, np.uint8), 2, axis=0)   # 6 px -> 240 Hz: random input spikes
    return [pres.present(noisy, PARAMS.intensity, 1, weights, theta, rng_key=key) for key in NOISE_KEYS]


@pytest.fixture(scope="module")
def engines():
    images, chunks = _images(), [[0, 1], [2, 3]]
    runtime = _run(DeviceConfig("runtime", target="numpy"), images, chunks, rows=2, after=_noisy)
    compiled = _run(DeviceConfig("cpp_standalone"), images, chunks, rows=2, after=_noisy)
    noise = compiled[0].pop(), runtime[0].pop()
    return runtime, compiled, noise


def test_same_spikes_weights_and_thresholds(engines):
    (rt_chunks, rt_w, rt_theta), (cp_chunks, cp_w, cp_theta), _ = engines
    for (rt, rt_rep), (cp, cp_rep) in zip(rt_chunks, cp_chunks):
        assert len(rt.spike_i) > 0
        order_rt = np.lexsort((rt.spike_i, rt.spike_step))
        order_cp = np.lexsort((cp.spike_i, cp.spike_step))
        np.testing.assert_array_equal(rt.spike_step[order_rt], cp.spike_step[order_cp])
        np.testing.assert_array_equal(rt.spike_i[order_rt], cp.spike_i[order_cp])
        assert [p.sum() for p in rt_rep.patterns] == [p.sum() for p in cp_rep.patterns]
    np.testing.assert_allclose(cp_w, rt_w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cp_theta, rt_theta, rtol=1e-12)


def test_theta_grows_by_theta_plus_per_spike(engines):
    _, (cp_chunks, _, cp_theta), _ = engines
    counts = sum(np.bincount(out.spike_i, minlength=PARAMS.n_neurons) for out, _ in cp_chunks)
    expected = PARAMS.theta_init_mv + PARAMS.theta_plus_mv * counts   # decay over 2 s is 2e-4 relative
    np.testing.assert_allclose(cp_theta * 1e3, expected, rtol=1e-3)


def test_compiled_reruns_are_reseeded_per_run(engines):
    first, second, again = engines[2][0]
    assert len(first.spike_i) > 0 and len(second.spike_i) > 0
    assert not (len(first.spike_i) == len(second.spike_i) and np.array_equal(first.spike_step, second.spike_step))
    np.testing.assert_array_equal(first.spike_step, again.spike_step)
    np.testing.assert_array_equal(first.spike_i, again.spike_i)


def test_runtime_draws_the_same_random_input_spikes_as_compiled_reruns(engines):
    compiled, runtime = engines[2]
    for cp, rt in zip(compiled, runtime):
        assert len(cp.spike_i) > 0
        order_cp, order_rt = np.lexsort((cp.spike_i, cp.spike_step)), np.lexsort((rt.spike_i, rt.spike_step))
        np.testing.assert_array_equal(cp.spike_step[order_cp], rt.spike_step[order_rt])
        np.testing.assert_array_equal(cp.spike_i[order_cp], rt.spike_i[order_rt])
