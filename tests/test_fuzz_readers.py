"""Every reader of user files, fuzzed (hypothesis): truncated, bit-flipped, wrong-typed and oversized
inputs give a :class:`UserError` with one line, or (where the damage leaves the file valid) a
result; never any other exception.

Readers: the idx reader (MNIST), the model-directory reader (manifest.json + weights.npz), the NIR
reader (the graph file and the plan brainsim makes of it), ``nir-run``'s ``--input`` arrays, sweep
specs (TOML) and checkpoints (``mnist`` stages' ``.npz``, ``ipd train``'s ``checkpoint.pt``).
The default run tries 200 examples per reader; ``-m slow`` tries 2,000.
"""
from __future__ import annotations

import gzip
import io
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainsim.errors import UserError
from conftest import ROOT

SEED_MODEL = ROOT / "models" / "ipd_seed"
FAST = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
SLOW = settings(FAST, max_examples=2000, derandomize=False)


def outcome(call):
    """Run a reader: its result, or its UserError checked to be one line. Anything else fails."""
    try:
        return call()
    except UserError as exc:
        text = str(exc)
        assert text and "\n" not in text, repr(text)
        return exc


# -- how inputs are damaged -----------------------------------------------------------------------------
def _random_container(draw, root, max_depth: int):
    """A dict or list reached from ``root`` by up to ``max_depth`` random steps into non-empty containers."""
    node = root
    for _ in range(draw(st.integers(0, max_depth))):
        children = [k for k, v in (node.items() if isinstance(node, dict) else enumerate(node))
                    if isinstance(v, (dict, list)) and v]
        if not children:
            break
        node = node[draw(st.sampled_from(children))]
    return node


@st.composite
def damaged(draw, blob: bytes):
    """``blob`` truncated, bit-flipped, overwritten with integers of the wrong size, or grown."""
    kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "append", "random"]))
    data = bytearray(blob)
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, max(len(data) - 1, 0)))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if kind == "overwrite":   # e.g. a header field replaced by a huge or negative number
        pos = draw(st.integers(0, max(len(data) - 4, 0)))
        value = draw(st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1, 0x80000000, 7, 255]))
        data[pos:pos + 4] = struct.pack(">I", value)
        return bytes(data)
    if kind == "append":
        return bytes(data) + draw(st.binary(min_size=1, max_size=64))
    return draw(st.binary(max_size=256))


# -- idx (MNIST) ---------------------------------------------------------------------------------------
def _idx_blob(shape=(3, 4, 5)) -> bytes:
    array = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    return struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


IDX_BLOB = _idx_blob()


def _check_idx(tmp_path: Path, blob: bytes, gz: bool) -> None:
    from brainsim.stimuli.mnist import read_idx

    path = tmp_path / ("x.idx3-ubyte.gz" if gz else "x.idx3-ubyte")
    path.write_bytes(gzip.compress(blob) if gz else blob)
    result = outcome(lambda: read_idx(path))
    if not isinstance(result, UserError):
        assert result.dtype == np.uint8 and result.size == len(blob) - 4 - 4 * result.ndim


@FAST
@given(blob=damaged(IDX_BLOB), gz=st.booleans())
def test_idx_reader(tmp_path, blob, gz):
    _check_idx(tmp_path, blob, gz)


@FAST
@given(blob=damaged(gzip.compress(IDX_BLOB)))
def test_idx_reader_damaged_gzip(tmp_path, blob):
    from brainsim.stimuli.mnist import read_idx

    path = tmp_path / "x.idx3-ubyte.gz"
    path.write_bytes(blob)
    outcome(lambda: read_idx(path))


@pytest.mark.slow
@SLOW
@given(blob=damaged(IDX_BLOB), gz=st.booleans())
def test_idx_reader_long(tmp_path, blob, gz):
    _check_idx(tmp_path, blob, gz)


# -- model directories ---------------------------------------------------------------------------------
def _need_model() -> Path:
    if not (SEED_MODEL / "manifest.json").is_file():
        pytest.skip("models/ipd_seed is not shipped in this checkout")
    return SEED_MODEL


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True)
                           | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


