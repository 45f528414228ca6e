"""``brainsim mnist`` and scripts/stdp_mnist.py end to end on a tiny network, resume, bad input."""
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
from brainsim.stimuli import mnist

# A tiny, fast configuration: 10 neurons, 1 ms steps, the numpy runtime (no compiler needed).
TINY = ["--neurons", "10", "--dt-ms", "1", "--device", "runtime", "--no-progress"]


def _tiny(stage, data_dir, *extra):
    count = {"train": ["--n-train", "3"], "observe": ["--n-observe", "3"], "test": ["--n-test", "2"],
             "plot": []}[stage]
    options = TINY if stage != "plot" else []
    return ["mnist", stage, "--data-dir", str(data_dir), *count, *options, *extra]


COMPILED = pytest.param("cpp_standalone", marks=pytest.mark.slow)


@pytest.mark.parametrize("device", ["runtime", COMPILED])
def test_four_stages_end_to_end(run_cli, tmp_path, device):
    data_dir = tmp_path / "run"
    res = run_cli(*_tiny("train", data_dir, "--chunk", "2", "--device", device))
    assert res.returncode == 0, res
    assert "embedded default" in res.stdout
    w = np.load(data_dir / "weights.npy")
    assert w.shape == (7840,) and np.isfinite(w).all() and (w >= 0).all()
    assert np.load(data_dir / "theta.npy").shape == (10,)
    stats = np.load(data_dir / "train_stats.npz")
    assert len(stats["spikes"]) == 3 and (stats["spikes"] >= 5).all()       # boost rule: >= 5 counted spikes
    assert (stats["presentations"] >= 1).all()
    summary = json.loads((data_dir / "training.json").read_text())
    assert summary["done"] == 3 and summary["data"]["source"] == "embedded"
    assert sorted(p.name for p in (data_dir / "snapshots").iterdir())  # weight snapshots written
    # the statistics are append-only chunk files (samples 0-1, then 2 and its boost repeats), not in
    # the checkpoint, which holds only the network and so does not grow with the samples done
    chunks = sorted((data_dir / "train_stats.chunks").iterdir())
    assert [p.name for p in chunks][:1] == ["samples_000000000.npz"] and len(chunks) >= 2
    joined = np.concatenate([np.load(p)["spikes"] for p in chunks])
    np.testing.assert_array_equal(joined, stats["spikes"])
    with np.load(data_dir / "train_checkpoint.npz") as checkpoint:
        assert sorted(checkpoint.files) == ["delays_ms", "meta", "theta", "weights"]

    res = run_cli(*_tiny("observe", data_dir, "--device", device))
    assert res.returncode == 0, res
    assign = np.load(data_dir / "assign.npy")
    assert assign.shape == (10,) and ((0 <= assign) & (assign < 10)).all()

    res = run_cli(*_tiny("test", data_dir, "--device", device))
    assert res.returncode == 0, res
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("Accuracy:")]
    assert len(line) == 1
    results = json.loads((data_dir / "results.json").read_text())
    confusion = np.array(results["confusion"])
    assert confusion.sum() == 2 and results["accuracy"] == pytest.approx(np.trace(confusion) / 2)
    assert float(line[0].split()[1]) == pytest.approx(results["accuracy"], abs=5e-4)
    assert results["data"]["source"] == "embedded" and results["protocol"]["n_train"] == 3
    np.testing.assert_array_equal(np.load(data_dir / "confusion.npy"), confusion)

    res = run_cli(*_tiny("plot", data_dir))
    assert res.returncode == 0, res
    for name in ("confusion.png", "receptive_fields.png", "training.png", "theta.png"):
        png = data_dir / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name

    # the seed-style script runs the same code
    script = subprocess.run([sys.executable, str(ROOT / "scripts" / "stdp_mnist.py"), "--mode", "plot",
                             "--data-dir", str(data_dir)], capture_output=True, text=True, cwd=tmp_path)
    assert script.returncode == 0 and "receptive_fields.png" in script.stdout, script.stderr
    # no temporary files left behind by the atomic writes
    assert not [p for p in data_dir.rglob("*") if p.name.startswith(".")]


