"""The layout's rules (docs/architecture.md), checked on the source: every import statement of
``brainsim/`` is read with ``ast`` (also those inside functions, which run later), resolved to a module
name, and followed through the package.

* stimuli and netspec import neither brian2 nor torch;
* snn never imports brian2;
* circuits and devices never import torch, not even transitively through other brainsim modules at
  run time; and importing each of them in a fresh interpreter leaves torch out of ``sys.modules``;
* nothing in brainsim/ outside cli/ imports brainsim.cli (the entry point ``__main__`` aside);
* plotting never imports experiments.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "brainsim"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@lru_cache(maxsize=None)
def imports_of(name: str) -> frozenset[str]:
    """Absolute names of everything module ``name`` imports, anywhere in its body."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            # "from . import x" / "from .pkg import mod" may name submodules
            found.update(f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES)
    return frozenset(found)


def internal(name: str) -> set[str]:
    """brainsim modules that ``name`` imports (a module also runs its packages' __init__)."""
    out = set()
    for target in imports_of(name):
        parts = target.split(".")
        for k in range(1, len(parts) + 1):
            candidate = ".".join(parts[:k])
            if candidate in MODULES and candidate != name:
                out.add(candidate)
    return out


def third_party(name: str) -> set[str]:
    return {t.split(".")[0] for t in imports_of(name) if not t.startswith("brainsim")}


def reachable(start: str) -> dict[str, str]:
    """{module: the module that imports it} for every brainsim module reachable from ``start``."""
    parent, todo = {start: ""}, [start]
    while todo:
        current = todo.pop()
        for nxt in internal(current):
            if nxt not in parent:
                parent[nxt] = current
                todo.append(nxt)
    return parent


def chain(parent: dict, end: str) -> str:
    path = [end]
    while parent[path[-1]]:
        path.append(parent[path[-1]])
    return " <- ".join(path)


def in_package(prefix: str) -> list[str]:
    return [m for m in MODULES if m == prefix or m.startswith(prefix + ".")]


@pytest.mark.parametrize("package, forbidden", [
    ("brainsim.stimuli", {"brian2", "torch", "brian2cuda"}),
    ("brainsim.netspec", {"brian2", "torch", "brian2cuda"}),
    ("brainsim.snn", {"brian2", "brian2cuda"}),
])
def test_package_does_not_import(package, forbidden):
    modules = in_package(package)
    assert modules, f"{package} not found"
    bad = {m: sorted(third_party(m) & forbidden) for m in modules if third_party(m) & forbidden}
    assert not bad, bad


@pytest.mark.parametrize("start", in_package("brainsim.circuits") + ["brainsim.devices"])
def test_circuits_and_devices_never_reach_torch(start):
    parent = reachable(start)
    bad = [chain(parent, m) for m in parent if "torch" in third_party(m)]
    assert not bad, f"torch is imported at run time by: {bad}"


def test_importing_circuits_and_devices_leaves_torch_out():
    names = in_package("brainsim.circuits") + ["brainsim.devices"]
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(out.stdout) == []


def test_only_the_cli_imports_the_cli():
    exempt = {"brainsim.__main__"} | set(in_package("brainsim.cli"))
    bad = {m: sorted(t for t in imports_of(m) if t.startswith("brainsim.cli")) for m in MODULES if m not in exempt}
    assert not {m: v for m, v in bad.items() if v}


def test_plotting_never_imports_experiments():
    bad = {m: sorted(t for t in imports_of(m) if t.startswith("brainsim.experiments"))
           for m in in_package("brainsim.plotting")}
    assert not {m: v for m, v in bad.items() if v}


def test_the_checks_see_function_level_and_relative_imports(tmp_path):
    """The parser finds an import hidden inside a function, written relatively (what broke before)."""
    assert "brainsim.errors" in imports_of("brainsim.devices")
    hidden = [m for m in MODULES if any(t == "brian2" for t in imports_of(m))]
    assert "brainsim.devices" in hidden   # devices imports brian2 only inside functions
