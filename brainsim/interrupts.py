"""Interruptions (Ctrl-C, SIGTERM) that end a run cleanly, compilation included.

Python turns SIGINT into :class:`KeyboardInterrupt`; :func:`terminate_like_ctrl_c` makes SIGTERM raise
:class:`Terminated` (a ``KeyboardInterrupt``), so that ``finally`` blocks and context managers (atomic
writes, lock files, temporary build directories) run for both, and the command line reports either
in one line with exit code 130 or 143.

Brian2 compiles a standalone project with ``os.system("make ...")``. While ``system()`` waits, the
calling process ignores SIGINT, and Python runs its own signal handlers only after ``system()``
returns, so two things need help:

- Ctrl-C in a terminal reaches make as well, make dies of SIGINT and Brian2 raises ``RuntimeError``
  ("Project compilation failed (error code: 2)"), where the code is ``system()``'s wait status:
  :func:`build_interruption` recognises such a status as the interruption it is;
- SIGTERM reaches only our process, and make would go on compiling for a minute:
  :func:`children_follow_termination` forwards it to the process's descendants (the shell, make and
  the compilers) at once.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
from pathlib import Path
from typing import Iterator

#: exit codes of a command ended by SIGINT / SIGTERM (the shell's 128 + signal number)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (``signum``); handled wherever KeyboardInterrupt is."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def exit_code(exc: KeyboardInterrupt) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM."""
    return EXIT_CODES[getattr(exc, "signum", signal.SIGINT)]


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def terminate_like_ctrl_c() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread (where SIGTERM is not ignored)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _raise_terminated)


_BRIAN_BUILD_STATUS = re.compile(r"error code: (\d+)")


def build_interruption(exc: BaseException) -> int | None:
    """The signal (SIGINT or SIGTERM) that ended a Brian2 compilation which failed with ``exc``, or None.

    ``system()`` returns the wait status of ``sh -c "make ..."``: the signal number itself when the
    shell died of it, ``(128 + signal) << 8`` when the shell reported its child's death by it."""
    match = _BRIAN_BUILD_STATUS.search(str(exc))
    if match is None:
        return None
    status = int(match.group(1))
    for signum in (signal.SIGINT, signal.SIGTERM):
        if status & 0x7F == signum or status >> 8 == 128 + signum:
            return signum
    return None


def _descendants(pid: int) -> list[int]:
    """The pids of ``pid``'s descendants (Linux /proc; empty elsewhere), children first."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) > 1:
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


@contextlib.contextmanager
def children_follow_termination() -> Iterator[None]:
    """Within the block, a SIGTERM to this process is also sent to all its descendants at once.

    Python's signal handlers run only between bytecodes, not while ``system()`` waits for make; the
    wakeup fd of :func:`signal.set_wakeup_fd` is written at once, so a thread can act on it. Outside
    the main thread, or where a wakeup fd is already in use, the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:
        reader.close(), writer.close()
        yield
        return
    if previous != -1:   # someone else's wakeup fd (an event loop): leave it in place
        signal.set_wakeup_fd(previous)
        reader.close(), writer.close()
        yield
        return
    stop = threading.Event()

    def forward():
        while not stop.is_set():
            try:
                received = reader.recv(64)
            except OSError:
                return
            if not received:
                return
            if signal.SIGTERM in received:
                for child in _descendants(os.getpid()):
                    with contextlib.suppress(OSError):
                        os.kill(child, signal.SIGTERM)

    thread = threading.Thread(target=forward, name="brainsim-sigterm-forward", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        signal.set_wakeup_fd(-1)
        writer.close()   # ends the thread's recv
        thread.join(timeout=1)
        reader.close()
