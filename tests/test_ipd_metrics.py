"""Evaluation metrics on constructed cases."""
from __future__ import annotations

import numpy as np
import pytest

from brainsim.snn.metrics import classification_metrics, predicted_classes
from brainsim.stimuli.ipd import IPDClasses


def test_perfect_predictions():
    classes = IPDClasses()
    ipd = classes.midpoints
    m = classification_metrics(ipd, np.arange(12), classes)
    assert m["accuracy"] == 1.0 and m["mae_deg"] == pytest.approx(0.0, abs=1e-9)
    assert m["mae_class_deg"] == 0.0
    assert np.array_equal(m["confusion"], np.eye(12, dtype=int))


def test_errors_by_hand():
    classes = IPDClasses()
    # true IPDs 10 deg (class 6: [0, 15)) and -80 deg (class 0: [-90, -75))
    ipd = np.radians([10.0, -80.0])
    pred = np.array([6, 2])  # midpoints 7.5 deg and -52.5 deg
    m = classification_metrics(ipd, pred, classes)
    assert m["accuracy"] == 0.5
    assert m["mae_deg"] == pytest.approx((2.5 + 27.5) / 2)
    assert m["mae_class_deg"] == pytest.approx((0 + 2 * 15) / 2)
    assert m["confusion"][6, 6] == 1 and m["confusion"][0, 2] == 1 and m["confusion"].sum() == 2


def test_chance_level_of_random_guesses():
    rng = np.random.default_rng(0)
    ipd = rng.uniform(-np.pi / 2, np.pi / 2, 20000)
    m = classification_metrics(ipd, rng.integers(0, 12, 20000))
    assert m["accuracy"] == pytest.approx(1 / 12, abs=0.01)
    # |U - V| for independent uniforms on (-90, 90): mean 60 deg
    assert m["mae_deg"] == pytest.approx(60.0, abs=1.5)


def test_argmax_ties_and_validation():
    assert predicted_classes([[1, 3, 3], [0, 0, 0]]).tolist() == [1, 0]
    with pytest.raises(ValueError):
        classification_metrics([0.1], [12])
    with pytest.raises(ValueError):
        classification_metrics([0.1, 0.2], [1])
