"""Sweeps that really run: local worker processes, a dask.distributed LocalCluster, resume, failures, plots."""
from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest

from brainsim import sweeps as sw

TINY_JEFFRESS = """
experiment = "jeffress"
repeats = 2
[grid]
ipd_deg = [-30.0, 30.0]
[fixed]
n_trials = 2
duration_ms = 40
fibres_per_ear = 40
"""

PROBE = """
experiment = "sweep_plugin:PROBE"
repeats = 2
[grid]
x = [0.0, 1.0, 2.0]
[fixed]
fail_above = 1.5
"""


def _rows(out_dir):
    with open(out_dir / sw.TABLE, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def jeffress_sweep(tmp_path_factory):
    """One real tiny Jeffress sweep on two local worker processes, shared by the tests below."""
    out = tmp_path_factory.mktemp("jeffress_sweep")
    spec = sw.parse_spec(TINY_JEFFRESS)
    result = sw.run_sweep(spec, out, sw.SweepOptions(workers=2), progress=False)
    return spec, out, result


def test_local_sweep_runs_every_setting_and_seed(jeffress_sweep):
    from brainsim.experiments.jeffress import JeffressConfig, accuracy_metrics, simulate_jeffress
    from brainsim.stimuli.ipd import PLAIN_EARS

    spec, out, result = jeffress_sweep
    assert (result.runs, result.ok, result.failed, result.skipped) == (4, 4, 0, 0)
    rows = _rows(out)
    assert [(float(r["ipd_deg"]), int(r["seed"])) for r in rows if r] and len(rows) == 4
    assert {(float(r["ipd_deg"]), int(r["seed"])) for r in rows} == {(-30.0, 0), (-30.0, 1), (30.0, 0), (30.0, 1)}
    assert all(r["status"] == "ok" and r["error"] == "" for r in rows)
    from importlib.metadata import version

    assert all(f"brian2 {version('brian2')}" in r["versions"] and float(r["wall_s"]) > 0 for r in rows)
    # the table's numbers are the experiment's own: recompute one run in this process
    row = next(r for r in rows if float(r["ipd_deg"]) == 30.0 and r["seed"] == "1")
    stim = PLAIN_EARS.with_(duration_ms=40.0, fibres_per_ear=40)
    run = simulate_jeffress(np.full(2, 30.0), JeffressConfig(stimulus=stim, seed=1))
    expected = accuracy_metrics(run)
    assert math.isclose(float(row["mae_deg"]), expected["mae_deg"], rel_tol=1e-9)
    assert math.isclose(float(row["mean_detector_spikes_per_trial"]), expected["mean_detector_spikes_per_trial"])
    # the column layout the plots rely on
    params, metrics = sw.split_columns(list(rows[0].keys()))
    assert params == ["ipd_deg", "n_trials", "duration_ms", "fibres_per_ear"]
    assert metrics[0] == "mae_deg"


def test_rerun_skips_finished_rows_and_keeps_the_table(jeffress_sweep):
    spec, out, _ = jeffress_sweep
    before = (out / sw.TABLE).read_text()
    result = sw.run_sweep(spec, out, sw.SweepOptions(workers=2), progress=False)
    assert (result.skipped, result.ok, result.failed) == (4, 0, 0)
    assert (out / sw.TABLE).read_text() == before


def test_interrupted_sweep_resumes_only_missing_runs(tmp_path):
    spec = sw.parse_spec(PROBE.replace("fail_above = 1.5", "fail_above = 100.0"))
    first = sw.run_sweep(spec, tmp_path, sw.SweepOptions(workers=1, max_runs=2), progress=False)  # "killed" after 2 runs
    assert (first.ok, first.skipped) == (2, 0)
    done_ids = {r["run_id"] for r in _rows(tmp_path)}
    second = sw.run_sweep(spec, tmp_path, sw.SweepOptions(workers=1), progress=False)
    assert (second.skipped, second.ok) == (2, 4)
    rows = _rows(tmp_path)
    assert len(rows) == 6 and {r["run_id"] for r in rows} == {r.run_id for r in sw.expand(spec)}
    assert done_ids <= {r["run_id"] for r in rows}


def test_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    spec = sw.parse_spec(PROBE)
    result = sw.run_sweep(spec, tmp_path, sw.SweepOptions(workers=2), progress=False)
    assert (result.ok, result.failed) == (4, 2)
    rows = {(float(r["x"]), int(r["seed"])): r for r in _rows(tmp_path)}
    for seed in (0, 1):
        failed = rows[(2.0, seed)]
        assert failed["status"] == "failed"
        assert failed["error"] == "ValueError: x = 2 is above 1.5"
        assert failed["y"] == ""
        for x in (0.0, 1.0):
            ok = rows[(x, seed)]
            assert ok["status"] == "ok" and float(ok["y"]) == 10 * x + seed
            # each worker process builds below its own directory
            assert f"sweep-{ok['host']}-{ok['pid']}" in ok["build_root"]
            assert ok["worker_pid"] == ok["pid"] and ok["workdir_exists"] == "True"
    assert f"sweep-" not in os.environ.get("BRAINSIM_BUILD_ROOT", "")  # restored in this process
    # a rerun retries the failed runs only (they fail again), or keeps them with retry_failed=False
    again = sw.run_sweep(spec, tmp_path, sw.SweepOptions(workers=1), progress=False)
    assert (again.skipped, again.failed) == (4, 2)
    kept = sw.run_sweep(spec, tmp_path, sw.SweepOptions(workers=1, skip_failed=True), progress=False)
    assert (kept.skipped, kept.failed, kept.ok) == (6, 0, 0)


def test_dask_localcluster_runs_a_tiny_sweep(tmp_path):
    from distributed import LocalCluster

    spec = sw.parse_spec(TINY_JEFFRESS.replace("repeats = 2", "repeats = 1"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster:
        result = sw.run_sweep(spec, tmp_path, sw.SweepOptions(scheduler=cluster.scheduler_address), progress=False)
    assert (result.ok, result.failed) == (2, 0)
    assert result.executor.startswith("Dask cluster")
    rows = _rows(tmp_path)
    assert {float(r["ipd_deg"]) for r in rows} == {-30.0, 30.0}
    assert all(r["status"] == "ok" and float(r["mae_deg"]) < 45 for r in rows)


def test_out_dir_of_another_experiment_is_refused(jeffress_sweep, tmp_path):
    from brainsim.errors import UserError

    _, out, _ = jeffress_sweep
    with pytest.raises(UserError, match="holds results of experiment 'jeffress'"):
        sw.run_sweep(sw.parse_spec(PROBE), out, sw.SweepOptions(workers=1), progress=False)


def test_unreachable_scheduler_is_a_user_error(tmp_path):
    from brainsim.errors import UserError

    with pytest.raises(UserError, match="cannot reach the Dask scheduler"):
        sw.run_sweep(sw.parse_spec(PROBE), tmp_path, sw.SweepOptions(scheduler="tcp://127.0.0.1:1"), progress=False)


def test_plots_and_their_statistics(jeffress_sweep, tmp_path):
    import pandas as pd

    from brainsim.plotting.sweep import plot_sweep

    _, out, _ = jeffress_sweep
    table = pd.read_csv(out / sw.TABLE)
    result = plot_sweep(out, "ipd_deg", ["mae_deg", "fraction_within"], kind="errorbar", path=tmp_path / "e.png")
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"
    for rec in result["summary"]:
        values = table.loc[np.isclose(table["ipd_deg"], rec["ipd_deg"]), rec["metric"]]
        assert rec["n"] == 2
        assert math.isclose(rec["mean"], values.mean()) and math.isclose(rec["std"], values.std(ddof=1))
    box = plot_sweep(out, None, ["mae_deg"], kind="auto", path=tmp_path / "b.svg")
    assert box["kind"] == "box" and box["x"] == "setting"
    assert (tmp_path / "b.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "b_summary.csv").is_file()
    only = plot_sweep(out, "ipd_deg", ["mae_deg"], where=["ipd_deg=30"], path=tmp_path / "w.png")
    assert [r["ipd_deg"] for r in only["summary"]] == [30.0]


@pytest.mark.slow
def test_parallel_cpp_standalone_builds_do_not_collide(tmp_path):
    """Two worker processes compile Jeffress cpp_standalone projects at the same time."""
    spec = sw.parse_spec(TINY_JEFFRESS.replace("repeats = 2", "repeats = 1")
                         + 'device = "cpp_standalone"\n')
    result = sw.run_sweep(spec, tmp_path / "out", sw.SweepOptions(workers=2), progress=False)
    assert (result.ok, result.failed) == (2, 0), result.failures
    rows = _rows(tmp_path / "out")
    runtime = sw.run_sweep(sw.parse_spec(TINY_JEFFRESS.replace("repeats = 2", "repeats = 1")), tmp_path / "rt",
                           sw.SweepOptions(workers=1), progress=False)
    assert runtime.ok == 2
    # same stimuli, same circuit: the standalone runs decode like the runtime ones
    by_ipd = {float(r["ipd_deg"]): float(r["mae_deg"]) for r in _rows(tmp_path / "rt")}
    for r in rows:
        assert abs(float(r["mae_deg"]) - by_ipd[float(r["ipd_deg"])]) < 10.0
    # the worker build roots are left empty (temporary projects and scratch directories removed)
    leftovers = [p for p in (tmp_path / "builds").rglob("*") if p.is_file()] if (tmp_path / "builds").exists() else []
    assert leftovers == []


def test_ipd_adapter_trains_and_tests_like_train_ipd(tmp_path):
    """One tiny training run through the sweep's worker function equals train_ipd called directly."""
    from dataclasses import replace

    from brainsim.experiments.ipd import protocol_from, train_ipd
    from brainsim.stimuli.ipd import TUTORIAL

    fixed = {"epochs": 1, "n_train": 128, "batch_size": 64, "n_test": 64, "hidden": 8, "envelope_power": 5.0}
    spec = sw.spec_from_dict({"experiment": "ipd", "seeds": [3], "grid": {"tau_ms": [2.0]}, "fixed": fixed})
    (run,) = sw.expand(spec)
    row = sw.execute_run(run.task())
    assert row["status"] == "ok", row["error"]
    protocol = replace(protocol_from("seed", epochs=1, n_train=128, batch_size=64, n_test=64, hidden=8,
                                     tau_hidden_ms=2.0, tau_out_ms=2.0), seed=3)
    direct = train_ipd(protocol, None, progress=False, stimulus=TUTORIAL.with_(envelope_power=5.0)).scores
    assert row["test_accuracy"] == direct["test_accuracy"]
    assert row["train_mae_deg"] == direct["train_mae_deg"]


def test_compare_adapter_cuba_agrees_with_torch(tmp_path):
    """The compare adapter on the shipped model: the cuba realisation predicts what torch predicts."""
    from conftest import ROOT

    model = ROOT / "models" / "ipd_seed"
    if not (model / "manifest.json").is_file():
        pytest.skip("no shipped IPD model in this checkout")
    spec = sw.spec_from_dict({"experiment": "compare", "seeds": [0], "grid": {"neuron": ["cuba"]},
                              "fixed": {"model": str(model), "n_test": 16, "device": "runtime"}})
    (run,) = sw.expand(spec)
    row = sw.execute_run(run.task())
    assert row["status"] == "ok", row["error"]
    assert row["identical_predictions"] == 1.0 and row["accuracy_difference"] == 0.0


def test_ipd_evaluate_adapter_scores_a_model_and_records_a_missing_one(tmp_path):
    from conftest import ROOT

    from brainsim.experiments.ipd import IPDEvaluation, evaluate_model

    model = ROOT / "models" / "ipd_seed"
    if not (model / "manifest.json").is_file():
        pytest.skip("no shipped IPD model in this checkout")
    spec = sw.spec_from_dict({"experiment": "ipd-evaluate", "seeds": [4],
                              "grid": {"model": [str(model), str(tmp_path / "missing_model")]},
                              "fixed": {"n_test": 64}})
    good, missing = (sw.execute_run(run.task()) for run in sw.expand(spec))
    assert good["status"] == "ok", good["error"]
    assert good["accuracy"] == evaluate_model(model, IPDEvaluation(seed=4, n_test=64))["accuracy"]
    assert missing["status"] == "failed" and "UserError" in missing["error"] and "missing_model" in missing["error"]


SLOW_RUNS = """
experiment = "sweep_plugin:SLOW"
[grid]
x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
[fixed]
sleep_s = 1.5
"""


def _kill_a_worker_in_flight(build_root, killed: list, timeout_s: float = 60.0) -> None:
    """SIGKILL the first worker process seen running a run (its run directory exists: WORKER_ROOT/run-ID-*),
    half a second into that run; records (pid, run id) in ``killed``."""
    import signal
    import time

    from brainsim.sweeps.executor import runs_in_flight

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for root in build_root.glob("sweep-*-*"):
            pid = int(root.name.rsplit("-", 1)[1])
            running = runs_in_flight(pid)
            if running:
                time.sleep(0.5)
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, running))
                return
        time.sleep(0.05)


def _sweep_with_a_worker_killed(tmp_path, options_for):
    import threading

    spec = sw.parse_spec(SLOW_RUNS)
    killed = []
    killer = threading.Thread(target=_kill_a_worker_in_flight, args=(tmp_path / "builds", killed), daemon=True)
    killer.start()
    result = options_for(spec, killer)
    killer.join()
    assert killed, "no worker was seen running a run"
    rows = _rows(tmp_path / "out")
    assert (result.ok, result.failed) == (6, 0), result
    assert sorted(float(r["x"]) for r in rows) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert all(r["status"] == "ok" and float(r["y"]) == 10 * float(r["x"]) for r in rows)
    killed_pid, killed_runs = killed[0]
    rerun = {r["run_id"]: r for r in rows}
    for run_id in killed_runs:  # the run lost with the worker was run again by another process
        assert int(rerun[run_id]["pid"]) != killed_pid
    return rows


def test_dask_worker_killed_mid_sweep_the_sweep_completes_with_every_row(tmp_path):
    from distributed import LocalCluster

    def run(spec, killer):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=50) as cluster:
            return sw.run_sweep(spec, tmp_path / "out", sw.SweepOptions(scheduler=cluster.scheduler_address),
                                progress=False)

    _sweep_with_a_worker_killed(tmp_path, run)


def test_local_worker_killed_mid_sweep_the_sweep_completes_with_every_row(tmp_path, capsys):
    def run(spec, killer):
        return sw.run_sweep(spec, tmp_path / "out", sw.SweepOptions(workers=2), progress=True)

    _sweep_with_a_worker_killed(tmp_path, run)
    assert "its worker process died; run again (retry 1 of 2)" in capsys.readouterr().err


def test_a_run_that_kills_its_worker_every_time_fails_in_one_line_and_the_others_complete(tmp_path):
    from brainsim.sweeps.engine import MAX_WORKER_RETRIES

    spec = sw.parse_spec(SLOW_RUNS.replace("[fixed]", "kill_worker = [false, true]\n[fixed]")
                         .replace("x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]", "x = [0.0, 1.0]")
                         .replace("sleep_s = 1.5", "sleep_s = 0.5"))
    result = sw.run_sweep(spec, tmp_path, sw.SweepOptions(workers=2), progress=False)
    assert (result.ok, result.failed) == (2, 2), result
    rows = _rows(tmp_path)
    for r in rows:
        if r["kill_worker"] == "True":
            assert r["status"] == "failed"
            assert r["error"].startswith(f"worker process died {MAX_WORKER_RETRIES + 1} times running it")
            assert "\n" not in r["error"]
        else:
            assert r["status"] == "ok" and float(r["y"]) == 10 * float(r["x"])


@pytest.mark.slow  # ~20-60 s: the cluster restarts three workers
def test_dask_a_run_that_kills_every_worker_it_meets_fails_in_one_line(tmp_path):
    """With allowed-failures = 0 every worker death is a KilledWorker at once: the engine's own retries
    (and a run whose result died with the worker holding it) are what is tested."""
    import dask
    from distributed import LocalCluster

    from brainsim.sweeps.engine import MAX_WORKER_RETRIES

    spec = sw.parse_spec(SLOW_RUNS.replace("[fixed]", "kill_worker = [false, true]\n[fixed]")
                         .replace("x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]", "x = [0.0]")
                         .replace("sleep_s = 1.5", "sleep_s = 0.5"))
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=50) as cluster:
        result = sw.run_sweep(spec, tmp_path, sw.SweepOptions(scheduler=cluster.scheduler_address), progress=False)
    assert (result.ok, result.failed) == (1, 1), result
    failed = [r for r in _rows(tmp_path) if r["status"] == "failed"]
    assert failed[0]["kill_worker"] == "True"
    assert failed[0]["error"].startswith(f"worker process died {MAX_WORKER_RETRIES + 1} times running it "
                                         "(killed or out of memory?): KilledWorker")


