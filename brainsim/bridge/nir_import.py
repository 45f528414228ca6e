"""Read NIR graphs (the Neuromorphic Intermediate Representation, package ``nir``) for Brian2.

A graph is reduced to a *plan*: populations (the Input, and every neuron node) and projections
between them (a path ``source [-> Delay] -> Affine/Linear [-> Affine/Linear ...] -> target``, the
affine maps composed into one weight matrix and bias; a direct edge between two populations of the
same size is an identity projection). Outputs are the populations feeding an Output node.

Supported node types and their discrete-time meaning (forward Euler with the run's time step dt;
one time bin of the input array per step; all nodes are updated in topological order within a
step, so a spike crosses any number of layers in the step it is emitted, as in snnTorch):

    Input        the 0/1 input array, one feature per input neuron
    Affine       I = W x + b (W: out x in)        Linear   I = W x
    Delay        per-feature delay d (s) of a spike stream, rounded to whole steps (a synaptic
                 delay of the projection it feeds; only directly after a spiking population)
    LIF          v <- v_reset if z_{t-1};  v <- v + dt/tau (v_leak - v + r I);  z_t = v > v_threshold
    IF           v <- v_reset if z_{t-1};  v <- v + dt r I;                     z_t = v > v_threshold
    LI           v <- v + dt/tau (v_leak - v + r I)                (graded output: v)
    CubaLIF      I_s <- I_s + dt/tau_syn (w_in I - I_s);  then the LIF update driven by I_s
    CubaLI       I_s as above, then the LI update driven by I_s    (graded output: v)
    Threshold    z_t = I > threshold
    Output       records its source: spikes z_t, or v for LI / CubaLI

With snnTorch's export (``tau = dt / (1 - beta)``, ``r = tau / dt``, ``v_leak = v_reset = 0``) and
its dt, the LIF update is ``v = beta (1 - z_{t-1}) v + I``: snnTorch's Leaky with
``reset_mechanism="zero"`` (reset of the previous step's spike applied before integrating, spike
when v > threshold). Anything else (Conv, Flatten, pooling, Scale, nested graphs, graded
populations feeding other nodes) is refused with a one-line :class:`UserError` naming it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..netspec.ipd import SPIKING_READOUTS, IPDNetworkSpec, NetConfig
from ..netspec.modeldir import dataclass_from
from ..stimuli.ipd import IPDClasses, IPDStimulusParams

SPIKING_KINDS = ("Input", "LIF", "IF", "CubaLIF", "Threshold")
GRADED_KINDS = ("LI", "CubaLI")
NEURON_KINDS = ("LIF", "IF", "CubaLIF", "Threshold", "LI", "CubaLI")
PROJECTION_KINDS = ("Affine", "Linear", "Delay")
SUPPORTED = ("Input", "Output") + NEURON_KINDS + PROJECTION_KINDS
SIDE_SUFFIX = ".brainsim.json"


@dataclass
class Population:
    name: str
    kind: str
    size: int
    params: dict[str, np.ndarray] = field(default_factory=dict)   # per-neuron float arrays
    depth: int = 0                                # topological layer (Input: 0)

    @property
    def spiking(self) -> bool:
        return self.kind in SPIKING_KINDS


@dataclass
class Projection:
    source: str
    target: str
    weight: np.ndarray                 # (target size, source size)
    bias: np.ndarray                   # (target size,)
    delay_s: np.ndarray | None = None  # (source size,) or None


@dataclass
class GraphPlan:
    populations: dict[str, Population]
    projections: list[Projection]
    input: str
    outputs: list[str]                 # populations recorded, in Output-node order
    metadata: dict

    @property
    def n_inputs(self) -> int:
        return self.populations[self.input].size

    def ordered(self) -> list[Population]:
        return sorted(self.populations.values(), key=lambda p: (p.depth, p.name))


def read_graph(path):
    """Read a NIR file; missing or unreadable files are a UserError."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise UserError(f"NIR graph {path} does not exist")
    try:
        # our own checks (plan_graph) name unsupported nodes and shape mismatches precisely
        graph = nir.read(str(path), type_check=False)
    except ValueError as exc:
        if "type mismatch" in str(exc):  # nir's own shape inference
            raise UserError(f"{path}: shape mismatch between connected NIR nodes ({exc})") from None
        raise UserError(f"cannot read {path} as a NIR graph (ValueError: {exc})") from None
    except Exception as exc:  # h5py/KeyError/OSError on a file that is not a NIR graph
        raise UserError(f"cannot read {path} as a NIR graph ({type(exc).__name__}: {exc})") from None
    if type(graph).__name__ != "NIRGraph":
        raise UserError(f"{path}: the top-level node is a {type(graph).__name__}, not a NIRGraph")
    return graph


