"""Read NIR graphs (the Neuromorphic Intermediate Representation, package ``nir``) for Brian2.

A graph is reduced to a *plan*: populations (the Input, and every neuron node) and projections
between them. Nested NIRGraph nodes are flattened first (node ``inner`` of subgraph ``sub``
becomes ``sub.inner``; the subgraph's Input and Output nodes become pass-throughs, so an edge
into ``sub`` feeds what its Input feeds). A projection is a path ``source -> linear nodes and Delay
nodes ... -> target`` with one delay: the linear nodes (Affine, Linear, Scale, Flatten, Conv1d, Conv2d,
SumPool2d, AvgPool2d; :mod:`brainsim.bridge.nir_maps`) composed into one sparse weight matrix; a
direct edge is the identity. The bias of each linear node, carried through the linear nodes after
it, is a constant input of the populations it reaches (counted once, however many paths pass
through the node). Outputs are the populations feeding an Output node. Tensors are flattened in C
order; a population keeps the shape of its input (``(C, H, W)`` after a convolution) so that later
nodes see it; neuron parameters broadcast to it (numpy rules).

Discrete time (forward Euler, one time bin of the input per step of length dt; see docs/nir.md for
each node's NIR equation and this discretisation): all nodes are updated in topological order
within a step, so a spike crosses any number of feed-forward layers in the step it is emitted,
as in snnTorch. An edge that closes a cycle (found by a depth-first walk from the Input, in edge
order: for the usual graphs, the edge from a layer back to itself or to an earlier layer) is
*recurrent*: it delivers the spikes of the previous step (one step of delay, plus any Delay node
on it), as snnTorch's RLeaky / RSynaptic compute ``V * spk_{t-1}``.

Per step, with ``z`` the previous step's spike and ``I`` this step's summed input (+ bias):

    LIF          zero: v <- v_reset if z;  v <- v + dt/tau (v_leak - v + r I);  subtract: then v <- v - z v_threshold
                 z <- v > v_threshold
    IF           as LIF with v <- v + k r I, k = dt (integrator_input "dt") or 1 ("step")
    I            v <- v + k r I                                    (graded output: v)
    LI           v <- v + dt/tau (v_leak - v + r I)                (graded output: v)
    CubaLIF      I_s <- I_s + dt/tau_syn (w_in I - I_s) and the LIF update driven by r I_s, with I_s of
                 this step (cuba_current "same") or of the previous step ("previous")
    CubaLI       the same with the LI update                      (graded output: v)
    Threshold    z <- I > threshold
    Delay        per-feature delay (s), rounded to whole steps, anywhere on a path from a spiking population
                 (features delayed by different amounts become separate projections)

    Output       the spikes (or v) of the population feeding it; fed through linear nodes, a graded
                 readout v = this step's I (the linear map of this step's spikes, + bias)

A graded population (LI, CubaLI, I) feeds the nodes after it its ``v`` (the value after this
step's update; through a recurrent edge, the previous step's), which adds ``W v`` to their input.
Where NIR 1.0 leaves a choice open, :class:`NIRImportOptions` says which (documented defaults).
Anything that is not NIR 1.0 is refused with a one-line :class:`UserError` naming it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from ..netspec.ipd import SPIKING_READOUTS, IPDNetworkSpec, NetConfig
from ..netspec.modeldir import dataclass_from
from ..params import check_fields, param
from ..stimuli.ipd import IPDClasses, IPDStimulusParams

if TYPE_CHECKING:  # annotations only
    import scipy.sparse

SPIKING_KINDS = ("Input", "LIF", "IF", "CubaLIF", "Threshold")
GRADED_KINDS = ("LI", "CubaLI", "I")
NEURON_KINDS = ("LIF", "IF", "CubaLIF", "Threshold", "LI", "CubaLI", "I")
LINEAR_KINDS = ("Affine", "Linear", "Scale", "Flatten", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d")
SUPPORTED = ("Input", "Output", "NIRGraph", "Delay") + NEURON_KINDS + LINEAR_KINDS
PASS = "Pass"          # kind of a flattened subgraph's Input / Output: the identity
READOUT = "Readout"    # population made for an Output fed through linear nodes: v = this step's I
SIDE_SUFFIX = ".brainsim.json"
SUPPORTED_MAJOR_VERSION = 1

RESET_MODES = ("auto", "zero", "subtract")
CUBA_CURRENTS = ("same", "previous")
INTEGRATOR_INPUTS = ("dt", "step")


@dataclass(frozen=True)
class NIRImportOptions:
    """The choices NIR 1.0 leaves open, with the exporters that expect each setting (docs/nir.md)."""

    reset: str = param("auto", "reset of LIF / IF / CubaLIF after a spike: zero (v <- v_reset, NIR 1.0's equation; "
                       "snnTorch reset_mechanism='zero', Norse's default reset_value), subtract (v <- v - v_threshold "
                       "at the next step, undecayed: snnTorch's default reset_mechanism='subtract', whose graphs store "
                       "v_reset = 0; Norse reset_subtract) or auto (the graph metadata's 'reset_method' if it is "
                       "zero/value or subtract, else zero)", choices=RESET_MODES)
    cuba_current: str = param("same", "CubaLIF / CubaLI: the membrane integrates the synaptic current of the same "
                              "step (same: snnTorch's Synaptic / RSynaptic, syn = alpha syn + x, mem = beta mem + syn) "
                              "(also Norse 1.1's LIFCell) or of the previous step (previous: the current before this "
                              "step's input, a one-step synaptic delay)", choices=CUBA_CURRENTS)
    integrator_input: str = param("dt", "IF / I: per step v <- v + dt*r*I (dt: the forward-Euler step of NIR's "
                                  "dv/dt = r I, I a current) or v <- v + r*I (step: I the input of one step, as "
                                  "Sinabs' IAF and Norse's IAF cells integrate; their graphs store r = 1 and are "
                                  "silent under 'dt' with a small dt)", choices=INTEGRATOR_INPUTS)

    def __post_init__(self):
        check_fields(self)

    def resolved(self, metadata: dict) -> "NIRImportOptions":
        """``reset`` 'auto' replaced by the graph metadata's ``reset_method`` (else zero)."""
        if self.reset != "auto":
            return self
        said = str((metadata or {}).get("reset_method", "")).lower()
        return replace(self, reset="subtract" if said == "subtract" else "zero")


