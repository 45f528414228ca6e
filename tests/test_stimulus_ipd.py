"""The shared IPD stimulus against closed forms (rates, phase locking, IPD sign), shapes and seeding."""
import math

import numpy as np
import pytest

from brainsim.stimuli import ipd as S


def expected_envelope_mean(k: float) -> float:
    """E[(0.5 (1 + sin theta))^k] for theta uniform: 0.5(1+sin) = sin^2(theta/2 + pi/4) -> Gamma form."""
    return math.gamma(k + 0.5) / (math.sqrt(math.pi) * math.gamma(k + 1))


def test_shapes_dtype_and_defaults_are_the_tutorials():
    p = S.IPDStimulusParams()
    assert (p.fibres_per_ear, p.rate_max_hz, p.envelope_power, p.freq_hz, p.duration_ms, p.dt_ms) == \
        (100, 600.0, 2.0, 20.0, 100.0, 1.0)
    stim = S.generate(p, np.zeros(3), rng=0)
    assert stim.spikes.shape == (3, 100, 200)
    assert stim.spikes.dtype == bool
    assert stim.ipd.shape == stim.start_phase.shape == (3,)
    pd = p.fibre_phase_delays
    assert pd[0] == 0 and pd[99] == pytest.approx(np.pi / 2) and pd[100] == 0 and pd[199] == pytest.approx(np.pi / 2)
    assert np.all(S.PLAIN_EARS.fibre_phase_delays == 0)


def test_determinism_by_seed():
    p = S.IPDStimulusParams(fibres_per_ear=10)
    a = S.random_stimuli(p, 5, rng=42)
    b = S.random_stimuli(p, 5, rng=42)
    c = S.random_stimuli(p, 5, rng=43)
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.ipd, b.ipd)
    assert not np.array_equal(a.spikes, c.spikes)
    assert np.all((a.ipd >= -np.pi / 2) & (a.ipd < np.pi / 2))


@pytest.mark.parametrize("k", [0.0, 1.0, 2.0, 5.0])
def test_mean_rate_matches_closed_form(k):
    p = S.IPDStimulusParams(envelope_power=k, fibres_per_ear=50)
    stim = S.random_stimuli(p, 400, rng=1)
    rate_hz = stim.spikes.mean() / (p.dt_ms * 1e-3)
    expected = p.rate_max_hz * expected_envelope_mean(k)
    n_bins = stim.spikes.size
    se = math.sqrt(expected * 1e-3 * (1 - expected * 1e-3) / n_bins) / 1e-3
    # random start phases average the 2-period tone exactly; allow Poisson noise plus 1 %
    assert rate_hz == pytest.approx(expected, abs=5 * se + 0.01 * expected)


@pytest.mark.parametrize("params", [S.TUTORIAL, S.PLAIN_EARS, S.TUTORIAL.with_(envelope_power=1.5, dt_ms=0.5)])
def test_firing_rates_follow_the_tutorial_equation_element_by_element(params):
    # the generator's factored sine (sin(a + b) = sin a cos b + cos a sin b) against the equation of the
    # module docstring evaluated directly for each (sample, step, fibre)
    rng = np.random.default_rng(5)
    ipd, phi0 = rng.uniform(-np.pi / 2, np.pi / 2, 3), rng.uniform(0, 2 * np.pi, 3)
    fast = S.firing_rates(params, ipd, phi0)
    n_a = params.fibres_per_ear
    for s in range(3):
        for step in (0, 7, params.n_steps - 1):
            for fibre in (0, 13, n_a - 1, n_a, n_a + 41, 2 * n_a - 1):
                ear, j = divmod(fibre, n_a)
                delay = j * params.max_phase_delay_rad / (n_a - 1) if params.phase_delays else 0.0
                theta = 2 * np.pi * params.freq_hz * step * params.dt_ms * 1e-3 + phi0[s] + ear * ipd[s] + delay
                rate = params.rate_max_hz * (0.5 * (1 + math.sin(theta))) ** params.envelope_power
                assert fast[s, step, fibre] == pytest.approx(rate, rel=1e-12, abs=1e-12)


def _tone_phase_at_spikes(stim, fibres):
    """Phase 2 pi f t + phi_0 at every spike of the given fibres (independent of the generator)."""
    p = stim.params
    s, step, f = np.nonzero(stim.spikes[:, :, fibres])
    t = step * p.dt_ms * 1e-3
    return 2 * np.pi * p.freq_hz * t + stim.start_phase[s], np.asarray(fibres)[f]