@st.composite
def damaged_manifest(draw, manifest: dict):
    """The manifest with one value (at any depth) replaced, a key removed, or the text damaged."""
    kind = draw(st.sampled_from(["replace", "remove", "text"]))
    data = json.loads(json.dumps(manifest))
    if kind == "text":
        return draw(damaged(json.dumps(data).encode()))
    # walk down to a random container
    node = _random_container(draw, data, 3)
    keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
    if not keys:
        return json.dumps(data).encode()
    key = draw(st.sampled_from(keys))
    if kind == "remove" and isinstance(node, dict):
        del node[key]
    else:
        node[key] = draw(JSON_VALUES)
    return json.dumps(data).encode()


def _arrays_npz(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@st.composite
def damaged_weights(draw, arrays: dict):
    if draw(st.integers(0, 4)) == 0:
        return draw(damaged(_arrays_npz(arrays)))
    return _arrays_npz(draw(changed_arrays(arrays)))


@st.composite
def changed_arrays(draw, arrays: dict) -> dict:
    """``arrays`` with one array dropped, or of another dtype, shape or value."""
    kind = draw(st.sampled_from(["drop", "dtype", "shape", "values"]))
    arrays = dict(arrays)
    name = draw(st.sampled_from(sorted(arrays)))
    if kind == "drop":
        del arrays[name]
    elif kind == "dtype":
        arrays[name] = arrays[name].astype(draw(st.sampled_from([np.int8, np.float16, np.complex64, np.bool_, "U3"])))
    elif kind == "shape":
        arrays[name] = np.zeros(draw(st.lists(st.integers(0, 5), max_size=3)), np.float32)
    else:
        arrays[name] = np.full_like(arrays[name], draw(st.sampled_from([np.nan, np.inf, -1.0, 0.0, 1e30])))
    return arrays


def _model_copy(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(_need_model(), target)
    return target


def _check_model(target: Path) -> None:
    from brainsim.bridge.sources import load_network
    from brainsim.netspec.modeldir import read_model

    outcome(lambda: read_model(target))
    outcome(lambda: read_model(target / "weights.npz"))
    outcome(lambda: load_network(target))


@st.composite
def damaged_model(draw):
    model = _need_model()
    manifest = json.loads((model / "manifest.json").read_text())
    with np.load(model / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    if draw(st.booleans()):
        return ("manifest.json", draw(damaged_manifest(manifest)))
    return ("weights.npz", draw(damaged_weights(arrays)))


@FAST
@given(damage=damaged_model())
def test_model_directory_reader(tmp_path, damage):
    target = _model_copy(tmp_path)
    name, blob = damage
    (target / name).write_bytes(blob)
    _check_model(target)


@pytest.mark.slow
@SLOW
@given(damage=damaged_model())
def test_model_directory_reader_long(tmp_path, damage):
    target = _model_copy(tmp_path)
    name, blob = damage
    (target / name).write_bytes(blob)
    _check_model(target)


# -- NIR graphs ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nir_export(tmp_path_factory):
    from brainsim.bridge.nir_export import export_nir
    from brainsim.bridge.sources import load_network

    folder = tmp_path_factory.mktemp("nir")
    graph, side = export_nir(load_network(_need_model()), folder / "seed.nir")
    return Path(graph).read_bytes(), Path(side).read_bytes()


def _check_nir(tmp_path: Path, graph: bytes, side: bytes) -> None:
    from brainsim.bridge.nir_import import plan_graph, read_graph
    from brainsim.bridge.sources import load_network

    path = tmp_path / "g.nir"
    path.write_bytes(graph)
    (tmp_path / "g.nir.brainsim.json").write_bytes(side)
    result = outcome(lambda: read_graph(path))
    if not isinstance(result, UserError):
        outcome(lambda: plan_graph(result))
    outcome(lambda: load_network(path))


@FAST
@given(data=st.data())
def test_nir_reader(tmp_path, nir_export, data):
    graph, side = nir_export
    if data.draw(st.booleans()):
        graph = data.draw(damaged(graph))
    else:
        side = data.draw(st.one_of(damaged(side), damaged_manifest(json.loads(side))))
    _check_nir(tmp_path, graph, side)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_nir_reader_long(tmp_path, nir_export, data):
    graph, side = nir_export
    if data.draw(st.booleans()):
        graph = data.draw(damaged(graph))
    else:
        side = data.draw(st.one_of(damaged(side), damaged_manifest(json.loads(side))))
    _check_nir(tmp_path, graph, side)


# -- nir-run --input arrays ----------------------------------------------------------------------------
def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


VALID_INPUT = _npy(np.zeros((5, 2, 4), np.uint8))

INPUT_ARRAYS = st.one_of(
    st.builds(lambda shape, dtype: np.zeros(shape, dtype), st.lists(st.integers(0, 4), max_size=4),
              st.sampled_from([np.uint8, np.int64, np.float32, np.float64, np.bool_, np.complex128])),
    st.builds(lambda v: np.full((3, 2, 2), v), st.sampled_from([np.nan, np.inf, 0.5, -1.0, 2.0, 1.0])),
    st.just(np.array(["a", "b"])), st.just(np.zeros((2, 2), dtype=[("a", "i4"), ("b", "f8")])),
)


def _check_input(tmp_path: Path, blob: bytes) -> None:
    from brainsim.bridge.nir_run import load_input

    path = tmp_path / "x.npy"
    path.write_bytes(blob)
    result = outcome(lambda: load_input(path))
    if not isinstance(result, UserError):
        assert result.ndim >= 3 and result.dtype == np.uint8 and set(np.unique(result)) <= {0, 1}


@FAST
@given(blob=st.one_of(damaged(VALID_INPUT), INPUT_ARRAYS.map(_npy)))
def test_input_arrays(tmp_path, blob):
    _check_input(tmp_path, blob)


@pytest.mark.slow
@SLOW
@given(blob=st.one_of(damaged(VALID_INPUT), INPUT_ARRAYS.map(_npy)))
def test_input_arrays_long(tmp_path, blob):
    _check_input(tmp_path, blob)


def test_oversized_header_is_refused_without_allocating(tmp_path):
    """A .npy header that claims 10^12 elements is refused from the header (no MemoryError)."""
    from brainsim.bridge.nir_run import load_input

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (10**6, 1000, 1000)})
    path = tmp_path / "big.npy"
    path.write_bytes(np.lib.format.magic(1, 0) + header.getvalue()[6:] + b"\0" * 16)
    result = outcome(lambda: load_input(path))
    assert isinstance(result, UserError)


# -- sweep specs (TOML) ----------------------------------------------------------------------------------
SPEC_BLOBS = [(ROOT / "docs" / "sweeps" / name).read_bytes()
              for name in ("jeffress_ipd.toml", "ipd_readouts.toml", "stdp_small.toml")]
TOML_VALUES = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.booleans(),
                        st.text(max_size=8), st.lists(st.integers(-5, 5), max_size=3),
                        st.lists(st.text(max_size=3), max_size=3), st.just([]), st.just([[1], [2]]))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


