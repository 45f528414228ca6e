"""Parameter sweeps: TOML specs, cartesian expansion x seeds, local or Dask execution, one tidy table.

Spec (TOML)::

    experiment = "jeffress"      # jeffress, ipd, ipd-evaluate, stdp, compare (or package.module:ADAPTER)
    repeats = 2                  # seeds first_seed .. first_seed + repeats - 1 (or: seeds = [3, 7])
    first_seed = 0               # optional
    description = "..."          # optional
    [grid]                       # every combination of these lists is one setting
    ipd_deg = [-45.0, 0.0, 45.0]
    [fixed]                      # optional: the same value in every run
    n_trials = 4

Every setting x seed is one run with a stable id (a hash of the experiment, the spec's parameter
values and the seed). Runs execute in worker processes: ``workers`` local processes by default, or the
workers of an existing Dask distributed cluster (``scheduler="tcp://HOST:PORT"``). In both cases the
run is a call of the experiment's adapter (:mod:`brainsim.experiments.sweep_adapters`) in the worker
process; each worker process builds Brian2 standalone projects below its own directory
(``$BRAINSIM_BUILD_ROOT/sweep-HOST-PID`` or the temp dir), and one process runs one run at a time
(Brian2 keeps global state), so builds never collide.

Results: ``OUT/results.csv``, one row per run, columns in this order::

    run_id, experiment, seed, <parameters given in the spec>, status, <metrics>,
    error, wall_s, started_utc, host, pid, versions

``status`` is ``ok`` or ``failed`` (with ``error``: the exception, one line). The table is rewritten
atomically as runs finish (a killed sweep leaves a complete table of the runs done so far). Running
the same spec again skips the runs whose ``ok`` rows are already there, and retries failed ones
(``retry_failed=False`` keeps them). ``OUT/sweep.json`` records the spec and the last sweep's counts.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import socket
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..io import ensure_output_dir, write_json, write_text
from . import sweep_adapters as adapters

TABLE = "results.csv"
SWEEP_JSON = "sweep.json"
LEADING = ("run_id", "experiment", "seed")
TRAILING = ("error", "wall_s", "started_utc", "host", "pid", "versions")
STATUS = "status"
RESERVED = set(LEADING) | set(TRAILING) | {STATUS, "setting"}
SPEC_KEYS = {"experiment", "repeats", "seeds", "first_seed", "description", "grid", "fixed"}
SCHEDULER_CONNECT_TIMEOUT_S = 5.0


# --- specs ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepSpec:
    experiment: str
    grid: dict            # name -> tuple of values (coerced), in spec order
    fixed: dict           # name -> value (coerced)
    seeds: tuple
    description: str = ""
    source: str = "<spec>"

    @property
    def n_settings(self) -> int:
        n = 1
        for values in self.grid.values():
            n *= len(values)
        return n

    @property
    def n_runs(self) -> int:
        return self.n_settings * len(self.seeds)

    @property
    def param_names(self) -> list[str]:
        return list(self.grid) + [name for name in self.fixed if name not in self.grid]

    def to_dict(self) -> dict:
        return {"experiment": self.experiment, "description": self.description, "seeds": list(self.seeds),
                "grid": {k: list(v) for k, v in self.grid.items()}, "fixed": dict(self.fixed),
                "source": self.source}


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment: str
    params: dict          # the spec's values for this run (grid + fixed)
    seed: int
    setting: str          # "name=value, ..." of the grid values

    def task(self) -> dict:
        return {"run_id": self.run_id, "experiment": self.experiment, "params": dict(self.params),
                "seed": self.seed}


def load_spec(path) -> SweepSpec:
    """Read and validate a TOML spec; UserError (one line) for anything wrong."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"spec {path} not found") from None
    except IsADirectoryError:
        raise UserError(f"spec {path} is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read spec {path}: {exc}") from None
    return parse_spec(text, source=str(path))


