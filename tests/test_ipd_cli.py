"""``brainsim ipd`` end to end in real subprocesses: train -> model directory -> evaluate / analyse /
load_model / run_model, repeats, and the one-line error paths."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error

TINY = ["--epochs", "2", "--n-train", "256", "--n-test", "128", "--batch-size", "32", "--quiet"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import subprocess
    import sys
    import os

    out = tmp_path_factory.mktemp("ipd") / "model"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "brainsim", "ipd", "train", "--tau-ms", "2", "--hidden", "12",
                           *TINY, "--seed", "5", "--out", str(out), "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_train_writes_model_directory(tiny_model):
    out, summary = tiny_model
    assert summary["n_test"] == 128
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "brainsim.ipd-model" and manifest["format_version"] == 1
    assert manifest["scores"]["test_accuracy"] == summary["test_accuracy"]
    assert manifest["protocol"]["hidden"] == 12 and manifest["protocol"]["tau_hidden_ms"] == 2.0
    assert manifest["net"]["n_hidden"] == 12 and manifest["net"]["tau_out_ms"] == 2.0
    assert manifest["seed"] == 5 and "brainsim ipd train" in manifest["command"]
    assert len(manifest["training_curve"]) == 2 and manifest["versions"]["torch"]
    with np.load(out / "weights.npz") as w:
        assert w["W1"].shape == (200, 12) and w["W2"].shape == (12, 12)
        # the decay factors torch trained with: exp(-1 ms / 2 ms) in float32
        assert w["alpha_hidden"].dtype == np.float32 and w["alpha_out"].shape == (12,)
        np.testing.assert_allclose(w["alpha_hidden"], np.exp(-0.5), rtol=1e-7)
    assert (out / "training_curve.csv").read_text().startswith("epoch,loss")
    assert not (out / "checkpoint.pt").exists()


def test_evaluate_json_and_text(tiny_model, run_cli):
    out, summary = tiny_model
    res = run_cli("ipd", "evaluate", "--model", out, "--seed", "5", "--n-test", "128", "--json")
    assert res.returncode == 0, res
    data = res.json()
    # same test stream as the training run's own test score
    assert data["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert data["mae_deg"] == pytest.approx(summary["test_mae_deg"])
    assert np.array(data["confusion"]).sum() == 128
    text = run_cli("ipd", "evaluate", "--model", out, "--n-test", "64")
    assert text.returncode == 0 and "accuracy" in text.stdout and "confusion" in text.stdout


def test_load_and_run_model_match_evaluation(tiny_model):
    from brainsim.snn import load_model, run_model
    from brainsim.stimuli.ipd import random_stimuli

    out, _ = tiny_model
    loaded = load_model(out)
    stim = random_stimuli(loaded.stimulus, 16, 3)
    res = run_model(loaded, stim.spikes)
    assert res["scores"].shape == (16, 12) and res["output"].shape == (16, 100, 12)
    assert res["hidden_spikes"].shape == (16, 100, 12)
    assert set(np.unique(res["hidden_spikes"])) <= {0.0, 1.0}
    # the oc score is the mean of the recorded output membrane
    assert np.allclose(res["scores"], res["output"].mean(axis=1), atol=1e-5)
    # the torch-loop backend gives the same outputs
    loop = run_model(load_model(out, backend="torch"), stim.spikes)
    assert np.array_equal(loop["hidden_spikes"], res["hidden_spikes"])


def test_analyse_writes_figures(tiny_model, run_cli, tmp_path):
    out, _ = tiny_model
    res = run_cli("ipd", "analyse", "--model", out, "--out", tmp_path / "figs", "--n-test", "64")
    assert res.returncode == 0, res
    names = {p.name for p in (tmp_path / "figs").iterdir()}
    for name in ("loss_curve.png", "ipd_histograms.png", "confusion.png", "weights.png", "weights_sorted.png",
                 "w1_ear_profiles.png", "output_traces.png"):
        assert name in names
        assert (tmp_path / "figs" / name).stat().st_size > 1000


def test_repeats_table_boxplots_and_resume(run_cli, tmp_path):
    args = ["ipd", "train", "--repeats", "2", "--readout", "oc", "pop", "--tau-ms", "2", "--hidden", "8",
            "--epochs", "1", "--n-train", "64", "--n-test", "32", "--batch-size", "32", "--quiet", "--out", tmp_path / "rep"]
    res = run_cli(*args)
    assert res.returncode == 0, res
    import csv

    with open(tmp_path / "rep" / "results.csv", newline="") as fh:   # the sweep engine's table
        rows = list(csv.DictReader(fh))
    assert [(r["readout"], r["seed"], r["status"]) for r in rows] == [
        ("oc", "0", "ok"), ("pop", "0", "ok"), ("oc", "1", "ok"), ("pop", "1", "ok")]   # seed by seed
    assert all(r["tau_ms"] == "2.0" and r["hidden"] == "8" and 0 < float(r["test_accuracy"]) for r in rows)
    assert (tmp_path / "rep" / "repeats_accuracy.png").is_file() and (tmp_path / "rep" / "repeats_error.png").is_file()
    before = (tmp_path / "rep" / "results.csv").read_text()
    again = run_cli(*args[:-2], "--json", "--out", tmp_path / "rep")  # everything in the table: nothing retrained
    assert again.returncode == 0, again
    summary = json.loads(again.stdout)
    assert (summary["runs"], summary["skipped"], summary["ok"]) == (4, 4, 0)
    assert [c["runs"] for c in summary["summary"]] == [2, 2]
    assert (tmp_path / "rep" / "results.csv").read_text() == before


@pytest.mark.parametrize("args, fragment", [
    (["--readout", "xyz"], "--readout"),
    (["--preset", "fastest"], "--preset"),
    (["--hidden", "0"], "--hidden"),
    (["--tau-ms", "0"], "--tau-ms"),
    (["--epochs", "0"], "--epochs"),
    (["--n-train", "-5"], "--n-train"),
    (["--lr", "nan"], "--lr"),
    (["--readout", "oc", "fr"], "--repeats"),
    (["--model", "membrane", "--readout", "fr"], "membrane"),
    (["--device", "tpu"], "device"),
    (["--n-train", "16", "--batch-size", "64"], "batch size"),
])
def test_train_bad_input_is_one_line_error(run_cli, tmp_path, args, fragment):
    res = run_cli("ipd", "train", "--out", tmp_path / "m", *args)
    assert_one_line_error(res, fragment)
    assert not (tmp_path / "m" / "manifest.json").exists()


def test_bad_model_directories(run_cli, tmp_path, tiny_model):
    res = run_cli("ipd", "evaluate", "--model", tmp_path / "missing")
    assert_one_line_error(res, "does not exist")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("ipd", "analyse", "--model", tmp_path / "empty"), "not a model directory")
    out, _ = tiny_model
    old = tmp_path / "old"
    old.mkdir()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["format_version"] = 0
    (old / "manifest.json").write_text(json.dumps(manifest))
    (old / "weights.npz").write_bytes((out / "weights.npz").read_bytes())
    assert_one_line_error(run_cli("ipd", "evaluate", "--model", old), "version")
    assert_one_line_error(run_cli("ipd", "evaluate", "--model", out, "--n-test", "0"), "--n-test")
    (tmp_path / "file").write_text("x")
    assert_one_line_error(run_cli("ipd", "train", "--out", tmp_path / "file", *TINY), "not a directory")


def test_cuda_request_without_gpu_is_one_line_error(run_cli, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert_one_line_error(run_cli("ipd", "train", "--device", "cuda", "--out", tmp_path / "m", *TINY), "cuda")


def test_analyse_never_writes_into_the_model_directory_by_default(run_cli, tmp_path):
    model = ROOT / "models" / "ipd_seed"
    listing_before = sorted(p.relative_to(model) for p in model.rglob("*"))
    res = run_cli("ipd", "analyse", "--model", model, "--n-test", "64")
    assert res.returncode == 0, res
    figures = tmp_path / "ipd_seed_analysis"          # in the current directory (run_cli's cwd)
    assert (figures / "confusion.png").stat().st_size > 0 and str(figures) in res.stdout
    assert sorted(p.relative_to(model) for p in model.rglob("*")) == listing_before

    a_file = tmp_path / "taken"
    a_file.write_text("x")
    assert_one_line_error(run_cli("ipd", "analyse", "--model", model, "--out", a_file, "--n-test", "64"),
                          "exists and is not a directory")
