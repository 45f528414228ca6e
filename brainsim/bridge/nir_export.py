"""Export the project's trained IPD networks to NIR, with a side file for what NIR cannot say.

Graph (node names fixed)::

    input (Input, n_in) -> fc1 (Affine, W1^T, bias 0) -> hidden (LIF) -> fc2 (Affine, W2^T) -> output (LI or LIF) -> out (Output)
    membrane-only model:   input -> fc2 -> output -> out
    learned delays:        input -> fanout (Linear) -> delays (Delay) -> fc1 (Linear, W1^T) -> hidden -> ...

With learned input-to-hidden delays (``spec.delay_steps``), every synapse gets its own feature:
``fanout`` copies input ``i`` to feature ``i * n_hidden + j`` (weight 1), ``delays`` delays that
feature by ``delay_steps[i, j] * dt`` seconds, and ``fc1`` weights it by ``W1[i, j]`` onto hidden
neuron ``j``. Any NIR reader that implements Delay runs the delays; brainsim's import of the export
recovers W1 and the delays.

Neuron parameters follow snnTorch's convention, so that one Euler step of NIR's ODE with the model's
dt is the torch update's decay: ``tau = dt / (1 - alpha)``, ``r = tau / dt``, ``v_leak = 0``,
``v_reset = 0``, ``v_threshold = theta`` (alpha: the spec's decay factors, float32 as torch used them).

The side file ``GRAPH.nir.brainsim.json`` holds what NIR lacks: the network's configuration (``net``,
a :class:`~brainsim.netspec.NetConfig`), the readout (oc / max / fr / pop and its class grouping),
the classes, the stimulus, dt, the torch time constants, and the discretisation of the project's
neurons, which differs from NIR's generic LIF: the spike is emitted one step after the crossing and
the multiplicative reset acts one step later (:data:`brainsim.netspec.DISCRETISATION`). A
generic NIR reader (``brainsim nir-run``, snnTorch, Norse) runs the same weights with its own LIF
semantics; ``brainsim compare --model GRAPH.nir`` uses the side file and reproduces torch exactly.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import atomic_path, check_writable, write_json
from ..netspec.ipd import DISCRETISATION, READOUT_DEFINITIONS, IPDNetworkSpec
from .nir_import import side_file

SIDE_FORMAT = "brainsim.ipd-nir-side"
SIDE_VERSION = 1   # readers of version 1 ignore keys they do not know ("net" was added later)


def _lif_like(alpha: np.ndarray, dt_s: float):
    alpha = np.asarray(alpha, dtype=np.float64)
    if np.any(alpha >= 1.0) or np.any(alpha <= 0.0):
        raise UserError("decay factors must lie in (0, 1) to be written as NIR time constants")
    tau = dt_s / (1.0 - alpha)
    return tau, tau / dt_s


def delayed_projection_nodes(weight: np.ndarray, delay_s: np.ndarray, names=("fanout", "delays", "fc1")) -> dict:
    """A projection with one delay per synapse as NIR nodes: ``fanout`` (Linear) copies input ``i`` to
    feature ``i * n_post + j``, ``delays`` (Delay) delays it by ``delay_s[i, j]`` seconds, and the last
    (Linear) weights it by ``weight[i, j]`` onto ``j``. ``weight``, ``delay_s``: (n_pre, n_post)."""
    import nir

    n_pre, n_post = weight.shape
    synapse = np.arange(n_pre * n_post)
    fanout = np.zeros((n_pre * n_post, n_pre))
    fanout[synapse, synapse // n_post] = 1.0
    weights = np.zeros((n_post, n_pre * n_post))
    weights[synapse % n_post, synapse] = np.asarray(weight, dtype=np.float64).ravel()
    fan, delay, linear = names
    return {fan: nir.Linear(weight=fanout), delay: nir.Delay(delay=np.asarray(delay_s, dtype=np.float64).ravel()),
            linear: nir.Linear(weight=weights)}


def _delayed_input_nodes(spec: IPDNetworkSpec, dt_s: float) -> dict:
    """fanout / delays / fc1 of a network with learned input-to-hidden delays (module docstring)."""
    return delayed_projection_nodes(spec.W1, spec.delay_steps.astype(np.float64) * dt_s)


def spec_to_graph(spec: IPDNetworkSpec):
    """The NIR graph of a trained IPD network (see the module docstring)."""
    import nir

    dt_s = spec.net.dt_ms * 1e-3
    nodes = {"input": nir.Input(input_type={"input": np.array([spec.n_inputs])})}
    edges = []
    previous = "input"
    if spec.has_hidden:
        tau, r = _lif_like(spec.alpha_hidden, dt_s)
        n = spec.n_hidden
        nodes["hidden"] = nir.LIF(tau=tau, r=r, v_leak=np.zeros(n), v_threshold=np.full(n, float(spec.net.threshold)),
                                  v_reset=np.zeros(n))
        if spec.delay_steps is None:
            nodes["fc1"] = nir.Affine(weight=spec.W1.T.astype(np.float64), bias=np.zeros(n))
            edges += [("input", "fc1"), ("fc1", "hidden")]
        else:
            nodes.update(_delayed_input_nodes(spec, dt_s))
            edges += [("input", "fanout"), ("fanout", "delays"), ("delays", "fc1"), ("fc1", "hidden")]
        previous = "hidden"
    tau, r = _lif_like(spec.alpha_out, dt_s)
    n = spec.n_out
    nodes["fc2"] = nir.Affine(weight=spec.W2.T.astype(np.float64), bias=np.zeros(n))
    if spec.net.spiking_output:
        nodes["output"] = nir.LIF(tau=tau, r=r, v_leak=np.zeros(n), v_threshold=np.full(n, float(spec.net.threshold)),
                                  v_reset=np.zeros(n))
    else:
        nodes["output"] = nir.LI(tau=tau, r=r, v_leak=np.zeros(n))
    nodes["out"] = nir.Output(output_type={"output": np.array([n])})
    edges += [(previous, "fc2"), ("fc2", "output"), ("output", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "brainsim", "dt_s": dt_s})


def side_metadata(spec: IPDNetworkSpec) -> dict:
    """The side file's content: what NIR cannot say about the network (JSON-ready)."""
    net = spec.net
    return {
        "format": SIDE_FORMAT, "format_version": SIDE_VERSION,
        "readout": net.readout, "n_classes": net.n_classes,
        "pop_per_class": net.pop_per_class if net.readout == "pop" else 1, "threshold": net.threshold,
        "dt_ms": net.dt_ms,
        "tau_hidden_ms": None if spec.tau_hidden_ms is None else np.asarray(spec.tau_hidden_ms).tolist(),
        "tau_out_ms": np.asarray(spec.tau_out_ms).tolist(),
        "stimulus": asdict(spec.stimulus), "classes": asdict(spec.classes),
        "discretisation": DISCRETISATION,
        "readout_definition": dict(READOUT_DEFINITIONS),
        "source": spec.source,
        "net": asdict(net),
    }


def export_nir(spec: IPDNetworkSpec, path) -> tuple[Path, Path]:
    """Write ``path`` (NIR, HDF5) and its side file, each atomically. Returns both paths."""
    import nir

    path = Path(path)
    if path.suffix != ".nir":
        raise UserError(f"{path}: NIR files must end in .nir")
    check_writable(path)
    graph = spec_to_graph(spec)
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(str(tmp), graph)
    side = side_file(path)
    write_json(side, side_metadata(spec))
    return path, side
