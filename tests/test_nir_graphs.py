"""NIR graphs beyond feed-forward chains: import options, Scale / Flatten / I / nested graphs,
recurrent graphs, convolutions and pooling, recorded nodes, bad input.

Expectation: :class:`Reference`, a step-by-step numpy interpreter of the NIR semantics in
docs/nir.md written here independently of brainsim's importer. It evaluates the graph node by node
each step (pulling a node's inputs; an input still being evaluated, i.e. an edge that closes a
cycle, gives its value of the previous step), runs nested graphs as nodes with their own state,
and computes convolutions and pooling directly by sliding the kernel over the zero-padded input
(brainsim builds index arrays of synapses instead)."""
from __future__ import annotations

import numpy as np
import pytest

from brainsim.bridge.nir_brian2 import parse_record, simulate_nir_recording
from brainsim.bridge.nir_import import NIRImportOptions, plan_graph
from brainsim.devices import BrianSession, DeviceConfig
from brainsim.errors import UserError
from conftest import assert_one_line_error

nir = pytest.importorskip("nir")

DT = 1e-3


# --- the reference ------------------------------------------------------------------------------------

def conv_direct(x, w, stride, padding, dilation, groups):
    """PyTorch-style N-d cross-correlation of x (B, C_in, *n) with w (C_out, C_in/groups, *k)."""
    nd = w.ndim - 2
    stride, padding, dilation = (np.broadcast_to(np.asarray(a), (nd,)).astype(int) for a in (stride, padding, dilation))
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out_sizes = [(xp.shape[2 + a] - dilation[a] * (w.shape[2 + a] - 1) - 1) // stride[a] + 1 for a in range(nd)]
    out = np.zeros((x.shape[0], w.shape[0], *out_sizes))
    per_group_out, per_group_in = w.shape[0] // groups, w.shape[1]
    for co in range(w.shape[0]):
        for cl in range(per_group_in):
            ci = (co // per_group_out) * per_group_in + cl
            for k in np.ndindex(*w.shape[2:]):
                window = tuple(slice(k[a] * dilation[a], k[a] * dilation[a] + stride[a] * (out_sizes[a] - 1) + 1,
                                     stride[a]) for a in range(nd))
                out[:, co] += w[(co, cl, *k)] * xp[(slice(None), ci, *window)]
    return out


def pool_direct(x, kernel, stride, padding, average):
    kernel, stride, padding = (np.broadcast_to(np.asarray(a), (2,)).astype(int) for a in (kernel, stride, padding))
    xp = np.pad(x, [(0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])])
    ho = (xp.shape[2] - kernel[0]) // stride[0] + 1
    wo = (xp.shape[3] - kernel[1]) // stride[1] + 1
    out = np.zeros((x.shape[0], x.shape[1], ho, wo))
    for ky in range(kernel[0]):
        for kx in range(kernel[1]):
            out += xp[:, :, ky:ky + stride[0] * (ho - 1) + 1:stride[0], kx:kx + stride[1] * (wo - 1) + 1:stride[1]]
    return out / (kernel[0] * kernel[1]) if average else out


class Reference:
    """One NIR graph, stepped in numpy (nested graphs are Reference objects of their own)."""

    def __init__(self, graph, batch, dt=DT, reset="zero", cuba_current="same", integrator_input="dt"):
        self.graph, self.batch, self.dt = graph, batch, dt
        self.reset, self.cuba_current, self.integrator_input = reset, cuba_current, integrator_input
        self.state = {name: {} for name in graph.nodes}
        self.history = {name: [] for name in graph.nodes}
        self.prev: dict = {}
        self.subs = {name: Reference(node, batch, dt, reset, cuba_current, integrator_input)
                     for name, node in graph.nodes.items() if isinstance(node, nir.NIRGraph)}

    def step(self, x):
        self.now, self.busy, self.x = {}, set(), x
        for name in self.graph.nodes:
            self.pull(name)
        self.prev = self.now
        outs = [self.now[n] for n, node in self.graph.nodes.items() if isinstance(node, nir.Output)]
        return outs[0]

    def zeros_like_output(self, name):
        node = self.graph.nodes[name]
        shape = np.shape(getattr(node, "v_threshold", getattr(node, "threshold", getattr(node, "r", 0.0))))
        return np.zeros((self.batch, *shape))

    def pull(self, name):
        if name in self.now:
            return self.now[name]
        if name in self.busy:                       # an edge closing a cycle: last step's value
            return self.prev.get(name, self.zeros_like_output(name))
        self.busy.add(name)
        node = self.graph.nodes[name]
        if isinstance(node, nir.Input):
            inp = self.x
        else:
            inp = sum(self.pull(src) for src, dst in self.graph.edges if dst == name)
        out = self.apply(name, node, inp)
        self.busy.discard(name)
        self.now[name] = out
        return out

    def apply(self, name, node, x):
        B, dt, s = self.batch, self.dt, self.state[name]
        if isinstance(node, (nir.Input, nir.Output)):
            return x
        if isinstance(node, nir.NIRGraph):
            return self.subs[name].step(x)
        if isinstance(node, (nir.Affine, nir.Linear)):
            y = x.reshape(B, -1) @ np.asarray(node.weight).T
            return y + node.bias if isinstance(node, nir.Affine) else y
        if isinstance(node, nir.Scale):
            return x * node.scale
        if isinstance(node, nir.Flatten):
            start = node.start_dim + 1 if node.start_dim >= 0 else x.ndim + node.start_dim
            end = node.end_dim + 1 if node.end_dim >= 0 else x.ndim + node.end_dim
            return x.reshape(*x.shape[:start], -1, *x.shape[end + 1:])
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            y = conv_direct(x, node.weight, node.stride, node.padding, node.dilation, node.groups)
            return y + np.asarray(node.bias).reshape(-1, *([1] * (y.ndim - 2)))
        if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            return pool_direct(x, node.kernel_size, node.stride, node.padding, isinstance(node, nir.AvgPool2d))
        if isinstance(node, nir.Delay):
            self.history[name].append(x.reshape(B, -1))
            steps = np.rint(np.asarray(node.delay) / dt).astype(int).reshape(-1)
            steps = np.broadcast_to(steps, (x[0].size,)) if steps.size == 1 else steps
            t = len(self.history[name]) - 1
            out = np.zeros((B, x[0].size))
            for f, d in enumerate(steps):
                if t - d >= 0:
                    out[:, f] = self.history[name][t - d][:, f]
            return out.reshape(x.shape)
        # neurons: state starts at zero
        for key in ("v", "z", "i_syn"):
            s.setdefault(key, np.zeros_like(x, dtype=float))
        if isinstance(node, nir.Threshold):
            return (x > node.threshold).astype(float)
        k_int = dt if self.integrator_input == "dt" else 1.0
        if isinstance(node, nir.I):
            s["v"] = s["v"] + k_int * node.r * x
            return s["v"]
        if isinstance(node, nir.LI):
            s["v"] = s["v"] + dt / node.tau * (node.v_leak - s["v"] + node.r * x)
            return s["v"]
        cuba = isinstance(node, (nir.CubaLIF, nir.CubaLI))
        if cuba:
            new_i = s["i_syn"] + dt / node.tau_syn * (node.w_in * x - s["i_syn"])
            drive = new_i if self.cuba_current == "same" else s["i_syn"]
            s["i_syn"] = new_i
            if isinstance(node, nir.CubaLI):
                s["v"] = s["v"] + dt / node.tau_mem * (node.v_leak - s["v"] + node.r * drive)
                return s["v"]
        v, z = s["v"], s["z"]
        if self.reset == "zero":
            v = np.where(z > 0, node.v_reset, v)
        if isinstance(node, nir.IF):
            v = v + k_int * node.r * x
        elif cuba:
            v = v + dt / node.tau_mem * (node.v_leak - v + node.r * drive)
        else:
            v = v + dt / node.tau * (node.v_leak - v + node.r * x)
        if self.reset == "subtract":
            v = v - node.v_threshold * z
        s["v"], s["z"] = v, (v > node.v_threshold).astype(float)
        return s["z"]

    def run(self, x):
        return np.stack([self.step(x[t].astype(float)) for t in range(x.shape[0])])


def brian_run(graph, x, options=NIRImportOptions(), records=()):
    plan = plan_graph(graph, options)
    specs = tuple(parse_record(r, plan) for r in records)
    with BrianSession(DeviceConfig("runtime", target="numpy")) as session:
        sim = simulate_nir_recording(plan, x, DT, session, specs)
    return sim if records else sim.outputs


def spikes(rng, shape, p=0.3):
    return (rng.random(shape) < p).astype(np.uint8)


def lif(n, rng, **extra):
    return nir.LIF(tau=rng.uniform(3, 10, n) * DT, r=rng.uniform(0.8, 1.5, n), v_leak=np.zeros(n),
                   v_threshold=rng.uniform(0.3, 0.6, n), v_reset=rng.uniform(-0.1, 0.0, n), **extra)


def cubalif(n, rng):
    return nir.CubaLIF(tau_syn=rng.uniform(2, 5, n) * DT, tau_mem=rng.uniform(3, 10, n) * DT, r=rng.uniform(1, 2, n),
                       v_leak=np.zeros(n), v_threshold=rng.uniform(0.2, 0.5, n), v_reset=np.zeros(n),
                       w_in=rng.uniform(1, 3, n))


def inp(*shape):
    return nir.Input(input_type={"input": np.array(shape)})


def out(*shape):
    return nir.Output(output_type={"output": np.array(shape)})


# --- import options -----------------------------------------------------------------------------------

def options_graph(rng, n_in=6):
    """Input -> Affine -> LIF -> Affine -> CubaLIF -> Affine -> IF -> Output, plus an I node recorded."""
    nodes = {"in": inp(n_in), "a1": nir.Affine(weight=rng.normal(0.5, 0.6, (8, n_in)), bias=rng.normal(0, 0.05, 8)),
             "lif": lif(8, rng), "a2": nir.Affine(weight=rng.normal(0.4, 0.6, (7, 8)), bias=np.zeros(7)),
             "cuba": cubalif(7, rng), "a3": nir.Linear(weight=rng.normal(0.5, 0.4, (5, 7))),
             "if": nir.IF(r=rng.uniform(0.5, 1.0, 5), v_threshold=rng.uniform(0.8, 1.2, 5), v_reset=np.zeros(5)),
             "a4": nir.Linear(weight=rng.normal(0, 1, (3, 5))), "int": nir.I(r=np.full(3, 0.5)),
             "out": out(5), "out_int": out(3)}
    edges = [("in", "a1"), ("a1", "lif"), ("lif", "a2"), ("a2", "cuba"), ("cuba", "a3"), ("a3", "if"), ("if", "out"),
             ("if", "a4"), ("a4", "int"), ("int", "out_int")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@pytest.mark.parametrize("reset, cuba_current, integrator_input", [
    ("zero", "same", "step"), ("subtract", "previous", "step"), ("subtract", "same", "dt")])
def test_import_options_follow_the_reference(reset, cuba_current, integrator_input):
    rng = np.random.default_rng(11)
    graph = options_graph(rng)
    x = spikes(rng, (60, 3, 6), 0.4)
    options = NIRImportOptions(reset=reset, cuba_current=cuba_current, integrator_input=integrator_input)
    sim = brian_run(graph, x, options, records=("lif", "cuba", "int"))
    ref = Reference(graph, 3, reset=reset, cuba_current=cuba_current, integrator_input=integrator_input)
    expected_out = ref.run(x)
    # the second Output (the I node's v) comes concatenated after the IF's 5 spikes
    np.testing.assert_array_equal(sim.outputs[..., :5], expected_out)
    ref2 = Reference(graph, 3, reset=reset, cuba_current=cuba_current, integrator_input=integrator_input)
    trace = {k: [] for k in ("lif", "cuba", "int")}
    for t in range(x.shape[0]):
        ref2.step(x[t].astype(float))
        for k in trace:
            trace[k].append(ref2.now[k])
    for k in ("lif", "cuba"):
        np.testing.assert_array_equal(sim.records[f"{k}:spikes"], np.stack(trace[k]))
    np.testing.assert_allclose(sim.records["int:v"], np.stack(trace["int"]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sim.outputs[..., 5:], np.stack(trace["int"]), rtol=1e-12, atol=1e-12)
    assert sim.records["lif:spikes"].sum() > 50 and sim.records["cuba:spikes"].sum() > 20
    # per-step integration drives the IF layer; Euler with dt = 1e-3 and r ~ 1 leaves it silent
    assert expected_out.sum() > 20 if integrator_input == "step" else expected_out.sum() == 0


def test_each_option_changes_the_dynamics():
    """The options are not cosmetic: each one, flipped alone, changes some spikes of the graph."""
    rng = np.random.default_rng(11)
    graph = options_graph(rng)
    x = spikes(rng, (60, 3, 6), 0.4)
    base = dict(reset="zero", cuba_current="same", integrator_input="step")
    runs = {}
    for name, value in [("base", None), ("reset", "subtract"), ("cuba_current", "previous"),
                        ("integrator_input", "dt")]:
        settings = dict(base, **({} if value is None else {name: value}))
        runs[name] = Reference(graph, 3, **settings).run(x)
    for name in ("reset", "cuba_current", "integrator_input"):
        assert not np.array_equal(runs[name], runs["base"]), name
    # with dt = 1e-3 and r ~ 1, "dt" integration leaves the IF layer silent: what --integrator-input warns of
    assert runs["integrator_input"].sum() == 0 < runs["base"].sum()


def test_reset_auto_reads_the_graph_metadata():
    g = options_graph(np.random.default_rng(0))
    assert plan_graph(g).options.reset == "zero"
    g.metadata = {"reset_method": "subtract"}
    assert plan_graph(g).options.reset == "subtract"
    assert plan_graph(g, NIRImportOptions(reset="zero")).options.reset == "zero"


def test_output_through_linear_nodes_is_a_graded_readout():
    """Affine -> Output (no neuron before the Output): the output is this step's W z + b."""
    rng = np.random.default_rng(9)
    graph = nir.NIRGraph(nodes={"in": inp(4), "a1": nir.Affine(weight=rng.normal(0.6, 0.5, (6, 4)), bias=np.zeros(6)),
                                "lif": lif(6, rng), "a2": nir.Affine(weight=rng.normal(0, 1, (3, 6)),
                                                                     bias=np.array([0.1, -0.2, 0.3])),
                                "out": out(3)},
                         edges=[("in", "a1"), ("a1", "lif"), ("lif", "a2"), ("a2", "out")], type_check=False)
    x = spikes(rng, (30, 2, 4), 0.4)
    y = brian_run(graph, x)
    expected = Reference(graph, 2).run(x)
    assert y.dtype == np.float64 and len(np.unique(expected)) > 5
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    # an Output with two incoming edges records their sum (here two linear readouts)
    graph.nodes["a3"] = nir.Linear(weight=rng.normal(0, 1, (3, 4)))
    graph.edges += [("in", "a3"), ("a3", "out")]
    y = brian_run(graph, x)
    np.testing.assert_allclose(y, Reference(graph, 2).run(x), rtol=1e-12, atol=1e-12)


def test_graded_nodes_feed_later_nodes_and_themselves():
    """LI and CubaLI pass their v on (W v added to the input of the next nodes, this step's v; through a
    recurrent edge, last step's); the LIF behind them and the graded v follow the reference."""
    rng = np.random.default_rng(13)
    li = nir.LI(tau=rng.uniform(3, 8, 6) * DT, r=rng.uniform(5, 10, 6), v_leak=np.zeros(6))
    cuba = nir.CubaLI(tau_syn=rng.uniform(2, 4, 4) * DT, tau_mem=rng.uniform(3, 8, 4) * DT, r=rng.uniform(3, 6, 4),
                      v_leak=np.zeros(4), w_in=np.full(4, 2.0))
    graph = nir.NIRGraph(nodes={"in": inp(5), "a1": nir.Affine(weight=rng.normal(0.5, 0.5, (6, 5)), bias=np.zeros(6)),
                                "li": li, "w_rec": nir.Linear(weight=rng.normal(0, 0.3, (6, 6))),
                                "a2": nir.Affine(weight=rng.normal(0.5, 0.5, (4, 6)), bias=np.full(4, 0.05)),
                                "cuba": cuba, "a3": nir.Linear(weight=rng.normal(1.0, 0.5, (3, 4))),
                                "lif": lif(3, rng), "out": out(3)},
                         edges=[("in", "a1"), ("a1", "li"), ("li", "w_rec"), ("w_rec", "li"), ("li", "a2"),
                                ("a2", "cuba"), ("cuba", "a3"), ("a3", "lif"), ("lif", "out")], type_check=False)
    x = spikes(rng, (50, 2, 5), 0.4)
    sim = brian_run(graph, x, records=("li", "cuba"))
    ref = Reference(graph, 2)
    trace = {"li": [], "cuba": [], "out": []}
    for t in range(x.shape[0]):
        ref.step(x[t].astype(float))
        for key in trace:
            trace[key].append(ref.now[key])
    np.testing.assert_allclose(sim.records["li:v"], np.stack(trace["li"]), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sim.records["cuba:v"], np.stack(trace["cuba"]), rtol=1e-9, atol=1e-12)
    expected = np.stack(trace["out"])
    assert expected.sum() > 10
    np.testing.assert_array_equal(sim.outputs, expected)


# --- Scale, Flatten, nested graphs, recurrence -----------------------------------------------------------

def test_scale_flatten_and_nested_subgraph():
    rng = np.random.default_rng(5)
    inner = nir.NIRGraph(nodes={"input": inp(2, 3), "scale": nir.Scale(scale=rng.uniform(0.5, 2.0, (2, 3))),
                                "flat": nir.Flatten(input_type={"input": np.array([2, 3])}, start_dim=0, end_dim=-1),
                                "lin": nir.Linear(weight=rng.normal(0.6, 0.5, (4, 6))), "lif": lif(4, rng),
                                "output": out(4)},
                         edges=[("input", "scale"), ("scale", "flat"), ("flat", "lin"), ("lin", "lif"),
                                ("lif", "output")], type_check=False)
    graph = nir.NIRGraph(nodes={"in": inp(2, 3), "block": inner, "w": nir.Affine(weight=rng.normal(0.8, 0.5, (3, 4)),
                                                                                bias=np.full(3, 0.02)),
                                "th": nir.Threshold(threshold=np.full(3, 0.7)), "out": out(3)},
                         edges=[("in", "block"), ("block", "w"), ("w", "th"), ("th", "out")], type_check=False)
    x = spikes(rng, (40, 2, 2, 3), 0.4)
    sim = brian_run(graph, x, records=("block.lif",))
    ref = Reference(graph, 2)
    expected = ref.run(x)
    assert expected.sum() > 10
    np.testing.assert_array_equal(sim.outputs, expected)
    assert sim.records["block.lif:spikes"].shape == (40, 2, 4)


def recurrent_graph(rng, n_in=5, n_rec=6, n_out=3, w_rec_scale=0.6):
    """snnTorch's RSynaptic export layout: the recurrent CubaLIF as a subgraph with a Linear from the
    neuron back to itself, between two Affine layers."""
    rec = nir.NIRGraph(nodes={"input": inp(n_rec), "lif": cubalif(n_rec, rng),
                              "w_rec": nir.Linear(weight=rng.normal(0, w_rec_scale, (n_rec, n_rec))),
                              "output": out(n_rec)},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
                       type_check=False)
    return nir.NIRGraph(nodes={"in": inp(n_in), "fc1": nir.Affine(weight=rng.normal(0.3, 0.5, (n_rec, n_in)),
                                                                   bias=np.zeros(n_rec)),
                               "rec": rec, "fc2": nir.Affine(weight=rng.normal(0.4, 0.6, (n_out, n_rec)),
                                                             bias=np.zeros(n_out)),
                               "lif2": lif(n_out, rng), "out": out(n_out)},
                        edges=[("in", "fc1"), ("fc1", "rec"), ("rec", "fc2"), ("fc2", "lif2"), ("lif2", "out")],
                        type_check=False)


def test_recurrent_cubalif_spike_for_spike():
    rng = np.random.default_rng(21)
    graph = recurrent_graph(rng)
    x = spikes(rng, (80, 3, 5), 0.3)
    plan = plan_graph(graph)
    recurrent = [p for p in plan.projections if p.recurrent]
    assert [(p.source, p.target) for p in recurrent] == [("rec.lif", "rec.lif")]
    sim = brian_run(graph, x, records=("rec.lif", "rec.lif:I_s"))
    ref = Reference(graph, 3)
    expected = ref.run(x)
    np.testing.assert_array_equal(sim.outputs, expected)
    # the recurrence matters: without it the hidden layer fires differently
    flat = recurrent_graph(np.random.default_rng(21), w_rec_scale=0.0)
    hidden = sim.records["rec.lif:spikes"]
    no_rec = brian_run(flat, x, records=("rec.lif",)).records["rec.lif:spikes"]
    assert hidden.sum() > 30 and not np.array_equal(hidden, no_rec)


def test_recurrent_edge_has_one_step_of_delay():
    """A Threshold node exciting itself: one input spike at step 3 keeps it firing at every later step,
    each spike caused by the previous step's (closed form of the one-step recurrent delay)."""
    graph = nir.NIRGraph(nodes={"in": inp(1), "th": nir.Threshold(threshold=np.array([0.5])),
                                "self": nir.Linear(weight=np.array([[1.0]])), "half": nir.Scale(scale=np.array([0.5])),
                                "out": out(1)},
                         edges=[("in", "th"), ("th", "self"), ("self", "half"), ("half", "th"), ("th", "out")],
                         type_check=False)
    x = np.zeros((10, 1, 1), dtype=np.uint8)
    x[3] = 1
    # 0.5 (recurrent) alone is not above 0.5: only the input spike fires it, the echo arrives one step later
    y = brian_run(graph, x)
    np.testing.assert_array_equal(y[:, 0, 0], [0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    graph.nodes["half"] = nir.Scale(scale=np.array([0.75]))
    y = brian_run(graph, x)
    np.testing.assert_array_equal(y[:, 0, 0], [0, 0, 0, 1, 1, 1, 1, 1, 1, 1])


def test_delay_on_a_recurrent_edge_adds_to_the_step():
    """A Delay of 2 steps on the recurrent edge: the echo comes 1 + 2 steps after each spike."""
    graph = nir.NIRGraph(nodes={"in": inp(1), "th": nir.Threshold(threshold=np.array([0.5])),
                                "delay": nir.Delay(delay=np.array([2 * DT])), "self": nir.Linear(weight=np.array([[0.75]])),
                                "out": out(1)},
                         edges=[("in", "th"), ("th", "delay"), ("delay", "self"), ("self", "th"), ("th", "out")],
                         type_check=False)
    x = np.zeros((12, 1, 1), dtype=np.uint8)
    x[2] = 1
    y = brian_run(graph, x)
    np.testing.assert_array_equal(np.flatnonzero(y[:, 0, 0]), [2, 5, 8, 11])
    np.testing.assert_array_equal(y, Reference(graph, 1).run(x))


def test_delay_between_linear_nodes():
    """A fan-out Linear, per-feature Delays, then a Linear (the layout of delay lines onto detectors):
    each synapse gets the delay of the intermediate feature it passes, as the reference delays it."""
    rng = np.random.default_rng(17)
    graph = nir.NIRGraph(nodes={"in": inp(2), "fan": nir.Linear(weight=np.kron(np.eye(2), np.ones((4, 1)))),
                                "delay": nir.Delay(delay=np.array([0, 1, 2, 4, 0, 3, 3, 1]) * DT),
                                "mix": nir.Linear(weight=rng.uniform(0.2, 0.8, (5, 8))),
                                "lif": lif(5, rng), "out": out(5)},
                         edges=[("in", "fan"), ("fan", "delay"), ("delay", "mix"), ("mix", "lif"), ("lif", "out")],
                         type_check=False)
    plan = plan_graph(graph)
    assert sorted(round(p.delay_s / DT) if p.delay_s else 0 for p in plan.projections) == [0, 1, 2, 3, 4]
    x = spikes(rng, (40, 3, 2), 0.3)
    y = brian_run(graph, x)
    expected = Reference(graph, 3).run(x)
    assert expected.sum() > 20
    np.testing.assert_array_equal(y, expected)


# --- convolutions and pooling ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["conv1d", "conv2d", "sumpool", "avgpool"])
def test_convolution_and_pooling_synapses_are_exact(case):
    """An integrator (I, r = 1, one step = r*I) behind the node sums its input exactly: its v equals the
    running sum of a direct numpy convolution / pooling of the input spikes."""
    rng = np.random.default_rng(len(case))
    if case == "conv1d":
        in_shape = (4, 11)
        node = nir.Conv1d(input_shape=11, weight=rng.normal(0, 1, (6, 2, 3)), stride=2, padding=2, dilation=2,
                          groups=2, bias=rng.normal(0, 0.1, 6))
        expect = lambda x: conv_direct(x, node.weight, 2, 2, 2, 2) + node.bias[:, None]  # noqa: E731
    elif case == "conv2d":
        in_shape = (2, 7, 8)
        node = nir.Conv2d(input_shape=(7, 8), weight=rng.normal(0, 1, (3, 2, 3, 2)), stride=(2, 1), padding=(1, 2),
                          dilation=(1, 2), groups=1, bias=rng.normal(0, 0.1, 3))
        expect = lambda x: conv_direct(x, node.weight, (2, 1), (1, 2), (1, 2), 1) + node.bias[:, None, None]  # noqa: E731
    else:
        in_shape = (2, 6, 7)
        cls = nir.SumPool2d if case == "sumpool" else nir.AvgPool2d
        node = cls(kernel_size=np.array([2, 3]), stride=np.array([2, 2]), padding=np.array([1, 0]))
        expect = lambda x: pool_direct(x, (2, 3), (2, 2), (1, 0), case == "avgpool")  # noqa: E731
    x = spikes(rng, (12, 2, *in_shape), 0.4)
    direct = np.stack([expect(x[t].astype(float)) for t in range(x.shape[0])])
    out_shape = direct.shape[2:]
    graph = nir.NIRGraph(nodes={"in": inp(*in_shape), "op": node, "int": nir.I(r=np.ones(out_shape)),
                                "out": out(*out_shape)},
                         edges=[("in", "op"), ("op", "int"), ("int", "out")], type_check=False)
    y = brian_run(graph, x, NIRImportOptions(integrator_input="step"))
    assert y.shape == direct.shape
    np.testing.assert_allclose(y, np.cumsum(direct, axis=0), rtol=1e-12, atol=1e-12)


def conv_net(rng, channels=2, side=12):
    """Conv2d -> LIF -> SumPool2d -> Conv2d (grouped, dilated) -> LIF -> AvgPool2d -> Flatten -> Affine -> LIF."""
    c1 = nir.Conv2d(input_shape=(side, side), weight=rng.normal(0.25, 0.5, (4, channels, 3, 3)), stride=1, padding=1,
                    dilation=1, groups=1, bias=rng.normal(0, 0.05, 4))
    s1 = side // 2
    c2 = nir.Conv2d(input_shape=(s1, s1), weight=rng.normal(0.2, 0.4, (4, 2, 3, 3)), stride=1, padding=2,
                    dilation=2, groups=2, bias=np.zeros(4))
    s2 = s1 // 2
    nodes = {"in": inp(channels, side, side), "conv1": c1,
             "lif1": nir.LIF(tau=np.array([5 * DT]), r=np.array([1.0]), v_leak=np.array([0.0]),
                             v_threshold=np.array([0.4]), v_reset=np.array([0.0])),   # one value for all
             "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "conv2": c2, "lif2": lif((4, s1, s1), rng),
             "pool2": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "flat": nir.Flatten(input_type={"input": np.array([4, s2, s2])}, start_dim=0, end_dim=-1),
             "fc": nir.Affine(weight=rng.normal(0.3, 0.5, (5, 4 * s2 * s2)), bias=np.zeros(5)),
             "lif3": lif(5, rng), "out": out(5)}
    edges = [("in", "conv1"), ("conv1", "lif1"), ("lif1", "pool1"), ("pool1", "conv2"), ("conv2", "lif2"),
             ("lif2", "pool2"), ("pool2", "flat"), ("flat", "fc"), ("fc", "lif3"), ("lif3", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_convolutional_network_spike_for_spike():
    rng = np.random.default_rng(8)
    graph = conv_net(rng)
    x = spikes(rng, (25, 2, 2, 12, 12), 0.3)
    sim = brian_run(graph, x, records=("lif2",))
    ref = Reference(graph, 2)
    expected = ref.run(x)
    assert expected.sum() > 10
    np.testing.assert_array_equal(sim.outputs, expected)
    assert sim.records["lif2:spikes"].shape == (25, 2, 4, 6, 6) and sim.records["lif2:spikes"].sum() > 50


# --- the command line ---------------------------------------------------------------------------------------

def test_nir_run_records_recurrent_layer(tmp_path, run_cli):
    rng = np.random.default_rng(4)
    graph = recurrent_graph(rng)
    nir.write(str(tmp_path / "rec.nir"), graph)
    x = spikes(rng, (50, 2, 5), 0.3)
    np.save(tmp_path / "x.npy", x)
    result = run_cli("nir-run", tmp_path / "rec.nir", "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
                     "--dt", DT, "--record", "rec.lif", "--record", "rec.lif:v")
    assert result.returncode == 0, result
    ref = Reference(nir.read(str(tmp_path / "rec.nir")), 2)
    hidden, v = [], []
    for t in range(x.shape[0]):
        ref.step(x[t].astype(float))
        hidden.append(ref.subs["rec"].now["lif"])
        v.append(ref.subs["rec"].state["lif"]["v"])
    records = np.load(tmp_path / "y.records.npz")
    assert sorted(records.files) == ["rec.lif:spikes", "rec.lif:v"]
    np.testing.assert_array_equal(records["rec.lif:spikes"], np.stack(hidden))
    np.testing.assert_allclose(records["rec.lif:v"], np.stack(v), rtol=1e-9, atol=1e-12)
    assert "rec.lif:spikes" in result.stdout


def test_nir_run_help_names_the_options(run_cli):
    result = run_cli("nir-run", "--help")
    assert result.returncode == 0
    for text in ("--reset", "--cuba-current", "--integrator-input", "snnTorch", "Norse", "Sinabs", "--record",
                 "Conv2d", "(time, batch, *input_shape)"):
        assert text in result.stdout, text


def _write(tmp_path, graph, name="g.nir"):
    path = tmp_path / name
    nir.write(str(path), graph)
    return path


@pytest.mark.parametrize("case, fragment", [
    ("newer_version", "NIR 2.0.0"),
    ("non_finite", "non-finite"),
    ("image_shape", "shape mismatch"),
])
def test_nir_run_bad_graphs(tmp_path, run_cli, case, fragment):
    rng = np.random.default_rng(0)
    x = np.zeros((4, 2, 2, 12, 12), dtype=np.uint8)
    graph = conv_net(rng)
    if case == "non_finite":
        graph.nodes["fc"].weight[0, 0] = np.nan
    elif case == "image_shape":
        x = np.zeros((4, 2, 2, 12, 11), dtype=np.uint8)
    path = _write(tmp_path, graph)
    if case == "newer_version":
        import h5py

        with h5py.File(path, "r+") as f:
            del f["version"]
            f["version"] = np.bytes_("2.0.0")
    np.save(tmp_path / "x.npy", x)
    result = run_cli("nir-run", path, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
                     "--record", "lif2")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "y.npy").exists() and not (tmp_path / "y.records.npz").exists()


def test_bad_records_edges_and_graded_sources():
    with pytest.raises(UserError, match="names a node that does not exist: 'ghost'"):
        plan_graph(nir.NIRGraph(nodes={"in": inp(3), "out": out(3)}, edges=[("in", "ghost"), ("ghost", "out")],
                                type_check=False))
    plan = plan_graph(conv_net(np.random.default_rng(0)))
    with pytest.raises(UserError, match="no neuron node or Input 'nope'"):
        parse_record("nope", plan)
    with pytest.raises(UserError, match="has no 'I_s'"):
        parse_record("lif1:I_s", plan)
    assert parse_record("lif1:v", plan).key == "lif1:v" and parse_record("in", plan).variable == "spikes"
    graph = conv_net(np.random.default_rng(0))
    graph.nodes["lif1"] = nir.LI(tau=np.array([5 * DT]), r=np.array([1.0]), v_leak=np.array([0.0]))
    graph.nodes["d"] = nir.Delay(delay=np.array([DT]))
    graph.edges = [e for e in graph.edges if e != ("lif1", "pool1")] + [("lif1", "d"), ("d", "pool1")]
    with pytest.raises(UserError, match="Delay after the graded node 'lif1'"):
        plan_graph(graph)
    graph = recurrent_graph(np.random.default_rng(0))
    graph.nodes["rec"].edges.append(("w_rec", "w_rec"))     # a cycle without a neuron
    with pytest.raises(UserError, match="cycle through 'rec.w_rec' without a neuron"):
        plan_graph(graph)


def test_cuda_codegen_for_a_recurrent_convolutional_graph(tmp_path, run_cli):
    """brian2cuda generates a complete project for a graph with convolutions, pooling and a recurrent
    layer (the conv network with a recurrent Linear on its last LIF layer)."""
    pytest.importorskip("brian2cuda")
    from brainsim.devices import gpu_available
    from test_cuda_codegen import assert_complete_cuda_project

    if gpu_available():
        pytest.skip("a GPU is present: this test is about code generation without one")
    rng = np.random.default_rng(1)
    graph = conv_net(rng, side=8)
    graph.nodes["w_rec"] = nir.Linear(weight=rng.normal(0, 0.5, (5, 5)))
    graph.edges += [("lif3", "w_rec"), ("w_rec", "lif3")]
    assert any(p.recurrent for p in plan_graph(graph).projections)
    path = _write(tmp_path, graph, "g.nir")
    np.save(tmp_path / "x.npy", spikes(rng, (4, 2, 2, 8, 8)))
    build = tmp_path / "build"
    result = run_cli("nir-run", path, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
                     "--device", "cuda_standalone", "--build-only", "--build-dir", build)
    assert result.returncode == 0, result
    assert_complete_cuda_project(build, "nir_syn")
    assert not (tmp_path / "y.npy").exists()
