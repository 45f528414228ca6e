"""The Jeffress circuit in Brian2: delay layout, detector semantics, tuning, symmetry, devices."""
import numpy as np
import pytest

brian2 = pytest.importorskip("brian2")

from brainsim.circuits.jeffress import JeffressParams, build_jeffress, fibre_delays_ms, input_weight  # noqa: E402
from brainsim.devices import BrianSession, DeviceConfig  # noqa: E402
from brainsim.experiments.jeffress import JeffressConfig, accuracy_metrics, simulate_jeffress  # noqa: E402
from brainsim.stimuli.ipd import PLAIN_EARS, TUTORIAL, IPDStimulus, wrap_angle  # noqa: E402


def test_delay_lines_realise_each_best_ipd():
    params = JeffressParams(n_detectors=12)
    stim = PLAIN_EARS.with_(fibres_per_ear=3, freq_hz=20.0)   # the delay lines follow the tone
    delays = fibre_delays_ms(params, stim)
    ear0, ear1 = delays[0], delays[3]
    # ear 1 reaches detector k later by best_ipd / (2 pi f): 50 ms period -> 360 deg
    assert np.allclose((ear1 - ear0) / 50.0 * 360.0, np.degrees(params.best_ipd_rad))
    assert delays.min() >= 0 and np.allclose(ear0 + ear1, 25.0)
    # the tutorial's fibre phase delays (0..pi/2) are undone by 0..12.5 ms of extra delay
    tut = TUTORIAL.with_(fibres_per_ear=3)
    comp = fibre_delays_ms(params, tut) - delays
    assert np.allclose(comp[[0, 1, 2], 0], [0.0, 6.25, 12.5])


