"""The tutorial notebooks (docs/tutorials) run: each one is executed top to bottom in a fresh kernel of
this interpreter (docs/tutorials/render.py), in a scratch directory, and any error fails the test. They
are stored without outputs and agree with their generator (docs/tutorials/build_notebooks.py)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import ROOT

TUTORIALS = ROOT / "docs" / "tutorials"
# Notebooks that take long (a standalone compilation per stage, many training runs) run with -m slow;
# the measured times are in docs/tutorials/README.md.
SLOW = {"02_ipd_training"}


def _render():
    spec = importlib.util.spec_from_file_location("tutorial_render", TUTORIALS / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))


def test_five_notebooks_stored_without_outputs():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code, path.name
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), f"{path.name} has outputs"
        assert "exercises" in "".join(nb["cells"][-1]["source"]).lower(), f"{path.name} does not end with exercises"


def test_notebooks_agree_with_their_generator():
    result = subprocess.run([sys.executable, str(TUTORIALS / "build_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_notebooks_use_public_names_only():
    """No private module or name of brainsim (``_x``) is imported or used in a notebook."""
    for path in NOTEBOOKS:
        source = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                           if c["cell_type"] == "code")
        assert "brainsim" in source
        for line in source.splitlines():
            if "brainsim" in line and "import" in line:
                assert "._" not in line and "import _" not in line, f"{path.name}: {line}"


def test_kernel_is_this_interpreter(tmp_path):
    """The kernel the notebooks run in is sys.executable with this checkout first on the path."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import sys, brainsim\nprint(sys.executable)\nprint(brainsim.__file__)")]
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, str(path))
    out = _render().execute_notebook(path)
    printed = out.cells[0].outputs[0]["text"].split()
    assert printed[0] == sys.executable
    assert printed[1].startswith(str(ROOT / "brainsim"))


def test_an_error_in_a_notebook_fails(tmp_path):
    import nbformat
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from brainsim.experiments import protocol_from\nprotocol_from('nope')")]
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(CellExecutionError, match="unknown preset"):
        _render().execute_notebook(path)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW else [])
                                  for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    executed = _render().execute_notebook(path, tmp_path)
    images = sum("image/png" in out.get("data", {}) for cell in executed.cells if cell.cell_type == "code"
                 for out in cell.outputs)
    assert images >= 3, f"{path.name}: only {images} inline figures"
