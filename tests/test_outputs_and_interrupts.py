"""Issue #14, items 2 and 3: finished and shipped results are not overwritten, two processes never
write one directory, and Ctrl-C / SIGTERM end any command in one line (compilation included)."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, assert_one_line_error

IPD_TINY = ["--epochs", "2", "--n-train", "128", "--n-test", "64", "--batch-size", "64", "--hidden", "8", "--quiet"]
# long enough to be caught while it trains (about 0.1 s per epoch here), short enough to finish
IPD_LONG = ["--epochs", "400", "--n-train", "256", "--n-test", "64", "--batch-size", "64", "--hidden", "8", "--quiet"]
MNIST_TINY = ["--neurons", "10", "--dt-ms", "1", "--device", "runtime", "--no-progress", "--chunk", "1"]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _start(args, cwd, **kwargs) -> subprocess.Popen:
    """``brainsim ARGS`` in its own process group (as a shell starts a job), stderr piped."""
    return subprocess.Popen([sys.executable, "-m", "brainsim", *map(str, args)], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            **kwargs)


def _wait_for(condition, timeout: float = 120.0, what: str = "") -> None:
    t0 = time.time()
    while not condition():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _digest(directory: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


# --- finished and shipped results -----------------------------------------------------------------------

def test_a_finished_model_is_replaced_only_with_force(run_cli, tmp_path):
    first = run_cli("ipd", "train", *IPD_TINY, "--out", "m")
    assert first.returncode == 0, first
    before = _digest(tmp_path / "m")
    again = run_cli("ipd", "train", *IPD_TINY, "--lr", "0.001", "--out", "m")
    assert_one_line_error(again, "m holds a trained model", "--force")
    assert _digest(tmp_path / "m") == before
    forced = run_cli("ipd", "train", *IPD_TINY, "--lr", "0.001", "--out", "m", "--force")
    assert forced.returncode == 0, forced
    assert _digest(tmp_path / "m")["weights.npz"] != before["weights.npz"]


def test_a_shipped_model_is_refused_even_with_force(run_cli, tmp_path):
    shipped = ROOT / "models" / "ipd_seed"
    before = _digest(shipped)
    for extra in ([], ["--force"]):
        result = run_cli("ipd", "train", *IPD_TINY, "--out", shipped, *extra)
        assert_one_line_error(result, "ships with brainsim", "--overwrite-shipped")
    assert _digest(shipped) == before
    assert not (shipped / ".brainsim.lock").exists()


def test_overwrite_shipped_is_what_lets_a_shipped_model_be_remade(tmp_path, monkeypatch):
    from brainsim import outdir
    from brainsim.errors import UserError

    models = tmp_path / "models"
    (models / "m").mkdir(parents=True)
    (models / "m" / "manifest.json").write_text("{}")
    monkeypatch.setattr(outdir, "SHIPPED_MODELS", models)
    assert outdir.is_shipped(models / "m") and not outdir.is_shipped(tmp_path / "elsewhere")
    for allow in (outdir.Overwrite(), outdir.Overwrite(force=True)):
        with pytest.raises(UserError, match="ships with brainsim"):
            outdir.check_overwrite(models / "m", ["manifest.json"], allow)
    assert outdir.check_overwrite(models / "m", ["manifest.json"], outdir.Overwrite(shipped=True)) == ["manifest.json"]
    # a new directory under models/ is how a model comes to ship: nothing to refuse there
    assert outdir.check_overwrite(models / "new", ["manifest.json"]) == []


def test_a_finished_mnist_stage_is_replaced_only_with_force(run_cli, tmp_path):
    args = ["mnist", "train", "--data-dir", "run", "--n-train", "1", *MNIST_TINY]
    assert run_cli(*args).returncode == 0
    assert_one_line_error(run_cli(*args), "holds a finished train stage", "--force")
    forced = run_cli(*args, "--force")
    assert forced.returncode == 0, forced


# --- two writers -----------------------------------------------------------------------------------------

def test_a_second_training_into_the_same_directory_is_refused_and_a_dead_ones_lock_taken_over(run_cli, tmp_path):
    first = _start(["ipd", "train", *IPD_LONG, "--out", "m"], tmp_path)
    lock, checkpoint = tmp_path / "m" / ".brainsim.lock", tmp_path / "m" / "checkpoint.pt"
    try:
        _wait_for(checkpoint.exists, what="the first training's checkpoint")
        second = run_cli("ipd", "train", *IPD_LONG, "--out", "m")
        assert_one_line_error(second, f"is in use by pid {first.pid}", "wait for it")
    finally:
        os.killpg(first.pid, signal.SIGKILL)   # kill -9: the lock file stays behind
        first.communicate(timeout=60)
    assert lock.exists() and str(first.pid) in lock.read_text()
    resumed = run_cli("ipd", "train", *IPD_TINY, "--out", "m", "--resume")
    # the dead process's lock is taken over; its checkpoint is of other options, so resuming is refused
    assert_one_line_error(resumed, "checkpoint of another protocol")
    assert not lock.exists()


def test_a_directory_lock_keeps_other_processes_out_and_is_reentrant(tmp_path):
    from brainsim import outdir
    from brainsim.errors import UserError

    (tmp_path / "out").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from brainsim.outdir import locked\n"
                               "with locked(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
                               str(tmp_path / "out")], env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"in use by pid {holder.pid}"):
            with outdir.locked(tmp_path / "out"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with outdir.locked(tmp_path / "out"), outdir.locked(tmp_path / "out"):   # re-entrant in one process
        assert (tmp_path / "out" / outdir.LOCK_NAME).exists()
    assert not (tmp_path / "out" / outdir.LOCK_NAME).exists()


# --- interruptions ---------------------------------------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    from brainsim.interrupts import _descendants as found

    return found(pid)


def test_ctrl_c_while_brian2_compiles_is_one_line_with_how_to_resume(tmp_path):
    """Ctrl-C in a terminal signals the whole foreground job (python, make and the compilers)."""
    proc = _start(["mnist", "train", "--data-dir", "run", "--n-train", "2", "--neurons", "10",
                   "--device", "cpp_standalone", "--no-progress"], tmp_path)
    # the compiler proper (not a short make step that may end before the signal), then at once
    _wait_for(lambda: any("cc1plus" in _comm(p) for p in _descendants(proc.pid)), what="the compiler")
    time.sleep(0.2)
    assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]   # --no-progress: no compilation notice
    assert lines == [("brainsim mnist train: interrupted; resume with: brainsim mnist train --data-dir run "
                        "--n-train 2 --neurons 10 --device cpp_standalone --no-progress --resume")], err
    assert "Traceback" not in err and "make" not in err


def test_sigterm_while_brian2_compiles_ends_make_at_once(tmp_path):
    proc = _start(["jeffress", "--ipd", "30", "--device", "cpp_standalone"], tmp_path)
    _wait_for(lambda: any("cc1plus" in _comm(p) for p in _descendants(proc.pid)), what="the compiler")
    children = _descendants(proc.pid)
    t0 = time.time()
    os.kill(proc.pid, signal.SIGTERM)   # to the python process only, as a process manager sends it
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert time.time() - t0 < 15, "the compilation went on after SIGTERM"
    assert err.strip().splitlines()[-1] == "brainsim jeffress: terminated (SIGTERM)", err
    assert "Traceback" not in err and "make" not in err
    # the compilers end within moments (a zombie, dead but not yet reaped by init, is not running)
    _wait_for(lambda: not [p for p in children if _running(p)], timeout=10, what="the compilers to end")


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_sigterm_during_training_leaves_a_checkpoint_that_resume_completes(run_cli, tmp_path):
    proc = _start(["ipd", "train", *IPD_LONG, "--out", "m"], tmp_path)
    _wait_for((tmp_path / "m" / "checkpoint.pt").exists, what="the first checkpoint")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == [f"brainsim ipd train: terminated (SIGTERM); resume with: brainsim ipd train "
                                        f"{' '.join(IPD_LONG)} --out m --resume"], err
    assert not (tmp_path / "m" / ".brainsim.lock").exists()
    resumed = run_cli("ipd", "train", *IPD_LONG, "--out", "m", "--resume")
    assert resumed.returncode == 0 and "train: resuming from epoch" in resumed.stderr, resumed
    assert (tmp_path / "m" / "manifest.json").is_file() and not (tmp_path / "m" / "checkpoint.pt").exists()


def test_a_build_status_names_the_signal_that_ended_make():
    from brainsim.interrupts import build_interruption

    def failed(status):
        return RuntimeError(f"Project compilation failed (error code: {status}). Consider running ...")

    assert build_interruption(failed(2)) == signal.SIGINT            # the shell died of SIGINT
    assert build_interruption(failed(15)) == signal.SIGTERM
    assert build_interruption(failed(130 << 8)) == signal.SIGINT     # the shell reported make's death by it
    assert build_interruption(failed(2 << 8)) is None                # make exit status 2: a compile error
    assert build_interruption(RuntimeError("something else")) is None


def test_a_failed_compilation_is_one_error_after_the_compilers_output(tmp_path, capfd):
    from brainsim.devices import _interruptible_build
    from brainsim.errors import UserError

    with pytest.raises(UserError, match="could not build the standalone project"):
        with _interruptible_build(tmp_path):
            os.write(2, b"main.cpp:1: error: expected ';'\n")
            raise RuntimeError("Project compilation failed (error code: 512).")
    assert "main.cpp:1: error" in capfd.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        with _interruptible_build(tmp_path):
            os.write(2, b"make: *** [makefile:20: main.o] Interrupt\n")
            raise RuntimeError("Project compilation failed (error code: 2).")
    assert "Interrupt" not in capfd.readouterr().err   # an interrupted build's output is dropped
