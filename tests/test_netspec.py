"""The numpy network spec and the model directory: shipped models read unchanged, round trips keep
every array, decay factors agree with torch's, and the Brian2 path never imports torch."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from brainsim.errors import UserError
from brainsim.netspec import FORMAT, IPDNetworkSpec, NetConfig, decay_factor, read_model, write_model
from conftest import ROOT

SHIPPED = [ROOT / "models" / "ipd_seed", ROOT / "models" / "ipd_best"]


def shipped(path):
    if not (path / "manifest.json").is_file():
        pytest.skip(f"{path} is not shipped in this checkout")
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_models_read_as_written(path):
    saved = read_model(shipped(path))
    manifest = json.loads((path / "manifest.json").read_text())
    assert saved.manifest == manifest and saved.spec.net == NetConfig(**manifest["net"])
    with np.load(path / "weights.npz") as w:
        assert set(w.files) == {"W1", "W2", "tau_hidden_ms", "tau_out_ms", "alpha_hidden", "alpha_out"}
        for name in w.files:
            np.testing.assert_array_equal(getattr(saved.spec, name), w[name])
    assert saved.spec.stimulus.n_fibres == saved.spec.n_inputs == 200


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_decay_factors_are_torchs(path, tmp_path):
    """The stored decay factors are those of the torch model; and a directory written before they
    were stored (the shipped one without them) gets the same values computed from the time constants."""
    import shutil

    from brainsim.snn import load_model

    loaded = load_model(shipped(path))
    torch_hidden, torch_out = loaded.model.decay_factors()
    np.testing.assert_array_equal(loaded.spec.alpha_hidden, torch_hidden)
    np.testing.assert_array_equal(loaded.spec.alpha_out, torch_out)
    older = tmp_path / path.name
    shutil.copytree(path, older)
    with np.load(path / "weights.npz") as w:
        np.savez(older / "weights.npz", **{k: w[k] for k in w.files if not k.startswith("alpha_")})
    computed = read_model(older).spec
    np.testing.assert_array_equal(computed.alpha_hidden, torch_hidden)
    np.testing.assert_array_equal(computed.alpha_out, torch_out)


def test_decay_factor_numpy_and_torch():
    """numpy: torch's float32 quotient exactly (torch divides by multiplying with the reciprocal)
    and its exponential within one ulp of torch's; torch: torch's value, differentiable."""
    torch = pytest.importorskip("torch")
    tau = np.linspace(0.05, 40.0, 5001, dtype=np.float32)
    for dt in (1.0, 0.1, 0.3):
        ours = decay_factor(tau, dt)
        theirs = decay_factor(torch.from_numpy(tau), dt).numpy()
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(theirs, torch.exp(-dt / torch.from_numpy(tau).clamp(min=0.1)).numpy())
        ulps = np.abs(ours.view(np.int32) - theirs.view(np.int32))
        assert ulps.max() <= 1 and ulps.mean() < 0.05
    assert decay_factor(0.01, 1.0) == decay_factor(0.1, 1.0)   # clamped to MIN_TAU_MS
    t = torch.tensor([5.0], requires_grad=True)
    decay_factor(t, 1.0).sum().backward()
    assert t.grad.item() == pytest.approx(np.exp(-0.2) * 1.0 / 25.0)


def _spec(hidden=True, readout="oc"):
    rng = np.random.default_rng(0)
    net = NetConfig(model="snn" if hidden else "membrane", readout=readout, n_hidden=4, pop_per_class=2)
    W1 = rng.normal(size=(200, 4)) if hidden else None
    W2 = rng.normal(size=(4 if hidden else 200, net.n_out))
    return IPDNetworkSpec(net=net, W1=W1, W2=W2, tau_hidden_ms=rng.uniform(1, 20, 4) if hidden else None,
                          tau_out_ms=rng.uniform(1, 20, net.n_out), source="test")


@pytest.mark.parametrize("hidden, readout", [(True, "pop"), (False, "max")])
def test_write_read_round_trip(tmp_path, hidden, readout):
    spec = _spec(hidden, readout)
    history = [{"epoch": 1, "loss": 2.5, "train_batch_accuracy": 0.1, "lr": 0.01, "seconds": 1.0}]
    write_model(tmp_path / "m", spec, {"command": "test", "scores": {"test_accuracy": 0.5}}, history)
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["format"] == FORMAT and manifest["format_version"] == 1 and manifest["command"] == "test"
    assert manifest["training_curve"] == history
    assert (tmp_path / "m" / "training_curve.csv").read_text().startswith("epoch,loss")
    for path in (tmp_path / "m", tmp_path / "m" / "weights.npz"):
        back = read_model(path).spec
        assert back.net == spec.net and back.stimulus == spec.stimulus and back.classes == spec.classes
        assert set(back.arrays()) == set(spec.arrays())
        for name, value in spec.arrays().items():
            assert back.arrays()[name].dtype == np.float32
            np.testing.assert_array_equal(back.arrays()[name], value, err_msg=name)


def test_stored_decay_factors_win_and_are_checked(tmp_path):
    spec = _spec()
    one_ulp = np.nextafter(spec.alpha_out, np.float32(1))
    write_model(tmp_path / "m", spec.with_decay_factors(spec.alpha_hidden, one_ulp), {})
    np.testing.assert_array_equal(read_model(tmp_path / "m").spec.alpha_out, one_ulp)
    arrays = spec.arrays()
    arrays["alpha_out"] = arrays["alpha_out"] * 0.5
    np.savez(tmp_path / "m" / "weights.npz", **arrays)
    with pytest.raises(UserError, match="alpha_out does not match"):
        read_model(tmp_path / "m")


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m["net"].update(readout="softmax"), "unknown readout"),
    (lambda m: m["net"].update(n_hidden=5), "shape mismatch"),
    (lambda m: m.pop("net"), "invalid model description"),
    (lambda m: m["stimulus"].update(fibres_per_ear=3), "stimulus"),
])
def test_bad_manifests_are_user_errors(tmp_path, change, fragment):
    write_model(tmp_path / "m", _spec(), {})
    path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=fragment):
        read_model(tmp_path / "m")


def test_brian2_path_never_imports_torch():
    """Reading a model directory and building, running and reading its cuba network imports Brian2
    but never torch."""
    model = shipped(SHIPPED[0])
    code = f"""
import sys
import brainsim.netspec, brainsim.circuits, brainsim.circuits.ipd_network, brainsim.bridge
assert "torch" not in sys.modules and "brian2" not in sys.modules, "imported at import time"
import numpy as np, brian2 as b2
from brainsim.bridge import load_network
from brainsim.circuits import build_ipd_network, read_ipd_results
from brainsim.devices import BrianSession, DeviceConfig
from brainsim.stimuli.ipd import random_stimuli, to_spike_times
spec = load_network({str(model)!r})
stim = random_stimuli(spec.stimulus, 2, 0)
idx, t_ms = to_spike_times(stim.spikes, spec.stimulus.dt_ms)
T = spec.stimulus.n_steps
with BrianSession(DeviceConfig("runtime", target="numpy")) as session:
    handles = build_ipd_network(spec, "cuba", idx, t_ms, 2, T)
    session.run(handles.network, T * spec.net.dt_ms * b2.ms)
    out = read_ipd_results(handles, spec)
assert out.scores.shape == (2, 12) and out.hidden_counts.sum() > 0
assert "torch" not in sys.modules, "torch imported at run time"
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
