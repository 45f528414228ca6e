"""A disk that fills up while a checkpoint is written: the previous checkpoint stays intact, the run
stops with one line (exit 2, no traceback), and the run then resumes from that checkpoint.

The disk is simulated (``tests/full_disk.py``): the second checkpoint write writes half its bytes
and fails with ENOSPC, in a real ``brainsim`` subprocess.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

FULL_DISK = Path(__file__).with_name("full_disk.py")


def _run_on_full_disk(tmp_path, writer: str, name_part: str, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), BRAINSIM_BUILD_ROOT=str(tmp_path / "builds"))
    return subprocess.run([sys.executable, str(FULL_DISK), writer, name_part, "2", "brainsim", *map(str, args)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def _assert_stopped_in_one_line(proc, path: Path) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert errors == [proc.stderr.strip().splitlines()[-1]], proc.stderr
    assert errors[0].endswith(f"error: cannot write {path}: No space left on device"), proc.stderr
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".")]   # no temporary file left


def test_mnist_train_checkpoint_on_a_full_disk(tmp_path, run_cli):
    from brainsim.experiments.mnist import _load_checkpoint

    data_dir = tmp_path / "run"
    args = ["mnist", "train", "--data-dir", data_dir, "--n-train", "2", "--chunk", "1", "--neurons", "10",
            "--dt-ms", "1", "--device", "runtime", "--no-progress"]
    checkpoint = data_dir / "train_checkpoint.npz"
    _assert_stopped_in_one_line(_run_on_full_disk(tmp_path, "numpy.savez", "train_checkpoint", *args), checkpoint)
    meta, arrays = _load_checkpoint(checkpoint)   # the checkpoint of chunk 1, whole
    assert (meta["done"], meta["chunk_index"]) == (1, 1) and arrays["weights"].size == 784 * 10
    assert not (data_dir / "weights.npy").exists()
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed
    assert "resuming from sample 1 of 2" in resumed.stderr
    assert (data_dir / "weights.npy").is_file()


def test_ipd_train_checkpoint_on_a_full_disk(tmp_path, run_cli):
    from brainsim.experiments.ipd import read_checkpoint

    out = tmp_path / "model"
    args = ["ipd", "train", "--out", out, "--epochs", "3", "--n-train", "128", "--n-test", "64", "--quiet"]
    checkpoint = out / "checkpoint.pt"
    _assert_stopped_in_one_line(_run_on_full_disk(tmp_path, "torch.save", "checkpoint", *args), checkpoint)
    assert [r["epoch"] for r in read_checkpoint(checkpoint)["history"]] == [1]   # epoch 1's checkpoint, whole
    assert not (out / "weights.npz").exists()
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed
    assert "resuming from epoch 1 of 3" in resumed.stderr
    assert (out / "weights.npz").is_file()
