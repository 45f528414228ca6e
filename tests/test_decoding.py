"""Population-vector decoder on synthetic detector counts."""
import numpy as np
import pytest

from brainsim.decoding import peak_index, population_vector


def preferred(n):
    return -np.pi + 2 * np.pi * np.arange(n) / n


@pytest.mark.parametrize("true_deg", [-170.0, -61.3, 0.0, 7.5, 44.4, 179.0])
@pytest.mark.parametrize("n", [12, 36])
def test_symmetric_tuning_is_decoded_exactly_between_detectors(true_deg, n):
    phi = preferred(n)
    theta = np.deg2rad(true_deg)
    # von Mises tuning, symmetric about the true angle, not centred on any detector
    rates = 3.0 + 40.0 * np.exp(2.0 * (np.cos(phi - theta) - 1))
    est = population_vector(rates, phi)
    assert np.degrees(est.angle) == pytest.approx(true_deg, abs=1e-6)
    assert 0 < est.resultant < 1


def test_peak_index_is_coarser_than_population_vector():
    phi = preferred(12)  # 30 deg apart
    theta = np.deg2rad(14.0)
    rates = np.exp(np.cos(phi - theta))
    assert np.degrees(phi[peak_index(rates)]) == pytest.approx(0.0)  # nearest detector only
    assert np.degrees(population_vector(rates, phi).angle) == pytest.approx(14.0, abs=1e-6)


def test_batches_and_silence():
    phi = preferred(8)
    rates = np.stack([np.exp(np.cos(phi - 1.0)), np.zeros(8)])
    est = population_vector(rates, phi)
    assert est.angle[0] == pytest.approx(1.0, abs=1e-4)  # 8 detectors alias tiny higher harmonics
    assert np.isnan(est.angle[1]) and est.resultant[1] == 0
    with pytest.raises(ValueError):
        population_vector(np.ones(5), phi)


def test_noisy_counts_are_unbiased():
    rng = np.random.default_rng(0)
    phi = preferred(36)
    theta = np.deg2rad(33.0)
    counts = rng.poisson(2 + 10 * np.exp(3 * (np.cos(phi - theta) - 1)), size=(2000, 36))
    est = population_vector(counts, phi).angle
    assert np.degrees(np.angle(np.mean(np.exp(1j * est)))) == pytest.approx(33.0, abs=0.5)