@st.composite
def sweep_specs(draw):
    """A real spec damaged as bytes, or a well-formed TOML spec with wrong-typed or odd values."""
    if draw(st.booleans()):
        return draw(damaged(draw(st.sampled_from(SPEC_BLOBS))))
    experiment = draw(st.sampled_from(["jeffress", "ipd", "stdp", "compare", "nope"]))
    key = draw(st.sampled_from(["ipd_deg", "n_trials", "readout", "tau_ms", "epochs", "n_train", "seed", "x"]))
    lines = [f"experiment = {json.dumps(experiment)}"]
    for top in ("repeats", "seeds", "description"):
        if draw(st.booleans()):
            lines.append(f"{top} = {_toml_value(draw(TOML_VALUES))}")
    lines += ["[grid]", f"{key} = {_toml_value(draw(TOML_VALUES))}"]
    if draw(st.booleans()):
        fixed_key = draw(st.sampled_from(["n_trials", "duration_ms", "epochs", "preset", "device"]))
        lines += ["[fixed]", f"{fixed_key} = {_toml_value(draw(TOML_VALUES))}"]
    return "\n".join(lines).encode()


def _check_spec(tmp_path: Path, blob: bytes) -> None:
    from brainsim.sweeps import load_spec
    from brainsim.sweeps.expansion import expand

    path = tmp_path / "spec.toml"
    path.write_bytes(blob)
    outcome(lambda: expand(load_spec(path)))


