"""Every command that compiles a standalone project says so, and how long it took (#14 item 5).

Real cpp_standalone builds, one per command (25-60 s each on 2 cores): marked slow. In the default
suite, ``brainsim compare``'s compiled run (tests/test_compare.py) checks its notice.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import ROOT


def _notices(stderr: str, label: str) -> tuple[int, int]:
    """Line numbers of "LABEL: compiling the standalone project ..." and "LABEL: compiled in N s"."""
    lines = stderr.splitlines()
    start = [k for k, line in enumerate(lines) if line == f"{label}: compiling the standalone project ..."]
    done = [k for k, line in enumerate(lines) if re.fullmatch(rf"{re.escape(label)}: compiled in \d+\.\d s", line)]
    assert len(start) == 1 and len(done) == 1 and start[0] < done[0], stderr
    return start[0], done[0]


def _graph(path):
    import nir

    n = 3
    nodes = {"in": nir.Input(input_type={"input": np.array([n])}),
             "a": nir.Affine(weight=2 * np.eye(n), bias=np.zeros(n)),
             "l": nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)),
             "out": nir.Output(output_type={"output": np.array([n])})}
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=[("in", "a"), ("a", "l"), ("l", "out")]))
    return path


SLOW = pytest.mark.slow


@pytest.mark.parametrize("args, labels", [
    pytest.param(("jeffress", "--ipd", "30", "--duration", "20", "--device", "cpp_standalone"), ["jeffress"],
                 marks=SLOW, id="jeffress"),
    pytest.param(("delays", "--method", "lagging", "--duration-s", "0.5", "--device", "cpp_standalone"), ["delays"],
                 marks=SLOW, id="delays-lagging"),
    pytest.param(("delays", "--task", "impulse", "--impulse-stages", "2", "--device", "cpp_standalone"),
                 ["lagline-K2"], marks=SLOW, id="delays-impulse"),
    pytest.param(("nir-run", "g.nir", "--input", "x.npy", "--output", "y.npy", "--device", "cpp_standalone"),
                 ["nir-run"], marks=SLOW, id="nir-run"),
    pytest.param(("compare", "--model", str(ROOT / "models" / "ipd_seed"), "--neuron", "coba", "--n-test", "8"),
                 ["compare-coba"], marks=SLOW, id="compare-coba"),
])
def test_standalone_compilation_is_announced_and_timed(run_cli, tmp_path, args, labels):
    _graph(tmp_path / "g.nir")
    np.save(tmp_path / "x.npy", (np.random.default_rng(0).random((20, 2, 3)) < 0.5).astype(np.uint8))
    result = run_cli(*args)
    assert result.returncode == 0, result
    for label in labels:
        _notices(result.stderr, label)


@SLOW
def test_mnist_compiles_before_its_progress_lines(run_cli, tmp_path):
    """mnist train on cpp_standalone: the notice pair comes first (the project compiles before the
    bar starts), then one line per chunk."""
    args = ["mnist", "train", "--data-dir", "run", "--neurons", "5", "--dt-ms", "1", "--device", "cpp_standalone",
            "--chunk", "1", "--snapshots", "0"]
    result = run_cli(*args, "--n-train", "2")
    assert result.returncode == 0, result
    _, done = _notices(result.stderr, "mnist-train")
    chunks = [k for k, line in enumerate(result.stderr.splitlines()) if line.startswith("train: ") and "samples (" in line]
    assert len(chunks) == 2 and min(chunks) > done, result.stderr
