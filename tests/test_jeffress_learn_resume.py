"""brainsim jeffress-learn trains in chunks with a checkpoint after each: chunks add up to one run
(every detector variable carries over), kill -9 then --resume gives the uninterrupted run's delays
and whole files, and the refusals are one line. Runtime device, a tiny circuit."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from brainsim.circuits.jeffress_learning import LearningJeffressParams
from brainsim.devices import DeviceConfig
from brainsim.experiments.jeffress_learning import CHECKPOINT, JeffressLearnConfig, TrainingParams, train
from brainsim.stimuli.ipd import PLAIN_EARS
from conftest import ROOT, assert_one_line_error

TINY_CIRCUIT = LearningJeffressParams(n_detectors=4, fibres_per_line=10, stages=6, dt_ms=0.2, seed=1)
TINY_STIMULUS = replace(PLAIN_EARS, fibres_per_ear=20, duration_ms=50.0)
TINY = ["jeffress-learn", "--detectors", "4", "--fibres", "20", "--fibres-per-line", "10", "--stages", "6",
        "--dt-ms", "0.2", "--duration", "50", "--gap-ms", "10", "--seed", "1", "--test", "6",
        "--tuning-points", "8", "--tuning-repeats", "1", "--device", "runtime", "--json"]


def _config(tmp_path, n: int, chunk: int, record_every: int = 2) -> JeffressLearnConfig:
    training = TrainingParams(n_presentations=n, gap_ms=10.0, record_every=record_every, checkpoint_every=chunk,
                              data_dir=str(tmp_path / f"chunk{chunk}"))
    return JeffressLearnConfig(stimulus=TINY_STIMULUS, circuit=TINY_CIRCUIT, training=training,
                               device=DeviceConfig(name="runtime"))


def test_chunks_add_up_to_one_run(tmp_path):
    whole = train(_config(tmp_path, 6, chunk=6))
    chunked = train(_config(tmp_path, 6, chunk=2))
    assert not np.allclose(whole["delta_ms"], whole["initial_delta_ms"])   # the rule ran
    np.testing.assert_allclose(chunked["delta_ms"], whole["delta_ms"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(chunked["theta"], whole["theta"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(chunked["spike_counts"], whole["spike_counts"])
    # the delay history: a record every 2 presentations (0, 2, 4) and the end (6), the same in both
    np.testing.assert_array_equal(whole["history_presentation"], [0, 2, 4, 6])
    np.testing.assert_array_equal(chunked["history_presentation"], [0, 2, 4, 6])
    np.testing.assert_allclose(chunked["history_ms"], whole["history_ms"], rtol=0, atol=1e-9)
    meta = json.loads(str(np.load(tmp_path / "chunk2" / CHECKPOINT)["meta"]))
    assert (meta["done"], meta["n"]) == (6, 6)


def _env(tmp_path) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), BRAINSIM_BUILD_ROOT=str(tmp_path / "builds"))


def _done(path) -> int:
    """Presentations done in a checkpoint (0 while there is none); the file is whole or absent."""
    if not path.exists():
        return 0
    with np.load(path) as data:
        return json.loads(str(data["meta"]))["done"]


def test_kill_9_then_resume_equals_the_uninterrupted_run(run_cli, tmp_path):
    args = [*TINY, "--presentations", "10", "--chunk", "1"]
    reference = run_cli(*args, "--data-dir", tmp_path / "ref")
    assert reference.returncode == 0, reference

    out = tmp_path / "run"
    checkpoint = out / CHECKPOINT
    proc = subprocess.Popen([sys.executable, "-m", "brainsim", *args, "--data-dir", str(out), "--save",
                             str(tmp_path / "killed.json")], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _done(checkpoint) < 2 and time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    done = _done(checkpoint)                      # whole: it loads, meta data and all
    assert 2 <= done < 10
    assert not (tmp_path / "killed.json").exists()

    assert_one_line_error(run_cli(*args, "--data-dir", out), "unfinished", "--resume", str(out))
    resumed = run_cli(*args, "--data-dir", out, "--resume", "--save", tmp_path / "resumed.json")
    assert resumed.returncode == 0, resumed
    assert f"resuming from presentation {done} of 10 (checkpoint {checkpoint})" in resumed.stderr, resumed
    got, want = resumed.json(), reference.json()
    assert got["resumed_from_presentation"] == done and want["resumed_from_presentation"] == 0
    np.testing.assert_allclose(got["learned_delta_ms"], want["learned_delta_ms"], rtol=0, atol=1e-4)
    assert got["train_spikes_per_detector"] == want["train_spikes_per_detector"]
    assert got["mae_deg"] == pytest.approx(want["mae_deg"], abs=1e-9)
    assert json.loads((tmp_path / "resumed.json").read_text()) == got       # whole, what --json printed
    assert _done(checkpoint) == 10
    # a temporary file that the kill may have left mid-write is removed by the resume
    assert [p.name for p in [*out.iterdir(), *tmp_path.iterdir()] if p.name.startswith(".")] == []
    # a finished checkpoint does not stop a fresh run in the same folder
    assert run_cli(*args, "--data-dir", out).returncode == 0


def test_resume_refusals_are_one_line(run_cli, tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--presentations", "2", "--chunk", "1", "--data-dir", out]
    assert run_cli(*args).returncode == 0
    (out / ".training_checkpoint.abc123.npz").write_bytes(b"half")   # what a kill mid-write leaves
    assert_one_line_error(run_cli(*args, "--eta", "0.3", "--resume"), "cannot resume", "eta=0.5",
                          str(out / CHECKPOINT))
    assert not (out / ".training_checkpoint.abc123.npz").exists()
    (out / CHECKPOINT).write_bytes(b"not a checkpoint")
    assert_one_line_error(run_cli(*args, "--resume"), str(out / CHECKPOINT))
    (out / CHECKPOINT).unlink()
    (out / CHECKPOINT).mkdir()
    assert_one_line_error(run_cli(*args, "--resume"), str(out / CHECKPOINT))
