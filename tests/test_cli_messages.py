"""Messages a user reads (#14 item 5), through real CLI subprocesses: wrong model paths, errors named by
their subcommand, the command list of a bare ``brainsim``, device options that do not apply."""
from __future__ import annotations

import pytest

from conftest import ROOT, assert_one_line_error

SEED_MODEL = ROOT / "models" / "ipd_seed"


@pytest.mark.parametrize("command, name, what", [
    (("ipd", "evaluate", "--model"), "manifest.json", "the manifest"),
    (("ipd", "analyse", "--out", "figs", "--model"), "manifest.json", "the manifest"),
    (("compare", "--n-test", "4", "--model"), "manifest.json", "the manifest"),
    (("compare", "--n-test", "4", "--model"), "training_curve.csv", "the training curve"),
    (("nir-run", "out.nir", "--export-from"), "manifest.json", "the manifest"),
])
def test_a_file_of_a_model_directory_names_the_directory_to_give(run_cli, tmp_path, command, name, what):
    result = run_cli(*command, SEED_MODEL / name)
    assert_one_line_error(result, f"{SEED_MODEL / name} is {what} of a model",
                          f"give its directory {SEED_MODEL} instead")
    assert "does not exist" not in result.stderr
    assert not (tmp_path / "figs").exists() and not (tmp_path / "out.nir").exists()