def test_jeffress_learn_adapter_equals_the_direct_run(tmp_path):
    """A tiny self-wiring circuit through the sweep's worker function equals train_and_evaluate called
    with the run's seed; its checkpoint goes to the run's own folder (removed with it)."""
    from dataclasses import replace

    from brainsim.experiments.jeffress_learning import summary, train_and_evaluate

    fixed = {"n_detectors": 4, "fibres_per_ear": 20, "fibres_per_line": 10, "stages": 6, "dt_ms": 0.2,
             "duration_ms": 50.0, "gap_ms": 10.0, "n_presentations": 3, "n_test": 6, "tuning_points": 8,
             "tuning_repeats": 1, "device": "runtime"}
    spec = sw.spec_from_dict({"experiment": "jeffress-learn", "seeds": [2], "grid": {"init": ["equal"]},
                              "fixed": fixed})
    (run,) = sw.expand(spec)
    row = sw.execute_run(run.task())
    assert row["status"] == "ok", row["error"]
    from brainsim.sweeps.adapters import _jeffress_learn_objects

    config = _jeffress_learn_objects(sw.get("jeffress-learn").resolve({**fixed, "init": "equal"}))
    config = replace(config, circuit=replace(config.circuit, seed=2),
                     training=replace(config.training, data_dir=str(tmp_path / "direct")))
    direct = summary(train_and_evaluate(config))
    assert row["mae_deg"] == pytest.approx(direct["mae_deg"], abs=1e-9)
    assert row["max_gap_deg"] == pytest.approx(direct["coverage"]["max_gap_deg"], abs=1e-9)
    assert direct["init"] == "equal" and direct["seed"] == 2
