"""The self-wiring Jeffress circuit: the delay rule, the competition, the command (numpy runtime)."""
import numpy as np
import pytest

from conftest import assert_one_line_error

from brainsim.circuits.jeffress_learning import LearningJeffressParams
from brainsim.errors import UserError
from brainsim.experiments.jeffress_learning import coverage
from brainsim.stimuli.ipd import PLAIN_EARS, generate, ipd_to_itd

STIM = PLAIN_EARS.with_(fibres_per_ear=30, duration_ms=100.0)
FAST = dict(fibres_per_line=30, dt_ms=0.2, stages=8, refractory_ms=2.0, repulsion_ms=0.0)   # repulsion: its own test


def _train(params, ipds_deg, delta_ms, seed=0):
    """Present the tones one after the other to one copy of the circuit; return the final deltas (ms)."""
    import brian2 as b2

    from brainsim.circuits.jeffress_learning import build_learning_jeffress, stream_spikes
    from brainsim.devices import BrianSession

    tones = generate(STIM, np.deg2rad(ipds_deg), np.random.default_rng(seed))
    idx, t, slot = stream_spikes(tones, 30.0, params.dt_ms, np.random.default_rng(seed + 1))
    with BrianSession() as session:
        net = build_learning_jeffress(params, STIM, idx, t, delta_ms=delta_ms)
        session.run(net.network, len(ipds_deg) * slot * b2.ms)
        return np.asarray(net.detectors.delta[:] / b2.ms), np.bincount(net.detector_spikes.i[:],
                                                                     minlength=params.n_detectors)


@pytest.mark.parametrize("start_ms", [-4.0, 14.0])
def test_rule_moves_a_delay_difference_to_the_itd_of_its_tones(start_ms):
    """One detector hears one IPD: the fixed point of Delta += eta (m_1 - m_0) is the tone's ITD
    (closed form: 1e3 * IPD / (2 pi f) ms), reached from below and from above."""
    ipd_deg = 30.0
    itd_ms = 1e3 * ipd_to_itd(np.deg2rad(ipd_deg), STIM.freq_hz)   # 4.17 ms
    params = LearningJeffressParams(n_detectors=1, w_inh=0.0, theta_plus=0.0, threshold=1.0, **FAST)
    delta, spikes = _train(params, [ipd_deg] * 8, [start_ms])
    assert spikes[0] > 10
    assert abs(delta[0] - itd_ms) < 0.25 * abs(start_ms - itd_ms), (delta, itd_ms)


def test_competition_spreads_best_ipds_and_its_ablation_does_not():
    """Two detectors start equal and hear tones at -40 and +40 deg in turn: with lateral inhibition and
    the adaptive threshold each takes one side; without them both settle between the two."""
    ipds = [-40.0, 40.0] * 7
    itd_ms = 1e3 * ipd_to_itd(np.deg2rad(40.0), STIM.freq_hz)      # 5.56 ms
    # different fibre samples; every spike learns (winner_only gates two detectors that fire together)
    competing = LearningJeffressParams(n_detectors=2, winner_only=False, theta_plus=0.02, tau_theta_ms=5000.0,
                                       **{**FAST, "fibres_per_line": 15})
    delta, _ = _train(competing, ipds, [0.0, 0.0])
    assert abs(delta[0] - delta[1]) > itd_ms, delta
    alone = competing.with_(w_inh=0.0, theta_plus=0.0)
    delta_alone, _ = _train(alone, ipds, [0.0, 0.0])
    assert abs(delta_alone[0] - delta_alone[1]) < 0.3 * itd_ms, delta_alone


