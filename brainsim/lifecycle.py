"""Brian2 run lifecycles on a :class:`~brainsim.devices.BrianSession`: compile once, rerun in chunks.

A job that pushes its work through one network in chunks (the Diehl & Cook stages present their
samples chunk by chunk; a comparison reruns its compiled program to time it) builds the network anew
for every chunk on the runtime device, but on a standalone device generates and compiles one project
(with the first chunk's values) and reruns it for every chunk with new initial values: the
``run_args`` of :meth:`~brainsim.devices.BrianSession.rerun`. Brian2's generator is seeded at build
time, so rerun circuits draw their random numbers from :mod:`brainsim.circuits.counter_rng`, keyed
through ``run_args``::

    with BrianSession(DeviceConfig("cpp_standalone"), label="mnist-train") as session:
        runner = ChunkRunner(session, duration)
        for chunk in chunks:
            outcome = runner.run(lambda: build(chunk), lambda handles: run_args(handles, chunk))
            if outcome is None:          # build_only: the project was generated, nothing ran
                break
            handles, timing = outcome    # read the monitors of handles
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from .devices import BrianSession, gpu_available
from .errors import DeviceNotRunError

H = TypeVar("H")   # a circuit's handles: anything with a ``network`` (brian2.Network)


@dataclass(frozen=True)
class ChunkTiming:
    """Wall and CPU seconds of one chunk's simulation (for standalone devices: the program's run,
    loading and writing its data included; its CPU time is that of the child process)."""

    seconds: float
    cpu_seconds: float


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class ChunkRunner(Generic[H]):
    """Runs one network per chunk for ``duration`` (a Brian2 quantity) on ``session``'s device.

    ``build_seconds``: generation and compilation of the standalone project (0 for runtime);
    ``generated_only``: the device only generated the project (``build_only``); ``handles``: the
    handles of the last chunk (the compiled network's, for standalone devices)."""

    def __init__(self, session: BrianSession, duration):
        self.session, self.duration = session, duration
        self.handles: H | None = None
        self.build_seconds = 0.0
        self.generated_only = False

    @property
    def standalone(self) -> bool:
        return self.session.config.standalone

    def prepare(self, build: Callable[[], H]) -> bool:
        """On standalone devices: build the network with ``build()`` and generate and compile the project
        (once; the session announces and times the compilation), so that a progress bar over the chunks
        can start after it. A no-op on the runtime device. False when the project was only generated."""
        if not self.standalone:
            return True
        if self.generated_only:
            return False
        if self.handles is None:
            self.handles = build()
            self.handles.network.run(self.duration, namespace={})
            t0 = time.perf_counter()
            self.session.build(run=False)
            self.build_seconds = time.perf_counter() - t0
            if self.session.config.build_only:
                self.generated_only = True
                return False
            if self.session.config.name == "cuda_standalone" and not gpu_available():
                raise DeviceNotRunError(f"no GPU found: generated the CUDA project in {self.session.project_dir} "
                                        "but did not compile or run it (use --build-only to only generate code)")
        return True

    def run(self, build: Callable[[], H], run_args: Callable[[H], dict] | None = None
            ) -> tuple[H, ChunkTiming] | None:
        """Run one chunk: ``build()`` makes the chunk's network (called for every chunk on the runtime
        device, once on standalone devices), ``run_args(handles)`` gives its initial values on
        standalone devices. None when the project was only generated."""
        if not self.standalone:
            self.handles = None   # drop the previous chunk's objects before building anew
            handles = build()
            t0, c0 = time.perf_counter(), time.process_time()
            handles.network.run(self.duration, namespace={})
            self.handles = handles
            return handles, ChunkTiming(time.perf_counter() - t0, time.process_time() - c0)
        if not self.prepare(build):
            return None
        t0, c0 = time.perf_counter(), _children_cpu()
        self.session.rerun(run_args=run_args(self.handles) if run_args is not None else None)
        return self.handles, ChunkTiming(time.perf_counter() - t0, _children_cpu() - c0)
