"""Shared fixtures: run the CLI in a subprocess, keep Brian2 state and build dirs per test."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _brian_build_root(tmp_path, monkeypatch):
    """Standalone builds of a test go below its tmp_path (never shared between tests)."""
    monkeypatch.setenv("BRAINSIM_BUILD_ROOT", str(tmp_path / "builds"))
    yield


class CLIResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return f"CLIResult(rc={self.returncode}, stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})"


@pytest.fixture
def run_cli(tmp_path):
    """Run ``python -m brainsim ARGS`` in a subprocess (cwd: tmp_path) and return its result."""

    def run(*args, cwd=None, timeout=600, env=None) -> CLIResult:
        full_env = dict(os.environ)
        full_env["BRAINSIM_BUILD_ROOT"] = str(tmp_path / "builds")
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        if env:
            full_env.update(env)
        proc = subprocess.run([sys.executable, "-m", "brainsim", *map(str, args)], cwd=cwd or tmp_path,
                              capture_output=True, text=True, timeout=timeout, env=full_env)
        return CLIResult(proc)

    return run


def assert_one_line_error(result: CLIResult, *fragments: str, code: int = 2) -> None:
    """The CLI failed with ``code``, printed exactly one line on stderr, and no traceback."""
    assert result.returncode == code, result
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result
    assert "Traceback" not in result.stderr, result
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), result