def test_repulsion_splits_detectors_that_hear_the_same_fibres():
    """Two detectors with the same fibres and equal delays fire in the same steps: without repulsion
    the rule moves them alike (their delays stay equal to the last bit), with it the first common
    spike pushes them apart by 2 x repulsion_ms (gap 0: full strength, split by index), and they
    stay apart."""
    ipds = [0.0, 30.0, -30.0] * 2
    same = LearningJeffressParams(n_detectors=2, w_inh=0.0, theta_plus=0.0, winner_only=False, threshold=1.0,
                                  eta_end=0.5,
                                  **{**FAST, "fibres_per_line": STIM.fibres_per_ear})
    delta, spikes = _train(same, ipds, [0.0, 0.0])
    assert spikes[0] == spikes[1] > 10 and delta[0] == delta[1], (delta, spikes)
    delta_rep, _ = _train(same.with_(repulsion_ms=0.5, repulsion_width_ms=2.0), ipds, [0.0, 0.0])
    assert delta_rep[1] - delta_rep[0] > 2 * 0.5 * 0.9, delta_rep     # detector 1 (higher index) went up


def test_each_coupling_turns_off_alone():
    """w_inh = 0 drops only the inhibition (the winner-only gate stays); evaluation keeps only it."""
    from brainsim.circuits.jeffress_learning import ON_GATE, ON_INHIBITION, coupling_code

    params = LearningJeffressParams(repulsion_ms=1.0)
    assert coupling_code(params.with_(w_inh=0.0), learning=True, inhibition=True).splitlines()[0] == ON_GATE
    assert coupling_code(params, learning=False, inhibition=True) == ON_INHIBITION
    assert coupling_code(params.with_(w_inh=0.0, winner_only=False, repulsion_ms=0.0), True, True) == ""
    assert "repulsion" in coupling_code(params.with_(w_inh=0.0, winner_only=False), True, True)


def test_tuning_rates_at_interpolates_round_the_circle():
    from brainsim.experiments.jeffress_learning import tuning_rates_at

    grid = -np.pi + 2 * np.pi * np.arange(4) / 4                    # -180, -90, 0, 90 deg
    curves = np.array([[0.0], [10.0], [20.0], [40.0]])
    got = tuning_rates_at(grid, curves, np.deg2rad([-135.0, 0.0, 45.0, 135.0, 180.0]))[:, 0]
    assert got == pytest.approx([5.0, 20.0, 30.0, 20.0, 0.0])     # 135 deg: halfway from 40 to 0


def test_coverage_counts_the_range_ends():
    assert coverage(np.deg2rad([-80.0, -60.0, 0.0, 85.0]))["max_gap_deg"] == pytest.approx(85.0)
    assert coverage(np.deg2rad(np.arange(-175.0, 180.0, 10.0)))["max_gap_deg"] == pytest.approx(10.0)


def test_parameters_are_checked():
    with pytest.raises(UserError, match="init"):
        LearningJeffressParams(init="sorted")
    with pytest.raises(UserError, match="fibres_per_line"):
        LearningJeffressParams(fibres_per_line=200).check_stimulus(PLAIN_EARS)


def test_cli_tiny_run_json_and_files(run_cli, tmp_path):
    png, js = tmp_path / "learn.png", tmp_path / "learn.json"
    result = run_cli("jeffress-learn", "--presentations", "2", "--detectors", "4", "--fibres", "20",
                     "--fibres-per-line", "10", "--test", "6", "--tuning-points", "8", "--tuning-repeats", "1",
                     "--dt-ms", "0.2", "--stages", "6", "--duration", "50", "--gap-ms", "10", "--device", "runtime",
                     "--json", "--plot", png,
                     "--save", js)
    assert result.returncode == 0, result
    data = result.json()
    assert data["n_test"] == 6 and len(data["best_ipd_deg"]) == len(data["learned_delta_ms"]) == 4
    assert data["learned_delta_ms"] != data["initial_delta_ms"]      # the rule ran during training
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert js.read_text().startswith("{")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("args,fragment", [
    (["--init", "sorted"], "--init"),
    (["--fibres-per-line", "150"], "fibres_per_line"),
    (["--detectors", "0"], "--detectors"),
    (["--build-only"], "build-only"),
])
def test_cli_bad_input_is_one_line(run_cli, args, fragment):
    assert_one_line_error(run_cli("jeffress-learn", *args), fragment)
