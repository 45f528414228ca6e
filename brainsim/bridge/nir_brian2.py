"""Simulate a NIR graph in Brian2 on a batch of 0/1 input arrays (the ``nir-run`` command).

The plan of :mod:`brainsim.bridge.nir_import` becomes one Brian2 network in which the B samples of
the batch run side by side (feature ``f`` of sample ``b`` is neuron ``b * n + f`` of every
population; projections connect only within a sample). Time step: one bin of the input per step,
of length ``dt`` (seconds; the Euler step of the node equations).

Schedule of one step (everything in Brian2's ``synapses`` slot, ordered by topological depth k of
the populations): the Input emits the step's spikes (thresholds slot); then for k = 1, 2, ...:
the projections into layer k deliver the spikes emitted in this step by their sources
(``I += w``; delayed projections deliver spikes of earlier steps), layer k updates (the equations
in :mod:`brainsim.bridge.nir_import`), and its spikes ``z_t`` are emitted. Outputs record spikes
(``SpikeMonitor``) or, for graded populations, ``v`` after the update (``StateMonitor``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from .nir_import import GraphPlan, Population

if TYPE_CHECKING:  # annotations only
    import brian2

    from ..devices import BrianSession

NEURON_EQUATIONS = """
v : 1
z : 1            # spike of this step (0/1)
I : 1            # input of this step (sum of delivered weights)
I_s : 1          # synaptic current (CubaLIF / CubaLI)
bias : 1 (constant)
k_mem : 1 (constant)      # dt / tau (IF: dt * r, gain folded into g_in)
g_in : 1 (constant)       # r (LIF, LI, CubaLIF, CubaLI); 1 (IF, Threshold)
v_leak : 1 (constant)
v_threshold : 1 (constant)
v_reset : 1 (constant)
k_syn : 1 (constant)      # dt / tau_syn
w_in : 1 (constant)
"""

UPDATES = {
    "LIF": """
v = v_reset*z + v*(1 - z)
v = v + k_mem*(v_leak - v + g_in*(I + bias))
z = int(v > v_threshold)
I = 0
""",
    "IF": """
v = v_reset*z + v*(1 - z)
v = v + k_mem*(I + bias)
z = int(v > v_threshold)
I = 0
""",
    "LI": """
v = v + k_mem*(v_leak - v + g_in*(I + bias))
I = 0
""",
    "CubaLIF": """
I_s = I_s + k_syn*(w_in*(I + bias) - I_s)
v = v_reset*z + v*(1 - z)
v = v + k_mem*(v_leak - v + g_in*I_s)
z = int(v > v_threshold)
I = 0
""",
    "CubaLI": """
I_s = I_s + k_syn*(w_in*(I + bias) - I_s)
v = v + k_mem*(v_leak - v + g_in*I_s)
I = 0
""",
    "Threshold": """
