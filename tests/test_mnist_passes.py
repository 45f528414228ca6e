"""#19: passes over the training images (--epochs, --order), resume across a pass boundary, labels
from all training images by default, the dataset's name, and a network that no longer responds."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error
from brainsim.experiments import mnist as exp
from brainsim.stimuli import mnist

TINY = ["--neurons", "10", "--dt-ms", "1", "--device", "runtime", "--no-progress"]


def _small_idx_set(folder: Path, n_train: int = 4, n_test: int = 2) -> mnist.MnistData:
    """Real digits (the embedded ones) written as small idx files: not MNIST by its sizes."""
    digits = mnist.load_embedded()
    small = mnist.MnistData(digits.train_images[:n_train], digits.train_labels[:n_train],
                            digits.test_images[:n_test], digits.test_labels[:n_test], "full", str(folder))
    mnist.export_idx(small, folder)
    return small


def _documented_permutation(seed: int, pass_index: int, n: int) -> np.ndarray:
    # docs/mnist.md: pass p of a shuffled run is default_rng(SeedSequence([seed, 4, p])).permutation(n_train)
    return np.random.default_rng(np.random.SeedSequence([seed, 4, pass_index])).permutation(n)


# --- the order of the samples ---------------------------------------------------------------------------

def test_training_indices_seed_order_and_cycling():
    np.testing.assert_array_equal(exp.training_indices(3, 10, 2, "seed", 42), [0, 1, 2, 0, 1, 2])
    # more images per pass than there are: the pass cycles through them
    np.testing.assert_array_equal(exp.training_indices(5, 3, 1, "seed", 42), [0, 1, 2, 0, 1])


def test_shuffled_passes_are_documented_permutations():
    n = 50
    order = exp.training_indices(n, 1000, 3, "shuffled", 7)
    passes = order.reshape(3, n)
    for p in range(3):
        np.testing.assert_array_equal(passes[p], _documented_permutation(7, p, n))
        assert sorted(passes[p]) == list(range(n))               # every image once per pass
    assert not np.array_equal(passes[0], passes[1]) and not np.array_equal(passes[1], passes[2])
    np.testing.assert_array_equal(order, exp.training_indices(n, 1000, 3, "shuffled", 7))   # reproducible
    assert not np.array_equal(order, exp.training_indices(n, 1000, 3, "shuffled", 8))       # seeded
    # the first passes of a longer run are those of a shorter one (a run can be extended)
    np.testing.assert_array_equal(exp.training_indices(n, 1000, 2, "shuffled", 7), order[:2 * n])


# --- end to end: passes, labels from all training images, the protocol ----------------------------

def test_epochs_shuffled_observe_all_and_protocol(run_cli, tmp_path):
    small = _small_idx_set(tmp_path / "idx")
    data_dir = tmp_path / "run"
    common = ["--mnist-dir", tmp_path / "idx", "--data-dir", data_dir, *TINY]
    res = run_cli("mnist", "train", "--n-train", "3", "--epochs", "2", "--order", "shuffled", "--seed", "5",
                  "--chunk", "4", *common)
    assert res.returncode == 0, res
    assert "2 passes over 3 images (shuffled per pass) = 6 samples" in res.stdout
    assert f"data: idx files from {tmp_path / 'idx'}" in res.stdout and "not recognised" in res.stdout
    stats = np.load(data_dir / "train_stats.npz")
    expected = np.concatenate([_documented_permutation(5, 0, 3), _documented_permutation(5, 1, 3)])
    np.testing.assert_array_equal(stats["image"], expected)
    np.testing.assert_array_equal(stats["pass_index"], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(stats["label"], small.train_labels[expected])
    assert len(stats["spikes"]) == 6
    training = json.loads((data_dir / "training.json").read_text())
    assert (training["n"], training["n_train"], training["epochs"], training["order"]) == (6, 3, 2, "shuffled")
    assert training["data"]["dataset"] == f"idx files from {tmp_path / 'idx'}"

    # observe without --n-observe labels from all (4) training images
    res = run_cli("mnist", "observe", *common)
    assert res.returncode == 0, res
    assert "from 4 images" in res.stdout
    observed = json.loads((data_dir / "observe.json").read_text())
    assert observed["n_observe"] == 4 and observed["labels_from"] == "all 4 training images"
    assert sum(observed["samples_per_class"]) == 4

    res = run_cli("mnist", "test", *common)
    assert res.returncode == 0, res
    results = json.loads((data_dir / "results.json").read_text())
    protocol = results["protocol"]
    assert (protocol["n_train"], protocol["passes"], protocol["order"], protocol["training_samples"]) == (3, 2, "shuffled", 6)
    assert protocol["n_observe"] == 4 and protocol["label_set"] == "all 4 training images"
    assert "2 passes over the first 3 training images, shuffled per pass" in protocol["training"]
    assert results["data"]["dataset"] == f"idx files from {tmp_path / 'idx'}" and results["n_test"] == 2
    assert protocol["trained_on"] == results["data"]["dataset"]


def test_explicit_n_observe_still_works(run_cli, tmp_path):
    _small_idx_set(tmp_path / "idx")
    common = ["--mnist-dir", tmp_path / "idx", "--data-dir", tmp_path / "run", *TINY]
    assert run_cli("mnist", "train", "--n-train", "2", *common).returncode == 0
    res = run_cli("mnist", "observe", "--n-observe", "2", *common)
    assert res.returncode == 0, res
    observed = json.loads((tmp_path / "run" / "observe.json").read_text())
    assert observed["n_observe"] == 2 and observed["labels_from"] == "the first 2 training images"


# Dies right after the checkpoint of a given sample count is written, as a kill -9 would leave it.
_DIE_AFTER = """
import os, sys
import brainsim.experiments.mnist as mnist
save = mnist._save_checkpoint
def save_and_die(path, meta, arrays):
    save(path, meta, arrays)
    if meta["done"] >= int(os.environ["DIE_AT"]):
        os._exit(9)
