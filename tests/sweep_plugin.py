"""A plug-in sweep experiment for the tests (``experiment = "sweep_plugin:PROBE"``).

Cheap (no Brian2, no torch): it reports where the worker would build Brian2 projects and fails on
purpose for ``x > fail_above``, so tests can check per-worker build directories and failure rows.
"""
from __future__ import annotations

import os
from pathlib import Path

from brainsim.sweeps import Experiment, Param


def _run(params: dict, seed: int, workdir: Path) -> dict:
    from brainsim.devices import build_root

    if params["x"] > params["fail_above"]:
        raise ValueError(f"x = {params['x']:g} is above {params['fail_above']:g}")
    return {"y": params["x"] * 10 + seed, "build_root": str(build_root()), "workdir_exists": workdir.is_dir(),
            "worker_pid": os.getpid()}


PROBE = Experiment("probe", "test probe: y = 10 x + seed; fails for x > fail_above",
                   (Param("x", float, 0.0, "input"), Param("fail_above", float, 1e9, "fail when x is above this"),
                    Param("label", str, "a", "a string parameter")),
                   ("y", "build_root", "workdir_exists", "worker_pid"), _run)


def _run_slowly(params: dict, seed: int, workdir: Path) -> dict:
    """Sleep ``sleep_s`` (a run in flight long enough to kill its worker); with ``kill_worker`` the run
    kills its own worker process (SIGKILL) every time it is tried."""
    import signal
    import time

    if params["kill_worker"]:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(params["sleep_s"])
    return {"y": params["x"] * 10 + seed, "worker_pid": os.getpid()}


SLOW = Experiment("slow", "test probe: sleeps sleep_s, then y = 10 x + seed; kill_worker: SIGKILLs its worker",
                  (Param("x", float, 0.0, "input"), Param("sleep_s", float, 1.0, "how long a run takes (s)"),
                   Param("kill_worker", bool, False, "kill the worker process running this run")),
                  ("y", "worker_pid"), _run_slowly)