def test_a_file_elsewhere_says_it_is_a_file(run_cli, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    assert_one_line_error(run_cli("ipd", "evaluate", "--model", "notes.txt"),
                          "notes.txt is a file, not a model directory")


@pytest.mark.parametrize("args, prefix, fragments", [
    # misplaced options: the subcommand that was chosen, and the sibling that takes the option
    (("ipd", "evaluate", "--model", "m", "--out", "x"), "brainsim ipd evaluate: error:",
     ("unrecognized arguments: --out x", "--out is an option of brainsim ipd train and brainsim ipd analyse")),
    (("mnist", "test", "--n-train", "3"), "brainsim mnist test: error:",
     ("unrecognized arguments: --n-train 3", "--n-train is an option of brainsim mnist train")),
    (("jeffress", "--ipd", "30", "--bogus"), "brainsim jeffress: error:", ("unrecognized arguments: --bogus",)),
    # an option of the subcommand given before its name (argparse alone says "invalid choice: '3'")
    (("ipd", "--epochs", "3", "train", "--out", "x"), "brainsim ipd: error:",
     ("--epochs is an option of brainsim ipd train: give it after 'train'",)),
    (("--device", "runtime", "jeffress", "--ipd", "30"), "brainsim: error:",
     ("--device is an option of brainsim jeffress: give it after 'jeffress'",)),
    # a UserError raised while the command runs
    (("ipd", "evaluate", "--model", "missing_model"), "brainsim ipd evaluate: error:", ("does not exist",)),
    (("mnist", "observe", "--data-dir", "empty"), "brainsim mnist observe: error:", ("run 'train' first",)),
])
def test_errors_name_the_subcommand(run_cli, args, prefix, fragments):
    result = run_cli(*args)
    assert_one_line_error(result, *fragments)
    assert result.stderr.startswith(prefix), result


def test_bare_brainsim_prints_the_command_list(run_cli):
    result = run_cli()
    assert result.returncode == 2, result           # nothing was run: a usage error (documented in --help)
    assert "Traceback" not in result.stderr and "error" not in result.stderr
    listed = result.stdout
    for command in ("jeffress", "mnist", "ipd", "delays", "nir-run", "compare", "sweep", "sweep-plot"):
        assert f"\n    {command} " in listed or f"\n    {command}\n" in listed, (command, listed)
    assert "exit codes" in listed


@pytest.mark.parametrize("group, subcommands", [("ipd", ("train", "evaluate", "analyse")),
                                                ("mnist", ("train", "observe", "test", "plot"))])
def test_a_command_without_its_subcommand_lists_them(run_cli, group, subcommands):
    result = run_cli(group)
    assert result.returncode == 2, result
    for sub in subcommands:
        assert f"\n    {sub} " in result.stdout, (sub, result.stdout)


@pytest.mark.parametrize("args, fragments", [
    (("jeffress", "--ipd", "30", "--threads", "2"), ("--threads applies only to --device cpp_standalone",
                                                     "for runtime")),
    # given explicitly, even with the value the device uses anyway
    (("jeffress", "--ipd", "30", "--threads", "1"), ("--threads applies only to --device cpp_standalone",)),
    (("jeffress", "--ipd", "30", "--device", "cuda_standalone", "--threads", "2", "--build-only"),
     ("--threads", "for cuda_standalone")),
    (("jeffress", "--ipd", "30", "--device", "cpp_standalone", "--target", "cython"),
     ("--target applies only to --device runtime", "for cpp_standalone")),
    (("jeffress", "--ipd", "30", "--build-only"), ("--build-only applies only to --device cpp_standalone or "
                                                   "cuda_standalone",)),
    (("jeffress", "--ipd", "30", "--build-dir", "proj"), ("--build-dir applies only",)),
    (("compare", "--model", str(SEED_MODEL), "--device", "runtime", "--build-only"), ("--build-only",)),
    (("nir-run", "g.nir", "--input", "x.npy", "--output", "y.npy", "--threads", "2"), ("--threads",)),
    (("mnist", "train", "--device", "runtime", "--threads", "2"), ("--threads", "for runtime")),
    (("delays", "--method", "torch", "--threads", "2"), ("--threads", "not to the torch runs")),
    (("delays", "--task", "toy", "--device", "cpp_standalone"), ("--device", "not to the torch runs")),
    (("delays", "--task", "impulse", "--device", "cpp_standalone", "--build-only"), ("--build-only is not supported",)),
    (("delays", "--device", "cpp_standalone", "--target", "cython"), ("--target applies only",)),
])
def test_device_options_that_do_not_apply_are_refused(run_cli, tmp_path, args, fragments):
    assert_one_line_error(run_cli(*args), *fragments)
    assert not (tmp_path / "proj").exists()


def test_device_configuration_refuses_what_it_would_ignore():
    from brainsim.devices import DeviceConfig
    from brainsim.errors import UserError

    for kwargs in (dict(threads=2), dict(name="cuda_standalone", threads=2), dict(name="cpp_standalone", target="cython"),
                   dict(build_only=True), dict(build_dir="x")):
        with pytest.raises(UserError, match="applies only to"):
            DeviceConfig(**kwargs)
    DeviceConfig("cpp_standalone", threads=2, build_only=True, build_dir="x")   # all apply
    DeviceConfig("runtime", target="cython")


# --- resume says where it resumes from ----------------------------------------------------------------

MNIST_TINY = ["--neurons", "10", "--dt-ms", "1", "--device", "runtime", "--no-progress", "--chunk", "1"]


def test_mnist_resume_names_the_sample_and_checkpoint(run_cli, tmp_path):
    data_dir = tmp_path / "run"
    fresh = run_cli("mnist", "train", "--data-dir", data_dir, "--n-train", "1", "--resume", *MNIST_TINY)
    assert fresh.returncode == 0, fresh
    assert f"train: --resume: no checkpoint {data_dir / 'train_checkpoint.npz'}, starting from sample 0" in fresh.stderr
    # a longer schedule continues from the finished checkpoint of the shorter one
    longer = run_cli("mnist", "train", "--data-dir", data_dir, "--n-train", "2", "--resume", *MNIST_TINY)
    assert longer.returncode == 0, longer
    assert (f"train: resuming from sample 1 of 2 (checkpoint {data_dir / 'train_checkpoint.npz'}, after chunk 1); "
            "1 samples left") in longer.stderr, longer
    observe = run_cli("mnist", "observe", "--data-dir", data_dir, "--n-observe", "1", *MNIST_TINY)
    assert observe.returncode == 0 and "resuming" not in observe.stderr, observe


# Dies right after the first epoch's checkpoint is written, as a kill -9 would leave the directory.
_DIE_AFTER_CHECKPOINT = """
import os, sys
import brainsim.experiments.ipd as ipd
save = ipd._save_checkpoint
def save_and_die(*args, **kwargs):
    save(*args, **kwargs)
    os._exit(9)
ipd._save_checkpoint = save_and_die
from brainsim.cli.main import main
sys.exit(main(sys.argv[1:]))
"""

IPD_TINY = ["--epochs", "2", "--n-train", "128", "--n-test", "64", "--batch-size", "64", "--hidden", "8", "--quiet"]


def test_ipd_train_resume_names_the_epoch_and_checkpoint(run_cli, tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    killed = subprocess.run([sys.executable, "-c", _DIE_AFTER_CHECKPOINT, "ipd", "train", *IPD_TINY, "--out", "m"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9 and (tmp_path / "m" / "checkpoint.pt").is_file(), killed.stderr
    other = run_cli("ipd", "train", *IPD_TINY, "--lr", "0.001", "--out", "other", cwd=tmp_path)
    assert other.returncode == 0 and "resuming" not in other.stderr, other
    resumed = run_cli("ipd", "train", *IPD_TINY, "--out", "m", "--resume")
    assert resumed.returncode == 0, resumed
    assert f"train: resuming from epoch 1 of 2 (checkpoint {os.path.join('m', 'checkpoint.pt')})" in resumed.stderr, resumed


def test_ipd_train_refuses_a_checkpoint_it_was_not_asked_to_resume_or_of_another_protocol(run_cli, tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    killed = subprocess.run([sys.executable, "-c", _DIE_AFTER_CHECKPOINT, "ipd", "train", *IPD_TINY, "--out", "m"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr
    plain = run_cli("ipd", "train", *IPD_TINY, "--out", "m")
    assert_one_line_error(plain, "holds an interrupted training", "--resume", "--force")
    changed = run_cli("ipd", "train", *IPD_TINY, "--lr", "0.001", "--out", "m", "--resume")
    assert_one_line_error(changed, "checkpoint of another protocol")
    assert (tmp_path / "m" / "checkpoint.pt").is_file() and not (tmp_path / "m" / "manifest.json").exists()
    restarted = run_cli("ipd", "train", *IPD_TINY, "--lr", "0.001", "--out", "m", "--force")
    assert restarted.returncode == 0 and "resuming" not in restarted.stderr, restarted
    assert not (tmp_path / "m" / "checkpoint.pt").exists()


def test_sweep_resume_says_how_many_runs_are_done(run_cli, tmp_path):
    plugin = {"PYTHONPATH": str(ROOT / "tests") + ":" + str(ROOT)}
    spec = tmp_path / "spec.toml"
    spec.write_text('experiment = "sweep_plugin:PROBE"\nrepeats = 2\n[grid]\nx = [0.0, 1.0, 2.0]\n'
                    '[fixed]\nfail_above = 1.5\n')
    first = run_cli("sweep", spec, "--out", "out", "--workers", "1", "--max-runs", "5", "--quiet", env=plugin)
    assert first.returncode == 1 and "resuming" not in first.stderr, first      # x = 2 fails
    again = run_cli("sweep", spec, "--out", "out", "--workers", "1", "--quiet", env=plugin)
    table = tmp_path / "out" / "results.csv"
    assert (f"sweep sweep_plugin:PROBE: resuming {table.relative_to(tmp_path)}: 4 of 6 runs already done, 2 to run "
            "(1 failed before, retried)") in again.stderr, again


# --- observe: silent neurons are reported apart, not as class 0 ----------------------------------------

def test_label_neurons_keeps_silent_neurons_out_of_the_class_counts():
    import numpy as np

    from brainsim.experiments.mnist import SILENT_LABEL, label_neurons

    rates = np.zeros((10, 5))
    rates[3, 0], rates[7, 1], rates[0, 2], rates[2, 2] = 2.0, 1.0, 0.5, 0.25   # neurons 3 and 4 silent
    labels = label_neurons(rates)
    assert labels.assign.tolist() == [3, 7, 0, SILENT_LABEL, SILENT_LABEL]
    assert labels.neurons_per_class.tolist() == [1, 0, 0, 1, 0, 0, 0, 1, 0, 0]   # neuron 2 is class 0, 3 and 4 not
    assert labels.silent == 2


def test_observe_reports_silent_neurons_apart(run_cli, tmp_path):
    import json

    import numpy as np

    data_dir = tmp_path / "trained"
    data_dir.mkdir()
    n = 4
    weights = np.zeros((784, n))
    weights[:, :2] = 0.3                      # neurons 2 and 3 get no input: silent
    np.save(data_dir / "weights.npy", weights.ravel())
    np.save(data_dir / "delays.npy", np.zeros(784 * n))
    np.save(data_dir / "theta.npy", np.full(n, 0.02))
    (data_dir / "training.json").write_text(json.dumps({"n": 1, "params": {"n_input": 784, "n_neurons": n,
                                                                            "dt_ms": 1.0}}))
    result = run_cli("mnist", "observe", "--data-dir", data_dir, "--n-observe", "2", "--device", "runtime",
                     "--no-progress")
    assert result.returncode == 0, result
    summary = json.loads((data_dir / "observe.json").read_text())
    assert summary["silent_neurons"] == 2 and sum(summary["neurons_per_class"]) == 2
    assert f"neurons per class {summary['neurons_per_class']}" in result.stdout
    assert "observe: labelled 2 neurons from 2 images" in result.stdout
    assert "2 neurons never spiked (not counted above)" in result.stdout and "test counts them in class 0" in result.stdout
    # test keeps the seed's rule (documented in results.json): silent neurons vote with class 0
    assert run_cli("mnist", "test", "--data-dir", data_dir, "--n-test", "1", "--device", "runtime",
                   "--no-progress").returncode == 0
    protocol = json.loads((data_dir / "results.json").read_text())["protocol"]
    assert "silent there get label 0" in protocol["labels"]


@pytest.mark.parametrize("argv", [
    ("jeffress", "--ipd", "30"),
    ("delays", "--method", "lagging", "--offset-ms", "7"),
    ("compare", "--model", ROOT / "models" / "ipd_seed", "--n-test", "8"),
])
def test_a_figure_format_matplotlib_cannot_write_is_refused_before_the_run(run_cli, tmp_path, argv):
    target = tmp_path / "figure.txt"
    result = run_cli(*argv, "--plot", target)
    assert_one_line_error(result, "format '.txt' is not one matplotlib writes", ".png")
    assert not target.exists() and not list(tmp_path.glob(".figure*"))
