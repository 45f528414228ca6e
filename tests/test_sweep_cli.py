"""``brainsim sweep`` and ``brainsim sweep-plot`` in a subprocess: bad input is one line, exit code 2."""
from __future__ import annotations

import csv

import pytest

from conftest import ROOT, assert_one_line_error

GOOD = 'experiment = "sweep_plugin:PROBE"\nrepeats = 2\n[grid]\nx = [0.0, 1.0]\n'
PLUGIN_ENV = {"PYTHONPATH": str(ROOT / "tests") + ":" + str(ROOT)}


def _spec(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, fragment", [
    ('experiment = "jeffress"\n[grid\nipd_deg = [1]\n', "not valid TOML"),
    ('experiment = "jefress"\n[grid]\nipd_deg = [1.0]\n', "unknown experiment 'jefress'"),
    ('experiment = "jeffress"\n[grid]\nipd = [1.0]\n', "unknown parameter 'ipd'"),
    ('experiment = "jeffress"\n[grid]\n', "[grid] is empty"),
    ('experiment = "jeffress"\n[grid]\nipd_deg = []\n', "empty list"),
])
def test_bad_specs(run_cli, tmp_path, text, fragment):
    result = run_cli("sweep", _spec(tmp_path, text), "--out", tmp_path / "out")
    assert_one_line_error(result, "brainsim sweep: error:", fragment)
    assert not (tmp_path / "out").exists()  # validated before anything is created


def test_missing_spec_and_unreachable_scheduler(run_cli, tmp_path):
    assert_one_line_error(run_cli("sweep", tmp_path / "nope.toml", "--out", tmp_path / "o"), "not found")
    spec = _spec(tmp_path, 'experiment = "jeffress"\n[grid]\nipd_deg = [0.0]\n')
    result = run_cli("sweep", spec, "--out", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:1")
    assert_one_line_error(result, "cannot reach the Dask scheduler at tcp://127.0.0.1:1")
    assert not (tmp_path / "o").exists()
    result = run_cli("sweep", spec, "--out", tmp_path / "o", "--scheduler", "nonsense")
    assert_one_line_error(result, "bad scheduler address")
    assert_one_line_error(run_cli("sweep", spec, "--out", tmp_path / "o", "--workers", "0"), "--workers")
    assert_one_line_error(run_cli("sweep", spec), "--out DIR is required")


def test_sweep_then_plot_end_to_end(run_cli, tmp_path):
    spec = _spec(tmp_path, GOOD + "[fixed]\nfail_above = 0.5\n")
    out = tmp_path / "out"
    result = run_cli("sweep", spec, "--out", out, "--workers", "2", env=PLUGIN_ENV)
    assert result.returncode == 1, result  # some runs failed: recorded, reported, exit 1
    assert "4 runs, 0 already done, 2 ok, 2 failed" in result.stdout
    assert "ValueError: x = 1 is above 0.5" in result.stdout
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["status"] for r in rows) == ["failed", "failed", "ok", "ok"]
    again = run_cli("sweep", spec, "--out", out, "--skip-failed", "--json", env=PLUGIN_ENV)
    assert again.returncode == 0 and again.json()["skipped"] == 4, again
    dry = run_cli("sweep", spec, "--out", out, "--dry-run", env=PLUGIN_ENV)
    assert dry.returncode == 0 and "4 runs, 2 to do" in dry.stdout

    plot = run_cli("sweep-plot", out, "--y", "y", "--x", "x", "--kind", "box", "--out", tmp_path / "p.png")
    assert plot.returncode == 0, plot
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert "n=2  mean 0.5" in plot.stdout
    assert_one_line_error(run_cli("sweep-plot", out, "--y", "nope"), "unknown metric 'nope'")
    assert_one_line_error(run_cli("sweep-plot", out, "--y", "y", "--x", "zz"), "unknown parameter 'zz'")
    assert_one_line_error(run_cli("sweep-plot", out, "--y", "y", "--out", tmp_path / "p.txt"), ".png, .svg or .pdf")
    assert_one_line_error(run_cli("sweep-plot", tmp_path / "empty_dir_missing", "--y", "y"), "not a directory")


def test_list_and_help(run_cli):
    listed = run_cli("sweep", "--list")
    assert listed.returncode == 0 and "jeffress" in listed.stdout and "stdp" in listed.stdout
    detail = run_cli("sweep", "--list", "ipd")
    assert "envelope_power" in detail.stdout and "test_accuracy" in detail.stdout
    assert_one_line_error(run_cli("sweep", "--list", "nope"), "unknown experiment")
    helped = run_cli("sweep-plot", "--help")
    assert helped.returncode == 0 and "--where" in helped.stdout


def test_a_spec_with_other_parameters_is_refused_in_an_existing_out(run_cli, tmp_path):
    out = tmp_path / "out"
    first = run_cli("sweep", _spec(tmp_path, GOOD), "--out", out, "--workers", "1", env=PLUGIN_ENV)
    assert first.returncode == 0, first
    table_before = (out / "results.csv").read_bytes()
    sweep_json_before = (out / "sweep.json").read_bytes()

    other = _spec(tmp_path, GOOD + "[fixed]\nfail_above = 5.0\n", name="other.toml")
    refused = run_cli("sweep", other, "--out", out, "--workers", "1", env=PLUGIN_ENV)
    assert_one_line_error(refused, "brainsim sweep: error:", "with other parameters (new: fail_above")
    assert (out / "results.csv").read_bytes() == table_before         # no rows mixed in
    assert (out / "sweep.json").read_bytes() == sweep_json_before     # the first spec still described

    # more values and seeds of the same parameters extend the sweep
    wider = _spec(tmp_path, GOOD.replace("repeats = 2", "repeats = 3").replace("[0.0, 1.0]", "[0.0, 1.0, 2.0]"),
                  name="wider.toml")
    extended = run_cli("sweep", wider, "--out", out, "--workers", "1", "--json", env=PLUGIN_ENV)
    assert extended.returncode == 0 and extended.json()["skipped"] == 4 and extended.json()["runs"] == 9, extended
