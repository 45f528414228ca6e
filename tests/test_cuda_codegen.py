"""brian2cuda code generation without a GPU: each command's ``--device cuda_standalone --build-only``
writes a complete CUDA project (runs on both tested sets: brian2cuda 1.0a6 and 1.0b1).

A project is complete when it has brian2cuda's entry point and object files, a makefile that asks
for C++17 (CUDA 13's thrust needs it; brian2cuda's default is C++11), one kernel file per code object
with real ``__global__`` kernels, and the run_args reader that lets a compiled project be rerun with
new values. Each command is checked for the code objects of its own model.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error

SEED_MODEL = ROOT / "models" / "ipd_seed"


@pytest.fixture(autouse=True)
def _needs_brian2cuda_and_no_gpu():
    pytest.importorskip("brian2cuda")
    from brainsim.devices import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present: these tests are about code generation without one")


def assert_complete_cuda_project(build, *code_object_fragments: str) -> str:
    for name in ("main.cu", "objects.cu", "objects.h", "run.cu", "network.cu", "rand.cu"):
        assert (build / name).is_file(), f"{name} missing in {sorted(p.name for p in build.iterdir())}"
    makefile = next(p for p in (build / "makefile", build / "Makefile") if p.is_file())
    assert "-std=c++17" in makefile.read_text()
    assert "set_from_command_line" in (build / "main.cu").read_text()
    kernels = sorted((build / "code_objects").glob("*.cu"))
    assert kernels
    names = " ".join(p.name for p in kernels)
    for fragment in code_object_fragments:
        assert fragment in names, (fragment, names)
    text = "\n".join(p.read_text() for p in kernels)
    assert "__global__" in text
    return text


def test_jeffress(run_cli, tmp_path):
    build = tmp_path / "jeffress"
    result = run_cli("jeffress", "--ipd", "30", "--device", "cuda_standalone", "--build-only", "--build-dir", build)
    assert result.returncode == 0, result
    assert_complete_cuda_project(build, "detectors", "delay_lines")


@pytest.mark.parametrize("neuron, fragment", [("cuba", "hidden"), ("coba", "hidden")])
def test_compare(run_cli, tmp_path, neuron, fragment):
    if not (SEED_MODEL / "manifest.json").is_file():
        pytest.skip("models/ipd_seed is not shipped in this checkout")
    build = tmp_path / f"compare_{neuron}"
    result = run_cli("compare", "--model", SEED_MODEL, "--neuron", neuron, "--n-test", 16,
                     "--device", "cuda_standalone", "--build-only", "--build-dir", build, "--json")
    assert result.returncode == 0, result
    assert result.json()["ran"] is False
    text = assert_complete_cuda_project(build, fragment)
    if neuron == "coba":
        assert "g_e" in text           # conductances in the generated kernels


def test_without_build_only_says_that_nothing_ran(run_cli):
    if not (SEED_MODEL / "manifest.json").is_file():
        pytest.skip("models/ipd_seed is not shipped in this checkout")
    result = run_cli("compare", "--model", SEED_MODEL, "--n-test", 2, "--device", "cuda_standalone")
    assert_one_line_error(result, "no GPU", code=3)


def test_nir_run(run_cli, tmp_path):
    if not (SEED_MODEL / "manifest.json").is_file():
        pytest.skip("models/ipd_seed is not shipped in this checkout")
    result = run_cli("nir-run", tmp_path / "seed.nir", "--export-from", SEED_MODEL)
    assert result.returncode == 0, result
    np.save(tmp_path / "x.npy", np.zeros((4, 2, 200), dtype=np.uint8))
    build = tmp_path / "nir"
    result = run_cli("nir-run", tmp_path / "seed.nir", "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
                     "--device", "cuda_standalone", "--build-only", "--build-dir", build)
    assert result.returncode == 0, result
    assert_complete_cuda_project(build)
    assert not (tmp_path / "y.npy").exists()


def test_mnist_train_400_neurons(run_cli, tmp_path):
    build = tmp_path / "mnist"
    result = run_cli("mnist", "train", "--device", "cuda_standalone", "--build-only", "--build-dir", build,
                     "--neurons", "400", "--n-train", "2", "--data-dir", tmp_path / "out", "--no-progress",
                     timeout=900)
    assert result.returncode == 0, result
    text = assert_complete_cuda_project(build, "schedule", "norm_weights", "input_synapses")
    assert "__host__ __device__ static inline double uniform_counter" in text
    # the network's size is in the project: 784 x 400 initial weights and delays as static arrays
    sizes = [p.stat().st_size for p in (build / "static_arrays").iterdir()]
    assert sum(size >= 784 * 400 * 8 for size in sizes) >= 2
