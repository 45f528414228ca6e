"""brainsim delays --task ipd --out DIR: checkpoints after every epoch, kill -9 then --resume gives the
uninterrupted run's result; refusals (unfinished run without --resume, other settings, damaged
checkpoint) are one line. Real CLI subprocesses on a tiny protocol (128 training stimuli, 8 hidden)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error

CHECKPOINT = "delays_checkpoint.pt"
TINY = ["delays", "--task", "ipd", "--conditions", "delays,plain", "--epochs", "8", "--n-train", "128",
        "--hidden", "8", "--n-test", "128", "--seed", "3", "--deterministic"]

# Runs the CLI and dies (exit 9, no clean-up: what kill -9 leaves) right after writing the first
# checkpoint of the condition named in argv[1]; its epoch in argv[2].
_DIE_AFTER_CHECKPOINT = """
import os, sys
import brainsim.snn.training as training
condition, epoch = sys.argv[1], int(sys.argv[2])
save = training.save_checkpoint
def save_and_die(*args, **kwargs):
    save(*args, **kwargs)
    if kwargs["condition"] == condition and kwargs["epoch"] == epoch:
        os._exit(9)
training.save_checkpoint = save_and_die
from brainsim.cli.main import main
sys.exit(main(sys.argv[3:]))
"""


def _env(tmp_path) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), BRAINSIM_BUILD_ROOT=str(tmp_path / "builds"))


def _die_after(tmp_path, condition: str, epoch: int, out: Path) -> None:
    died = subprocess.run([sys.executable, "-c", _DIE_AFTER_CHECKPOINT, condition, str(epoch), *TINY, "--out", str(out)],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert died.returncode == 9, died.stderr
    assert (out / CHECKPOINT).is_file() and not (out / "summary.json").exists()


def _results(out: Path) -> tuple[dict, np.ndarray]:
    """The results without their wall times, and the learned delays."""
    summary = json.loads((out / "summary.json").read_text())
    results = {name: {k: v for k, v in entry.items() if k != "train_seconds"}
               for name, entry in summary["results"].items()}
    return results, np.load(out / "delays_ms.npy")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The uninterrupted run's results and learned delays (run with --resume on an empty --out: that
    starts afresh and says so)."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    run = subprocess.run([sys.executable, "-m", "brainsim", *TINY, "--out", "ref", "--resume", "--json"], cwd=tmp,
                         env=_env(tmp), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = tmp / "ref"
    assert (f"delays ipd: --resume: no checkpoint {Path('ref') / CHECKPOINT}, starting from the first condition"
            in run.stderr), run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["delays_ms.npy", "summary.json"]
    # summary.json is what --json prints
    assert json.loads((out / "summary.json").read_text()) == json.loads(run.stdout)
    return (*_results(out), out)


def _no_leftovers(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["delays_ms.npy", "summary.json"]


def test_kill_9_after_the_first_checkpoint_then_resume_equals_the_uninterrupted_run(run_cli, tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "brainsim", *TINY, "--out", str(out)], cwd=tmp_path,
                            env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / CHECKPOINT).exists() and time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert (out / CHECKPOINT).is_file() and not (out / "summary.json").exists()

    again = run_cli(*TINY, "--out", out)
    assert_one_line_error(again, "interrupted run", "--resume", str(out))
    resumed = run_cli(*TINY, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed
    assert "delays ipd: resuming condition delays at epoch " in resumed.stderr, resumed
    assert f"of 8 (checkpoint {out / CHECKPOINT}" in resumed.stderr, resumed
    results, delays = _results(out)
    assert results == uninterrupted[0]
    np.testing.assert_array_equal(delays, uninterrupted[1])
    _no_leftovers(out)   # the checkpoint (and any temporary file the kill left) is gone


@pytest.mark.slow
def test_resume_skips_finished_conditions(run_cli, tmp_path, uninterrupted):
    out = tmp_path / "run"
    _die_after(tmp_path, "plain", 2, out)
    import torch

    finished = torch.load(out / CHECKPOINT, weights_only=True)["results"]["delays"]
    resumed = run_cli(*TINY, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed
    assert (f"delays ipd: resuming condition plain at epoch 2 of 8 (checkpoint {out / CHECKPOINT}; "
            "conditions done: delays)") in resumed.stderr, resumed
    # not trained again: its entry, wall time included, is the checkpoint's
    assert json.loads((out / "summary.json").read_text())["results"]["delays"] == finished
    results, delays = _results(out)
    assert results == uninterrupted[0]
    np.testing.assert_array_equal(delays, uninterrupted[1])   # the finished condition's delays, from the checkpoint
    _no_leftovers(out)


def test_refusals_are_one_line(run_cli, tmp_path, uninterrupted):
    out = tmp_path / "run"
    _die_after(tmp_path, "delays", 1, out)
    checkpoint = out / CHECKPOINT
    assert_one_line_error(run_cli(*TINY, "--out", out), "interrupted run", "pass --resume", "--force", checkpoint.name)
    without = [a for a in TINY if a != "--deterministic"]
    assert_one_line_error(run_cli(*without, "--out", out, "--resume", "--epochs", "9"), "other settings",
                          "epochs 9 (checkpoint: 8), deterministic False (checkpoint: True)", str(checkpoint))
    intact = checkpoint.read_bytes()
    # loadable, but an optimizer state of another shape (more damage: the fuzz test below)
    import torch

    state = torch.load(checkpoint, weights_only=True)
    moments = state["optimizer"]["state"][0]
    moments["exp_avg"] = moments["exp_avg"][:1]
    torch.save(state, checkpoint)
    assert_one_line_error(run_cli(*TINY, "--out", out, "--resume"), str(checkpoint), "optimizer state does not fit")
    checkpoint.write_bytes(intact[: len(intact) // 2])
    assert_one_line_error(run_cli(*TINY, "--out", out, "--resume"), "cannot read checkpoint", str(checkpoint))
    assert not (out / "summary.json").exists() and checkpoint.stat().st_size == len(intact) // 2


@pytest.mark.slow
def test_force_discards_a_damaged_checkpoint_and_starts_over(run_cli, tmp_path, uninterrupted):
    out = tmp_path / "run"
    _die_after(tmp_path, "delays", 1, out)
    (out / CHECKPOINT).write_bytes(b"damaged")
    started_over = run_cli(*TINY, "--out", out, "--force")
    assert started_over.returncode == 0 and "resuming" not in started_over.stderr, started_over
    results, delays = _results(out)
    assert results == uninterrupted[0]
    np.testing.assert_array_equal(delays, uninterrupted[1])
    _no_leftovers(out)


def test_a_finished_run_is_replaced_only_with_force(run_cli, tmp_path, uninterrupted):
    out = tmp_path / "o"
    out.mkdir()
    for name in ("summary.json", "delays_ms.npy"):
        (out / name).write_bytes((uninterrupted[2] / name).read_bytes())
    plain = [*TINY, "--conditions", "plain", "--epochs", "1", "--out", out]
    assert_one_line_error(run_cli(*plain), "holds a finished run (summary.json)", "--force")
    assert_one_line_error(run_cli(*plain, "--resume"), "holds a finished run (summary.json)", "--force")
    assert (out / "summary.json").read_bytes() == (uninterrupted[2] / "summary.json").read_bytes()
    result = run_cli(*plain, "--force")
    assert result.returncode == 0, result
    # the new run has no delays condition: the earlier run's delays are gone with its summary
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert list(json.loads((out / "summary.json").read_text())["results"]) == ["plain"]


# -- damaged checkpoints, fuzzed (hypothesis; as tests/test_fuzz_readers.py does for ipd train's) -------
FUZZ_SEED = 3


def _fuzz_params():
    from brainsim.experiments.delays import IPDDelayParams

    return IPDDelayParams(epochs=2, hidden=8, n_train=128, n_test=64, conditions="delays,plain")


@pytest.fixture(scope="module")
def delay_checkpoints(tmp_path_factory):
    """The bytes of the first checkpoint of each condition of a real tiny run (in process): mid-way
    through ``delays``, and in ``plain`` with the finished ``delays`` result and learned delays."""
    import brainsim.snn.training as training
    from brainsim.experiments.delays import run_ipd_delays

    kept, save = {}, training.save_checkpoint

    def keep(path, *args, **kwargs):
        save(path, *args, **kwargs)
        kept.setdefault(kwargs["condition"], Path(path).read_bytes())

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "save_checkpoint", keep)
        run_ipd_delays(FUZZ_SEED, _fuzz_params(), out_dir=tmp_path_factory.mktemp("delay_checkpoints"))
    assert sorted(kept) == ["delays", "plain"]
    return kept


def _check_delay_checkpoint(tmp_path: Path, blob: bytes) -> None:
    """Resuming from ``blob`` is one UserError line, or everything a resumed run takes from it works."""
    import torch
    from test_fuzz_readers import outcome

    from brainsim.errors import UserError
    from brainsim.experiments import delays as ex

    path = tmp_path / CHECKPOINT
    path.write_bytes(blob)
    params = _fuzz_params()
    protocol = ex._ipd_protocol(FUZZ_SEED, params)
    state = outcome(lambda: ex._ipd_checkpoint_state(path, ex._ipd_settings(FUZZ_SEED, params), params, protocol,
                                                     resume=True, force=False))
    if isinstance(state, UserError):
        assert str(path) in str(state)
        return
    model, _ = ex._ipd_network(state["condition"], protocol, params, FUZZ_SEED)
    if isinstance(outcome(lambda: ex._resume_network(model, state, path)), UserError):
        return
    optimizer = torch.optim.Adam(model.parameters())
    optimizer.load_state_dict(state["optimizer"])
    sum(p.sum() for p in model.parameters()).backward()
    optimizer.step()
    for entry in state["results"].values():   # what the CLI prints of a finished condition
        f"{100 * entry['test_accuracy']:.1f} {entry['test_mae_deg']:.1f} {entry['train_seconds']:.0f}"
    if state["delays_ms"] is not None:
        np.asarray(state["delays_ms"].numpy(), dtype=float)


def _fuzz_delay_checkpoints(tmp_path, checkpoints, examples) -> None:
    from hypothesis import given
    from hypothesis import strategies as st
    from test_fuzz_readers import damaged_ipd_checkpoint

    @examples
    @given(data=st.data())
    def check(data):
        blob = checkpoints[data.draw(st.sampled_from(sorted(checkpoints)))]
        _check_delay_checkpoint(tmp_path, data.draw(damaged_ipd_checkpoint(blob)))

    check()


def test_a_damaged_checkpoint_is_one_line_or_resumes(tmp_path, delay_checkpoints):
    from test_fuzz_readers import FAST

    _fuzz_delay_checkpoints(tmp_path, delay_checkpoints, FAST)


@pytest.mark.slow
def test_a_damaged_checkpoint_is_one_line_or_resumes_long(tmp_path, delay_checkpoints):
    from test_fuzz_readers import SLOW

    _fuzz_delay_checkpoints(tmp_path, delay_checkpoints, SLOW)
