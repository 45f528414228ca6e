"""Where runs execute: worker processes, local or on a Dask distributed cluster.

Every run is a call of its experiment (:mod:`brainsim.sweeps.experiment`) in a worker process:
``workers`` local processes (spawned, one BLAS / OpenMP thread each), or the workers of an existing
Dask cluster (``scheduler="tcp://HOST:PORT"``; a worker plugin imports Brian2 in each worker's main
thread). Each worker process builds Brian2 standalone projects below its own directory
(``$BRAINSIM_BUILD_ROOT/sweep-HOST-PID`` or the temp dir) and runs one run at a time (Brian2 keeps
global state), so builds never collide. A failing run becomes a ``failed`` row, never an exception.
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..errors import UserError
from . import experiment as experiments
from .table import RESERVED, STATUS

SCHEDULER_CONNECT_TIMEOUT_S = 5.0

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


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and message (at most 500 characters)."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}"[:500] if text else name


RUN_DIR_PREFIX = "run-"   # a run's working directory: WORKER_ROOT/run-RUN_ID-XXXX, removed when it ends


def worker_build_root(pid: int, host: str | None = None) -> Path:
    """Where the worker process ``pid`` builds: ``$BRAINSIM_BUILD_ROOT/sweep-HOST-PID`` (or the temp dir)."""
    base = Path(os.environ.get("BRAINSIM_BUILD_ROOT") or tempfile.gettempdir())
    return base / f"sweep-{host or socket.gethostname()}-{pid}"


def runs_in_flight(pid: int) -> set[str]:
    """Ids of the runs whose working directory the worker process ``pid`` (on this host) still has: the
    run it was running when it died (a run removes its directory when it ends, even when it fails)."""
    root = worker_build_root(pid)
    if not root.is_dir():
        return set()
    return {d.name[len(RUN_DIR_PREFIX):].rsplit("-", 1)[0] for d in root.glob(f"{RUN_DIR_PREFIX}*-*") if d.is_dir()}


def execute_run(task: dict) -> dict:
    """Run one task (``Run.task()``) and return its table row. Never raises for a failing experiment:
    the row then has status ``failed`` and the error. Called in worker processes (local or Dask)."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    host, pid = socket.gethostname(), os.getpid()
    row = {"run_id": task["run_id"], "experiment": task["experiment"], "seed": task["seed"], **task["params"],
           "started_utc": started, "host": host, "pid": pid, "versions": versions()}
    with _RUN_LOCK:
        worker_root = worker_build_root(pid)
        previous = os.environ.get("BRAINSIM_BUILD_ROOT")
        t0 = time.perf_counter()
        workdir = None
        try:
            worker_root.mkdir(parents=True, exist_ok=True)
            workdir = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{task['run_id']}-", dir=worker_root))
            os.environ["BRAINSIM_BUILD_ROOT"] = str(worker_root)
            experiment = experiments.get(task["experiment"])
            metrics = experiment.run(experiment.resolve(task["params"]), int(task["seed"]), workdir)
            clash = sorted(set(metrics) & (RESERVED | set(task["params"])))
            if clash:
                raise RuntimeError(f"experiment returned metrics named like table columns: {clash}")
            row.update({STATUS: "ok", **{k: _plain(v) for k, v in metrics.items()}, "error": ""})
        except Exception as exc:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
            row.update({STATUS: "failed", "error": one_line(exc)})
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
        raise UserError(f"cannot connect to the Dask scheduler at {address}: {one_line(exc)}") from None


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