def parse_spec(text: str, source: str = "<spec>") -> SweepSpec:
    """A spec from TOML text (see the module docstring)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source} is not valid TOML: {exc}") from None
    return spec_from_dict(data, source)


def spec_from_dict(data: dict, source: str = "<spec>") -> SweepSpec:
    """A spec from the same structure as a parsed TOML file (for scripts building sweeps in Python)."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a spec is a table of keys")
    unknown = sorted(set(data) - SPEC_KEYS)
    if unknown:
        raise UserError(f"{source}: unknown key {unknown[0]!r} (a spec has {', '.join(sorted(SPEC_KEYS))}; "
                        "parameters go in [grid] or [fixed])")
    name = data.get("experiment")
    if not isinstance(name, str) or not name:
        raise UserError(f"{source}: missing 'experiment = \"NAME\"' (one of {', '.join(adapters.names())})")
    experiment = adapters.get(name)
    seeds = _seeds(data, source)

    grid_table = data.get("grid")
    if grid_table is None or (isinstance(grid_table, dict) and not grid_table):
        raise UserError(f"{source}: the [grid] is empty: give at least one parameter with a list of values "
                        "(a one-value list runs a single setting)")
    if not isinstance(grid_table, dict):
        raise UserError(f"{source}: 'grid' must be a table ([grid])")
    fixed_table = data.get("fixed", {})
    if not isinstance(fixed_table, dict):
        raise UserError(f"{source}: 'fixed' must be a table ([fixed])")

    grid: dict = {}
    for key, values in grid_table.items():
        param = _param(experiment, key, source)
        if not isinstance(values, list):
            raise UserError(f"{source}: grid.{key} must be a list of values, e.g. {key} = [{values!r}]")
        if not values:
            raise UserError(f"{source}: grid.{key} is an empty list: the grid would have no runs")
        coerced = tuple(param.coerce(v, f"grid.{key}") for v in values)
        if len(set(map(_canonical, coerced))) != len(coerced):
            raise UserError(f"{source}: grid.{key} lists a value twice")
        grid[key] = coerced
    fixed: dict = {}
    for key, value in fixed_table.items():
        param = _param(experiment, key, source)
        if key in grid:
            raise UserError(f"{source}: {key} is both in [grid] and in [fixed]")
        if isinstance(value, (list, dict)):
            raise UserError(f"{source}: fixed.{key} must be a single value (lists go in [grid])")
        fixed[key] = param.coerce(value, f"fixed.{key}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"{source}: description must be a string")
    spec = SweepSpec(experiment=name, grid=grid, fixed=fixed, seeds=seeds, description=description, source=source)
    check_settings(spec)
    return spec


def _seeds(data: dict, source: str) -> tuple:
    if "seeds" in data and ("repeats" in data or "first_seed" in data):
        raise UserError(f"{source}: give either seeds = [...] or repeats (and first_seed), not both")
    if "seeds" in data:
        seeds = data["seeds"]
        if (not isinstance(seeds, list) or not seeds
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
            raise UserError(f"{source}: seeds must be a non-empty list of integers >= 0")
        if len(set(seeds)) != len(seeds):
            raise UserError(f"{source}: seeds lists a seed twice")
        return tuple(seeds)
    repeats = data.get("repeats", 1)
    first = data.get("first_seed", 0)
    for key, value, low in (("repeats", repeats, 1), ("first_seed", first, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise UserError(f"{source}: {key} must be an integer >= {low}, got {value!r}")
    return tuple(range(first, first + repeats))


def _param(experiment, key: str, source: str):
    if key == "seed":
        raise UserError(f"{source}: 'seed' is not a parameter: use repeats = N, first_seed or seeds = [...]")
    try:
        return experiment.param(key)
    except KeyError:
        close = [n for n in experiment.param_names if key.lower() in n.lower() or n.lower() in key.lower()]
        hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
        raise UserError(f"{source}: unknown parameter {key!r} for experiment {experiment.name!r}{hint}; "
                        f"'brainsim sweep --list {experiment.name}' lists them") from None


def check_settings(spec: SweepSpec) -> None:
    """Let the experiment check every setting (its parameter classes) before anything runs."""
    experiment = adapters.get(spec.experiment)
    if experiment.check is None:
        return
    for params in settings(spec):
        try:
            experiment.check(experiment.resolve(params))
        except UserError as exc:
            label = _setting_label(spec, params)
            raise UserError(f"{spec.source}: {label + ': ' if label else ''}{exc}") from None


def settings(spec: SweepSpec) -> list[dict]:
    """Every setting: the cartesian product of the grid, with the fixed values."""
    names = list(spec.grid)
    out = []
    for combo in itertools.product(*(spec.grid[n] for n in names)):
        params = dict(zip(names, combo))
        params.update(spec.fixed)
        out.append(params)
    return out


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


def run_id(experiment: str, params: dict, seed: int) -> str:
    """Stable id of one run: the same experiment, spec values and seed give the same id."""
    key = json.dumps({"experiment": experiment, "params": params, "seed": int(seed)}, sort_keys=True)
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def _setting_label(spec: SweepSpec, params: dict) -> str:
    return ", ".join(f"{n}={_fmt(params[n])}" for n in spec.grid)


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand(spec: SweepSpec) -> list[Run]:
    """All runs: settings (grid order) x seeds."""
    runs = []
    for params in settings(spec):
        for seed in spec.seeds:
            runs.append(Run(run_id(spec.experiment, params, seed), spec.experiment, params, seed,
                            _setting_label(spec, params)))
    return runs


# --- one run, in a worker process ---------------------------------------------------------------------

_RUN_LOCK = threading.Lock()   # Brian2 keeps global state: one run at a time per process
_VERSIONS: str | None = None


def versions() -> str:
    """Versions of the packages a run depends on (read from metadata, nothing imported)."""
    global _VERSIONS
    if _VERSIONS is None:
        import platform
        from importlib import metadata

        parts = [f"python {platform.python_version()}"]
        for pkg in ("brainsim", "brian2", "numpy", "torch"):
            try:
                parts.append(f"{pkg} {metadata.version(pkg)}")
            except metadata.PackageNotFoundError:
                pass
        _VERSIONS = "; ".join(parts)
    return _VERSIONS


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}"[:500] if text else name


def execute_run(task: dict) -> dict:
    """Run one task (``Run.task()``) and return its table row. Never raises for a failing experiment:
    the row then has status ``failed`` and the error. Called in worker processes (local or Dask)."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    host, pid = socket.gethostname(), os.getpid()
    row = {"run_id": task["run_id"], "experiment": task["experiment"], "seed": task["seed"], **task["params"],
           "started_utc": started, "host": host, "pid": pid, "versions": versions()}
    with _RUN_LOCK:
        base = Path(os.environ.get("BRAINSIM_BUILD_ROOT") or tempfile.gettempdir())
        worker_root = base / f"sweep-{host}-{pid}"
        previous = os.environ.get("BRAINSIM_BUILD_ROOT")
        t0 = time.perf_counter()
        workdir = None
        try:
            worker_root.mkdir(parents=True, exist_ok=True)
            workdir = Path(tempfile.mkdtemp(prefix=f"run-{task['run_id']}-", dir=worker_root))
            os.environ["BRAINSIM_BUILD_ROOT"] = str(worker_root)
            experiment = adapters.get(task["experiment"])
            metrics = experiment.run(experiment.resolve(task["params"]), int(task["seed"]), workdir)
            clash = sorted(set(metrics) & (RESERVED | set(task["params"])))
            if clash:
                raise RuntimeError(f"experiment returned metrics named like table columns: {clash}")
            row.update({STATUS: "ok", **{k: _plain(v) for k, v in metrics.items()}, "error": ""})
        except Exception as exc:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
            row.update({STATUS: "failed", "error": _one_line(exc)})
        finally:
            if previous is None:
                os.environ.pop("BRAINSIM_BUILD_ROOT", None)
            else:
                os.environ["BRAINSIM_BUILD_ROOT"] = previous
            if workdir is not None:
                import shutil

                shutil.rmtree(workdir, ignore_errors=True)
        row["wall_s"] = round(time.perf_counter() - t0, 4)
    return row


def _plain(value):
    """Metric values as plain Python scalars (numpy scalars, NaN -> None)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and value != value:
        return None
    if value is not None and not isinstance(value, (bool, int, float, str)):
        return str(value)
    return value


def _init_local_worker() -> None:
    """Local worker processes: one thread each for BLAS / OpenMP / torch (the pool gives the parallelism)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("MPLBACKEND", "Agg")


# --- the table ------------------------------------------------------------------------------------------

def read_table(out_dir) -> tuple[list[str], list[dict]]:
    """(columns, rows as dicts of strings) of ``out_dir/results.csv``; ([], []) if there is none."""
    path = Path(out_dir) / TABLE
    if not path.is_file():
        return [], []
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if columns and (columns[:len(LEADING)] != list(LEADING) or STATUS not in columns):
        raise UserError(f"{path} is not a brainsim sweep table (columns {', '.join(columns[:4])}, ...)")
    return columns, rows


def split_columns(columns: list[str]) -> tuple[list[str], list[str]]:
    """(parameter columns, metric columns) of a table laid out as described in the module docstring."""
    if STATUS not in columns:
        return [], []
    i = columns.index(STATUS)
    params = columns[len(LEADING):i]
    metrics = [c for c in columns[i + 1:] if c not in TRAILING]
    return params, metrics


class _Table:
    """The results table in memory; rewritten atomically (throttled for very large tables)."""

    def __init__(self, out_dir: Path, param_names: list[str]):
        self.path = out_dir / TABLE
        columns, rows = read_table(out_dir)
        old_params, old_metrics = split_columns(columns)
        self.params = list(dict.fromkeys(old_params + param_names))
        self.metrics = list(old_metrics)
        self.rows: dict[str, dict] = {r["run_id"]: r for r in rows}
        self._last_write = 0.0

    def status(self, rid: str) -> str | None:
        row = self.rows.get(rid)
        return row.get(STATUS) if row else None

    def add(self, row: dict) -> None:
        for key in row:
            if key not in RESERVED and key not in self.params and key not in self.metrics:
                self.metrics.append(key)
        self.rows[row["run_id"]] = row

    @property
    def columns(self) -> list[str]:
        return [*LEADING, *self.params, STATUS, *self.metrics, *TRAILING]

    def write(self, force: bool = True) -> None:
        now = time.monotonic()
        if not force and len(self.rows) > 2000 and now - self._last_write < 2.0:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.rows.values():
            writer.writerow({k: ("" if row.get(k) is None else row.get(k, "")) for k in self.columns})
        write_text(self.path, buf.getvalue())
        self._last_write = now


# --- executors ------------------------------------------------------------------------------------------

def parse_scheduler_address(address: str) -> tuple[str, str, int | None]:
    """(protocol, host, port) of a Dask scheduler address such as tcp://10.0.0.5:8786."""
    text = address.strip()
    protocol, sep, rest = text.partition("://")
    if not sep:
        protocol, rest = "tcp", text
    if protocol == "inproc":
        return protocol, rest, None
    if protocol not in ("tcp", "tls", "ws", "wss", "ucx"):
        raise UserError(f"unsupported scheduler address {address!r} (expected tcp://HOST:PORT)")
    host, colon, port = rest.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"bad scheduler address {address!r} (expected tcp://HOST:PORT)")
    return protocol, host, int(port)


def check_scheduler_reachable(address: str, timeout_s: float = SCHEDULER_CONNECT_TIMEOUT_S) -> None:
    """UserError unless a TCP connection to the scheduler's host and port opens within ``timeout_s``."""
    protocol, host, port = parse_scheduler_address(address)
    if port is None:
        return
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise UserError(f"cannot reach the Dask scheduler at {address}: {reason}") from None


def connect_scheduler(address: str, timeout_s: float = SCHEDULER_CONNECT_TIMEOUT_S):
    """A dask.distributed Client of the scheduler at ``address``; UserError if it cannot be reached."""
    check_scheduler_reachable(address, timeout_s)
    try:
        from distributed import Client
    except ImportError:
        raise UserError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
    if "://" not in address:
        address = f"tcp://{address}"
    try:
        return Client(address, timeout=f"{max(timeout_s, 1.0)}s", set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the user's address
        raise UserError(f"cannot connect to the Dask scheduler at {address}: {_one_line(exc)}") from None


def _import_brian2_plugin():
    """A Dask worker plugin that imports Brian2 when a worker starts, in its event loop's thread.

    Brian2 >= 2.9 installs a SIGINT handler when it is first imported, which Python allows only in the
    main thread; Dask runs tasks in worker threads, so a first import inside a run fails there
    ("signal only works in main thread"). A worker's event loop runs in the main thread of its process.
    """
    import threading

    from distributed import WorkerPlugin

    class ImportBrian2(WorkerPlugin):
        def setup(self, worker=None):
            if threading.current_thread() is threading.main_thread():
                import brian2  # noqa: F401

    return ImportBrian2()


class _Executor:
    """A concurrent.futures executor on local processes, or on a Dask cluster."""

    def __init__(self, workers: int, scheduler: str | None, n_tasks: int):
        self.client = None
        self.description = ""
        if scheduler:
            self.client = connect_scheduler(scheduler)
            n_workers = len(self.client.scheduler_info().get("workers", {}))
            self.description = f"Dask cluster {scheduler} ({n_workers} workers)"
            if n_workers == 0:
                print(f"note: the scheduler at {scheduler} has no workers yet; runs wait for them",
                      file=sys.stderr)
            self.client.register_plugin(_import_brian2_plugin(), name="brainsim-import-brian2")
            self.pool = self.client.get_executor(pure=False)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            n = max(1, min(workers, n_tasks))
            self.description = f"{n} local worker process{'es' if n > 1 else ''}"
            self.pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init_local_worker)

    def submit(self, task: dict):
        return self.pool.submit(execute_run, task)

    def close(self, cancel: bool = False) -> None:
        """Shut down; with ``cancel`` (interrupted sweep) drop queued runs and stop running ones now."""
        try:
            if self.client is not None:
                self.pool.shutdown(wait=not cancel)
            else:
                processes = list(getattr(self.pool, "_processes", {}).values()) if cancel else []
                self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
                for process in processes:  # local workers would otherwise finish their current run first
                    if process.is_alive():
                        process.terminate()
        finally:
            if self.client is not None:
                self.client.close()


# --- progress -------------------------------------------------------------------------------------------

class _Progress:
    """progressbar2 bar on a terminal, one line per finished run otherwise; nothing when quiet."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.failed = total, 0, 0
        self.enabled = enabled and total > 0
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            import progressbar

            self.bar = progressbar.ProgressBar(
                max_value=total, fd=sys.stderr,
                widgets=["sweep ", progressbar.Counter(), f"/{total} runs ", progressbar.Bar(), " ",
                         progressbar.ETA()])
            self.bar.start()

    def update(self, row: dict, label: str, metric: str | None) -> None:
        self.done += 1
        self.failed += row.get(STATUS) != "ok"
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(self.done)
            return
        if row.get(STATUS) == "ok":
            value = row.get(metric) if metric else None
            what = f"{metric} {value:.4g}" if isinstance(value, (int, float)) else "ok"
        else:
            what = f"FAILED {row.get('error', '')[:160]}"
        print(f"[{self.done}/{self.total}] {label} seed {row['seed']}: {what} ({row['wall_s']:.1f} s)",
              file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.finish()


# --- the sweep ------------------------------------------------------------------------------------------

@dataclass
class SweepResult:
    table: str
    runs: int
    skipped: int
    ok: int
    failed: int
    wall_s: float
    executor: str
    failures: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def prepare_out_dir(spec: SweepSpec, out_dir) -> Path:
    """Create OUT (UserError if impossible) and check it does not hold another experiment's sweep."""
    out_dir = ensure_output_dir(out_dir, "--out")
    _, rows = read_table(out_dir)
    others = sorted({r["experiment"] for r in rows} - {spec.experiment})
    if others:
        raise UserError(f"{out_dir} holds results of experiment {others[0]!r}; use another --out for "
                        f"{spec.experiment!r}")
    return out_dir


def run_sweep(spec: SweepSpec, out_dir, *, workers: int | None = None, scheduler: str | None = None,
              retry_failed: bool = True, progress: bool = True, max_runs: int | None = None) -> SweepResult:
    """Run every run of ``spec`` not already finished in ``out_dir``; returns the counts.

    ``max_runs`` stops after that many new runs (the rest is left for a later call: resumable).
    """
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise UserError("--workers must be at least 1")
    if scheduler:
        check_scheduler_reachable(scheduler)  # before anything is written
    out_dir = prepare_out_dir(spec, out_dir)
    runs = expand(spec)
    if len({r.run_id for r in runs}) != len(runs):
        raise UserError(f"{spec.source}: two settings give the same run (a value repeated in [grid]?)")
    table = _Table(out_dir, spec.param_names)
    done_states = {"ok"} if retry_failed else {"ok", "failed"}
    todo = [r for r in runs if table.status(r.run_id) not in done_states]
    skipped = len(runs) - len(todo)
    if max_runs is not None:
        todo = todo[:max_runs]
    _write_sweep_json(out_dir, spec, {"state": "running", "runs": len(runs), "skipped": skipped})
    t0 = time.perf_counter()
    result = SweepResult(table=str(table.path), runs=len(runs), skipped=skipped, ok=0, failed=0, wall_s=0.0,
                         executor="")
    if not todo:
        table.write()
        result.executor = "none (nothing to run)"
        _write_sweep_json(out_dir, spec, {"state": "done", **result.to_dict()})
        return result

    experiment = adapters.get(spec.experiment)
    metric = experiment.metrics[0] if experiment.metrics else None
    executor = _Executor(workers, scheduler, len(todo))
    result.executor = executor.description
    if progress:
        print(f"sweep {spec.experiment}: {len(todo)} runs to do ({skipped} already done) on "
              f"{executor.description}; results in {table.path}", file=sys.stderr, flush=True)
    bar = _Progress(len(todo), progress)
    cancelled = True
    try:
        from concurrent.futures import as_completed

        futures = {executor.submit(run.task()): run for run in todo}
        for future in as_completed(futures):
            run = futures[future]
            try:
                row = future.result()
            except Exception as exc:  # noqa: BLE001 - the worker itself died (killed, out of memory)
                row = {**run.task()["params"], "run_id": run.run_id, "experiment": run.experiment,
                       "seed": run.seed, STATUS: "failed", "error": f"worker failed: {_one_line(exc)}",
                       "wall_s": None}
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
            bar.update(row, run.setting, metric)
        cancelled = False
    finally:
        table.write()
        bar.finish()
        executor.close(cancel=cancelled)
        result.wall_s = round(time.perf_counter() - t0, 3)
        _write_sweep_json(out_dir, spec, {"state": "interrupted" if cancelled else "done", **result.to_dict()})
    return result


def _write_sweep_json(out_dir: Path, spec: SweepSpec, last: dict) -> None:
    write_json(out_dir / SWEEP_JSON, {"spec": spec.to_dict(), "last_sweep": last, "table": TABLE,
                                      "format": "brainsim.sweep", "format_version": 1})