def _checkpoint_done(path: Path) -> int:
    try:
        with np.load(path) as z:
            return json.loads(str(z["meta"]))["done"]
    except Exception:  # noqa: BLE001 - not written yet
        return -1


def _as_earlier_checkpoint(data_dir: Path) -> None:
    """Rewrite a train checkpoint as earlier versions wrote it: the statistics inside, no chunk files."""
    import shutil

    chunks = sorted((data_dir / "train_stats.chunks").glob("samples_*.npz"))
    with np.load(data_dir / "train_checkpoint.npz") as z:
        arrays = {k: z[k] for k in z.files}
    done = json.loads(str(arrays["meta"]))["done"]
    for key in ("spikes", "presentations", "intensity"):
        arrays[f"stats_{key}"] = np.concatenate([np.load(c)[key] for c in chunks])[:done]
    np.savez(data_dir / "train_checkpoint.npz", **arrays)
    shutil.rmtree(data_dir / "train_stats.chunks")


@pytest.mark.parametrize("device,earlier_checkpoint", [("runtime", False), ("runtime", True),
                                                        pytest.param("cpp_standalone", False, marks=pytest.mark.slow)])
def test_resume_after_kill_matches_uninterrupted_run(run_cli, tmp_path, device, earlier_checkpoint):
    """Also from a checkpoint of earlier versions (statistics in the checkpoint, not in chunk files)."""
    args = ["--n-train", "2", "--chunk", "1", "--seed", "7", *TINY, "--device", device]
    # uninterrupted reference
    ref = run_cli("mnist", "train", "--data-dir", tmp_path / "ref", *args)
    assert ref.returncode == 0, ref
    # interrupted: kill -9 once the first checkpoint exists
    data_dir = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT), BRAINSIM_BUILD_ROOT=str(tmp_path / "builds"))
    proc = subprocess.Popen([sys.executable, "-m", "brainsim", "mnist", "train", "--data-dir", str(data_dir), *args],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _checkpoint_done(data_dir / "train_checkpoint.npz") < 1 and time.time() < deadline:
        assert proc.poll() is None, "training ended before it could be interrupted"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = _checkpoint_done(data_dir / "train_checkpoint.npz")
    assert 1 <= done_at_kill < 2
    assert not (data_dir / "weights.npy").exists()
    # restarting without --resume refuses to overwrite the unfinished run
    again = run_cli("mnist", "train", "--data-dir", data_dir, *args)
    # the killed process left its lock: the first command after it says it takes it over
    lines = [ln for ln in again.stderr.splitlines() if ln.strip() and not ln.startswith("taking over the lock")]
    assert again.returncode == 2 and len(lines) == 1 and "Traceback" not in again.stderr, again
    assert "unfinished" in lines[0] and "--resume" in lines[0]
    if earlier_checkpoint:
        _as_earlier_checkpoint(data_dir)
    res = run_cli("mnist", "train", "--data-dir", data_dir, "--resume", *args)
    assert res.returncode == 0, res
    summary = json.loads((data_dir / "training.json").read_text())
    assert summary["done"] == 2 and summary["resumed_from"] == done_at_kill
    # chunks depend only on the checkpointed state and their own seed: identical to the reference
    np.testing.assert_allclose(np.load(data_dir / "weights.npy"), np.load(tmp_path / "ref" / "weights.npy"))
    np.testing.assert_allclose(np.load(data_dir / "theta.npy"), np.load(tmp_path / "ref" / "theta.npy"))
    a, b = np.load(data_dir / "train_stats.npz"), np.load(tmp_path / "ref" / "train_stats.npz")
    for key in ("spikes", "presentations", "label"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not [p for p in data_dir.rglob("*") if p.name.startswith(".")]


def _fake_training(data_dir: Path, n_neurons: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    np.save(data_dir / "weights.npy", np.full(784 * n_neurons, 0.1))
    np.save(data_dir / "delays.npy", np.zeros(784 * n_neurons))
    np.save(data_dir / "theta.npy", np.full(n_neurons, 0.02))
    (data_dir / "training.json").write_text(json.dumps({"n": 1, "params": {"n_input": 784, "n_neurons": n_neurons,
                                                                            "dt_ms": 0.5}}))


def _corrupt_mnist(folder: Path, damage: str) -> Path:
    rng = np.random.default_rng(0)
    data = mnist.MnistData(rng.integers(0, 256, (4, 784), dtype=np.uint8), np.arange(4, dtype=np.uint8),
                           rng.integers(0, 256, (2, 784), dtype=np.uint8), np.arange(2, dtype=np.uint8), "full", "")
    mnist.export_idx(data, folder)
    images = folder / "train-images-idx3-ubyte"
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:-100])
    elif damage == "magic":
        images.write_bytes(b"\x00\x00\x08\x07" + images.read_bytes()[4:])
    elif damage == "missing":
        (folder / "t10k-labels-idx1-ubyte").unlink()
    return folder


@pytest.mark.parametrize("case", ["truncated", "magic", "missing", "nonexistent"])
def test_bad_mnist_files(run_cli, tmp_path, case):
    folder = tmp_path / "nowhere" if case == "nonexistent" else _corrupt_mnist(tmp_path / "mnist", case)
    res = run_cli("mnist", "train", "--mnist-dir", folder, "--data-dir", tmp_path / "out", *TINY)
    fragment = {"truncated": "truncated", "magic": "magic", "missing": "lacks", "nonexistent": "does not exist"}[case]
    assert_one_line_error(res, fragment)
    assert not (tmp_path / "out" / "weights.npy").exists()


@pytest.mark.parametrize("argv, fragment", [
    (["mnist", "fit"], "invalid choice"),
    (["mnist", "train", "--n-train", "0"], "positive integer"),
    (["mnist", "train", "--neurons", "-4"], "positive integer"),
    (["mnist", "observe", "--n-observe", "x"], "not an integer"),
    (["mnist", "train", "--dt-ms", "0.3", "--n-train", "1"], "divide"),
    (["mnist", "test", "--data-dir", "empty"], "run 'train' first"),
    (["mnist", "observe", "--data-dir", "empty"], "run 'train' first"),
    (["mnist", "plot", "--data-dir", "empty"], "run 'train' first"),
])
def test_bad_arguments_one_line(run_cli, tmp_path, argv, fragment):
    assert_one_line_error(run_cli(*argv), fragment)


def test_script_bad_mode(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "stdp_mnist.py"), "--mode", "fit"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "invalid choice" in res.stderr


def test_stage_order_and_neuron_mismatch(run_cli, tmp_path):
    data_dir = tmp_path / "trained"
    _fake_training(data_dir, n_neurons=10)
    # test before observe: no neuron labels yet
    assert_one_line_error(run_cli("mnist", "test", "--data-dir", data_dir, *TINY[2:]), "assign.npy", "observe")
    # observe with another neuron count than trained
    assert_one_line_error(run_cli("mnist", "observe", "--data-dir", data_dir, "--neurons", "20", *TINY[2:]),
                          "does not match")
    # resuming a finished-with-different-size checkpoint is refused
    np.save(data_dir / "weights.npy", np.zeros(5))
    assert_one_line_error(run_cli("mnist", "observe", "--data-dir", data_dir, *TINY[2:]), "do not fit")


def test_cuda_code_generation_without_gpu(run_cli, tmp_path):
    pytest.importorskip("brian2cuda")
    build = tmp_path / "cuda_project"
    res = run_cli("mnist", "train", "--device", "cuda_standalone", "--build-only", "--build-dir", build,
                  "--neurons", "10", "--n-train", "2", "--data-dir", tmp_path / "out", "--no-progress")
    assert res.returncode == 0, res
    assert "generated the project" in res.stdout
    main = (build / "main.cu").read_text()
    assert "set_from_command_line" in main     # reruns take new values (run_args) without recompiling
    kernels = list((build / "code_objects").glob("*.cu"))
    names = " ".join(p.name for p in kernels)
    # the input spikes draw from the counter-based generator, compiled for the device
    assert any("__host__ __device__ static inline double uniform_counter" in p.read_text() for p in kernels)
    assert "schedule" in names and "norm_weights" in names and "input_synapses" in names
    assert (build / "makefile").is_file() or (build / "Makefile").is_file()
