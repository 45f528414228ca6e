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
from .nir_import import NIRImportOptions

DEFAULT_DT_S = 1e-4  # snnTorch's export_to_nir converts beta with this dt


@dataclass(frozen=True)
class NIRRunParams:
    """How a NIR graph is simulated: its time step, the import options NIR 1.0 leaves open, the device."""

    dt_s: float | None = param(None, f"time step (none: the dt of a brainsim export's side file, else the graph "
                               f"metadata's dt_s, else {DEFAULT_DT_S:g} s, the dt of snnTorch's export)", unit="s",
                               gt=0, cli="--dt")
    semantics: NIRImportOptions = param_group(NIRImportOptions, "import options (where NIR 1.0 leaves a choice open)")
    device: DeviceConfig = param_group(DeviceConfig, "simulation device")

    def __post_init__(self):
        check_fields(self)


def load_input(path: Path) -> np.ndarray:
    """The 0/1 input array (time, batch, *input_shape) of ``path`` as uint8 (UserError if unusable)."""
    if not path.is_file():
        raise UserError(f"input {path} does not exist")
    x = load_npy(path)
    if x.ndim < 3:
        raise UserError(f"shape mismatch: the input must have shape (time, batch, *input_shape), got {x.shape}")
    if x.dtype.kind not in "biuf":
        raise UserError(f"the input {path} must hold 0 and 1 as numbers, got dtype {x.dtype}")
    if x.size == 0 or min(x.shape) == 0:
        raise UserError(f"the input {path} is empty (shape {x.shape})")
    if not np.all((x == 0) | (x == 1)):
        raise UserError(f"the input {path} must contain only 0 and 1 (spikes)")
    return x.astype(np.uint8)


def records_path(output_path: Path) -> Path:
    """Where ``--record`` writes: beside the output, ``y.npy`` -> ``y.records.npz``."""
    return output_path.with_name(output_path.stem + ".records.npz")


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
    records_path: Path | None = None
    records: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the command line."""
        if self.output_path is None:
            return f"generated the {self.device} project in {self.project_dir} (not run; no output written)"
        spikes = "graded" if self.output_spikes is None else f"{self.output_spikes} spikes"
        line = (f"{self.graph.name}: {' -> '.join(self.kinds)}; {self.n_steps} steps of {self.dt_s:g} s, batch "
                f"{self.batch}; output {self.output_shape} ({spikes}) -> {self.output_path}")
        if self.records_path is not None:
            line += f"; recorded {', '.join(self.records)} -> {self.records_path}"
        return line


def run_graph(graph_path, input_path, output_path, params: NIRRunParams = NIRRunParams(),
              progress: bool = False, record: tuple[str, ...] = ()) -> NIRRunResult:
    """Simulate the NIR graph ``graph_path`` in Brian2 on the 0/1 input array ``input_path`` (.npy,
    shape (time, batch, *input_shape)) with time step ``params.dt_s`` (seconds; default: the side file's
    dt of a brainsim export, else the metadata's ``dt_s``, else :data:`DEFAULT_DT_S`) and the import
    options ``params.semantics`` on ``params.device``, and write the output
    (:func:`brainsim.bridge.nir_brian2.read_outputs`) to ``output_path`` (.npy). ``record``: nodes
    (``NODE`` or ``NODE:VARIABLE``, :func:`~brainsim.bridge.nir_brian2.parse_record`) whose spikes or
    states go to :func:`records_path` (.npz, one array (time, batch, *node shape) per entry). Nothing is
    written unless the simulation succeeds; bad input raises UserError."""
    from ..devices import BrianSession
    from ..io import check_writable, save_npy, save_npz
    from .nir_brian2 import flat_inputs, parse_record, simulate_nir_recording
    from .nir_import import plan_graph, read_graph

    graph_path, input_path, output_path = Path(graph_path), Path(input_path), Path(output_path)
    check_writable(output_path)
    rec_path = records_path(output_path) if record else None
    if rec_path is not None:
        check_writable(rec_path)
    graph = read_graph(graph_path)
    plan = plan_graph(graph, params.semantics)
    specs = tuple(dict.fromkeys(parse_record(text, plan) for text in record))
    x = load_input(input_path)
    flat_inputs(plan, x)       # shape check before any Brian2 work
    device_config = params.device
    dt_s = default_dt(graph_path, graph) if params.dt_s is None else params.dt_s
    with BrianSession(device_config, label="nir-run", progress=progress) as session:
        sim = simulate_nir_recording(plan, x, dt_s, session, specs)
        project = session.project_dir
    kinds = tuple(p.kind for p in plan.ordered())
    common = dict(graph=graph_path, kinds=kinds, n_steps=int(x.shape[0]), batch=int(x.shape[1]), dt_s=dt_s,
                  device=device_config.name, project_dir=None if project is None else Path(project))
    y = sim.outputs
    if y is None:
        return NIRRunResult(output_path=None, output_shape=None, output_spikes=None, **common)
    if specs:
        save_npz(rec_path, **sim.records)
    save_npy(output_path, y)
    return NIRRunResult(output_path=output_path, output_shape=tuple(int(n) for n in y.shape),
                        output_spikes=int(y.sum()) if y.dtype == np.uint8 else None,
                        records_path=rec_path, records=tuple(spec.key for spec in specs), **common)
