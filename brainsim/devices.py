"""How Brian2 runs: one place that selects the device, its build directory and its preferences.

Devices
-------
``runtime``          Brian2 in this Python process; code generation target ``numpy`` (no compiler,
                     best for small, short simulations) or ``cython`` (compiled once, cached in
                     ~/.cython, faster for long runs).
``cpp_standalone``   a C++ project generated, compiled and run as its own program (OpenMP threads).
``cuda_standalone``  a CUDA project through brian2cuda. Without a GPU the project is generated (and
                     only generated): ``build_only=True`` makes that the goal, otherwise
                     :class:`~brainsim.errors.DeviceNotRunError` says clearly that nothing ran.

Circuit builders never touch the device: create a :class:`BrianSession`, build the network inside
it, and let the session run it::

    with BrianSession(DeviceConfig("cpp_standalone", threads=2)) as session:
        handles = build_circuit(params, ...)
        ran = session.run(handles.network, duration)

Every standalone session gets its own build directory (unique per process and run), so several
processes can build at once; temporary directories are removed afterwards unless ``keep_build``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from .errors import DeviceNotRunError, UserError
from .params import check_fields, param

DEVICES = ("runtime", "cpp_standalone", "cuda_standalone")
RUNTIME_TARGETS = ("numpy", "cython")
STANDALONE = ("cpp_standalone", "cuda_standalone")
# the devices each device option means something for (it is refused on the others, never ignored)
APPLIES_TO = {"target": ("runtime",), "threads": ("cpp_standalone",), "build_dir": STANDALONE, "build_only": STANDALONE}


@dataclass(frozen=True)
class DeviceConfig:
    """Where and how a Brian2 network is simulated. Raises UserError on invalid values."""

    name: str = param("runtime", "runtime (in this process), cpp_standalone (compiled C++) or cuda_standalone "
                      "(brian2cuda; without a GPU only code generation)", choices=DEVICES, cli="--device",
                      sweep="device")
    target: str = param("numpy", "code generation target of the runtime device", choices=RUNTIME_TARGETS)
    threads: int = param(1, "OpenMP threads (cpp_standalone)", ge=1)
    build_dir: str | None = param(None, "standalone project directory (none: a fresh temporary one, removed "
                                  "after the run)", metavar="DIR", sweep=False)
    build_only: bool = param(False, "standalone devices: generate (and for cpp, compile) the project but do not "
                             "run it", sweep=False)
    keep_build: bool = param(False, "keep a temporary build directory after the session", cli="", sweep=False)
    compute_capability: float = param(9.0, "CUDA compute capability generated for when no GPU can be queried "
                                      "(H100/H200)", cli="", sweep=False)

    def __post_init__(self):
        if self.name not in DEVICES:
            raise UserError(f"unknown device {self.name!r}; choose one of {', '.join(DEVICES)}")
        if self.target not in RUNTIME_TARGETS:
            raise UserError(f"unknown runtime target {self.target!r}; choose numpy or cython")
        check_fields(self)
        self.check_applies([f for f in APPLIES_TO if getattr(self, f) != DeviceConfig.__dataclass_fields__[f].default])

    def check_applies(self, options) -> None:
        """UserError naming the first of ``options`` (field names, e.g. the command-line options given)
        that does not apply to this device (``--threads`` on runtime, ``--target`` on cpp_standalone,
        ``--build-only`` or ``--build-dir`` on runtime): an option that would be ignored is refused."""
        for name in options:
            devices = APPLIES_TO.get(name)
            if devices is not None and self.name not in devices:
                option = "--" + name.replace("_", "-")
                raise UserError(f"{option} applies only to --device {' or '.join(devices)}; leave it out for {self.name}")

    @property
    def standalone(self) -> bool:
        return self.name != "runtime"

    def with_(self, **changes) -> "DeviceConfig":
        return replace(self, **changes)


def _installed(package: str):
    """The installed version of ``package`` (packaging Version), or None; nothing is imported."""
    from importlib import metadata

    from packaging.version import Version

    try:
        return Version(metadata.version(package))
    except metadata.PackageNotFoundError:
        return None


def check_brian2_stack(config: DeviceConfig) -> None:
    """Refuse, with one line, combinations of Brian2, numpy and Cython that are known not to work.

    Checked from package metadata before Brian2 is imported (a failed import of Brian2 gives a long
    traceback, and a Cython target that cannot compile falls back to numpy without saying so):

    * Brian2 <= 2.9 does not import with numpy >= 2.4 (``ndarray.ptp`` was removed);
    * the runtime Cython target of Brian2 < 2.9 needs numpy < 2 (its generated code uses NPY_OWNDATA);
    * the runtime Cython target of Brian2 < 2.8 needs Cython < 3.1 (it silently uses numpy otherwise);
    * brian2cuda pins one Brian2 release: the installed one must be it.
    """
    from packaging.version import Version

    brian2, numpy, cython = _installed("brian2"), _installed("numpy"), _installed("Cython")
    if brian2 is None:
        raise UserError("Brian2 is not installed: pip install brainsim (or pip install brian2)")
    fix = "reinstall with the tested set: pip install -c constraints.txt (Python 3.11) or -c constraints-modern.txt"
    if brian2 < Version("2.10") and numpy is not None and numpy >= Version("2.4"):
        raise UserError(f"brian2 {brian2} cannot import with numpy {numpy} (it needs numpy < 2.4; "
                        f"Brian2 >= 2.10 needs Python >= 3.12): {fix}")
    if config.name == "runtime" and config.target == "cython":
        if brian2 < Version("2.9") and numpy is not None and numpy >= Version("2"):
            raise UserError(f"the Cython target of brian2 {brian2} needs numpy < 2 (installed: {numpy}); "
                            f"use --target numpy or {fix}")
        if brian2 < Version("2.8") and cython is not None and cython >= Version("3.1"):
            raise UserError(f"the Cython target of brian2 {brian2} needs Cython < 3.1 (installed: {cython}); "
                            f"use --target numpy or {fix}")
    if config.name == "cuda_standalone":
        cuda = _installed("brian2cuda")
        if cuda is not None:
            from importlib import metadata

            pins = [r for r in metadata.requires("brian2cuda") or [] if r.replace(" ", "").lower().startswith("brian2==")]
            wanted = pins[0].split("==", 1)[1].split(";")[0].strip() if pins else None
            if wanted and Version(wanted) != brian2:
                raise UserError(f"brian2cuda {cuda} needs brian2 {wanted}, but brian2 {brian2} is installed: "
                                "pip install 'brainsim[cuda]' picks the brian2cuda that fits")


def gpu_available() -> bool:
    """True when an NVIDIA GPU answers ``nvidia-smi -L``."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def build_root() -> Path:
    """Parent of temporary build directories (``BRAINSIM_BUILD_ROOT`` or the system temp dir)."""
    root = Path(os.environ.get("BRAINSIM_BUILD_ROOT", tempfile.gettempdir())) / "brainsim-builds"
    root.mkdir(parents=True, exist_ok=True)
    return root


