"""The sweep engine: run every run of a spec that is not finished yet, collect one tidy table.

Every setting x seed is one run with a stable id (:mod:`.expansion`); runs execute in worker processes
(:mod:`.executor`, local or Dask) and each finished run becomes a row of ``OUT/results.csv``
(:mod:`.table`). Running the same spec again skips the runs whose ``ok`` rows are already there, and
retries failed ones (``skip_failed`` keeps them). A run whose worker process dies (killed, out of
memory) is run again, up to ``MAX_WORKER_RETRIES`` times, so one sweep survives a lost worker;
``OUT/sweep.json`` records the spec and the last sweep's counts.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..io import ensure_output_dir
from ..outdir import locked
from ..params import check_fields, param
from ..progress import Progress, note
from . import experiment as experiments
from .executor import Executor, check_scheduler_reachable, one_line
from .expansion import expand
from .spec import SweepSpec
from .table import STATUS, ResultsTable, read_sweep_json, read_table, write_sweep_json

MAX_WORKER_RETRIES = 2   # a run whose worker process dies is run again this often, then recorded as failed


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep executes (not what it computes)."""

    workers: int | None = param(None, "local worker processes (none: one per CPU); ignored with --scheduler",
                                ge=1, sweep=False)
    scheduler: str | None = param(None, "run on the workers of this Dask distributed scheduler instead of "
                                  "local processes", metavar="tcp://HOST:PORT", sweep=False)
    skip_failed: bool = param(False, "do not retry runs that failed in an earlier sweep", sweep=False)
    max_runs: int | None = param(None, "stop after N new runs (a later call continues)", ge=1, sweep=False)
    seed_major: bool = param(False, "run seed by seed (every setting of a seed before the next seed)",
                             cli="", sweep=False)

    def __post_init__(self):
        check_fields(self)
        if self.scheduler is not None and not self.scheduler.strip():
            raise UserError("--scheduler is empty (expected tcp://HOST:PORT)")


@dataclass
class SweepResult:
    """What a sweep did: the table's path, runs in the spec, skipped (already done), ok, failed, wall
    time (s), the executor, and the failures (run id, setting, seed, error)."""

    table: str
    runs: int
    skipped: int
    ok: int
    failed: int
    wall_s: float
    executor: str
    failures: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """The counts as a plain, JSON-ready dict."""
        return dict(self.__dict__)


def default_workers() -> int:
    """One local worker process per CPU."""
    return max(1, os.cpu_count() or 1)


def prepare_out_dir(spec: SweepSpec, out_dir) -> Path:
    """Create OUT (UserError if impossible) and check it does not hold another experiment's sweep."""
    out_dir = ensure_output_dir(out_dir, "--out")
    _, rows = read_table(out_dir)
    others = sorted({r["experiment"] for r in rows} - {spec.experiment})
    if others:
        raise UserError(f"{out_dir} holds results of experiment {others[0]!r}; use another --out for "
                        f"{spec.experiment!r}")
    _check_same_parameters(spec, out_dir, rows)
    return out_dir


def _check_same_parameters(spec: SweepSpec, out_dir: Path, rows: list) -> None:
    """Refuse a spec whose parameters differ from those of the sweep already in ``out_dir``.

    Rows of two specs with different parameters would share one table with blank columns, and
    ``sweep.json`` would describe only the last one. More values or seeds for the same parameters
    extend the sweep and are accepted.
    """
    previous = read_sweep_json(out_dir).get("spec")
    if not rows or not isinstance(previous, dict):
        return
    try:
        before = set(previous.get("grid") or {}) | set(previous.get("fixed") or {})
    except TypeError:
        return
    now = set(spec.param_names)
    if before != now:
        added, missing = sorted(now - before), sorted(before - now)
        what = "; ".join(part for part in (f"new: {', '.join(added)}" if added else "",
                                            f"missing: {', '.join(missing)}" if missing else "") if part)
        raise UserError(f"{out_dir} holds a sweep of {spec.experiment!r} with other parameters "
                        f"({what}; from {previous.get('source') or 'another spec'}); use another --out")


def run_sweep(spec: SweepSpec, out_dir, options: SweepOptions = SweepOptions(), progress: bool = True) -> SweepResult:
    """Run every run of ``spec`` not already finished in ``out_dir``; returns the counts.

    ``options.max_runs`` stops after that many new runs (the rest is left for a later call:
    resumable). ``progress``: a bar on a terminal, one line per finished run otherwise. ``out_dir`` is
    locked while the sweep runs (:func:`brainsim.outdir.locked`): a second sweep into it is refused.
    """
    if options.scheduler:
        check_scheduler_reachable(options.scheduler)  # before anything is written
    with locked(ensure_output_dir(out_dir, "--out"), "--out"):
        return _run_sweep(spec, out_dir, options, progress)


