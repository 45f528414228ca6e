"""The ``nir-run`` job: validate the files, import the graph, simulate it in Brian2, write the output."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError

DEFAULT_DT_S = 1e-4  # snnTorch's export_to_nir converts beta with this dt


def load_input(path: Path) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"input {path} does not exist")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} as a .npy array: {exc}") from None
    if x.ndim != 3:
        raise UserError(f"shape mismatch: the input must have shape (time, batch, features), got {x.shape}")
    if x.size == 0 or min(x.shape) == 0:
        raise UserError(f"the input {path} is empty (shape {x.shape})")
    if not np.all((x == 0) | (x == 1)):
        raise UserError(f"the input {path} must contain only 0 and 1")
    return x.astype(np.uint8)


def default_dt(graph_path: Path, graph) -> float:
    from .nir_import import side_file

    side = side_file(graph_path)
    if side.is_file():
        try:
            return float(json.loads(side.read_text())["dt_ms"]) * 1e-3
        except (OSError, ValueError, KeyError, TypeError):
            pass
    meta = getattr(graph, "metadata", {}) or {}
    try:
        return float(meta["dt_s"]) if "dt_s" in meta else DEFAULT_DT_S
    except (TypeError, ValueError):
        return DEFAULT_DT_S


def run_graph(graph_path: Path, input_path: Path, output_path: Path, dt_s: float | None = None, args=None,
              device_config=None) -> str:
    """Run the job; returns a one-line summary. Nothing is written unless the simulation succeeds."""
    from ..devices import BrianSession
    from ..io import check_writable, save_npy
    from .nir_brian2 import simulate_nir
    from .nir_import import plan_graph, read_graph

    check_writable(output_path)
    graph = read_graph(graph_path)
    plan = plan_graph(graph)
    x = load_input(input_path)
    if x.shape[2] != plan.n_inputs:
        raise UserError(f"shape mismatch: the input has {x.shape[2]} features, the graph's Input node "
                        f"{plan.n_inputs}")
    dt_s = default_dt(graph_path, graph) if dt_s is None else float(dt_s)
    if device_config is None:
        from ..cli.args import device_config as from_args

        device_config = from_args(args)
    with BrianSession(device_config, label="nir-run") as session:
        y = simulate_nir(plan, x, dt_s, session)
        project = session.project_dir
    if y is None:
        return f"generated the {device_config.name} project in {project} (not run; no output written)"
    save_npy(output_path, y)
    kinds = " -> ".join(p.kind for p in plan.ordered())
    return (f"{graph_path.name}: {kinds}; {x.shape[0]} steps of {dt_s:g} s, batch {x.shape[1]}; "
            f"output {tuple(y.shape)} ({int(y.sum()) if y.dtype == np.uint8 else 'graded'}"
            f"{' spikes' if y.dtype == np.uint8 else ''}) -> {output_path}")
