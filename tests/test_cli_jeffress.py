"""`brainsim jeffress` as a user runs it: subprocess, success and error paths."""


import pytest

from conftest import assert_one_line_error


def test_json_output(run_cli):
    result = run_cli("jeffress", "--ipd", "30", "--json")
    assert result.returncode == 0, result
    data = result.json()
    for key in ("ipd_deg", "estimate_deg", "error_deg", "detector_counts", "best_ipd_deg"):
        assert key in data
    assert data["ipd_deg"] == 30.0
    assert abs(data["error_deg"]) < 15
    assert abs(data["estimate_deg"] - 30.0) < 15
    assert len(data["detector_counts"]) == len(data["best_ipd_deg"]) == 36
    assert data["best_ipd_deg"][0] == -180.0 and sum(data["detector_counts"]) > 0


def test_human_summary_and_plot(run_cli, tmp_path):
    png = tmp_path / "jeffress.png"
    result = run_cli("jeffress", "--ipd", "-45", "--detectors", "24", "--freq", "30", "--duration", "80",
                     "--fibres", "80", "--seed", "3", "--plot", png)
    assert result.returncode == 0, result
    assert "estimate" in result.stdout and "true IPD" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left over


def test_same_seed_same_answer(run_cli):
    a = run_cli("jeffress", "--ipd", "10", "--json", "--seed", "5", "--fibres", "40")
    b = run_cli("jeffress", "--ipd", "10", "--json", "--seed", "5", "--fibres", "40")
    assert a.returncode == b.returncode == 0
    assert a.json()["detector_counts"] == b.json()["detector_counts"]


def test_cuda_without_gpu_needs_build_only(run_cli, tmp_path):
    pytest.importorskip("brian2cuda")
    from brainsim.devices import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present: the project would run")
    out = tmp_path / "cuda_project"
    result = run_cli("jeffress", "--ipd", "30", "--fibres", "10", "--device", "cuda_standalone",
                     "--build-dir", out)
    assert result.returncode == 3, result
    assert "did not" in result.stderr and "Traceback" not in result.stderr
    ok = run_cli("jeffress", "--ipd", "30", "--fibres", "10", "--device", "cuda_standalone",
                 "--build-dir", out, "--build-only")
    assert ok.returncode == 0, ok
    assert (out / "main.cu").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--ipd", "abc"], "--ipd"),
    (["--ipd", "nan"], "finite"),
    (["--ipd", "inf"], "finite"),
    (["--ipd", "200"], "between"),
    (["--ipd", "-180.5"], "between"),
    (["--ipd", "30", "--duration", "0"], "--duration"),
    (["--ipd", "30", "--duration", "-5"], "--duration"),
    (["--ipd", "30", "--duration", "0.2"], "time step"),
    (["--ipd", "30", "--freq", "0"], "--freq"),
    (["--ipd", "30", "--fibres", "0"], "--fibres"),
    (["--ipd", "30", "--fibres", "2.5"], "--fibres"),
    (["--ipd", "30", "--detectors", "0"], "--detectors"),
    (["--ipd", "30", "--detectors", "2"], "detectors"),
    (["--ipd", "30", "--seed", "-1"], "--seed"),
    (["--ipd", "30", "--device", "gpu"], "--device"),
    (["--ipd", "30", "--threads", "0"], "--threads"),
    (["--ipd", "30", "--plot", "/nonexistent-dir/x.png"], "does not exist"),
    ([], "--ipd"),
])
def test_bad_input_is_one_line_exit_2(run_cli, args, fragment):
    assert_one_line_error(run_cli("jeffress", *args), fragment)


def test_unwritable_plot_leaves_nothing_behind(run_cli, tmp_path):
    target = tmp_path / "adir"
    target.mkdir()
    assert_one_line_error(run_cli("jeffress", "--ipd", "30", "--plot", target), "directory")
    assert list(target.iterdir()) == []


def test_top_level_help_lists_jeffress(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0 and "jeffress" in result.stdout
    sub = run_cli("jeffress", "--help")
    assert sub.returncode == 0 and "--ipd" in sub.stdout and "--plot" in sub.stdout