def _array(node, name: str, size: int | None = None) -> np.ndarray:
    value = getattr(node, name, None)
    if value is None:
        raise UserError(f"NIR node {type(node).__name__} has no {name}")
    arr = np.asarray(value, dtype=float)
    if size is not None:
        if arr.ndim == 0:
            arr = np.full(size, float(arr))
        arr = arr.reshape(-1)
        if arr.size != size:
            raise UserError(f"shape mismatch: {type(node).__name__} parameter {name} has {arr.size} values, "
                            f"expected {size}")
    return arr


def _node_size(name: str, node) -> int:
    kind = type(node).__name__
    if kind in ("Input", "Output"):
        shape = np.asarray(node.output_type.get("output", node.input_type.get("input")))
    elif kind in ("LIF", "LI", "IF"):
        shape = np.asarray(node.r).shape
    elif kind in ("CubaLIF", "CubaLI"):
        shape = np.asarray(node.tau_mem).shape
    elif kind == "Threshold":
        shape = np.asarray(node.threshold).shape
    else:
        raise AssertionError(kind)
    shape = tuple(int(s) for s in np.atleast_1d(shape)) if kind in ("Input", "Output") else tuple(shape)
    if len(shape) != 1:
        raise UserError(f"NIR node {name!r} ({kind}) has shape {shape}: only 1-D feature vectors are supported")
    return int(shape[0])


def _neuron_params(node, kind: str, size: int) -> dict:
    p = {}
    if kind in ("LIF", "LI"):
        p["tau"] = _array(node, "tau", size)
    if kind in ("LIF", "LI", "IF"):
        p["r"] = _array(node, "r", size)
    if kind in ("LIF", "LI"):
        p["v_leak"] = _array(node, "v_leak", size)
    if kind in ("CubaLIF", "CubaLI"):
        p["tau_syn"] = _array(node, "tau_syn", size)
        p["tau"] = _array(node, "tau_mem", size)
        p["r"] = _array(node, "r", size)
        p["v_leak"] = _array(node, "v_leak", size)
        w_in = getattr(node, "w_in", None)
        p["w_in"] = np.ones(size) if w_in is None else _array(node, "w_in", size)
    if kind in ("LIF", "IF", "CubaLIF"):
        p["v_threshold"] = _array(node, "v_threshold", size)
        reset = getattr(node, "v_reset", None)
        p["v_reset"] = np.zeros(size) if reset is None else _array(node, "v_reset", size)
    if kind == "Threshold":
        p["v_threshold"] = _array(node, "threshold", size)
    for name in ("tau", "tau_syn"):
        if name in p and np.any(p[name] <= 0):
            raise UserError(f"NIR {kind} node has non-positive {name}")
    return p


