"""The ``nir-run`` job: validate the files, import the graph, simulate it in Brian2, write the output."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..devices import DeviceConfig
from ..errors import UserError
from ..io import load_npy
from ..params import check_fields, param, param_group

DEFAULT_DT_S = 1e-4  # snnTorch's export_to_nir converts beta with this dt


@dataclass(frozen=True)
class NIRRunParams:
    """How a NIR graph is simulated: its time step and the Brian2 device."""

    dt_s: float | None = param(None, f"time step (none: the dt of a brainsim export's side file, else "
                               f"{DEFAULT_DT_S:g} s, the dt of snnTorch's export)", unit="s", gt=0, cli="--dt")
    device: DeviceConfig = param_group(DeviceConfig, "simulation device")

    def __post_init__(self):
        check_fields(self)


def load_input(path: Path) -> np.ndarray:
    """The 0/1 input array (time, batch, features) of ``path`` as uint8 (UserError if unusable)."""
    if not path.is_file():
        raise UserError(f"input {path} does not exist")
    x = load_npy(path)
    if x.ndim != 3:
        raise UserError(f"shape mismatch: the input must have shape (time, batch, features), got {x.shape}")
    if x.dtype.kind not in "biuf":
        raise UserError(f"the input {path} must hold 0 and 1 as numbers, got dtype {x.dtype}")
    if x.size == 0 or min(x.shape) == 0:
        raise UserError(f"the input {path} is empty (shape {x.shape})")
    if not np.all((x == 0) | (x == 1)):
        raise UserError(f"the input {path} must contain only 0 and 1")
    return x.astype(np.uint8)


def default_dt(graph_path: Path, graph) -> float:
    """Time step (s) of a graph: its side file's dt, its metadata's ``dt_s``, else :data:`DEFAULT_DT_S`."""
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


@dataclass(frozen=True)
class NIRRunResult:
    """What :func:`run_graph` did: the graph's node kinds in order, the input's steps and batch size,
    the time step (s), the output's shape and spike count (None for graded outputs), and where the
    output went (None when the device only generated code, in ``project_dir``)."""

    graph: Path
    kinds: tuple[str, ...]
    n_steps: int
    batch: int
    dt_s: float
    device: str
    output_path: Path | None
    output_shape: tuple[int, ...] | None
    output_spikes: int | None
    project_dir: Path | None

    def describe(self) -> str:
        """One line for the command line."""
        if self.output_path is None:
            return f"generated the {self.device} project in {self.project_dir} (not run; no output written)"
        spikes = "graded" if self.output_spikes is None else f"{self.output_spikes} spikes"
        return (f"{self.graph.name}: {' -> '.join(self.kinds)}; {self.n_steps} steps of {self.dt_s:g} s, batch "
                f"{self.batch}; output {self.output_shape} ({spikes}) -> {self.output_path}")


def run_graph(graph_path, input_path, output_path, params: NIRRunParams = NIRRunParams(),
              progress: bool = False) -> NIRRunResult:
    """Simulate the NIR graph ``graph_path`` in Brian2 on the 0/1 input array ``input_path`` (.npy,
    shape (time, batch, features)) with time step ``params.dt_s`` (seconds; default: the side file's
    dt of a brainsim export, else :data:`DEFAULT_DT_S`) on ``params.device``, and write the output
    (:func:`brainsim.bridge.nir_brian2.read_outputs`) to ``output_path`` (.npy). Nothing is written
    unless the simulation succeeds; bad input raises UserError."""
    from ..devices import BrianSession
    from ..io import check_writable, save_npy
    from .nir_brian2 import simulate_nir
    from .nir_import import plan_graph, read_graph

    graph_path, input_path, output_path = Path(graph_path), Path(input_path), Path(output_path)
    check_writable(output_path)
    graph = read_graph(graph_path)
    plan = plan_graph(graph)
    x = load_input(input_path)
    if x.shape[2] != plan.n_inputs:
        raise UserError(f"shape mismatch: the input has {x.shape[2]} features, the graph's Input node "
                        f"{plan.n_inputs}")
    device_config = params.device
    dt_s = default_dt(graph_path, graph) if params.dt_s is None else params.dt_s
    with BrianSession(device_config, label="nir-run", progress=progress) as session:
        y = simulate_nir(plan, x, dt_s, session)
        project = session.project_dir
    kinds = tuple(p.kind for p in plan.ordered())
    common = dict(graph=graph_path, kinds=kinds, n_steps=int(x.shape[0]), batch=int(x.shape[1]), dt_s=dt_s,
                  device=device_config.name, project_dir=None if project is None else Path(project))
    if y is None:
        return NIRRunResult(output_path=None, output_shape=None, output_spikes=None, **common)
    save_npy(output_path, y)
    return NIRRunResult(output_path=output_path, output_shape=tuple(int(n) for n in y.shape),
                        output_spikes=int(y.sum()) if y.dtype == np.uint8 else None, **common)
