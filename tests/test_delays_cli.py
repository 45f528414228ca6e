"""brainsim delays in a subprocess: success paths (JSON, figures) and one-line errors."""
from __future__ import annotations

import pytest

from conftest import assert_one_line_error


def test_torch_json_and_plot(run_cli, tmp_path):
    plot = tmp_path / "torch.png"
    result = run_cli("delays", "--method", "torch", "--offset-ms", "3.5", "--seed", "1", "--epochs", "80",
                     "--json", "--plot", plot)
    assert result.returncode == 0, result
    out = result.json()
    for key in ("learned_delay_ms", "offset_ms", "error_ms", "simulated_s", "epochs"):
        assert key in out
    assert out["offset_ms"] == 3.5 and out["epochs"] == 80
    assert out["error_ms"] < 0.5 and abs(out["learned_delay_ms"] - 3.5) == pytest.approx(out["error_ms"])
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_lagging_json_and_plot(run_cli, tmp_path):
    plot = tmp_path / "lagging.png"
    result = run_cli("delays", "--method", "lagging", "--offset-ms", "8", "--seed", "2", "--duration-s", "1",
                     "--json", "--plot", plot)
    assert result.returncode == 0, result
    out = result.json()
    assert out["method"] == "lagging" and out["simulated_s"] == 1.0
    assert out["error_ms"] < 0.5
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_impulse_text(run_cli):
    result = run_cli("delays", "--task", "impulse", "--impulse-stages", "6")
    assert result.returncode == 0, result
    assert "K= 6: mean 5.010 ms (K*tau_d 5.010)" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--method", "genetic"], "--method"),
    (["--stages", "0"], "positive integer"),
    (["-K", "-3"], "positive integer"),
    (["--tau-ms", "0"], "must be > 0"),
    (["--tau-learn-ms", "-5"], "must be > 0"),
    (["--offset-ms", "0"], "must be > 0"),
    (["--offset-ms", "nan"], "finite"),
    (["--method", "lagging", "--offset-ms", "25"], "beyond the maximum delay"),
    (["--method", "torch", "--offset-ms", "12", "--max-delay-ms", "10"], "beyond the maximum delay"),
    (["--task", "toy", "--method", "lagging"], "--method torch"),
    (["--task", "impulse", "--impulse-stages", "4,0"], "positive integer"),
    (["--task", "ipd", "--resume"], "give --out"),
    (["--task", "ipd", "--force"], "give --out"),
    (["--method", "torch", "--out", "x"], "--task ipd"),
    (["--task", "toy", "--resume"], "--task ipd"),
    (["--task", "ipd", "--conditions", "delays,tones"], "unknown condition"),
])
def test_bad_input_is_one_line_exit_2_without_output(run_cli, tmp_path, args, fragment):
    plot = tmp_path / "never.png"
    result = run_cli("delays", *args, "--plot", plot)
    assert_one_line_error(result, fragment)
    assert not plot.exists()
    assert list(tmp_path.glob("*.png*")) == [] and list(tmp_path.glob(".never*")) == []


def test_ipd_out_onto_a_file_is_one_line(run_cli, tmp_path):
    (tmp_path / "file").write_text("")
    assert_one_line_error(run_cli("delays", "--task", "ipd", "--out", "file"), "--out", "not a directory")
    assert (tmp_path / "file").read_text() == ""


def test_unwritable_plot_path(run_cli, tmp_path):
    result = run_cli("delays", "--method", "torch", "--plot", tmp_path / "missing" / "x.png")
    assert_one_line_error(result, "does not exist")
