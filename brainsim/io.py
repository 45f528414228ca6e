"""File input and output.

Output is atomic: write to a temporary file beside the target, then rename, so a killed process
never leaves a half-written output file behind. Input of numpy files (``.npy``, ``.npz``) goes through
:func:`load_npy` / :func:`load_npz`, which turn any damage (truncation, flipped bits, a header that
claims more data than the file holds, pickled objects) into one :class:`~brainsim.errors.UserError`.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success.

    If writing fails (the block or the rename raises), the temporary file is removed and ``path``
    keeps its previous content; an ``OSError`` (a full disk, a lost permission) becomes one
    UserError line: ``cannot write PATH: No space left on device``.
    """
    from .errors import UserError

    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{suffix}.part" if not suffix else suffix,
                                    dir=path.parent if str(path.parent) else ".")
        os.close(fd)
        tmp = Path(name)
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {path}: {exc.strerror or _one_line(exc)}") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(obj, indent=indent, default=_json_default)


def write_json(path, obj: Any) -> None:
    write_text(path, to_json(obj) + "\n")


def save_npy(path, array) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(array))


def save_npz(path, **arrays) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def figure_formats() -> list[str]:
    """The file formats matplotlib can write here (``png``, ``pdf``, ``svg``, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def check_figure_path(path) -> Path:
    """Fail early (before long work) if ``path`` cannot take a figure: its format or its directory."""
    from .errors import UserError

    path = check_writable(path)
    fmt = path.suffix.lstrip(".").lower()
    formats = figure_formats()
    if fmt not in formats:
        what = f"format '.{fmt}'" if fmt else "a name without an extension"
        raise UserError(f"figure {path}: {what} is not one matplotlib writes (use one of "
                        f"{', '.join('.' + f for f in formats)})")
    return path


def save_figure(fig, path, **kwargs) -> None:
    """Save a matplotlib figure atomically (format from the target's extension); UserError if it fails."""
    from .errors import UserError

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", **kwargs)
    except ValueError as exc:  # an OSError is already one line (atomic_path)
        raise UserError(f"cannot write figure {path}: {_one_line(exc)}") from None


def ensure_output_dir(path, label: str = "output directory") -> Path:
    """Create ``path`` (with parents) or raise UserError naming why it cannot be an output directory."""
    from .errors import UserError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{label} {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {label} {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"{label} {path} is not writable")
    return path


def check_writable(path) -> Path:
    """Fail early (before long work) if ``path`` cannot be created; raises UserError."""
    from .errors import UserError

    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"output path {path} is a directory")
    if not parent.is_dir():
        raise UserError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write {path}: directory {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"cannot write {path}: file is not writable")
    return path


# -- reading numpy files ---------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_array_header(fh, available: int, source: str) -> None:
    """Read a .npy header from ``fh``; refuse object arrays and headers that claim more than
    ``available`` bytes (so that a damaged header cannot make numpy allocate gigabytes)."""
    from numpy.lib import format as npy_format

    from .errors import UserError

    start = fh.tell()
    version = npy_format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = npy_format.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    if dtype.hasobject:
        raise UserError(f"{source}: holds Python objects (pickles are not read)")
    count = 1
    for n in shape:
        count *= int(n)
    if count * dtype.itemsize > available - (fh.tell() - start):
        raise UserError(f"{source}: truncated (its header claims shape {tuple(shape)} of {dtype}, "
                        f"more than the {available} bytes it holds)")


def load_npy(path) -> np.ndarray:
    """The array of an .npy file; a missing, damaged or pickled file is a one-line UserError."""
    from .errors import UserError

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            _check_array_header(fh, path.stat().st_size, str(path))
        return np.load(path, allow_pickle=False)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy's reader raises many types on damaged files
        raise UserError(f"cannot read {path} as a .npy array ({_one_line(exc)})") from None


def load_npz(path) -> dict[str, np.ndarray]:
    """All arrays of an .npz archive; a missing, damaged or pickled file is a one-line UserError."""
    from .errors import UserError

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    with archive.open(info) as member:
                        _check_array_header(member, info.file_size, f"{path}: {info.filename}")
        with np.load(path, allow_pickle=False) as data:
            return {name: np.asarray(data[name]) for name in data.files}
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip, zlib and numpy raise many types on damaged files
        raise UserError(f"cannot read {path} as an .npz archive ({_one_line(exc)})") from None
