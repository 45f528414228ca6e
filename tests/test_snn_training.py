"""Training: a short run beats chance clearly; an interrupted run resumes to the same weights."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from brainsim.experiments import ipd as exp  # noqa: E402
from brainsim.snn.modeldir import load_model  # noqa: E402


def test_short_training_beats_chance_clearly():
    protocol = exp.IPDProtocol(readout="oc", hidden=30, tau_hidden_ms=2.0, tau_out_ms=20.0, epochs=4,
                               batch_size=32, n_train=1024, n_test=512, lr=0.01, seed=1)
    result = exp.train_ipd(protocol, None, progress=False)
    chance = 1 / 12
    assert result["scores"]["test_accuracy"] > 3.5 * chance
    assert result["scores"]["test_mae_deg"] < 20.0  # random guessing: about 60 deg
    losses = [h["loss"] for h in result["history"]]
    assert losses[-1] < losses[0]


def test_interrupted_training_resumes_to_identical_weights(tmp_path, monkeypatch):
    protocol = exp.IPDProtocol(hidden=6, tau_hidden_ms=2.0, tau_out_ms=2.0, epochs=3, batch_size=32,
                               n_train=128, n_test=32, seed=2)
    straight = exp.train_ipd(protocol, tmp_path / "straight", progress=False)

    calls = {"n": 0}
    original = exp._Progress.batch

    def crash_in_third_epoch(self):
        calls["n"] += 1
        if calls["n"] == 9:  # 4 batches per epoch: the first batch of epoch 3
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(exp._Progress, "batch", crash_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        exp.train_ipd(protocol, tmp_path / "resumed", progress=False)
    assert (tmp_path / "resumed" / exp.CHECKPOINT).is_file()
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    monkeypatch.setattr(exp._Progress, "batch", original)
    resumed = exp.train_ipd(protocol, tmp_path / "resumed", progress=False)
    assert len(resumed["history"]) == 3
    a = load_model(tmp_path / "straight").model.weights_numpy()
    b = load_model(tmp_path / "resumed").model.weights_numpy()
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    assert resumed["scores"]["test_accuracy"] == straight["scores"]["test_accuracy"]


def test_membrane_only_baseline_trains_saves_and_analyses(tmp_path):
    protocol = exp.IPDProtocol(model="membrane", readout="oc", epochs=1, batch_size=32, n_train=64, n_test=32, seed=0)
    result = exp.train_ipd(protocol, tmp_path / "membrane", progress=False)
    assert 0 <= result["scores"]["test_accuracy"] <= 1
    loaded = load_model(tmp_path / "membrane")
    assert loaded.model.W1 is None and loaded.model.config.model == "membrane"
    figures = exp.analyse_model(tmp_path / "membrane", n_test=16)["figures"]
    assert "weights" in figures and "w1_ear_profiles" not in figures
