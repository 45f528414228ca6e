"""Lagging-variable delay lines and the delay learner (Brian2, numpy runtime target)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from brainsim.circuits.lagging import (DelayLearnerParams, LagLineParams, build_lag_line, lag_chain_equations,
                                       learner_model)
from brainsim.devices import BrianSession, DeviceConfig
from brainsim.errors import UserError
from brainsim.experiments import delays as ex


def test_chain_equations_are_generated_for_k_stages():
    eqs = lag_chain_equations(3)
    assert eqs.splitlines() == ["dx_1/dt = -x_1 / tau_d : 1",
                                "dx_2/dt = (x_1 - x_2) / tau_d : 1",
                                "dx_3/dt = (x_2 - x_3) / tau_d : 1"]
    model = learner_model(5)   # on-time tap x_5 and late tap x_6
    assert "dx_6/dt = (x_5 - x_6) / tau_d" in model and "dx_7/dt" not in model
    assert "tau_d = (delay + dt) / 5 : second" in model


@pytest.mark.parametrize("stages", [0, -2, 1.5, True])
def test_non_positive_or_non_integer_k_is_rejected(stages):
    with pytest.raises(UserError, match="stages K"):
        lag_chain_equations(stages)
    with pytest.raises(UserError):
        LagLineParams(stages=stages)


def test_bad_time_constants_are_rejected():
    with pytest.raises(UserError, match="tau_c_ms"):
        DelayLearnerParams(tau_c_ms=0)
    with pytest.raises(UserError, match="tau_learn_ms"):
        DelayLearnerParams(tau_learn_ms=-1)
    with pytest.raises(UserError, match="initial delay"):
        DelayLearnerParams(initial_delay_ms=25.0, max_delay_ms=20.0).check(dt_ms=0.1)
    with pytest.raises(UserError, match="delay_ms"):
        LagLineParams(stages=8, delay_ms=0.1, dt_ms=0.1)   # tau_d < dt


def test_impulse_response_matches_erlang_closed_form():
    """x_K / tau_d after one spike is the Erlang density: mean K tau_d, sd sqrt(K) tau_d."""
    dt = 0.01
    for r in ex.impulse_responses(ex.ImpulseParams(stages="2,5,12", delay_ms=4.0, dt_ms=dt)):
        K, tau = r.stages, r.tau_ms
        assert r.mass == pytest.approx(1.0, abs=0.01)
        assert r.mean_ms == pytest.approx(K * tau, abs=0.02)
        # Forward Euler makes each stage a geometric filter of variance tau (tau - dt): the chain's sd
        # is sqrt(K tau (tau - dt)) exactly, within dt / (2 tau) (here < 2 %) of sqrt(K) tau.
        assert r.sd_ms == pytest.approx(math.sqrt(K * tau * (tau - dt)), rel=0.003)
        assert r.sd_ms == pytest.approx(math.sqrt(K) * tau, rel=0.02)
        assert r.max_abs_diff < 0.03 * r.peak, K


def _bump_mean(t, y, start, stop):
    keep = (t >= start) & (t < stop)
    return float((t[keep] * y[keep]).sum() / y[keep].sum())


def test_delay_change_takes_effect_within_the_same_run():
    """A control spike at 30 ms sets the delay from 6 to 2 ms; the spike at 35 ms is delayed by 2 ms."""
    import brian2 as b2

    dt = 0.02
    params = LagLineParams(stages=8, delay_ms=6.0, dt_ms=dt)
    with BrianSession(DeviceConfig()) as session:
        handles = build_lag_line(params, [0, 0], [5.0, 35.0])
        control = b2.SpikeGeneratorGroup(1, [0], [30.0] * b2.ms, dt=dt * b2.ms)
        switch = b2.Synapses(control, handles.line, on_pre="delay_post = 2*ms", dt=dt * b2.ms)
        switch.connect()
        handles.network.add(control, switch)
        session.run(handles.network, 65 * b2.ms)
        t = np.asarray(handles.monitor.t / b2.ms)
        y = np.asarray(handles.monitor.x_8[0])
        delay = np.asarray(handles.monitor.delay[0] / b2.ms)
    assert delay[t < 30].max() == pytest.approx(6.0) and delay[t > 31].min() == pytest.approx(2.0)
    # The monitor samples before each step's update: the mean latency it sees is K * tau_d = delay + dt.
    assert _bump_mean(t, y, 5, 30) - 5.0 == pytest.approx(6.0 + dt, abs=0.05)
    assert _bump_mean(t, y, 35, 65) - 35.0 == pytest.approx(2.0 + dt, abs=0.05)


def test_learner_converges_on_a_small_case():
    """Offsets below and above the initial delay (5 ms) are learned to well within 0.5 ms in 1 s."""
    out = ex.run_lagging_many([2.0, 8.5], seed=3,
                              params=ex.LaggingRunParams(DelayLearnerParams(initial_delay_ms=5.0), duration_s=1.0))
    for run in out:
        r, delay = run.summary, run.delay_ms
        assert delay[0] == pytest.approx(5.0)
        assert r["error_ms"] < 0.05, r
        assert r["simulated_s_needed"] is not None and r["simulated_s_needed"] < 0.8
        # The delay relaxes towards the offset without overshoot.
        beyond = (delay - r["offset_ms"]) * np.sign(r["offset_ms"] - 5.0)
        assert beyond.max() < 0.01


@pytest.mark.slow  # compiles a C++ project (~40 s on 2 cores)
def test_learner_runs_in_generated_code_cpp_standalone():
    """The rule lives in generated code: cpp_standalone (no network_operation) learns as well."""
    out = ex.run_lagging_many([6.5], seed=1, params=ex.LaggingRunParams(duration_s=1.0),
                              device=DeviceConfig(name="cpp_standalone"))
    assert out[0].summary["device"] == "cpp_standalone"
    assert out[0].summary["error_ms"] < 0.1


def test_offsets_beyond_the_maximum_delay_are_rejected():
    with pytest.raises(UserError, match="beyond the maximum delay"):
        ex.run_lagging_many([25.0], seed=0)
    with pytest.raises(UserError, match="shortest delay"):
        ex.run_lagging_many([0.2], seed=0)
