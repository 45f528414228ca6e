"""Execute the tutorial notebooks and write them as HTML with their outputs.

    python docs/tutorials/render.py                 # all notebooks -> docs/tutorials/html/*.html
    python docs/tutorials/render.py 01_jeffress     # the notebooks whose names start with these
    python docs/tutorials/render.py --full          # the full protocols (BRAINSIM_TUTORIAL_FULL=1): long

Each notebook runs from a clean kernel of *this* interpreter (not whatever kernel Jupyter has installed),
with this checkout first on the path, in a scratch directory (its runs/ outputs are thrown away).
``execute_notebook`` is also what tests/test_tutorials.py runs. Needs the test extras (nbclient,
ipykernel; nbconvert for the HTML).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
KERNEL_NAME = "brainsim-tutorial"
FULL_VARIABLE = "BRAINSIM_TUTORIAL_FULL"


def notebooks() -> list[Path]:
    """The tutorial notebooks, in order."""
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def _kernel_dir(base: Path, full: bool) -> Path:
    """A kernel spec that starts this interpreter with this checkout first on the path."""
    spec_dir = base / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                         if p]),
           FULL_VARIABLE: "1" if full else "0",
           "PYTHONUNBUFFERED": "1"}
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"brainsim tutorial ({sys.executable})", "language": "python", "env": env}))
    return base / "kernels"


def execute_notebook(path, workdir=None, *, full: bool = False, timeout_s: int = 1800):
    """Run notebook ``path`` top to bottom in a fresh kernel of this interpreter, in ``workdir`` (a
    scratch directory if None). Returns the executed notebook (nbformat); raises
    ``nbclient.exceptions.CellExecutionError`` naming the cell on the first error."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    with tempfile.TemporaryDirectory(prefix="brainsim-kernel-") as kernel_base, \
            tempfile.TemporaryDirectory(prefix="brainsim-tutorial-") as scratch:
        kernels = _kernel_dir(Path(kernel_base), full)
        manager = KernelManager(kernel_name=KERNEL_NAME,
                                kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)],
                                                                      ensure_native_kernel=False))
        cwd = str(workdir if workdir is not None else scratch)
        client = NotebookClient(nb, km=manager, timeout=timeout_s, kernel_name=KERNEL_NAME,
                                resources={"metadata": {"path": cwd}})
        client.execute()
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Execute the tutorial notebooks and write HTML with outputs.")
    parser.add_argument("names", nargs="*", help="notebooks to render (name prefixes; default: all)")
    parser.add_argument("--full", action="store_true", help=f"the full protocols ({FULL_VARIABLE}=1): long")
    parser.add_argument("--out", default=str(HERE / "html"), help="output folder (default docs/tutorials/html)")
    args = parser.parse_args(argv)
    from nbconvert import HTMLExporter

    chosen = [nb for nb in notebooks() if not args.names or any(nb.stem.startswith(n) for n in args.names)]
    if not chosen:
        print(f"render.py: error: no notebook matches {' '.join(args.names)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in chosen:
        t0, c0 = time.perf_counter(), time.process_time()
        executed = execute_notebook(path, full=args.full)
        html, _ = HTMLExporter().from_notebook_node(executed)
        target = out / f"{path.stem}.html"
        tmp = target.with_suffix(".html.tmp")
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(target)
        print(f"{path.name}: {time.perf_counter() - t0:.0f} s -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