mnist._save_checkpoint = save_and_die
from brainsim.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_resume_in_the_second_pass_matches_uninterrupted_run(run_cli, tmp_path):
    _small_idx_set(tmp_path / "idx")
    args = ["--mnist-dir", tmp_path / "idx", "--n-train", "3", "--epochs", "2", "--order", "shuffled",
            "--chunk", "2", "--seed", "3", *TINY]
    ref = run_cli("mnist", "train", "--data-dir", tmp_path / "ref", *args)
    assert ref.returncode == 0, ref

    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT), DIE_AT="4", BRAINSIM_BUILD_ROOT=str(tmp_path / "builds"))
    proc = subprocess.run([sys.executable, "-c", _DIE_AFTER, "mnist", "train", "--data-dir", str(killed),
                           *map(str, args)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 9, proc.stderr
    with np.load(killed / "train_checkpoint.npz") as z:
        assert json.loads(str(z["meta"]))["done"] == 4          # in pass 2, its second sample next
    assert not (killed / "weights.npy").exists()
    # the checkpoint's samples are another order's: refused in one line
    other = [a if a != "shuffled" else "seed" for a in args]
    refused = run_cli("mnist", "train", "--data-dir", killed, "--resume", *other)
    # the killed process left its lock: the first command after it says it takes it over
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip() and not ln.startswith("taking over the lock")]
    assert refused.returncode == 2 and len(lines) == 1 and "Traceback" not in refused.stderr, refused
    assert "cannot resume train" in lines[0] and "not the first ones" in lines[0]
    res = run_cli("mnist", "train", "--data-dir", killed, "--resume", *args)
    assert res.returncode == 0, res
    assert "resuming from sample 4 of 6, pass 2 of 2, its sample 1" in res.stderr, res
    summary = json.loads((killed / "training.json").read_text())
    assert summary["done"] == 6 and summary["resumed_from"] == 4
    np.testing.assert_allclose(np.load(killed / "weights.npy"), np.load(tmp_path / "ref" / "weights.npy"))
    np.testing.assert_allclose(np.load(killed / "theta.npy"), np.load(tmp_path / "ref" / "theta.npy"))
    a, b = np.load(killed / "train_stats.npz"), np.load(tmp_path / "ref" / "train_stats.npz")
    for key in ("image", "pass_index", "label", "spikes", "presentations"):
        np.testing.assert_array_equal(a[key], b[key])


# --- the dataset's name ---------------------------------------------------------------------------------

def _mnist_like_arrays(mean_pixel: float, per_class_train, per_class_test, seed=0):
    rng = np.random.default_rng(seed)

    def images(n):
        # pixels 0 or a value: mean = p * value
        value = 200
        return (rng.random((n, 784)) < mean_pixel / value).astype(np.uint8) * value

    train_labels = np.repeat(np.arange(10, dtype=np.uint8), per_class_train)
    test_labels = np.repeat(np.arange(10, dtype=np.uint8), per_class_test)
    return images(len(train_labels)), rng.permutation(train_labels), images(len(test_labels)), rng.permutation(test_labels)


def test_identify_mnist_by_counts_and_mean_pixel():
    arrays = _mnist_like_arrays(33.3, mnist.MNIST_TRAIN_PER_CLASS, mnist.MNIST_TEST_PER_CLASS)
    assert mnist.identify_dataset(*arrays)[0] == "MNIST"
    # MNIST's sizes and counts but another mean pixel (e.g. another dataset with its labels): not MNIST
    arrays = _mnist_like_arrays(72.9, mnist.MNIST_TRAIN_PER_CLASS, mnist.MNIST_TEST_PER_CLASS)
    assert mnist.identify_dataset(*arrays)[0] == ""
    # balanced 6,000 / 1,000 per class (Fashion-MNIST's, KMNIST's) but not Fashion-MNIST's contents
    arrays = _mnist_like_arrays(72.9, [6000] * 10, [1000] * 10)
    name, why = mnist.identify_dataset(*arrays)
    assert name == "" and "nor Fashion-MNIST" in why


def test_small_idx_files_are_never_called_mnist(tmp_path):
    _small_idx_set(tmp_path / "idx")
    data = mnist.load_mnist(tmp_path / "idx")
    assert data.dataset == f"idx files from {tmp_path / 'idx'}" and data.summary().startswith("idx files from")
    assert "not recognised as MNIST" in data.summary()
    assert data.describe()["dataset"] == data.dataset
    named = mnist.load_mnist(tmp_path / "idx", dataset_name="tiny digits")
    assert named.describe()["dataset"] == "tiny digits" and "--dataset-name" in named.describe()["named_by"]
    assert mnist.load_embedded().describe()["dataset"] == "MNIST"     # the embedded default keeps its name


def test_dataset_name_recorded_and_refused_for_the_embedded_default(run_cli, tmp_path):
    _small_idx_set(tmp_path / "idx")
    res = run_cli("mnist", "train", "--mnist-dir", tmp_path / "idx", "--dataset-name", "tiny digits",
                  "--n-train", "1", "--data-dir", tmp_path / "run", *TINY)
    assert res.returncode == 0, res
    assert "data: tiny digits from" in res.stdout
    assert json.loads((tmp_path / "run" / "training.json").read_text())["data"]["dataset"] == "tiny digits"
    assert_one_line_error(run_cli("mnist", "train", "--dataset-name", "KMNIST", "--n-train", "1",
                                  "--data-dir", tmp_path / "run2", *TINY), "names idx files", "embedded")


# Debian's dataset-fashion-mnist (or its files unpacked elsewhere: FASHION_MNIST_DIR); CI has neither
FASHION_DIR = Path(os.environ.get("FASHION_MNIST_DIR", mnist.FASHION_MNIST_DEBIAN_DIR))


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_is_named():
    data = mnist.load_mnist(FASHION_DIR)
    assert data.dataset == "Fashion-MNIST" and len(data.train_labels) == 60000


# --- a network that can no longer respond ---------------------------------------------------------------

def test_thresholds_out_of_reach_stop_training(run_cli, tmp_path):
    data_dir = tmp_path / "run"
    # one spike raises theta by 60 mV: 20 + 60 > 72 mV, the threshold theta - 72 mV is above 0 mV
    args = ["--data-dir", data_dir, "--n-train", "20", "--chunk", "3", "--theta-plus-mv", "60", *TINY]
    res = run_cli("mnist", "train", *args)
    assert_one_line_error(res, "train stopped after", "no longer responds", "thresholds out of reach",
                          "--theta-plus-mv", "train_checkpoint.npz", code=4)
    summary = json.loads((data_dir / "training.json").read_text())
    event = summary["stopped"]
    assert event["cause"] == "thresholds out of reach" and event["message"] in res.stderr
    done = summary["done"]
    assert 1 <= done < 20 and event["sample"] == done
    theta = np.load(data_dir / "train_checkpoint.npz")["theta"]
    assert (theta * 1e3 - 72 >= 0).all()                   # independent of the code's bound: e_exc is 0 mV
    assert len(np.load(data_dir / "train_stats.npz")["spikes"]) == done
    assert not (data_dir / "weights.npy").exists()
    with np.load(data_dir / "train_checkpoint.npz") as z:
        meta = json.loads(str(z["meta"]))
    assert meta["done"] == done and meta["stopped"]["cause"] == "thresholds out of reach"
    # the later stages and a plain restart say why, in one line
    assert_one_line_error(run_cli("mnist", "observe", "--data-dir", data_dir, "--n-observe", "2", *TINY),
                          "did not finish", "thresholds out of reach")
    assert_one_line_error(run_cli("mnist", "train", *args), "training that stopped", "--force", "another --data-dir")
    # --force trains again there (here with the paper's theta_plus), and the stop is gone
    again = [a if a != "60" else "0.05" for a in args]
    again[again.index("20")] = "2"
    res = run_cli("mnist", "train", *again, "--force")
    assert res.returncode == 0, res
    assert json.loads((data_dir / "training.json").read_text())["stopped"] is None
    assert (data_dir / "weights.npy").exists()


def test_sample_repeated_too_often_stops_training(run_cli, tmp_path):
    data_dir = tmp_path / "run"
    # +10 mV per spike: after a few samples no input drives 5 spikes, the boost rule repeats for ever
    res = run_cli("mnist", "train", "--data-dir", data_dir, "--n-train", "20", "--chunk", "3",
                  "--theta-plus-mv", "10", "--max-presentations", "5", *TINY)
    assert_one_line_error(res, "no longer responds", "more than --max-presentations 5", code=4)
    summary = json.loads((data_dir / "training.json").read_text())
    assert summary["stopped"]["max_presentations"] == 5 and summary["done"] < 20
    stats = np.load(data_dir / "train_stats.npz")
    assert len(stats["presentations"]) == summary["done"]


def test_max_spikes_per_presentation_closed_form():
    from brainsim.circuits.diehl_cook import DiehlCookParams

    # 350 ms input phase, a spike at most every 50 ms (+ one step: the timer must exceed 50 ms): 7 spikes
    assert exp.max_spikes_per_presentation(DiehlCookParams()) == 7
    assert exp.max_spikes_per_presentation(DiehlCookParams(dt_ms=1.0)) == 7
    assert exp.max_spikes_per_presentation(DiehlCookParams(timer_ms=100.0)) == 4   # at 0, 100.5, 201, 301.5 ms


def test_finished_training_is_kept_and_observe_stops_on_unreachable_thresholds(run_cli, tmp_path):
    data_dir = tmp_path / "run"
    # the one sample completes, then every threshold is out of reach: the training itself is complete
    res = run_cli("mnist", "train", "--data-dir", data_dir, "--n-train", "1", "--theta-plus-mv", "60", *TINY)
    assert res.returncode == 0, res
    assert json.loads((data_dir / "training.json").read_text())["stopped"] is None
    assert (np.load(data_dir / "theta.npy") * 1e3 >= 72).all()
    # observe (theta frozen) could never finish a sample: it stops before simulating anything
    res = run_cli("mnist", "observe", "--data-dir", data_dir, "--n-observe", "2", *TINY)
    assert_one_line_error(res, "observe stopped after 0 of 2 samples", "thresholds out of reach",
                          "trained thresholds are too high", code=4)
    assert not (data_dir / "assign.npy").exists()


@pytest.mark.parametrize("option, fragment", [
    (("--order", "random"), "invalid choice"),
    (("--epochs", "0"), "positive integer"),
    (("--max-presentations", "0"), "positive integer"),
    (("--dataset-name", " "), "--dataset-name is empty"),
])
def test_bad_pass_and_dataset_options_one_line(run_cli, tmp_path, option, fragment):
    assert_one_line_error(run_cli("mnist", "train", *option, "--data-dir", tmp_path / "out", *TINY), fragment)
    assert not (tmp_path / "out" / "training.json").exists()


def test_saturated_samples_are_counted_and_warned_once(tmp_path, capsys):
    from brainsim.circuits.diehl_cook import DiehlCookParams
    from brainsim.devices import DeviceConfig

    # no lateral inhibition and a strong input: every neuron fires at its maximum on every sample
    params = DiehlCookParams(n_neurons=4, dt_ms=1.0, intensity=64.0, w_inh_exc=0.0, theta_plus_mv=0.0)
    opts = exp.StageOptions(data_dir=str(tmp_path / "run"), device=DeviceConfig("runtime"), chunk_samples=2,
                            n_snapshots=0, progress=False)
    summary = exp.train(params, mnist.load_embedded(), 4, opts)
    spikes = np.load(tmp_path / "run" / "train_stats.npz")["spikes"]
    assert summary["max_spikes_per_sample"] == 4 * 7
    assert (spikes == 28).all() and summary["saturated_samples"] == 4     # the maximum is reached, not passed
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "drove every neuron to its maximum" in ln]
    assert len(warnings) == 1 and "--theta-plus-mv" in warnings[0]