class Executor:
    """A concurrent.futures executor on local processes, or on a Dask cluster.

    A worker process that dies (killed, out of memory) loses the run it was running. On Dask the
    scheduler resubmits that run to another worker itself (up to its ``allowed-failures``, then the
    future raises ``KilledWorker``). A local pool is broken by the death of one process: every run
    queued on it fails with ``BrokenProcessPool``; :meth:`replace_broken_pool` starts a fresh pool and
    says which runs were running in the process that died.

    Runs go to Dask as plain ``client.submit`` tasks, each settling a concurrent.futures Future when
    its result is fetched or fails: distributed's own ``ClientExecutor`` leaves a future pending
    forever when fetching the result raises (a ``KilledWorker`` after the worker holding it died).
    """

    def __init__(self, workers: int, scheduler: str | None, n_tasks: int):
        self.client = None
        self.description = ""
        self._processes: dict = {}   # pid -> Process of the local pool (kept to read exit codes)
        if scheduler:
            self.client = connect_scheduler(scheduler)
            n_workers = len(self.client.scheduler_info().get("workers", {}))
            self.description = f"Dask cluster {scheduler} ({n_workers} workers)"
            if n_workers == 0:
                print(f"note: the scheduler at {scheduler} has no workers yet; runs wait for them",
                      file=sys.stderr)
            self.client.register_plugin(_import_brian2_plugin(), name="brainsim-import-brian2")
            self._on_cluster: set = set()   # the Dask futures of runs not settled yet (kept: a dropped one is cancelled)
            self._on_cluster_lock = threading.Lock()   # settled in the client's threads
        else:
            self.n_local = max(1, min(workers, n_tasks))
            self.description = f"{self.n_local} local worker process{'es' if self.n_local > 1 else ''}"
            self.pool = self._local_pool()

    def _local_pool(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.n_local, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_local_worker)

    def submit(self, task: dict):
        if self.client is not None:
            return self._submit_to_cluster(task)
        future = self.pool.submit(execute_run, task)
        if self.client is None:  # the pool starts its processes on demand
            self._processes.update(getattr(self.pool, "_processes", None) or {})
        return future

    @property
    def broken(self) -> bool:
        """A local pool that a dead worker process made unusable."""
        return self.client is None and bool(getattr(self.pool, "_broken", False))

    def _submit_to_cluster(self, task: dict):
        from concurrent.futures import Future

        outcome = Future()
        on_cluster = self.client.submit(execute_run, task, pure=False)
        with self._on_cluster_lock:
            self._on_cluster.add(on_cluster)

        def settle(finished):   # called in a thread of the client once the task is finished, erred or cancelled
            try:
                outcome.set_result(finished.result())
            except BaseException as exc:  # noqa: BLE001 - KilledWorker, CancelledError, a lost connection
                outcome.set_exception(exc)
            finally:
                with self._on_cluster_lock:
                    self._on_cluster.discard(finished)

        on_cluster.add_done_callback(settle)
        return outcome

    def replace_broken_pool(self) -> set[str]:
        """A fresh local pool in place of a broken one; returns the ids of the runs that were running in
        the processes that died by themselves (the pool then stops the others with SIGTERM), or, where
        no such process is known, those running in any of its processes."""
        import shutil
        import signal

        self.pool.shutdown(wait=True, cancel_futures=True)
        processes, self._processes = self._processes, {}
        for process in processes.values():
            process.join(timeout=10)
        died = [pid for pid, p in processes.items() if p.exitcode not in (None, 0, -signal.SIGTERM)]
        culprits = set().union(*(runs_in_flight(pid) for pid in died))
        if not culprits:
            culprits = set().union(*(runs_in_flight(pid) for pid in processes))
        for pid in processes:  # their build directories belong to no live process any more
            shutil.rmtree(worker_build_root(pid), ignore_errors=True)
        self.pool = self._local_pool()
        return culprits

    def close(self, cancel: bool = False) -> None:
        """Shut down; with ``cancel`` (interrupted sweep) drop queued runs and stop running ones now."""
        try:
            if self.client is not None:
                with self._on_cluster_lock:
                    unsettled = list(self._on_cluster)
                if cancel and unsettled:
                    self.client.cancel(unsettled)
            else:
                processes = list(getattr(self.pool, "_processes", {}).values()) if cancel else []
                self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
                for process in processes:  # local workers would otherwise finish their current run first
                    if process.is_alive():
                        process.terminate()
        finally:
            if self.client is not None:
                self.client.close()