def _run_sweep(spec: SweepSpec, out_dir, options: SweepOptions, progress: bool) -> SweepResult:
    workers = default_workers() if options.workers is None else options.workers
    scheduler = options.scheduler
    out_dir = prepare_out_dir(spec, out_dir)
    runs = expand(spec, seed_major=options.seed_major)
    if len({r.run_id for r in runs}) != len(runs):
        raise UserError(f"{spec.source}: two settings give the same run (a value repeated in [grid]?)")
    table = ResultsTable(out_dir, spec.param_names)
    done_states = {"ok", "failed"} if options.skip_failed else {"ok"}
    todo = [r for r in runs if table.status(r.run_id) not in done_states]
    skipped = len(runs) - len(todo)
    if options.max_runs is not None:
        todo = todo[:options.max_runs]
    if skipped or any(table.status(r.run_id) == "failed" for r in todo):
        retried = sum(table.status(r.run_id) == "failed" for r in todo)
        note(f"sweep {spec.experiment}: resuming {table.path}: {skipped} of {len(runs)} runs already done, "
             f"{len(todo)} to run" + (f" ({retried} failed before, retried)" if retried else ""))
    write_sweep_json(out_dir, spec.to_dict(), {"state": "running", "runs": len(runs), "skipped": skipped})
    t0 = time.perf_counter()
    result = SweepResult(table=str(table.path), runs=len(runs), skipped=skipped, ok=0, failed=0, wall_s=0.0,
                         executor="")
    if not todo:
        table.write()
        result.executor = "none (nothing to run)"
        write_sweep_json(out_dir, spec.to_dict(), {"state": "done", **result.to_dict()})
        return result

    experiment = experiments.get(spec.experiment)
    metric = experiment.metrics[0] if experiment.metrics else None
    executor = Executor(workers, scheduler, len(todo))
    result.executor = executor.description
    note(f"sweep {spec.experiment}: {len(todo)} runs to do ({skipped} already done) on "
         f"{executor.description}; results in {table.path}", progress)
    bar = Progress(len(todo), "sweep", "runs", enabled=progress)
    cancelled = True
    try:
        def record(run, row: dict) -> None:
            table.add(row)
            table.write(force=False)
            if row.get(STATUS) == "ok":
                result.ok += 1
            else:
                result.failed += 1
                result.failures.append({"run_id": run.run_id, "setting": run.setting, "seed": run.seed,
                                        "error": row.get("error", "")})
            if row.get("wall_s") is None:
                row["wall_s"] = 0.0
            bar.advance()
            bar.log(_run_line(result.ok + result.failed, len(todo), row, run.setting, metric))

        deaths: dict[str, int] = {}   # run id -> worker deaths while running it
        pending = {executor.submit(run.task()): run for run in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            if executor.broken:  # a local worker died: every run queued on the pool is lost with it
                done = set(pending)
                wait(done)
            lost = []
            for future in done:
                run = pending.pop(future)
                try:
                    row = future.result()
                except Exception as exc:  # noqa: BLE001 - the worker itself died (killed, out of memory)
                    lost.append((run, exc))
                else:
                    record(run, row)
            culprits = executor.replace_broken_pool() if executor.broken else set()
            for run, exc in lost:
                # a local pool names the runs in the processes that died; the others were only queued or
                # stopped with the pool. Dask (or a death no run is known for): every lost run counts.
                if culprits and run.run_id not in culprits:
                    pending[executor.submit(run.task())] = run
                    continue
                deaths[run.run_id] = deaths.get(run.run_id, 0) + 1
                if deaths[run.run_id] > MAX_WORKER_RETRIES:
                    record(run, {**run.task()["params"], "run_id": run.run_id, "experiment": run.experiment,
                                 "seed": run.seed, STATUS: "failed", "wall_s": None,
                                 "error": f"worker process died {deaths[run.run_id]} times running it (killed or "
                                          f"out of memory?): {one_line(exc)}"})
                else:
                    bar.log(f"{run.setting} seed {run.seed}: its worker process died; run again "
                            f"(retry {deaths[run.run_id]} of {MAX_WORKER_RETRIES})")
                    pending[executor.submit(run.task())] = run
        cancelled = False
    finally:
        table.write()
        bar.finish()
        executor.close(cancel=cancelled)
        result.wall_s = round(time.perf_counter() - t0, 3)
        write_sweep_json(out_dir, spec.to_dict(), {"state": "interrupted" if cancelled else "done", **result.to_dict()})
    return result


def _run_line(done: int, total: int, row: dict, label: str, metric: str | None) -> str:
    """The progress line of a finished run (where no bar is drawn)."""
    if row.get(STATUS) == "ok":
        value = row.get(metric) if metric else None
        what = f"{metric} {value:.4g}" if isinstance(value, (int, float)) else "ok"
    else:
        what = f"FAILED {row.get('error', '')[:160]}"
    return f"[{done}/{total}] {label} seed {row['seed']}: {what} ({row['wall_s']:.1f} s)"
