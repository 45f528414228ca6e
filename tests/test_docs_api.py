"""docs/api.md stays true: each of its Python snippets runs, in a fresh interpreter, from a scratch
directory that holds links to the shipped models."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

API = ROOT / "docs" / "api.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", API.read_text(), flags=re.S)
TITLES = [m for m in re.findall(r"^## (.+)$", API.read_text(), flags=re.M)]


def test_every_section_has_a_snippet():
    assert len(SNIPPETS) == len(TITLES) >= 6


@pytest.mark.parametrize("code", SNIPPETS, ids=[t.split(":")[0][:30] for t in TITLES])
def test_snippet_runs(code, tmp_path):
    (tmp_path / "models").symlink_to(ROOT / "models")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a snippet prints what it shows"
