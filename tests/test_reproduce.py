"""Model directories reproduced by their manifest's command (brainsim.experiments.reproduce,
bench/bench_reproduce.py), and ``brainsim ipd train --deterministic``."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error

from brainsim.errors import UserError
from brainsim.experiments.reproduce import (compare_model_dirs, expects_identical, model_directories,
                                            reproduce_model, reproduction_argv)

# A network that trains in about a second.
TINY = ["--epochs", "2", "--n-train", "256", "--batch-size", "64", "--n-test", "128", "--hidden", "8",
        "--tau-ms", "2"]


def _weights(directory) -> dict[str, np.ndarray]:
    with np.load(directory / "weights.npz") as w:
        return {k: w[k] for k in w.files}


def _edit_manifest(directory, change) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_reproduction_argv_replaces_only_the_output_directory():
    assert reproduction_argv("brainsim ipd train --preset seed --seed 0 --out models/ipd_seed --quiet", "/tmp/x") == [
        "ipd", "train", "--preset", "seed", "--seed", "0", "--out", "/tmp/x", "--quiet"]
    assert reproduction_argv("/usr/local/bin/brainsim ipd train --out=a --seed 3", "b") == [
        "ipd", "train", "--out=b", "--seed", "3"]
    for bad in ("", "python train.py --out x", "brainsim ipd train --preset seed",
                "brainsim ipd train --out a --out b", "brainsim ipd train --out 'unclosed"):
        with pytest.raises(UserError):
            reproduction_argv(bad, "x")


def test_model_directories_are_those_with_a_manifest(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.json").write_text("{}")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "manifest.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    assert [p.name for p in model_directories(tmp_path)] == ["a", "b"]
    assert model_directories(tmp_path / "missing") == []


def test_identity_required_only_where_training_is_deterministic():
    cpu = {"device": "cpu", "versions": {"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": "1.26.4", "numba": "0.68.1"},
           "machine": {"cpu_capability": "AVX512", "cpu": "GenuineIntel 6/167/1 flags 0123456789ab"}}
    assert expects_identical(cpu, cpu)[0]
    # manifests from before the processor was recorded, and another processor of the same capability
    assert not expects_identical({**cpu, "machine": None}, cpu)[0]
    assert not expects_identical({**cpu, "machine": {"cpu_capability": "AVX512"}}, cpu)[0]
    other = {**cpu, "machine": {**cpu["machine"], "cpu": "GenuineIntel 6/85/7 flags ba9876543210"}}
    assert "other processor" in expects_identical(cpu, other)[1] and not expects_identical(cpu, other)[0]
    assert not expects_identical(cpu, {**cpu, "machine": {**cpu["machine"], "cpu_capability": "AVX2"}})[0]
    assert not expects_identical(cpu, {**cpu, "versions": {**cpu["versions"], "torch": "2.14.1"}})[0]
    cuda = {**cpu, "device": "cuda", "machine": {**cpu["machine"], "gpu": "NVIDIA H200"}}
    assert not expects_identical(cuda, cuda)[0]
    det = {**cuda, "deterministic": True}
    assert expects_identical(det, det)[0]
    assert not expects_identical(det, {**det, "machine": {**cpu["machine"], "gpu": "NVIDIA A100"}})[0]


def test_default_tolerance_is_three_standard_errors_of_the_test_accuracy():
    from brainsim.experiments.reproduce import accuracy_tolerance

    assert accuracy_tolerance({"scores": {"test_accuracy": 0.9, "n_test": 8192}}) == pytest.approx(
        3 * (0.9 * 0.1 / 8192) ** 0.5)                                  # ~1.0 points
    assert accuracy_tolerance({"scores": {"test_accuracy": 0.45, "n_test": 2048}}) == pytest.approx(0.033, abs=1e-3)
    assert accuracy_tolerance({"scores": {"test_accuracy": 0.999, "n_test": 100000}}) == 0.005   # the floor
    assert accuracy_tolerance({"scores": {"test_accuracy": 0.9}}) == 0.005


def test_cpu_identity_is_one_stable_line():
    from brainsim.snn.determinism import cpu_identity

    ident = cpu_identity()
    assert ident and ident == cpu_identity() and "\n" not in ident


def test_a_model_is_reproduced_bit_for_bit_and_a_changed_one_is_not(tmp_path, run_cli):
    result = run_cli("ipd", "train", *TINY, "--out", "orig", "--quiet")
    assert result.returncode == 0, result
    original = tmp_path / "orig"
    row = reproduce_model(original, tmp_path / "work")
    assert row["passed"], row
    assert row["identical_weights"] and row["max_abs_weight_diff"] == 0.0 and row["identity_required"]
    assert row["training_curve_identical"] and row["reproduced_test_accuracy"] == row["original_test_accuracy"]
    assert set(row["arrays_compared"]) == {"W1", "W2", "tau_hidden_ms", "tau_out_ms", "alpha_hidden", "alpha_out"}
    assert row["cpu_seconds"] > 0
    with pytest.raises(UserError, match="already holds a model"):
        reproduce_model(original, tmp_path / "work")
    reproduced = tmp_path / "work" / "orig"

    # one weight one float32 step away: the weights differ, the scores do not, and bit identity is required
    arrays = _weights(original)
    arrays["W2"][0, 0] = np.nextafter(arrays["W2"][0, 0], np.float32(np.inf))
    np.savez(original / "weights.npz", **arrays)
    cmp = compare_model_dirs(original, reproduced)
    assert not cmp["identical_weights"] and 0 < cmp["max_abs_weight_diff"] < 1e-6
    assert cmp["accuracy_difference"] == 0.0 and cmp["identity_required"] and not cmp["passed"]

    # recorded with another torch: the test accuracy decides, within the tolerance
    _edit_manifest(original, lambda m: m["versions"].update(torch="0.0"))
    assert compare_model_dirs(original, reproduced, tolerance=0.005)["passed"]
    _edit_manifest(original, lambda m: m["scores"].update(test_accuracy=m["scores"]["test_accuracy"] + 0.004))
    assert compare_model_dirs(original, reproduced, tolerance=0.005)["passed"]
    _edit_manifest(original, lambda m: m["scores"].update(test_accuracy=m["scores"]["test_accuracy"] + 0.002))
    cmp = compare_model_dirs(original, reproduced, tolerance=0.005)
    assert not cmp["passed"] and not cmp["identity_required"] and "torch" in cmp["requirement"]


def test_a_command_that_fails_is_a_failed_reproduction(tmp_path, run_cli):
    assert run_cli("ipd", "train", *TINY, "--out", "orig", "--quiet").returncode == 0
    _edit_manifest(tmp_path / "orig", lambda m: m.update(command=m["command"] + " --readout softmax"))
    row = reproduce_model(tmp_path / "orig", tmp_path / "work")
    assert not row["passed"] and "exit 2" in row["error"] and "softmax" in row["error"]


def test_bench_reproduce_table_and_exit_code(tmp_path, run_cli):
    assert run_cli("ipd", "train", *TINY, "--out", "orig", "--quiet").returncode == 0
    bench = [sys.executable, str(ROOT / "bench" / "bench_reproduce.py"), "--model", str(tmp_path / "orig"),
             "--json", str(tmp_path / "rows.json")]
    proc = subprocess.run(bench, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| orig | `brainsim ipd train" in proc.stdout and "| yes | 0 |" in proc.stdout
    assert json.loads((tmp_path / "rows.json").read_text())[0]["passed"] is True
    _edit_manifest(tmp_path / "orig", lambda m: m.update(command=m["command"].replace("--hidden 8", "--hidden 9")))
    proc = subprocess.run(bench[:-2], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1 and "FAILED: orig" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("backend", ["native", "torch"])
def test_two_deterministic_runs_are_identical(tmp_path, run_cli, backend):
    for name in ("a", "b"):
        result = run_cli("ipd", "train", *TINY, "--backend", backend, "--deterministic", "--out", name, "--quiet")
        assert result.returncode == 0, result
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    manifests = [json.loads((tmp_path / n / "manifest.json").read_text()) for n in ("a", "b")]
    assert manifests[0]["training_curve"][-1]["loss"] == manifests[1]["training_curve"][-1]["loss"]
    assert all(m["deterministic"] is True and m["threads"] == 1 and m["machine"]["cpu_capability"] for m in manifests)
    assert "--deterministic" in manifests[0]["command"]


def test_deterministic_refuses_more_threads(tmp_path, run_cli):
    assert_one_line_error(run_cli("ipd", "train", *TINY, "--deterministic", "--threads", "2", "--out", "x"),
                          "--deterministic", "one torch thread")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_shipped_seed_model_is_reproduced_by_its_manifest_command(tmp_path):
    """models/ipd_seed (~15 s of CPU): bit-identical weights on a machine like the one that trained
    it (same versions, torch CPU capability and processor), else the test accuracy within three
    standard errors of its test set (brainsim.experiments.reproduce.accuracy_tolerance)."""
    model = ROOT / "models" / "ipd_seed"
    if not (model / "manifest.json").is_file():
        pytest.skip("models/ipd_seed is not shipped in this checkout")
    row = reproduce_model(model, tmp_path)
    assert row["passed"], {k: row.get(k) for k in ("requirement", "identical_weights", "max_abs_weight_diff",
                                                  "original_test_accuracy", "reproduced_test_accuracy", "error")}


def test_delays_ipd_deterministic_does_not_depend_on_the_thread_count(run_cli):
    """Without --deterministic the learnable-delay IPD network follows torch's thread count (one per
    core by default; measured: other weights with 1 and 2 threads); with it, 1 and 2 threads agree."""
    outputs = []
    for threads in ("1", "2"):
        result = run_cli("delays", "--task", "ipd", "--conditions", "delays", "--epochs", "1", "--seed", "0",
                         "--json", "--deterministic", env={"OMP_NUM_THREADS": threads})
        assert result.returncode == 0, result
        delays = result.json()["results"]["delays"]
        outputs.append({k: v for k, v in delays.items() if k != "train_seconds"})
    assert outputs[0] == outputs[1]
    assert outputs[0]["final_loss"] > 0 and 0 < outputs[0]["test_accuracy"] <= 1


def test_delays_deterministic_is_refused_for_brian2_runs(run_cli):
    assert_one_line_error(run_cli("delays", "--method", "lagging", "--deterministic"), "--deterministic", "torch")
    assert_one_line_error(run_cli("delays", "--task", "impulse", "--deterministic"), "--deterministic")


@pytest.mark.slow
def test_shipped_delay_model_is_reproduced_by_its_manifest_command(tmp_path):
    """models/ipd_delays (learned delays, issue 16; ~8 min of CPU): as the seed model, weights and
    integer delays included."""
    model = ROOT / "models" / "ipd_delays"
    if not (model / "manifest.json").is_file():
        pytest.skip("models/ipd_delays is not shipped in this checkout")
    row = reproduce_model(model, tmp_path)
    assert row["passed"], {k: row.get(k) for k in ("requirement", "identical_weights", "max_abs_weight_diff",
                                                  "original_test_accuracy", "reproduced_test_accuracy", "error")}