def test_phase_locking_vector_strength_closed_form():
    # k = 2: E[s^2 e^{i theta}] / E[s^2] with s = 0.5 (1 + sin theta) -> i * 2/3
    p = S.PLAIN_EARS.with_(dt_ms=0.1, envelope_power=2.0, rate_max_hz=600.0, fibres_per_ear=20)
    stim = S.generate(p, np.zeros(200), rng=3)
    phase, _ = _tone_phase_at_spikes(stim, np.arange(20))
    vector = np.mean(np.exp(1j * phase))
    assert abs(vector) == pytest.approx(2 / 3, abs=0.02)
    assert np.angle(vector) == pytest.approx(np.pi / 2, abs=0.03)


def test_ipd_is_added_to_ear_1_so_it_leads():
    p = S.PLAIN_EARS.with_(dt_ms=0.1, fibres_per_ear=20)
    ipd = np.deg2rad(40.0)
    stim = S.generate(p, np.full(200, ipd), rng=4)
    ear0, _ = _tone_phase_at_spikes(stim, np.arange(0, 20))
    ear1, _ = _tone_phase_at_spikes(stim, np.arange(20, 40))
    # spikes cluster where theta = pi/2: tone phase pi/2 for ear 0, pi/2 - ipd for ear 1 (earlier)
    difference = np.angle(np.mean(np.exp(1j * ear0))) - np.angle(np.mean(np.exp(1j * ear1)))
    assert S.wrap_angle(difference) == pytest.approx(ipd, abs=0.03)


def test_fibre_phase_delays_shift_the_preferred_phase():
    p = S.TUTORIAL.with_(dt_ms=0.1, fibres_per_ear=5)  # phase delays 0, pi/8, ..., pi/2
    stim = S.generate(p, np.zeros(300), rng=5)
    first, _ = _tone_phase_at_spikes(stim, [0])
    last, _ = _tone_phase_at_spikes(stim, [4])
    lead = np.angle(np.mean(np.exp(1j * first))) - np.angle(np.mean(np.exp(1j * last)))
    assert S.wrap_angle(lead) == pytest.approx(np.pi / 2, abs=0.05)


def test_spike_times_round_trip_and_layout():
    p = S.IPDStimulusParams(fibres_per_ear=7, duration_ms=20)
    stim = S.random_stimuli(p, 4, rng=6)
    idx, t = S.to_spike_times(stim.spikes, p.dt_ms)
    assert np.all(np.diff(t) >= 0)
    assert idx.max() < 4 * 14
    s, step, f = 2, 5, 9
    expected = stim.spikes[s, step, f]
    found = np.any((idx == s * 14 + f) & (t == step * p.dt_ms))
    assert found == expected
    back = S.from_spike_times(idx, t, 4, p.n_steps, p.n_fibres, p.dt_ms)
    assert np.array_equal(back, stim.spikes)


def test_conversions():
    assert S.ipd_to_itd(np.pi / 2, 20.0) == pytest.approx(12.5e-3)
    assert S.itd_to_ipd(12.5e-3, 20.0) == pytest.approx(np.pi / 2)
    assert S.ipd_to_itd(np.pi, 500.0) == pytest.approx(1e-3)
    classes = S.DEFAULT_CLASSES
    assert classes.n_classes == 12 and np.degrees(classes.width) == pytest.approx(15.0)
    assert np.degrees(classes.midpoints[[0, -1]]) == pytest.approx([-82.5, 82.5])
    assert classes.to_class(np.deg2rad(-89.9)) == 0 and classes.to_class(np.deg2rad(89.9)) == 11
    assert classes.to_class(np.deg2rad(0.1)) == 6 and classes.to_class(np.deg2rad(-0.1)) == 5
    assert classes.to_class(np.deg2rad(-90.0)) == 0 and classes.to_class(np.deg2rad(90.0)) == 11
    k = np.arange(12)
    assert np.array_equal(classes.to_class(classes.to_ipd(k)), k)
    assert np.degrees(S.wrap_angle(np.deg2rad(190.0))) == pytest.approx(-170.0)


@pytest.mark.parametrize("bad", [dict(fibres_per_ear=0), dict(freq_hz=0), dict(duration_ms=-1),
                                 dict(dt_ms=0), dict(rate_max_hz=float("nan")), dict(duration_ms=0.4),
                                 dict(rate_max_hz=2000.0)])
def test_bad_parameters_are_rejected(bad):
    from brainsim.errors import UserError

    with pytest.raises(UserError, match="IPDStimulusParams|duration_ms|rate_max_hz"):   # one line, naming the field
        S.IPDStimulusParams(**bad)