@dataclass
class Population:
    name: str
    kind: str
    shape: tuple[int, ...]
    params: dict[str, np.ndarray] = field(default_factory=dict)   # per-neuron float arrays (flattened)
    depth: int = 0                                # topological layer (Input: 0), recurrent edges left out

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def spiking(self) -> bool:
        return self.kind in SPIKING_KINDS


@dataclass
class Projection:
    source: str
    target: str
    weight: scipy.sparse.csr_matrix      # (target size, source size)
    delay_s: float | None = None         # the delay of every synapse (s), or None
    recurrent: bool = False              # closes a cycle: delivers the previous step's spikes (or v)
    graded: bool = False                 # the source is graded (LI, CubaLI, I, readout): carries W v

    def dense_weight(self) -> np.ndarray:
        return self.weight.toarray()


@dataclass
class GraphPlan:
    populations: dict[str, Population]
    projections: list[Projection]
    input: str
    outputs: list[str]                 # populations recorded, in the order of their Output nodes
    metadata: dict
    options: NIRImportOptions = NIRImportOptions(reset="zero")
    biases: dict[str, np.ndarray] = field(default_factory=dict)   # population -> constant input (biases)

    @property
    def n_inputs(self) -> int:
        return self.populations[self.input].size

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.populations[self.input].shape

    def ordered(self) -> list[Population]:
        return sorted(self.populations.values(), key=lambda p: (p.depth, p.name))