@FAST
@given(blob=sweep_specs())
def test_sweep_spec_reader(tmp_path, blob):
    _check_spec(tmp_path, blob)


@pytest.mark.slow
@SLOW
@given(blob=sweep_specs())
def test_sweep_spec_reader_long(tmp_path, blob):
    _check_spec(tmp_path, blob)


# -- checkpoints: mnist stages (.npz) ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_checkpoints(tmp_path_factory):
    """The checkpoints of a real tiny train, observe and test run (name -> bytes)."""
    import os
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("mnist_checkpoints")
    env = dict(os.environ, PYTHONPATH=str(ROOT), BRAINSIM_BUILD_ROOT=str(folder / "builds"))
    for stage, count in (("train", "--n-train"), ("observe", "--n-observe"), ("test", "--n-test")):
        subprocess.run([sys.executable, "-m", "brainsim", "mnist", stage, "--data-dir", str(folder), count, "2",
                        "--neurons", "10", "--dt-ms", "1", "--device", "runtime", "--no-progress"],
                       env=env, check=True, capture_output=True, timeout=300)
    return {stage: (folder / f"{stage}_checkpoint.npz").read_bytes() for stage in ("train", "observe", "test")}


@st.composite
def damaged_mnist_checkpoint(draw, checkpoints: dict):
    stage = draw(st.sampled_from(sorted(checkpoints)))
    with np.load(io.BytesIO(checkpoints[stage])) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    kind = draw(st.sampled_from(["bytes", "arrays", "meta"]))
    if kind == "bytes":
        return stage, draw(damaged(checkpoints[stage]))
    if kind == "arrays":
        arrays = draw(changed_arrays(arrays))
    else:
        text = draw(damaged_manifest(meta))
        meta_array = np.array(text.decode("utf-8", "replace"))
        return stage, _arrays_npz({"meta": meta_array, **arrays})
    return stage, _arrays_npz({"meta": np.array(json.dumps(meta)), **arrays})


def _check_mnist_checkpoint(tmp_path: Path, stage: str, blob: bytes) -> None:
    from brainsim.circuits.diehl_cook import DiehlCookParams
    from brainsim.experiments.mnist import _check_compatible, _load_checkpoint

    path = tmp_path / f"{stage}_checkpoint.npz"
    path.write_bytes(blob)
    result = outcome(lambda: _load_checkpoint(path))
    if not isinstance(result, UserError):   # a checkpoint that reads is checked against the run that resumes it
        meta, _ = result
        assert 0 <= meta["done"] <= meta["n"]
        outcome(lambda: _check_compatible(stage, meta, DiehlCookParams(n_neurons=10, dt_ms=1.0), 2))


@FAST
@given(data=st.data())
def test_mnist_checkpoint_reader(tmp_path, mnist_checkpoints, data):
    _check_mnist_checkpoint(tmp_path, *data.draw(damaged_mnist_checkpoint(mnist_checkpoints)))


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_mnist_checkpoint_reader_long(tmp_path, mnist_checkpoints, data):
    _check_mnist_checkpoint(tmp_path, *data.draw(damaged_mnist_checkpoint(mnist_checkpoints)))


def test_a_test_checkpoint_resumes_only_a_run_over_the_same_samples(tmp_path, mnist_checkpoints):
    """Its predictions are per sample: resuming it with another --n-test is refused (it used to index
    past their end); a train checkpoint may be continued to more samples."""
    from brainsim.circuits.diehl_cook import DiehlCookParams
    from brainsim.experiments.mnist import _check_compatible, _load_checkpoint

    params = DiehlCookParams(n_neurons=10, dt_ms=1.0)
    for stage in ("train", "test"):
        (tmp_path / f"{stage}.npz").write_bytes(mnist_checkpoints[stage])
    test_meta, _ = _load_checkpoint(tmp_path / "test.npz")
    _check_compatible("test", test_meta, params, 2)
    with pytest.raises(UserError, match="over 2 samples, this run asks for 3"):
        _check_compatible("test", test_meta, params, 3)
    with pytest.raises(UserError, match="of the test stage"):
        _check_compatible("observe", test_meta, params, 2)
    train_meta, _ = _load_checkpoint(tmp_path / "train.npz")
    _check_compatible("train", train_meta, params, 5)