def plan_graph(graph) -> GraphPlan:
    """Validate a NIR graph and reduce it to populations and projections (see the module docstring)."""
    nodes = dict(graph.nodes)
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED:
            raise UserError(f"unsupported NIR node type {kind} (node {name!r}); supported: {', '.join(SUPPORTED)}")
    succ: dict[str, list[str]] = {name: [] for name in nodes}
    pred: dict[str, list[str]] = {name: [] for name in nodes}
    for src, dst in graph.edges:
        if src not in nodes or dst not in nodes:
            raise UserError(f"NIR edge {src!r} -> {dst!r} names a node that does not exist")
        succ[src].append(dst)
        pred[dst].append(src)
    inputs = [n for n, node in nodes.items() if type(node).__name__ == "Input"]
    if len(inputs) != 1:
        raise UserError(f"the NIR graph must have exactly one Input node, found {len(inputs)}")
    populations: dict[str, Population] = {}
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind == "Input" or kind in NEURON_KINDS:
            size = _node_size(name, node)
            params = {} if kind == "Input" else _neuron_params(node, kind, size)
            populations[name] = Population(name, kind, size, params)

    projections: list[Projection] = []
    outputs: list[str] = []

    def walk(source: str, node_name: str, weight: np.ndarray, bias: np.ndarray, delay, size: int, seen: tuple):
        """Follow edges from a population through Delay/Affine/Linear nodes to populations/Outputs."""
        if node_name in seen:
            raise UserError(f"the NIR graph has a cycle through {node_name!r} without a neuron (not supported)")
        node = nodes[node_name]
        kind = type(node).__name__
        if node_name in populations:
            target = populations[node_name]
            if target.kind == "Input":
                raise UserError(f"NIR edge into the Input node {node_name!r}")
            if weight.shape[0] != target.size:
                raise UserError(f"shape mismatch: {size} features reach node {node_name!r} ({target.kind}) "
                                f"of size {target.size}")
            if not populations[source].spiking:
                raise UserError(f"NIR node {source!r} ({populations[source].kind}) has a graded output; it can "
                                "only feed an Output node")
            projections.append(Projection(source, node_name, weight, bias, delay))
            return
        if kind == "Output":
            osize = _node_size(node_name, node)
            if weight.shape[0] != osize and osize != 0:
                raise UserError(f"shape mismatch: Output node {node_name!r} expects {osize} features, gets {size}")
            if not np.array_equal(weight, np.eye(weight.shape[1])) or np.any(bias != 0):
                raise UserError(f"Output node {node_name!r} must be fed directly by a neuron node")
            outputs.append(source)
            return
        if kind == "Delay":
            if weight.shape[0] != weight.shape[1] or not np.array_equal(weight, np.eye(weight.shape[1])):
                raise UserError(f"Delay node {node_name!r}: only delays directly after a spiking node are supported")
            d = _array(node, "delay", size)
            if np.any(d < 0):
                raise UserError(f"Delay node {node_name!r} has negative delays")
            delay = d if delay is None else delay + d
            new_w, new_b = weight, bias
        else:  # Affine / Linear
            w = np.asarray(node.weight, dtype=float)
            if w.ndim != 2 or w.shape[1] != weight.shape[0]:
                raise UserError(f"shape mismatch: {kind} node {node_name!r} has weight {w.shape}, its input has "
                                f"{weight.shape[0]} features")
            b = np.asarray(node.bias, dtype=float).reshape(-1) if kind == "Affine" else np.zeros(w.shape[0])
            if b.size != w.shape[0]:
                raise UserError(f"shape mismatch: {kind} node {node_name!r} bias has {b.size} values for "
                                f"{w.shape[0]} outputs")
            new_w, new_b = w @ weight, w @ bias + b
        if not succ[node_name]:
            raise UserError(f"NIR node {node_name!r} ({kind}) leads nowhere")
        for nxt in succ[node_name]:
            walk(source, nxt, new_w, new_b, delay, new_w.shape[0], seen + (node_name,))

    for name, pop in populations.items():
        for nxt in succ[name]:
            walk(name, nxt, np.eye(pop.size), np.zeros(pop.size), None, pop.size, (name,))
    if not outputs:
        raise UserError("the NIR graph has no Output node fed by a neuron or the Input")
    # topological depth of every population (longest path from the Input)
    incoming: dict[str, list[str]] = {name: [] for name in populations}
    for proj in projections:
        incoming[proj.target].append(proj.source)
    depth: dict[str, int] = {}

    def depth_of(name: str, stack: tuple = ()) -> int:
        if name in depth:
            return depth[name]
        if name in stack:
            raise UserError(f"recurrent NIR graphs are not supported (cycle through {name!r})")
        d = 0 if not incoming[name] else 1 + max(depth_of(src, stack + (name,)) for src in incoming[name])
        depth[name] = d
        return d

    for name, pop in populations.items():
        pop.depth = depth_of(name)
        if pop.kind != "Input" and not incoming[name]:
            raise UserError(f"NIR node {name!r} ({pop.kind}) receives no input")
    metadata = dict(getattr(graph, "metadata", {}) or {})
    return GraphPlan(populations, projections, inputs[0], outputs, metadata)


