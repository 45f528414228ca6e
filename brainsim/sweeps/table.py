"""The results table of a sweep: ``OUT/results.csv`` (one row per run) and ``OUT/sweep.json``.

Columns, in this order::

    run_id, experiment, seed, <parameters given in the spec>, status, <metrics>,
    error, wall_s, started_utc, host, pid, versions

``status`` is ``ok`` or ``failed`` (with ``error``: the exception, one line). The table is rewritten
atomically as runs finish, so a killed sweep leaves a complete table of the runs done so far; it is
also the sweep's checkpoint (runs with an ``ok`` row are not run again). This module only reads and
writes files (the standard library and :mod:`brainsim.io`): figures read tables through it.
"""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from ..errors import UserError
from ..io import write_json, write_text

TABLE = "results.csv"
SWEEP_JSON = "sweep.json"
LEADING = ("run_id", "experiment", "seed")
TRAILING = ("error", "wall_s", "started_utc", "host", "pid", "versions")
STATUS = "status"
RESERVED = set(LEADING) | set(TRAILING) | {STATUS, "setting"}


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


class ResultsTable:
    """The results table in memory; rewritten atomically (throttled for very large tables)."""

    def __init__(self, out_dir: Path, param_names: list[str]):
        self.path = Path(out_dir) / TABLE
        columns, rows = read_table(out_dir)
        old_params, old_metrics = split_columns(columns)
        self.params = list(dict.fromkeys(old_params + list(param_names)))
        self.metrics = list(old_metrics)
        self.rows: dict[str, dict] = {r["run_id"]: r for r in rows}
        self._last_write = 0.0

    def status(self, rid: str) -> str | None:
        """``ok``, ``failed`` or None (no row) of run ``rid``."""
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


def write_sweep_json(out_dir: Path, spec: dict, last: dict) -> None:
    """``OUT/sweep.json``: the spec (``SweepSpec.to_dict()``) and the last sweep's state and counts."""
    write_json(Path(out_dir) / SWEEP_JSON, {"spec": spec, "last_sweep": last, "table": TABLE,
                                            "format": "brainsim.sweep", "format_version": 1})


def read_sweep_json(out_dir) -> dict:
    """The contents of ``OUT/sweep.json`` ({} when it is missing or unreadable)."""
    import json

    try:
        return json.loads((Path(out_dir) / SWEEP_JSON).read_text())
    except (OSError, ValueError):
        return {}
