"""Training: a short run beats chance clearly; an interrupted run resumes to the same weights; the
membrane-only baseline learns (its loss falls) and its saved model scores what training reported."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from brainsim.experiments import ipd as exp  # noqa: E402
from brainsim.snn import load_model  # noqa: E402


def test_short_training_beats_chance_clearly():
    protocol = exp.protocol_from("seed", readout="oc", hidden=30, tau_hidden_ms=2.0, tau_out_ms=20.0, epochs=4,
                                 batch_size=32, n_train=1024, n_test=512, lr=0.01, seed=1)
    result = exp.train_ipd(protocol, None, progress=False)
    chance = 1 / 12
    assert result.scores["test_accuracy"] > 3.5 * chance
    assert result.scores["test_mae_deg"] < 20.0  # random guessing: about 60 deg
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]


def test_interrupted_training_resumes_to_identical_weights(tmp_path, monkeypatch):
    protocol = exp.protocol_from("seed", hidden=6, tau_hidden_ms=2.0, tau_out_ms=2.0, epochs=3, batch_size=32,
                                 n_train=128, n_test=32, seed=2)
    straight = exp.train_ipd(protocol, tmp_path / "straight", progress=False)

    calls = {"n": 0}
    original = exp.Progress.advance   # the progress bar advances once per batch

    def crash_in_third_epoch(self, n=1):
        calls["n"] += 1
        if calls["n"] == 9:  # 4 batches per epoch: the first batch of epoch 3
            raise KeyboardInterrupt
        original(self, n)

    monkeypatch.setattr(exp.Progress, "advance", crash_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        exp.train_ipd(protocol, tmp_path / "resumed", progress=False)
    assert (tmp_path / "resumed" / exp.CHECKPOINT).is_file()
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    monkeypatch.setattr(exp.Progress, "advance", original)
    resumed = exp.train_ipd(protocol, tmp_path / "resumed", progress=False, resume=True)
    assert len(resumed.history) == 3
    a = load_model(tmp_path / "straight").spec.arrays()
    b = load_model(tmp_path / "resumed").spec.arrays()
    assert set(a) == {"W1", "W2", "tau_hidden_ms", "tau_out_ms", "alpha_hidden", "alpha_out"}
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    assert resumed.scores["test_accuracy"] == straight.scores["test_accuracy"]


def test_membrane_only_baseline_trains_saves_and_analyses(tmp_path):
    protocol = exp.protocol_from("seed", model="membrane", readout="oc", epochs=3, batch_size=32, n_train=256,
                                 n_test=64, seed=0)
    result = exp.train_ipd(protocol, tmp_path / "membrane", progress=False)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    # the saved model scores on the training run's own test stream what the run reported
    evaluated = exp.evaluate_model(tmp_path / "membrane", exp.IPDEvaluation(seed=0, n_test=64))
    assert evaluated["accuracy"] == result.scores["test_accuracy"]
    assert evaluated["mae_deg"] == result.scores["test_mae_deg"]
    loaded = load_model(tmp_path / "membrane")
    assert loaded.model.W1 is None and loaded.model.config.model == "membrane"
    figures = exp.analyse_model(tmp_path / "membrane", tmp_path / "figs", params=exp.IPDEvaluation(n_test=16))["figures"]
    assert "weights" in figures and "w1_ear_profiles" not in figures