# --- the project's own models ------------------------------------------------------------------------

def side_file(path) -> Path:
    """The side file of a brainsim NIR export ``path``: ``path`` + ``.brainsim.json``."""
    return Path(str(path) + SIDE_SUFFIX)


def spec_from_nir(path) -> IPDNetworkSpec:
    """A trained IPD network from a NIR graph written by :func:`brainsim.bridge.nir_export.export_nir`
    and its side file (configuration, readout, classes, stimulus). The decay factors are the graph's:
    the export wrote ``tau = dt / (1 - alpha)``, so the Euler step ``1 - dt / tau`` is alpha again."""
    from .nir_export import SIDE_FORMAT, SIDE_VERSION

    path = Path(path)
    side = side_file(path)
    graph = read_graph(path)
    if not side.is_file():
        raise UserError(f"{path}: no side file {side.name}: not a brainsim IPD model export (use "
                        "'brainsim nir-run' for other NIR graphs)")
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {side}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDE_FORMAT or meta.get("format_version") != SIDE_VERSION:
        raise UserError(f"{side} is not a brainsim NIR side file of version {SIDE_VERSION}")
    plan = plan_graph(graph)
    chain = plan.ordered()
    kinds = [p.kind for p in chain]
    spiking_output = meta.get("readout") in SPIKING_READOUTS
    expected = [["Input", "LIF", "LIF" if spiking_output else "LI"], ["Input", "LIF" if spiking_output else "LI"]]
    if kinds not in expected or len(plan.projections) != len(chain) - 1:
        raise UserError(f"{path}: the graph ({' -> '.join(kinds)}) is not the layout of a brainsim IPD model")

    def weight_into(name):
        proj = next(p for p in plan.projections if p.target == name)
        return proj.weight.T.astype(np.float32)

    try:
        dt_s = float(meta["dt_ms"]) * 1e-3
        hidden = chain[1] if len(chain) == 3 else None
        out = chain[-1]
        tau_hidden = None if hidden is None else np.asarray(meta["tau_hidden_ms"], dtype=np.float32)
        tau_out = np.asarray(meta["tau_out_ms"], dtype=np.float32)
        if "net" in meta:
            net = dataclass_from(NetConfig, meta["net"])
        else:  # side files written before the configuration was stored
            net = NetConfig(model="snn" if hidden else "membrane", readout=meta["readout"], n_inputs=chain[0].size,
                            n_hidden=hidden.size if hidden else NetConfig.n_hidden, n_classes=int(meta["n_classes"]),
                            pop_per_class=int(meta.get("pop_per_class", 1)),
                            tau_hidden_ms=float(np.mean(tau_hidden)) if hidden else NetConfig.tau_hidden_ms,
                            tau_out_ms=float(np.mean(tau_out)), threshold=float(meta["threshold"]),
                            dt_ms=float(meta["dt_ms"]))
        return IPDNetworkSpec(
            net=net, W1=None if hidden is None else weight_into(hidden.name), W2=weight_into(out.name),
            tau_hidden_ms=tau_hidden, tau_out_ms=tau_out,
            alpha_hidden=None if hidden is None else (1.0 - dt_s / hidden.params["tau"]).astype(np.float32),
            alpha_out=(1.0 - dt_s / out.params["tau"]).astype(np.float32),
            stimulus=dataclass_from(IPDStimulusParams, meta.get("stimulus")),
            classes=dataclass_from(IPDClasses, meta.get("classes")), source=str(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{side}: invalid model description ({exc})") from None