def read_graph(path):
    """Read a NIR file; missing or unreadable files, or files of a newer major version, are a UserError."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise UserError(f"NIR graph {path} does not exist")
    try:
        import h5py

        with h5py.File(str(path), "r") as f:
            version = f["version"][()].decode("utf8") if "version" in f else None
            unknown = _unknown_node_type(f["node"]) if "node" in f else None
    except Exception as exc:  # not HDF5
        raise UserError(f"cannot read {path} as a NIR graph ({type(exc).__name__}: {exc})") from None
    if version is not None:
        try:
            major = int(version.split(".")[0])
        except ValueError:
            raise UserError(f"{path}: unreadable NIR version {version!r}") from None
        if major > SUPPORTED_MAJOR_VERSION:
            raise UserError(f"{path} was written by NIR {version}; brainsim reads NIR {SUPPORTED_MAJOR_VERSION}.x")
    if unknown is not None:
        raise UserError(f"{path}: unsupported NIR node type {unknown[1]} (node {unknown[0]!r}); supported: "
                        f"{', '.join(SUPPORTED)}")
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


def _unknown_node_type(group, name: str = "") -> tuple[str, str] | None:
    """(node name, type) of the first node in a NIR file's HDF5 tree whose type NIR 1.0 does not define."""
    import h5py

    if "type" in group and isinstance(group["type"], h5py.Dataset):
        kind = group["type"][()]
        kind = kind.decode("utf8") if isinstance(kind, bytes) else str(kind)
        if kind not in SUPPORTED:
            return name or "<root>", kind
    nodes = group.get("nodes")
    if isinstance(nodes, h5py.Group):
        for child, sub in nodes.items():
            if isinstance(sub, h5py.Group):
                found = _unknown_node_type(sub, f"{name}.{child}" if name else child)
                if found:
                    return found
    return None


# --- flattening nested graphs -----------------------------------------------------------------------

def kind_of(node) -> str:
    return PASS if node is None else type(node).__name__


def flatten_graph(graph) -> tuple[dict, list[tuple[str, str]]]:
    """Nodes (name -> node; None for a pass-through) and edges of ``graph`` with every nested NIRGraph
    inlined (see the module docstring). Edges naming missing nodes are a UserError."""
    nodes: dict = {}
    edges: list[tuple[str, str]] = []

    def inline(g, prefix: str, top: bool) -> tuple[str | None, str | None]:
        entry = exit_ = None
        local = dict(g.nodes)
        for name, node in local.items():
            full = prefix + name
            if node is None:   # None marks pass-throughs here: an empty node of the file must not become one
                raise UserError(f"NIR node {full!r} is empty (its exporter could not translate that layer)")
            kind = kind_of(node)
            if kind == "NIRGraph":
                inline(node, full + ".", False)
            elif kind in ("Input", "Output") and not top:
                nodes[full] = None
                if kind == "Input":
                    entry = full if entry is None else "ambiguous"
                else:
                    exit_ = full if exit_ is None else "ambiguous"
            else:
                nodes[full] = node

        def resolve(name: str, as_source: bool) -> str:
            node = local.get(name)
            if node is not None and kind_of(node) == "NIRGraph":
                sub_in, sub_out = boundaries[prefix + name]
                chosen = sub_out if as_source else sub_in
                if chosen in (None, "ambiguous"):
                    raise UserError(f"NIR subgraph {prefix + name!r} must have exactly one "
                                    f"{'Output' if as_source else 'Input'} node to be connected")
                return chosen
            if name not in local and not (prefix + name) in nodes:
                raise UserError(f"NIR edge names a node that does not exist: {prefix + name!r}")
            return prefix + name

        for src, dst in g.edges:
            edges.append((resolve(src, True), resolve(dst, False)))
        boundaries[prefix.rstrip(".")] = (entry, exit_)
        return entry, exit_

    boundaries: dict[str, tuple] = {}
    inline(graph, "", True)
    return nodes, edges


# --- parameters --------------------------------------------------------------------------------------

NEURON_PARAMETERS = {   # NIR field -> plan name
    "LIF": {"tau": "tau", "r": "r", "v_leak": "v_leak", "v_threshold": "v_threshold", "v_reset": "v_reset"},
    "IF": {"r": "r", "v_threshold": "v_threshold", "v_reset": "v_reset"},
    "I": {"r": "r"},
    "LI": {"tau": "tau", "r": "r", "v_leak": "v_leak"},
    "CubaLIF": {"tau_syn": "tau_syn", "tau_mem": "tau", "r": "r", "v_leak": "v_leak", "v_threshold": "v_threshold",
                "v_reset": "v_reset", "w_in": "w_in"},
    "CubaLI": {"tau_syn": "tau_syn", "tau_mem": "tau", "r": "r", "v_leak": "v_leak", "w_in": "w_in"},
    "Threshold": {"threshold": "v_threshold"},
}
OPTIONAL_PARAMETERS = {"v_reset": 0.0, "w_in": 1.0}