def fresh_build_dir(label: str = "run") -> Path:
    """A new directory unique to this process and call."""
    return Path(tempfile.mkdtemp(prefix=f"{label}-{os.getpid()}-{uuid.uuid4().hex[:6]}-", dir=build_root()))


@contextlib.contextmanager
def _interruptible_build(project_dir) -> Iterator[None]:
    """Around Brian2's generation and compilation of a standalone project: what it prints (make's
    output on a failure, warnings) is held back, then shown unless the build was interrupted. Ctrl-C
    or SIGTERM during make ends the build as :class:`KeyboardInterrupt` / :class:`Terminated` (no make
    output, no Brian2 traceback); a failed compilation is one UserError after make's output."""
    from .interrupts import Terminated, build_interruption, children_follow_termination

    sys.stdout.flush(), sys.stderr.flush()
    with tempfile.TemporaryFile() as log:
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        failure: BaseException | None = None
        try:
            with children_follow_termination():
                yield
        except KeyboardInterrupt:
            raise
        except RuntimeError as exc:
            signum = build_interruption(exc)
            if signum == signal.SIGTERM:
                raise Terminated(signum) from None
            if signum == signal.SIGINT:
                raise KeyboardInterrupt from None
            failure = exc
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
        log.seek(0)
        held_back = log.read()
    if held_back:
        sys.stderr.buffer.write(held_back)
        sys.stderr.flush()
    if failure is not None:
        raise UserError(f"Brian2 could not build the standalone project in {project_dir}: {failure} "
                        "(the compiler's output is above)")


