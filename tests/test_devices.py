"""Device selection: configuration errors, per-run build directories, concurrent standalone builds."""
import os
import subprocess
import sys
import textwrap

import pytest

from brainsim.devices import BrianSession, DeviceConfig, fresh_build_dir
from brainsim.errors import UserError


@pytest.mark.parametrize("kwargs", [dict(name="gpu"), dict(target="c"), dict(threads=0)])
def test_bad_configurations_are_user_errors(kwargs):
    with pytest.raises(UserError):
        DeviceConfig(**kwargs)


def test_build_dirs_are_fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINSIM_BUILD_ROOT", str(tmp_path))
    dirs = {fresh_build_dir("x") for _ in range(20)}
    assert len(dirs) == 20 and all(d.is_dir() and d.parent.parent == tmp_path for d in dirs)


_SCRIPT = textwrap.dedent("""
    import sys, brian2 as b2
    from brainsim.devices import BrianSession, DeviceConfig
    rate = float(sys.argv[1])
    with BrianSession(DeviceConfig("cpp_standalone")) as session:
        group = b2.NeuronGroup(1, "dv/dt = rate_ / second : 1", threshold="v >= 1", reset="v = 0",
                               method="euler", namespace={"rate_": rate})
        mon = b2.SpikeMonitor(group)
        session.run(b2.Network(group, mon), 1 * b2.second)
        print(mon.num_spikes, session.project_dir.exists())
    print(session.project_dir.exists())
""")


def test_concurrent_cpp_standalone_processes_do_not_collide(tmp_path):
    """Two processes build and run their own standalone projects at the same time."""
    env_root = tmp_path / "builds"
    env = dict(os.environ, BRAINSIM_BUILD_ROOT=str(env_root))
    procs = [subprocess.Popen([sys.executable, "-c", _SCRIPT, str(rate)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for rate in (10.0, 25.0)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    # integrate-and-fire at a constant slope: floor(rate * 1 s) spikes (the last may fall on t = 1 s)
    counts = [int(out.split()[0]) for out, _ in outputs]
    assert counts[0] in (9, 10) and counts[1] in (24, 25)
    # the project existed during the run and the temporary directory is gone afterwards
    assert all(out.split()[1] == "True" and out.split()[2] == "False" for out, _ in outputs)
    assert list((env_root / "brainsim-builds").iterdir()) == []


def test_session_restores_runtime_device(tmp_path):
    import brian2 as b2
    from brian2.devices.device import get_device

    with BrianSession(DeviceConfig("cpp_standalone", build_dir=str(tmp_path / "p"), build_only=True)) as s:
        g = b2.NeuronGroup(1, "v : 1")
        assert s.run(b2.Network(g), 1 * b2.ms) is False
    assert type(get_device()).__name__ == "RuntimeDevice"
    assert (tmp_path / "p" / "main").exists()  # compiled, not run


@pytest.mark.slow
def test_runtime_cython_target(tmp_path):
    """The Cython target compiles (first time ~90 s, then cached) and gives the numpy result."""
    import brian2 as b2

    counts = {}
    for target in ("numpy", "cython"):
        with BrianSession(DeviceConfig("runtime", target=target)) as s:
            g = b2.NeuronGroup(3, "dv/dt = (1.2 - v) / (10*ms) : 1", threshold="v > 1", reset="v = 0",
                               method="exact")
            m = b2.SpikeMonitor(g)
            s.run(b2.Network(g, m), 200 * b2.ms)
            counts[target] = list(m.count[:])
    assert counts["numpy"] == counts["cython"] and sum(counts["numpy"]) > 0


@pytest.mark.parametrize("versions, config, fragment", [
    ({"brian2": "2.9.0", "numpy": "2.4.1"}, DeviceConfig("cpp_standalone"), "cannot import with numpy 2.4.1"),
    ({"brian2": "2.7.1", "numpy": "2.0.2"}, DeviceConfig("runtime", target="cython"), "needs numpy < 2"),
    ({"brian2": "2.7.1", "numpy": "1.26.4", "Cython": "3.1.3"}, DeviceConfig("runtime", target="cython"),
     "needs Cython < 3.1"),
])
def test_known_broken_stacks_are_refused_in_one_line(monkeypatch, versions, config, fragment):
    from packaging.version import Version

    from brainsim import devices

    monkeypatch.setattr(devices, "_installed", lambda pkg: Version(versions[pkg]) if pkg in versions else None)
    with pytest.raises(UserError, match=fragment) as info:
        devices.check_brian2_stack(config)
    assert "\n" not in str(info.value)


def test_working_stacks_pass(monkeypatch):
    from packaging.version import Version

    from brainsim import devices

    for versions in ({"brian2": "2.7.1", "numpy": "1.26.4", "Cython": "3.0.12"},
                     {"brian2": "2.9.0", "numpy": "2.3.5", "Cython": "3.3.1"},
                     {"brian2": "2.10.1", "numpy": "2.5.5", "Cython": "3.1.3"}):
        monkeypatch.setattr(devices, "_installed", lambda pkg, v=versions: Version(v[pkg]) if pkg in v else None)
        devices.check_brian2_stack(DeviceConfig("runtime", target="cython"))
        devices.check_brian2_stack(DeviceConfig("cpp_standalone"))