def _raw_params(name: str, node, kind: str) -> dict[str, np.ndarray]:
    raw = {}
    for nir_field, ours in NEURON_PARAMETERS[kind].items():
        value = getattr(node, nir_field, None)
        if value is None:
            if ours not in OPTIONAL_PARAMETERS:
                raise UserError(f"NIR node {name!r} ({kind}) has no {nir_field}")
            value = OPTIONAL_PARAMETERS[ours]
        try:
            raw[ours] = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise UserError(f"NIR node {name!r} ({kind}): {nir_field} is not numeric") from None
    return raw


def _check_finite(nodes: dict) -> None:
    for name, node in nodes.items():
        if node is None:
            continue
        for attr, value in vars(node).items():
            if attr in ("input_type", "output_type", "metadata") or isinstance(value, (str, bytes)) or value is None:
                continue
            try:
                arr = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                continue
            if not np.all(np.isfinite(arr)):
                raise UserError(f"NIR node {name!r} ({kind_of(node)}) has non-finite values in {attr}")


def _neuron_params(name: str, kind: str, raw: dict[str, np.ndarray], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The parameters as flat per-neuron arrays for a population of ``shape``: broadcast (numpy rules:
    one value for all, or e.g. one per channel as (C, 1, 1)), or of the same size in another layout."""
    n = int(np.prod(shape))
    p = {}
    for key, a in raw.items():
        try:
            p[key] = np.broadcast_to(a, shape).reshape(-1).astype(float)
        except ValueError:
            if a.size != n:
                raise UserError(f"shape mismatch: {n} features {tuple(shape)} reach node {name!r} ({kind}) whose "
                                f"{key} has shape {a.shape}") from None
            p[key] = a.reshape(-1).astype(float)
    for key in ("tau", "tau_syn"):
        if key in p and np.any(p[key] <= 0):
            raise UserError(f"NIR node {name!r} ({kind}) has non-positive {key}")
    return p


def _shape_of_io(node) -> tuple[int, ...] | None:
    types = node.output_type if type(node).__name__ == "Input" else node.input_type
    value = next(iter((types or {}).values()), None)
    if value is None:
        return None
    shape = tuple(int(s) for s in np.atleast_1d(np.asarray(value)))
    return shape


# --- the plan ----------------------------------------------------------------------------------------

def plan_graph(graph, options: NIRImportOptions = NIRImportOptions()) -> GraphPlan:
    """Validate a NIR graph and reduce it to populations and projections (see the module docstring)."""
    import scipy.sparse as sp

    from .nir_maps import linear_map

    nodes, edges = flatten_graph(graph)
    for name, node in nodes.items():
        kind = kind_of(node)
        if kind not in SUPPORTED and kind != PASS:
            raise UserError(f"unsupported NIR node type {kind} (node {name!r}); supported: {', '.join(SUPPORTED)}")
    _check_finite(nodes)
    succ: dict[str, list[str]] = {name: [] for name in nodes}
    for src, dst in edges:
        if src not in nodes or dst not in nodes:
            raise UserError(f"NIR edge {src!r} -> {dst!r} names a node that does not exist")
        succ[src].append(dst)
    inputs = [n for n, node in nodes.items() if kind_of(node) == "Input"]
    if len(inputs) != 1:
        raise UserError(f"the NIR graph must have exactly one Input node, found {len(inputs)}")
    input_shape = _shape_of_io(nodes[inputs[0]])
    if not input_shape or min(input_shape) < 1:
        raise UserError(f"the NIR Input node {inputs[0]!r} has no shape")
    raw_params = {name: _raw_params(name, node, kind_of(node)) for name, node in nodes.items()
                  if kind_of(node) in NEURON_KINDS}
    populations: dict[str, Population] = {inputs[0]: Population(inputs[0], "Input", input_shape)}
    projections: list[Projection] = []
    output_of: dict[str, str] = {}       # Output node -> the population it records
    in_degree = {name: sum(dst == name for _, dst in edges) for name in nodes}
    summing_outputs = {name for name, node in nodes.items() if kind_of(node) == "Output" and in_degree[name] > 1}
    node_maps: dict[str, tuple] = {}     # linear node -> (M, b, in_shape, out_shape), from its first visit

    def node_map(name: str, kind: str, shape: tuple):
        if name not in node_maps:
            m, b, out_shape = linear_map(name, nodes[name], kind, tuple(shape))
            node_maps[name] = (m, b, tuple(shape), out_shape)
        m, b, in_shape, out_shape = node_maps[name]
        if int(np.prod(in_shape)) != int(np.prod(shape)):
            raise UserError(f"shape mismatch: node {name!r} ({kind}) is reached by inputs of shapes {in_shape} and "
                            f"{tuple(shape)}")
        return m, b, out_shape

    def reach_population(source: str | None, name: str, paths, shape, pending: list) -> None:
        kind = kind_of(nodes[name])
        n = int(np.prod(shape))
        if kind == "Input":
            raise UserError(f"NIR edge into the Input node {name!r}")
        if source is not None and any(delay > 0 for delay in paths) and not populations[source].spiking:
            raise UserError(f"Delay after the graded node {source!r} ({populations[source].kind}) is not supported")
        if name not in populations:
            if kind == "Output":
                populations[name] = Population(name, READOUT, tuple(shape))
                output_of[name] = name
            else:
                populations[name] = Population(name, kind, tuple(shape),
                                               _neuron_params(name, kind, raw_params[name], tuple(shape)))
                pending.append(name)
        elif populations[name].size != n:
            raise UserError(f"shape mismatch: {n} features reach node {name!r} ({kind}) of size "
                            f"{populations[name].size}")
        if source is None:       # a bias walk: paths is the constant vector
            biases[name] = biases.get(name, np.zeros(n)) + paths
            return
        for delay, weight in sorted(paths.items()):
            weight = sp.identity(n, format="csr") if weight is None else sp.csr_matrix(weight)
            projections.append(Projection(source, name, weight, delay if delay > 0 else None,
                                          graded=not populations[source].spiking))

    def add_path(paths: dict, delay: float, weight, n: int) -> None:
        if delay in paths:   # two routes with the same delay: one matrix
            old = paths[delay]
            paths[delay] = (sp.identity(n, format="csr") if old is None else old) + \
                (sp.identity(n, format="csr") if weight is None else weight)
        else:
            paths[delay] = weight

    def walk(source: str | None, name: str, paths, shape, seen: tuple, pending: list) -> None:
        """Follow edges from a population through Delay and linear nodes to populations / Outputs.
        ``paths``: {delay (s): the weight matrix so far (None: the identity)}; a Delay node splits the
        features it delays by different amounts into separate paths. ``source`` None: carry a linear
        node's bias (``paths``: the constant vector, which a Delay leaves as it is) to the populations."""
        node = nodes[name]
        kind = kind_of(node)
        if kind in NEURON_KINDS or kind == "Input":
            reach_population(source, name, paths, shape, pending)
            return
        if name in seen:
            raise UserError(f"the NIR graph has a cycle through {name!r} without a neuron (not supported)")
        n = int(np.prod(shape))
        if kind == "Output":
            declared = _shape_of_io(node)
            if declared is not None and int(np.prod(declared)) not in (0, n):
                raise UserError(f"shape mismatch: Output node {name!r} expects {declared}, gets {tuple(shape)}")
            direct = source is not None and list(paths.items()) == [(0.0, None)]
            if direct and name not in summing_outputs:
                if output_of.get(name, source) != source:
                    raise UserError(f"Output node {name!r} is fed by several nodes through pass-throughs "
                                    "(not supported)")
                output_of[name] = source
            else:   # through linear nodes or delays, a bias, or from several edges: a graded readout
                reach_population(source, name, paths, shape, pending)
            return
        if kind == "Delay":
            d = np.asarray(node.delay, dtype=float)
            try:
                d = np.broadcast_to(d.reshape(-1) if d.size > 1 else d.reshape(()), (n,)).astype(float)
            except ValueError:
                raise UserError(f"shape mismatch: Delay node {name!r} has {d.size} delays for {n} features") from None
            if np.any(d < 0):
                raise UserError(f"Delay node {name!r} has negative delays")
            if source is None:
                new_paths = paths
            else:
                new_paths = {}
                for delay, weight in paths.items():
                    for value in np.unique(d):
                        rows = d == value
                        if rows.all():
                            part = weight
                        else:
                            mask = sp.diags(rows.astype(float), format="csr")
                            part = mask if weight is None else mask @ weight
                        add_path(new_paths, delay + float(value), part, n)
            new_shape = shape
        elif kind == PASS:
            new_paths, new_shape = paths, shape
        else:
            m, _, new_shape = node_map(name, kind, shape)
            if source is None:
                new_paths = paths if m is None else m @ paths
            else:
                new_paths = {delay: weight if m is None else (m if weight is None else m @ weight)
                             for delay, weight in paths.items()}
        if not succ[name]:
            raise UserError(f"NIR node {name!r} ({kind}) leads nowhere")
        for nxt in succ[name]:
            walk(source, nxt, new_paths, new_shape, seen + (name,), pending)

    pending = [inputs[0]]
    while pending:
        name = pending.pop(0)
        pop = populations[name]
        for nxt in succ[name]:
            walk(name, nxt, {0.0: None}, pop.shape, (name,), pending)
    for name, node in nodes.items():
        if kind_of(node) in NEURON_KINDS and name not in populations:
            raise UserError(f"NIR node {name!r} ({kind_of(node)}) receives no input")
    if not output_of:
        raise UserError("the NIR graph has no Output node fed by a neuron or the Input")
    # each linear node's bias is a constant input, counted once however many paths run through the node
    biases: dict[str, np.ndarray] = {}
    for name, (m, b, in_shape, out_shape) in node_maps.items():
        if np.any(b != 0):
            for nxt in succ[name]:
                walk(None, nxt, np.asarray(b, dtype=float), out_shape, (name,), [])
    _mark_recurrent_and_depth(populations, projections, inputs[0])
    metadata = dict(getattr(graph, "metadata", {}) or {})
    outputs = [output_of[name] for name in nodes if name in output_of]     # in the graph's node order
    return GraphPlan(populations, projections, inputs[0], outputs, metadata, options.resolved(metadata),
                     {name: biases.get(name, np.zeros(pop.size)) for name, pop in populations.items()})


def _mark_recurrent_and_depth(populations: dict[str, Population], projections: list[Projection], root: str) -> None:
    """Recurrent projections: those that close a cycle in a depth-first walk from ``root`` in projection
    order. Depth: the longest path from ``root`` over the other (feed-forward) projections."""
    out: dict[str, list[Projection]] = {name: [] for name in populations}
    for proj in projections:
        out[proj.source].append(proj)
    state: dict[str, int] = {}          # 1: on the walk's stack, 2: done
    order: list[str] = []               # reverse post-order = a topological order of the forward edges
    stack = [(root, iter(out[root]))]
    state[root] = 1
    while stack:
        name, it = stack[-1]
        proj = next(it, None)
        if proj is None:
            state[name] = 2
            order.append(name)
            stack.pop()
            continue
        seen = state.get(proj.target, 0)
        if seen == 1:
            proj.recurrent = True
        elif seen == 0:
            state[proj.target] = 1
            stack.append((proj.target, iter(out[proj.target])))
    depth = {name: 0 for name in populations}
    for name in reversed(order):
        for proj in out[name]:
            if not proj.recurrent:
                depth[proj.target] = max(depth[proj.target], depth[name] + 1)
    for name, pop in populations.items():
        pop.depth = depth[name]


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
    links = {(p.source, p.target) for p in plan.projections}   # a delayed layer: one projection per delay
    if kinds not in expected or links != {(a.name, b.name) for a, b in zip(chain, chain[1:])}:
        raise UserError(f"{path}: the graph ({' -> '.join(kinds)}) is not the layout of a brainsim IPD model")

    def weight_into(name):
        return sum(p.dense_weight() for p in plan.projections if p.target == name).T.astype(np.float32)

    def delays_into(name, dt_s):
        """Learned delays (steps) of the synapses into ``name``, or None if the graph has no Delay."""
        into = [p for p in plan.projections if p.target == name]
        if all(p.delay_s is None for p in into):
            return None
        steps = np.zeros((plan.populations[into[0].source].size, plan.populations[name].size), dtype=np.int64)
        for p in into:
            post, pre = p.weight.nonzero()
            steps[pre, post] = int(round((p.delay_s or 0.0) / dt_s))
        return steps

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
            classes=dataclass_from(IPDClasses, meta.get("classes")), source=str(path),
            delay_steps=None if hidden is None else delays_into(hidden.name, dt_s))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{side}: invalid model description ({exc})") from None
