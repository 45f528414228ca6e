"""Progress of long jobs: one helper, on stderr, for every command.

:class:`Progress` draws a progressbar2 bar when stderr is a terminal; otherwise (logs, pipes, CI) it
draws nothing and prints only the lines its caller logs (one per epoch, per run, per chunk), so
logs stay readable. :func:`compiling` says that Brian2 is compiling a standalone project and how long
that took (:class:`brainsim.devices.BrianSession` uses it). Disabled (``enabled=False``), both are
silent.
"""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator


def _terminal() -> bool:
    return sys.stderr.isatty()


class Progress:
    """A bar over ``total`` steps (``unit``: what a step is, e.g. "samples"), starting at ``initial``.

    ``update(value)`` moves the bar to ``value`` (``advance(n)`` by ``n`` steps); ``log(text)`` prints
    one line where no bar is drawn; ``finish()`` ends the bar. Also a context manager.
    """

    def __init__(self, total: int, label: str, unit: str = "", *, enabled: bool = True, initial: int = 0,
                 rate: bool = False):
        self.total, self.label, self.enabled = int(total), label, enabled
        self.value = int(initial)
        self.bar = None
        if enabled and self.total > 0 and _terminal():
            import progressbar

            counter = f"%(value)d/%(max_value)d{' ' + unit if unit else ''}"
            widgets = [f"{label} ", progressbar.Counter(format=counter), " ", progressbar.Bar(), " "]
            if rate and unit:
                widgets += [progressbar.FileTransferSpeed(unit=unit, prefixes=("",)), " "]
            widgets.append(progressbar.ETA())
            self.bar = progressbar.ProgressBar(max_value=self.total, widgets=widgets, initial_value=self.value,
                                               fd=sys.stderr)
            self.bar.start()

    @property
    def drawing(self) -> bool:
        """True when a bar is drawn (a terminal); :meth:`log` lines are printed otherwise."""
        return self.bar is not None

    def update(self, value: int) -> None:
        """Move the bar to ``value`` steps."""
        self.value = int(value)
        if self.bar is not None:
            self.bar.update(min(self.value, self.total))

    def advance(self, n: int = 1) -> None:
        """Move the bar by ``n`` steps."""
        self.update(self.value + n)

    def log(self, text: str) -> None:
        """One line on stderr, where no bar is drawn (and the helper is enabled)."""
        if self.enabled and self.bar is None:
            print(text, file=sys.stderr, flush=True)

    def finish(self) -> None:
        """End the bar (a no-op without one)."""
        if self.bar is not None:
            self.bar.finish()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.finish()


def note(text: str, enabled: bool = True) -> None:
    """One line of progress information on stderr."""
    if enabled:
        print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def compiling(label: str, what: str = "the standalone project", enabled: bool = True) -> Iterator[None]:
    """Say "LABEL: compiling WHAT ..." before the block and how long it took after it."""
    note(f"{label}: compiling {what} ...", enabled)
    t0 = time.perf_counter()
    yield
    note(f"{label}: compiled in {time.perf_counter() - t0:.1f} s", enabled)