# -- checkpoints: ipd train (.pt) -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ipd_checkpoint(tmp_path_factory):
    """The checkpoint a real tiny ``ipd train`` writes after its first epoch, as bytes."""
    from brainsim.experiments import ipd

    folder = tmp_path_factory.mktemp("ipd_checkpoint")
    kept = {}
    write = ipd._save_checkpoint

    def keep(path, *args):
        write(path, *args)
        kept["blob"] = Path(path).read_bytes()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ipd, "_save_checkpoint", keep)
        ipd.train_ipd(ipd.protocol_from("seed", epochs=2, n_train=128, n_test=64), folder / "model", progress=False)
    return kept["blob"]


def _torch_bytes(obj) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _tensor_values():
    import torch

    return st.sampled_from([torch.zeros(0), torch.zeros(3, 2), torch.tensor(float("nan")),
                            torch.ones(4, dtype=torch.int64), torch.zeros(2, dtype=torch.bool)])


@st.composite
def damaged_ipd_checkpoint(draw, blob: bytes):
    """The checkpoint's bytes damaged, or one value (at any depth: tensors included) replaced or removed."""
    import torch

    if draw(st.booleans()):
        return draw(damaged(blob))
    state = torch.load(io.BytesIO(blob), weights_only=True)
    node = _random_container(draw, state, 4)
    keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
    if keys:
        key = draw(st.sampled_from(keys))
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(st.one_of(JSON_VALUES, _tensor_values()))
    return _torch_bytes(state)


@pytest.fixture(scope="module")
def ipd_seed_network():
    from brainsim.experiments.ipd import protocol_from
    from brainsim.snn.models import IPDNet
    from brainsim.stimuli.ipd import DEFAULT_CLASSES, TUTORIAL

    protocol = protocol_from("seed", epochs=2, n_train=128, n_test=64)
    return protocol, IPDNet(protocol.net_config(TUTORIAL, DEFAULT_CLASSES), seed=0)


def _check_ipd_checkpoint(tmp_path: Path, blob: bytes, network) -> None:
    from brainsim.experiments.ipd import _checkpoint_to_resume, read_checkpoint

    path = tmp_path / "checkpoint.pt"
    path.write_bytes(blob)
    result = outcome(lambda: read_checkpoint(path))
    protocol, model = network
    state = outcome(lambda: _checkpoint_to_resume(path, protocol, model, resume=True, force=False, label="fuzz"))
    if isinstance(result, UserError):
        assert isinstance(state, UserError)
    elif not isinstance(state, UserError):   # what --resume continues from loads, and the optimizer takes a step
        import torch

        model.load_state_dict(state["model"])
        optimizer = torch.optim.Adam(model.parameters())
        optimizer.load_state_dict(state["optimizer"])
        sum(p.sum() for p in model.parameters()).backward()
        optimizer.step()


@FAST
@given(data=st.data())
def test_ipd_checkpoint_reader(tmp_path, ipd_checkpoint, ipd_seed_network, data):
    _check_ipd_checkpoint(tmp_path, data.draw(damaged_ipd_checkpoint(ipd_checkpoint)), ipd_seed_network)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_ipd_checkpoint_reader_long(tmp_path, ipd_checkpoint, ipd_seed_network, data):
    _check_ipd_checkpoint(tmp_path, data.draw(damaged_ipd_checkpoint(ipd_checkpoint)), ipd_seed_network)


def test_ipd_checkpoint_with_pickled_code_is_refused_unread(tmp_path):
    """weights_only: a checkpoint whose pickle would run code is refused, and the code never runs."""
    import pickle

    import torch

    from brainsim.experiments.ipd import read_checkpoint

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "checkpoint.pt"
    torch.save({"protocol": {}, "payload": Payload()}, path, pickle_module=pickle)
    result = outcome(lambda: read_checkpoint(path))
    assert isinstance(result, UserError) and str(path) in str(result)
    assert not marker.exists()