def test_built_synapses_carry_the_layout_and_stay_within_trials():
    params = JeffressParams(n_detectors=6)
    p = PLAIN_EARS.with_(fibres_per_ear=2, duration_ms=10)
    stim = IPDStimulus(ipd=np.zeros(3), start_phase=np.zeros(3),
                       spikes=np.zeros((3, p.n_steps, p.n_fibres), bool), params=p)
    with BrianSession(DeviceConfig("runtime")):
        net = build_jeffress(params, stim, rng=0)
        i, j = np.asarray(net.synapses.i[:]), np.asarray(net.synapses.j[:])
        d = np.asarray(net.synapses.delay[:] / brian2.ms)
    assert len(i) == 3 * 4 * 6
    assert np.array_equal(i // 4, j // 6)  # fibres of trial s reach only detectors of trial s
    expected = fibre_delays_ms(params, p)
    assert np.allclose(d, expected[i % 4, j % 6])


def _single_detector_response(arrival_ms, detector: int = 1):
    """The built circuit (build_jeffress, its own equations), one fibre per ear, weight 0.65, tau
    1 ms, dt 0.1 ms: one spike per ear, timed so that they reach ``detector`` at ``arrival_ms``
    through that detector's own delay lines. Returns that detector's spike count."""
    params = JeffressParams(n_detectors=3, weight=0.65, tau_ms=1.0, dt_ms=0.1, spread_in_bin=False)
    p = PLAIN_EARS.with_(fibres_per_ear=1, dt_ms=0.1, duration_ms=40.0, rate_max_hz=0.0)
    steps_delay = np.rint(fibre_delays_ms(params, p)[:, detector] / 0.1).astype(int)   # Brian2 rounds to dt
    spikes = np.zeros((1, p.n_steps, p.n_fibres), bool)
    for ear, arrival in enumerate(arrival_ms):
        spikes[0, int(round(arrival / 0.1)) - steps_delay[ear], ear] = True
    stim = IPDStimulus(ipd=np.zeros(1), start_phase=np.zeros(1), spikes=spikes, params=p)
    with BrianSession(DeviceConfig("runtime")):
        net = build_jeffress(params, stim, rng=0)
        net.network.run(net.duration_ms * brian2.ms, namespace={})
        return int(np.sum(np.asarray(net.detector_spikes.i[:]) == detector))


def test_detector_is_a_coincidence_detector():
    # Brian2 order per step: integrate, test threshold, deliver spikes; so a jump is tested after one
    # more decay step: spike iff exp(-0.1) * (0.65 exp(-delta/1ms) + 0.65) > 1  <=>  delta < 0.357 ms
    assert _single_detector_response([30.0, 30.0]) == 1
    assert _single_detector_response([30.0, 30.3]) == 1
    assert _single_detector_response([30.3, 30.0]) == 1
    assert _single_detector_response([30.0, 30.4]) == 0
    assert _single_detector_response([30.0, 33.0]) == 0


def test_weight_scales_with_input_strength():
    params = JeffressParams()
    w100 = input_weight(params, PLAIN_EARS)
    w50 = input_weight(params, PLAIN_EARS.with_(fibres_per_ear=50))
    assert w50 == pytest.approx(2 * w100)
    # coincident volleys at the envelope peak: v ~ w * 2 N rate tau = 1 / threshold_fraction
    assert w100 * 2 * 100 * 0.6 * 1.0 == pytest.approx(1 / params.threshold_fraction)


@pytest.fixture(scope="module")
def sweep_run():
    ipds = np.array([-150.0, -90.0, -45.0, 0.0, 45.0, 90.0, 150.0])
    return simulate_jeffress(np.concatenate([ipds, -ipds]), JeffressConfig(seed=11))


def test_peak_of_the_population_moves_with_the_ipd(sweep_run):
    est = np.degrees(sweep_run.estimate[:7])
    truth = np.degrees(sweep_run.ipd[:7])
    assert np.all(np.abs(np.degrees(wrap_angle(np.deg2rad(est - truth)))) < 15), est
    assert np.all(np.diff(est) > 0)
    # the most active detector also moves (coarser place code)
    peak = np.degrees(sweep_run.peak_ipd[:7])
    assert np.all(np.abs(np.degrees(wrap_angle(np.deg2rad(peak - truth)))) < 35), peak


def test_mirror_symmetry(sweep_run):
    counts = sweep_run.counts
    best = np.degrees(sweep_run.best_ipd)
    mirror = np.array([np.argmin(np.abs(wrap_angle(np.deg2rad(-b) - np.deg2rad(best)))) for b in best])
    pos, neg = counts[:7], counts[7:]
    # +ipd on detector k looks like -ipd on the mirrored detector (best IPD -> -best IPD)
    r = np.corrcoef(pos.ravel(), neg[:, mirror].ravel())[0, 1]
    assert r > 0.8, r
    est = np.degrees(sweep_run.estimate)
    assert np.allclose(est[:7], -est[7:], atol=12)


def test_accuracy_metrics_on_a_batch(sweep_run):
    m = accuracy_metrics(sweep_run)
    assert m["n_trials"] == 14 and m["fraction_silent"] == 0
    assert m["mae_deg"] < 8


def test_cpp_standalone_matches_runtime(tmp_path):
    """The circuit is deterministic given its input: both devices give the same spikes."""
    ipd = [-30.0, 60.0]
    stim = PLAIN_EARS.with_(fibres_per_ear=40, duration_ms=60)
    rt = simulate_jeffress(ipd, JeffressConfig(stimulus=stim, seed=3, device=DeviceConfig("runtime")))
    cpp = simulate_jeffress(ipd, JeffressConfig(stimulus=stim, seed=3,
                                                device=DeviceConfig("cpp_standalone", build_dir=str(tmp_path / "cpp"))))
    assert cpp.ran and (tmp_path / "cpp" / "main").exists()
    assert rt.counts.sum() > 0
    # identical up to last-bit differences of exp() in numpy vs C++ near threshold
    assert np.abs(rt.counts - cpp.counts).sum() <= 2, (rt.counts, cpp.counts)


def test_cuda_standalone_generates_code_without_a_gpu(tmp_path):
    pytest.importorskip("brian2cuda")
    out = tmp_path / "cuda"
    run = simulate_jeffress([30.0], JeffressConfig(stimulus=PLAIN_EARS.with_(fibres_per_ear=10, duration_ms=20),
                                                   device=DeviceConfig("cuda_standalone", build_dir=str(out),
                                                                       build_only=True)))
    assert not run.ran
    assert (out / "main.cu").exists() and (out / "makefile").exists()
    code = list((out / "code_objects").glob("*.cu"))
    assert any("detectors" in c.name for c in code) and any("delay_lines" in c.name for c in code)