z = int(I + bias > v_threshold)
I = 0
""",
}


@dataclass(frozen=True, eq=False)
class NIRNetwork:
    """A NIR graph as one Brian2 network, the batch side by side."""

    network: brian2.Network
    groups: dict[str, brian2.NeuronGroup | brian2.SpikeGeneratorGroup]   # population name -> group
    monitors: dict[str, brian2.SpikeMonitor | brian2.StateMonitor]      # output population -> monitor
    n_steps: int
    batch: int


def _set_params(group, pop: Population, batch: int, dt_s: float, bias: np.ndarray) -> None:
    p = pop.params
    tile = lambda a: np.tile(np.asarray(a, dtype=float), batch)  # noqa: E731
    group.bias = tile(bias)
    if pop.kind in ("LIF", "LI", "CubaLIF", "CubaLI"):
        group.k_mem = tile(dt_s / p["tau"])
        group.g_in = tile(p["r"])
        group.v_leak = tile(p["v_leak"])
    if pop.kind == "IF":
        group.k_mem = tile(dt_s * p["r"])
    if pop.kind in ("CubaLIF", "CubaLI"):
        group.k_syn = tile(dt_s / p["tau_syn"])
        group.w_in = tile(p["w_in"])
    if "v_threshold" in p:
        group.v_threshold = tile(p["v_threshold"])
    if "v_reset" in p:
        group.v_reset = tile(p["v_reset"])


def build_nir_network(plan: GraphPlan, inputs: np.ndarray, dt_s: float) -> NIRNetwork:
    """Brian2 network for ``inputs`` of shape (T, B, n_inputs) (0/1)."""
    import brian2 as b2

    T, batch, n_in = inputs.shape
    if n_in != plan.n_inputs:
        raise UserError(f"shape mismatch: the input has {n_in} features, the graph's Input node {plan.n_inputs}")
    dt = dt_s * b2.second
    step, sample, feature = np.nonzero(inputs)
    order = np.lexsort((sample * n_in + feature, step))
    groups: dict = {}
    objects = []
    inp = plan.populations[plan.input]
    groups[inp.name] = b2.SpikeGeneratorGroup(batch * n_in, (sample * n_in + feature)[order],
                                              step[order] * dt, dt=dt, name="nir_input")
    objects.append(groups[inp.name])
    bias = {name: np.zeros(pop.size) for name, pop in plan.populations.items()}
    for proj in plan.projections:
        bias[proj.target] = bias[proj.target] + proj.bias
    for pop in plan.ordered():
        if pop.kind == "Input":
            continue
        spiking = pop.spiking
        group = b2.NeuronGroup(batch * pop.size, NEURON_EQUATIONS, threshold="z > 0.5" if spiking else None,
                               reset="" if spiking else None, dt=dt, name=f"nir_{len(groups)}_{pop.kind.lower()}")
        _set_params(group, pop, batch, dt_s, bias[pop.name])
        group.run_regularly(UPDATES[pop.kind], when="synapses", order=3 * pop.depth + 1, name=f"{group.name}_update")
        if spiking:
            group.thresholder["spike"].when = "synapses"
            group.thresholder["spike"].order = 3 * pop.depth + 2
        groups[pop.name] = group
        objects.append(group)
    for n_proj, proj in enumerate(plan.projections):
        src, dst = plan.populations[proj.source], plan.populations[proj.target]
        table = b2.TimedArray(np.ascontiguousarray(proj.weight.T, dtype=float), dt=1 * b2.second,
                              name=f"nir_w{n_proj}")
        syn = b2.Synapses(groups[src.name], groups[dst.name], "w : 1 (constant)", on_pre="I_post += w", dt=dt,
                          namespace={table.name: table}, name=f"nir_syn{n_proj}")
        lookup = f"{table.name}((i % {src.size}) * second, j % {dst.size})"
        syn.connect(j=f"k for k in range((i // {src.size}) * {dst.size}, (i // {src.size} + 1) * {dst.size}) "
                      f"if {lookup} != 0")
        syn.w = lookup
        if proj.delay_s is not None:
            steps = np.rint(np.asarray(proj.delay_s) / dt_s)
            delay_table = b2.TimedArray(steps[None, :], dt=1 * b2.second, name=f"nir_d{n_proj}")
            syn.namespace[delay_table.name] = delay_table
            syn.delay = f"{delay_table.name}(0 * second, i % {src.size}) * {dt_s!r} * second"
        syn.pre.when = "synapses"
        syn.pre.order = 3 * dst.depth
        objects.append(syn)
    monitors = {}
    for name in dict.fromkeys(plan.outputs):
        pop = plan.populations[name]
        if pop.spiking:
            mon = b2.SpikeMonitor(groups[name], record=True, name=f"nir_out_{len(monitors)}")
        else:
            mon = b2.StateMonitor(groups[name], "v", record=True, dt=dt, when="end", name=f"nir_out_{len(monitors)}")
        monitors[name] = mon
        objects.append(mon)
    return NIRNetwork(b2.Network(*objects), groups, monitors, T, batch)


def read_outputs(net: NIRNetwork, plan: GraphPlan, dt_s: float) -> np.ndarray:
    """Outputs as one array (T, B, features of all Output nodes concatenated)."""
    parts = []
    T, batch = net.n_steps, net.batch
    for name in plan.outputs:
        pop = plan.populations[name]
        mon = net.monitors[name]
        if pop.spiking:
            out = np.zeros((T, batch, pop.size), dtype=np.uint8)
            idx = np.asarray(mon.i[:], dtype=np.int64)
            steps = np.rint(np.asarray(mon.t[:] / 1.0) / dt_s).astype(np.int64)
            out[steps, idx // pop.size, idx % pop.size] = 1
        else:
            v = np.asarray(mon.v[:])            # (B * n, T)
            out = v.T.reshape(T, batch, pop.size)
        parts.append(out)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p.astype(float) for p in parts], axis=2)


def simulate_nir(plan: GraphPlan, inputs: np.ndarray, dt_s: float, session: BrianSession) -> np.ndarray | None:
    """Build and run inside an active :class:`~brainsim.devices.BrianSession`; None if it only built."""
    import brian2 as b2

    net = build_nir_network(plan, inputs, dt_s)
    ran = session.run(net.network, net.n_steps * dt_s * b2.second)
    if not ran:
        return None
    return read_outputs(net, plan, dt_s)
