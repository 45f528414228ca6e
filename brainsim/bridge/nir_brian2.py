"""Simulate a NIR graph in Brian2 on a batch of 0/1 input arrays (the ``nir-run`` command).

The plan of :mod:`brainsim.bridge.nir_import` becomes one Brian2 network in which the B samples of
the batch run side by side (feature ``f`` of sample ``b`` is neuron ``b * n + f`` of every
population; projections connect only within a sample). Time step: one bin of the input per step,
of length ``dt`` (seconds; the Euler step of the node equations).

Schedule of one step (everything in Brian2's ``synapses`` slot, ordered by topological depth k of
the populations): the Input emits the step's spikes (thresholds slot); then for k = 1, 2, ...:
the projections into layer k deliver the spikes that their sources' spike spaces hold (``I += w``):
a feed-forward source (depth < k) has already emitted this step's spikes, a recurrent source
(depth >= k) still holds the previous step's, which is the recurrent edge's one step of delay;
delayed projections deliver spikes of earlier steps; layer k updates (the equations in
:mod:`brainsim.bridge.nir_import`), and its spikes ``z_t`` are emitted. Each projection is one
``Synapses`` object whose connections (``i``, ``j``) and weights are the non-zero entries of its
sparse weight matrix, computed with numpy (exact convolutions and pooling). Outputs and recorded
nodes are read with a ``SpikeMonitor`` (spikes) or a ``StateMonitor`` (``v``, ``I_s`` at the end of
each step).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from .nir_import import READOUT, GraphPlan, NIRImportOptions, Population

if TYPE_CHECKING:  # annotations only
    import brian2

    from ..devices import BrianSession

NEURON_EQUATIONS = """
v : 1
z : 1            # spike of this step (0/1)
I : 1            # input of this step (sum of delivered weights)
I_s : 1          # synaptic current (CubaLIF / CubaLI)
bias : 1 (constant)
k_mem : 1 (constant)      # dt / tau (IF, I: dt * r or r, gain folded in)
g_in : 1 (constant)       # r (LIF, LI, CubaLIF, CubaLI); 1 (IF, I, Threshold)
v_leak : 1 (constant)
v_threshold : 1 (constant)
v_reset : 1 (constant)
k_syn : 1 (constant)      # dt / tau_syn
w_in : 1 (constant)
"""

RESET_TO_VALUE = "v = v_reset*z + v*(1 - z)"      # before integrating: the previous step's spike
SUBTRACT_THRESHOLD = "v = v - v_threshold*z"       # after integrating, undecayed (snnTorch)
FIRE = "z = int(v > v_threshold)"
LEAKY_STEP = {"LIF": "v = v + k_mem*(v_leak - v + g_in*(I + bias))",
              "LI": "v = v + k_mem*(v_leak - v + g_in*(I + bias))",
              "IF": "v = v + k_mem*(I + bias)", "I": "v = v + k_mem*(I + bias)",
              "CubaLIF": "v = v + k_mem*(v_leak - v + g_in*I_s)",
              "CubaLI": "v = v + k_mem*(v_leak - v + g_in*I_s)"}
SYNAPTIC_STEP = "I_s = I_s + k_syn*(w_in*(I + bias) - I_s)"
RECORDABLE = ("spikes", "v", "I_s")


def update_code(kind: str, options: NIRImportOptions, n_graded: int = 0) -> str:
    """One step of a population of ``kind`` (the equations of :mod:`brainsim.bridge.nir_import`);
    ``n_graded``: its graded inputs ``I_g0, I_g1, ...`` (summed variables), added to ``I``."""
    if kind == "Threshold":
        code = "z = int(I + bias > v_threshold)\nI = 0\n"
    elif kind == READOUT:
        code = "v = I + bias\nI = 0\n"
    else:
        lines = []
        spiking = kind in ("LIF", "IF", "CubaLIF")
        cuba = kind in ("CubaLIF", "CubaLI")
        if cuba and options.cuba_current == "same":
            lines.append(SYNAPTIC_STEP)
        if spiking and options.reset == "zero":
            lines.append(RESET_TO_VALUE)
        lines.append(LEAKY_STEP[kind])
        if spiking and options.reset == "subtract":
            lines.append(SUBTRACT_THRESHOLD)
        if cuba and options.cuba_current == "previous":
            lines.append(SYNAPTIC_STEP)
        if spiking:
            lines.append(FIRE)
        lines.append("I = 0")
        code = "\n".join(lines) + "\n"
    graded = "".join(f" + I_g{k}" for k in range(n_graded))
    return code.replace("I + bias", f"I{graded} + bias")


@dataclass(frozen=True)
class RecordSpec:
    """What ``--record NODE[:VARIABLE]`` asks for: a population and one of :data:`RECORDABLE`."""

    node: str
    variable: str

    @property
    def key(self) -> str:
        return f"{self.node}:{self.variable}"


def parse_record(text: str, plan: GraphPlan) -> RecordSpec:
    """``NODE`` (its spikes, or v for a graded node) or ``NODE:VARIABLE`` (spikes, v, I_s); UserError
    naming the populations if NODE is not one."""
    node, _, variable = text.rpartition(":") if ":" in text else (text, "", "")
    if node not in plan.populations:
        raise UserError(f"--record {text}: no neuron node or Input {node!r} in the graph (nodes: "
                        f"{', '.join(sorted(plan.populations))})")
    pop = plan.populations[node]
    variable = variable or ("spikes" if pop.spiking else "v")
    allowed = ["spikes"] if pop.kind in ("Input", "Threshold") else (
        (["spikes"] if pop.spiking else []) + ["v"] + (["I_s"] if pop.kind in ("CubaLIF", "CubaLI") else []))
    if variable not in allowed:
        raise UserError(f"--record {text}: node {node!r} ({pop.kind}) has no {variable!r} (choose from "
                        f"{', '.join(allowed)})")
    return RecordSpec(node, variable)


@dataclass(frozen=True, eq=False)
class NIRNetwork:
    """A NIR graph as one Brian2 network, the batch side by side."""

    network: brian2.Network
    groups: dict[str, brian2.NeuronGroup | brian2.SpikeGeneratorGroup]   # population name -> group
    monitors: dict[str, brian2.SpikeMonitor | brian2.StateMonitor]      # RecordSpec.key -> monitor
    n_steps: int
    batch: int


def _set_params(group, pop: Population, batch: int, dt_s: float, bias: np.ndarray,
                options: NIRImportOptions) -> None:
    p = pop.params
    tile = lambda a: np.tile(np.asarray(a, dtype=float), batch)  # noqa: E731
    group.bias = tile(bias)
    if pop.kind in ("LIF", "LI", "CubaLIF", "CubaLI"):
        group.k_mem = tile(dt_s / p["tau"])
        group.g_in = tile(p["r"])
        group.v_leak = tile(p["v_leak"])
    if pop.kind in ("IF", "I"):
        group.k_mem = tile(p["r"] * (dt_s if options.integrator_input == "dt" else 1.0))
    if pop.kind in ("CubaLIF", "CubaLI"):
        group.k_syn = tile(dt_s / p["tau_syn"])
        group.w_in = tile(p["w_in"])
    if "v_threshold" in p:
        group.v_threshold = tile(p["v_threshold"])
    if "v_reset" in p:
        group.v_reset = tile(p["v_reset"])


def flat_inputs(plan: GraphPlan, inputs: np.ndarray) -> np.ndarray:
    """``inputs`` (time, batch, *input_shape) as (time, batch, features); UserError on a shape mismatch."""
    inputs = np.asarray(inputs)
    if inputs.ndim < 3 or tuple(inputs.shape[2:]) != tuple(plan.input_shape):
        raise UserError(f"shape mismatch: the input has shape {inputs.shape}, the graph's Input node takes "
                        f"(time, batch, {', '.join(map(str, plan.input_shape))})")
    return inputs.reshape(inputs.shape[0], inputs.shape[1], plan.n_inputs)


def build_nir_network(plan: GraphPlan, inputs: np.ndarray, dt_s: float,
                      records: tuple[RecordSpec, ...] = ()) -> NIRNetwork:
    """Brian2 network for ``inputs`` of shape (T, B, *input_shape) (0/1), monitoring the outputs and
    ``records``."""
    import brian2 as b2

    inputs = flat_inputs(plan, inputs)
    T, batch, n_in = inputs.shape
    options = plan.options
    dt = dt_s * b2.second
    step, sample, feature = np.nonzero(inputs)
    order = np.lexsort((sample * n_in + feature, step))
    groups: dict = {}
    objects = []
    inp = plan.populations[plan.input]
    groups[inp.name] = b2.SpikeGeneratorGroup(batch * n_in, (sample * n_in + feature)[order],
                                              step[order] * dt, dt=dt, name="nir_input")
    objects.append(groups[inp.name])
    bias = {name: plan.biases.get(name, np.zeros(pop.size)) for name, pop in plan.populations.items()}
    graded_in = {name: [n for n, proj in enumerate(plan.projections) if proj.target == name and proj.graded]
                 for name in plan.populations}
    for pop in plan.ordered():
        if pop.kind == "Input":
            continue
        spiking = pop.spiking
        n_graded = len(graded_in[pop.name])
        equations = NEURON_EQUATIONS + "".join(f"I_g{k} : 1  # graded input {k} (W v of a graded source)\n"
                                               for k in range(n_graded))
        group = b2.NeuronGroup(batch * pop.size, equations, threshold="z > 0.5" if spiking else None,
                               reset="" if spiking else None, dt=dt, name=f"nir_{len(groups)}_{pop.kind.lower()}")
        _set_params(group, pop, batch, dt_s, bias[pop.name], options)
        group.run_regularly(update_code(pop.kind, options, n_graded), when="synapses", order=3 * pop.depth + 1,
                            name=f"{group.name}_update")
        if spiking:
            group.thresholder["spike"].when = "synapses"
            group.thresholder["spike"].order = 3 * pop.depth + 2
        groups[pop.name] = group
        objects.append(group)
    for n_proj, proj in enumerate(plan.projections):
        src, dst = plan.populations[proj.source], plan.populations[proj.target]
        coo = proj.weight.tocoo()
        keep = coo.data != 0
        pre, post, w = coo.col[keep].astype(np.int64), coo.row[keep].astype(np.int64), coo.data[keep]
        if w.size == 0:
            continue
        offsets = np.arange(batch, dtype=np.int64)
        if proj.graded:   # W v of the source, summed into a variable of its own every step
            target_var = f"I_g{graded_in[dst.name].index(n_proj)}"
            syn = b2.Synapses(groups[src.name], groups[dst.name],
                              f"w : 1 (constant)\n{target_var}_post = w * v_pre : 1 (summed)", dt=dt,
                              name=f"nir_syn{n_proj}")
        else:
            syn = b2.Synapses(groups[src.name], groups[dst.name], "w : 1 (constant)", on_pre="I_post += w", dt=dt,
                              name=f"nir_syn{n_proj}")
        syn.connect(i=(pre[None, :] + offsets[:, None] * src.size).ravel(),
                    j=(post[None, :] + offsets[:, None] * dst.size).ravel())
        syn.w = np.tile(w, batch)
        if proj.delay_s is not None:
            syn.delay = float(np.rint(proj.delay_s / dt_s)) * dt
        if proj.graded:
            for updater in syn.summed_updaters.values():
                updater.when, updater.order = "synapses", 3 * dst.depth
        else:
            syn.pre.when = "synapses"
            syn.pre.order = 3 * dst.depth
        objects.append(syn)
    monitors = {}
    specs = [RecordSpec(name, "spikes" if plan.populations[name].spiking else "v") for name in plan.outputs]
    for spec in dict.fromkeys(specs + list(records)):
        name = f"nir_mon_{len(monitors)}"
        if spec.variable == "spikes":
            mon = b2.SpikeMonitor(groups[spec.node], record=True, name=name)
        else:
            mon = b2.StateMonitor(groups[spec.node], spec.variable, record=True, dt=dt, when="end", name=name)
        monitors[spec.key] = mon
        objects.append(mon)
    return NIRNetwork(b2.Network(*objects), groups, monitors, T, batch)


def read_record(net: NIRNetwork, plan: GraphPlan, spec: RecordSpec, dt_s: float) -> np.ndarray:
    """One monitored node as (T, B, *node shape): uint8 spikes, or the float variable after each step."""
    pop = plan.populations[spec.node]
    mon = net.monitors[spec.key]
    T, batch = net.n_steps, net.batch
    if spec.variable == "spikes":
        out = np.zeros((T, batch, pop.size), dtype=np.uint8)
        idx = np.asarray(mon.i[:], dtype=np.int64)
        steps = np.rint(np.asarray(mon.t[:] / 1.0) / dt_s).astype(np.int64)
        out[steps, idx // pop.size, idx % pop.size] = 1
    else:
        values = np.asarray(getattr(mon, spec.variable)[:])      # (B * n, T)
        out = values.T.reshape(T, batch, pop.size)
    return out.reshape(T, batch, *pop.shape)


def read_outputs(net: NIRNetwork, plan: GraphPlan, dt_s: float) -> np.ndarray:
    """Outputs as one array: (T, B, *shape) of the Output node's source, or for several Output nodes
    (T, B, features of all concatenated)."""
    parts = [read_record(net, plan, RecordSpec(name, "spikes" if plan.populations[name].spiking else "v"), dt_s)
             for name in plan.outputs]
    if len(parts) == 1:
        return parts[0]
    flat = [p.reshape(p.shape[0], p.shape[1], -1) for p in parts]
    if all(p.dtype == np.uint8 for p in flat):
        return np.concatenate(flat, axis=2)
    return np.concatenate([p.astype(float) for p in flat], axis=2)


@dataclass(frozen=True)
class NIRSimulation:
    """Outputs and recorded nodes of one run (None where the device only built the project)."""

    outputs: np.ndarray | None
    records: dict[str, np.ndarray]


def simulate_nir(plan: GraphPlan, inputs: np.ndarray, dt_s: float, session: BrianSession) -> np.ndarray | None:
    """Build and run inside an active :class:`~brainsim.devices.BrianSession`; the outputs
    (:func:`read_outputs`), None if the device only built the project."""
    return simulate_nir_recording(plan, inputs, dt_s, session).outputs


def simulate_nir_recording(plan: GraphPlan, inputs: np.ndarray, dt_s: float, session: BrianSession,
                           records: tuple[RecordSpec, ...] = ()) -> NIRSimulation:
    """:func:`simulate_nir` that also monitors ``records`` (:func:`parse_record`)."""
    import brian2 as b2

    net = build_nir_network(plan, inputs, dt_s, records)
    if not session.run(net.network, net.n_steps * dt_s * b2.second):
        return NIRSimulation(None, {})
    return NIRSimulation(read_outputs(net, plan, dt_s),
                         {spec.key: read_record(net, plan, spec, dt_s) for spec in records})
