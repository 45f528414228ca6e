"""Output directories that a run claims: finished results are not overwritten, two runs never share one.

:func:`claim_output_dir` is what every command that writes a directory of results calls before its
work starts (``ipd train --out``, the ``mnist`` stages' ``--data-dir``, ``sweep --out``, ``delays
--task ipd --out``):

- a directory holding a finished result (one of the files the command names, e.g. ``manifest.json``
  of a trained model) is refused unless ``force`` (``--force``);
- a finished model under the ``models/`` directory that ships with brainsim is refused even then,
  unless ``overwrite_shipped`` (``--overwrite-shipped``): a shipped model changes only when it is
  re-made by its manifest's command;
- while the claim is held, a lock file (``.brainsim.lock``, holding the pid, host and command) keeps a
  second process out with a one-line error. The lock is an ``flock`` on that file, which the kernel
  releases when the process dies, kill -9 included: a lock file left by a dead process is taken over
  (silently: the one-line errors of the run that takes it over stay one line).
  Locks are re-entrant within a process (a sweep's driver and the runs it starts in-process).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import UserError
from .io import ensure_output_dir

LOCK_NAME = ".brainsim.lock"
#: the models that ship with brainsim (a source checkout's ``models/``)
SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "models"


@dataclass(frozen=True)
class Overwrite:
    """What the user allows to be replaced: ``force`` a finished result, ``shipped`` a shipped model."""

    force: bool = False
    shipped: bool = False


def is_shipped(path) -> bool:
    """True for a directory inside the ``models/`` directory of brainsim's source checkout."""
    resolved = Path(path).resolve()
    return SHIPPED_MODELS.is_dir() and SHIPPED_MODELS in resolved.parents


def check_overwrite(path, finished: Iterable[str], allow: Overwrite = Overwrite(), label: str = "--out",
                    what: str = "a finished result") -> list[str]:
    """Refuse (UserError) to write into ``path`` if it holds any of the ``finished`` files and ``allow``
    does not permit it; returns the finished files found (to be replaced)."""
    path = Path(path)
    found = [name for name in finished if (path / name).exists()]
    if not found:
        return []
    if is_shipped(path) and not allow.shipped:
        raise UserError(f"{label} {path} is {what} that ships with brainsim ({found[0]}); it is not replaced, "
                        "even with --force: give --overwrite-shipped to re-make it (by its manifest's command), "
                        "or choose another directory")
    if not (allow.force or allow.shipped):
        raise UserError(f"{label} {path} holds {what} ({found[0]}); give --force to replace it, "
                        "or choose another directory")
    return found


# -- locks -------------------------------------------------------------------------------------------
_held: dict[Path, tuple[int, int]] = {}   # resolved directory -> (lock fd, claims)


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text())
        return f"pid {info['pid']} on {info['host']} since {info['started']} ({info['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _acquire(directory: Path, label: str) -> int:
    lock_path = directory / LOCK_NAME
    for _ in range(10):
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"cannot create the lock file {lock_path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UserError(f"{label} {directory} is in use by {_holder(lock_path)}; wait for it to finish, "
                            "or choose another directory") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if not same:   # the holder removed the file as we opened it: lock the new one
            os.close(fd)
            continue
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(["brainsim", *sys.argv[1:]]) if sys.argv else "python"}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        return fd
    raise UserError(f"{label} {directory}: could not take its lock file {lock_path}")


@contextlib.contextmanager
def locked(directory, label: str = "--out") -> Iterator[Path]:
    """Hold ``directory``'s lock file within the block (re-entrant in one process)."""
    directory = Path(directory)
    key = directory.resolve()
    if key in _held:
        fd, claims = _held[key]
        _held[key] = (fd, claims + 1)
    else:
        _held[key] = (_acquire(directory, label), 1)
    try:
        yield directory
    finally:
        fd, claims = _held[key]
        if claims > 1:
            _held[key] = (fd, claims - 1)
        else:
            del _held[key]
            with contextlib.suppress(OSError):
                (directory / LOCK_NAME).unlink()
            os.close(fd)


@contextlib.contextmanager
def claim_output_dir(path, finished: Iterable[str] = (), allow: Overwrite = Overwrite(), label: str = "--out",
                     what: str = "a finished result") -> Iterator[Path]:
    """Create ``path`` if needed, refuse it if it holds a ``finished`` result that ``allow`` does not let
    be replaced, and hold its lock within the block. Yields the directory."""
    directory = ensure_output_dir(path, label)
    with locked(directory, label):
        check_overwrite(directory, finished, allow, label, what)
        yield directory