class BrianSession:
    """Context manager that activates a device, runs networks on it and restores Brian2 afterwards.

    Attributes after :meth:`run`: ``ran`` (the simulation executed), ``project_dir`` (standalone
    project), ``timings`` (seconds spent in build / run, where known).
    """

    def __init__(self, config: DeviceConfig = DeviceConfig(), label: str = "brainsim", quiet: bool = True,
                 progress: bool = False):
        self.config = config
        self.quiet = quiet
        self.progress = progress   # say on stderr when a standalone project compiles, and how long it took
        self.label = label
        self.project_dir: Path | None = None
        self.ran = False
        self.built = False
        self.timings: dict[str, float] = {}
        self._temporary = False
        self._saved_prefs: dict[str, object] = {}

    # -- activation -------------------------------------------------------------------------------
    def __enter__(self) -> "BrianSession":
        check_brian2_stack(self.config)
        import brian2

        cfg = self.config
        if self.quiet:
            # brian2 and brian2cuda print INFO lines on the console by default; keep warnings.
            from brian2.utils.logger import BrianLogger

            BrianLogger.log_level_warn()
        self._set_pref("codegen.target", cfg.target if cfg.name == "runtime" else "numpy")
        if cfg.standalone:
            if cfg.build_dir is None:
                self.project_dir = fresh_build_dir(self.label)
                self._temporary = not cfg.keep_build
            else:
                self.project_dir = Path(cfg.build_dir).resolve()
                self.project_dir.mkdir(parents=True, exist_ok=True)
        if cfg.standalone:
            # Brian2's default 'make -j' starts one compiler per source file at once (dozens): on a
            # small machine that only adds load. One job per core compiles as fast. (brian2cuda
            # compiles through the same make step and preference.)
            if list(brian2.prefs["devices.cpp_standalone.extra_make_args_unix"]) == ["-j"]:
                self._set_pref("devices.cpp_standalone.extra_make_args_unix", [f"-j{os.cpu_count() or 1}"])
        if cfg.name == "cpp_standalone":
            self._set_pref("devices.cpp_standalone.openmp_threads", cfg.threads if cfg.threads > 1 else 0)
            brian2.set_device("cpp_standalone", directory=str(self.project_dir), build_on_run=False)
        elif cfg.name == "cuda_standalone":
            self._activate_cuda()
        return self

    def _activate_cuda(self) -> None:
        try:
            import brian2cuda  # noqa: F401  (registers the device)
        except ImportError as exc:
            raise UserError("cuda_standalone needs brian2cuda: pip install 'brainsim[cuda]'") from exc
        import brian2

        backend = "devices.cuda_standalone.cuda_backend."
        if not gpu_available():
            # Code generation without a GPU: tell brian2cuda what to generate for (docs/stack.md).
            self._set_pref(backend + "detect_gpus", False)
            self._set_pref(backend + "gpu_id", 0)
            self._set_pref(backend + "compute_capability", float(self.config.compute_capability))
            self._set_pref(backend + "detect_cuda", False)
            self._set_pref(backend + "cuda_path", os.environ.get("CUDA_PATH", "/usr/local/cuda"))
        # CUDA 13's thrust needs C++17; brian2cuda's makefile defaults to C++11.
        args = list(brian2.prefs[backend + "extra_compile_args_nvcc"])
        if "-std=c++17" not in args:
            self._set_pref(backend + "extra_compile_args_nvcc", args + ["-std=c++17"])
        brian2.set_device("cuda_standalone", directory=str(self.project_dir), build_on_run=False)

    def _set_pref(self, name: str, value) -> None:
        from brian2 import prefs

        if name not in self._saved_prefs:
            self._saved_prefs[name] = prefs[name]
        prefs[name] = value

    # -- running ----------------------------------------------------------------------------------
    def run(self, network, duration, **run_kwargs) -> bool:
        """Simulate ``network`` for ``duration``. Returns True if it ran (False: build only).

        For standalone devices this generates, compiles and runs the whole project; anything read
        from monitors afterwards comes from that run.
        """
        import time

        cfg = self.config
        t0 = time.perf_counter()
        network.run(duration, **run_kwargs)
        if cfg.name == "runtime":
            self.timings["run"] = time.perf_counter() - t0
            self.ran = True
            return True
        return self.build(run=not cfg.build_only)

    def build(self, run: bool = True, run_args=None) -> bool:
        """Generate the standalone project after the network's ``run`` calls, compile it, run it.

        Compilation is announced on stderr with its duration when the session shows progress.
        Timings (s): ``build`` (generation and compilation), ``run``."""
        import time

        from brian2 import device

        from .progress import compiling

        cfg = self.config
        t0 = time.perf_counter()
        if cfg.name == "cuda_standalone":
            can_run = gpu_available()
            what = "the CUDA project" if can_run else "the CUDA project (code generation only: no GPU)"
            with compiling(self.label, what, self.progress and can_run), _interruptible_build(self.project_dir):
                device.build(directory=str(self.project_dir), compile=can_run, run=False, with_output=False)
            self.built = True
            self.timings["build"] = time.perf_counter() - t0
            if run and not can_run:
                raise DeviceNotRunError(
                    f"no GPU found: generated the CUDA project in {self.project_dir} but did not "
                    "compile or run it (use --build-only to only generate code)")
        else:
            with compiling(self.label, enabled=self.progress), _interruptible_build(self.project_dir):
                device.build(directory=str(self.project_dir), compile=True, run=False, with_output=False)
            self.built = True
            self.timings["build"] = time.perf_counter() - t0
        if run:
            t1 = time.perf_counter()
            device.run(directory=str(self.project_dir), with_output=False, run_args=run_args)
            self.timings["run"] = time.perf_counter() - t1
        self.ran = run
        return run

    def rerun(self, run_args=None) -> None:
        """Run an already compiled standalone project again with new ``run_args`` (no recompile).

        Brian2's generator is seeded at build time, so a rerun repeats its random numbers: circuits
        that are rerun draw theirs from :mod:`brainsim.circuits.counter_rng`, keyed by a variable set
        in ``run_args``. The value files that Brian2 writes for ``run_args`` are removed afterwards, so
        that long chunked runs do not fill the build directory.
        """
        import time

        from brian2 import device

        if not self.config.standalone or not self.built:
            raise RuntimeError("rerun() needs a built standalone project")
        static = self.project_dir / "static_arrays"
        before = set(static.iterdir()) if static.is_dir() else set()
        t0 = time.perf_counter()
        try:
            device.run(directory=str(self.project_dir), with_output=False, run_args=run_args)
        finally:
            if static.is_dir():
                for path in set(static.iterdir()) - before:
                    if path.name.startswith("init_"):
                        path.unlink(missing_ok=True)
        self.timings["rerun"] = time.perf_counter() - t0
        self.ran = True

    # -- restoring --------------------------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb) -> None:
        import brian2
        from brian2.devices.device import get_device

        if self.config.standalone:
            get_device().reinit()
            brian2.set_device("runtime")
        for name, value in self._saved_prefs.items():
            brian2.prefs[name] = value
        self._saved_prefs.clear()
        keep_for_user = self.config.name == "cuda_standalone" and not self.ran
        if self._temporary and self.project_dir is not None and not keep_for_user:
            shutil.rmtree(self.project_dir, ignore_errors=True)
