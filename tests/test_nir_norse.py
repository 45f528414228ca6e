"""Norse's own NIR export (``norse.torch.to_nir``, Norse 1.1.0) run in Norse and in brainsim on the
same random inputs: identical output spikes (graded outputs: the same membrane values).

Norse 1.1.0's export disagrees with the NIR specification in two places, and brainsim follows the
specification, so the graphs are first written as the specification says Norse's neurons are
(docs/nir.md, "Norse"):
* every time constant is written as ``dt / tau_inv`` = ``dt * tau`` instead of ``tau`` (Norse issue
  #411; Norse's own import reads ``tau``): ``tau = written / dt``;
* a ``LIFCell`` (CubaLIF) adds each input to its current in full, ``i <- i (1 - dt/tau_syn) + x``, which
  is NIR's Euler step with ``w_in = tau_syn / dt``; the export leaves ``w_in = 1``.
Norse's IAF cell adds its input once per step (``v <- v + x``): ``--integrator-input step``.

Norse is installed without its dependencies (its torchvision requirement would replace our torch;
Norse's NIR code does not use torchvision): ``pip install --no-deps norse==1.1.0`` (README).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from brainsim.bridge.nir_brian2 import simulate_nir
from brainsim.bridge.nir_import import NIRImportOptions, plan_graph
from brainsim.devices import BrianSession, DeviceConfig

nir = pytest.importorskip("nir")
torch = pytest.importorskip("torch")
norse = pytest.importorskip("norse.torch")

DT = 1e-3   # Norse's default time step, which its export divides by


def as_specified(graph):
    """Norse's exported graph with numpy parameters and the two corrections of the module docstring."""
    for node in graph.nodes.values():
        if not dataclasses.is_dataclass(node):   # a layer Norse could not export
            continue
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if isinstance(value, torch.Tensor):
                setattr(node, field.name, value.detach().numpy())
        if isinstance(node, (nir.LIF, nir.LI)):
            node.tau = node.tau / DT
        elif isinstance(node, nir.CubaLIF):
            node.tau_mem, node.tau_syn = node.tau_mem / DT, node.tau_syn / DT
            node.w_in = node.tau_syn / DT
    return graph


def norse_run(net, x):
    """Norse's output for x (T, B, ...), one step per input bin, from its initial state."""
    with torch.no_grad():
        out, state = [], None
        for t in range(x.shape[0]):
            z, state = net(x[t], state)
            out.append(z)
    return torch.stack(out).numpy()


def brainsim_run(graph, x, **options):
    with BrianSession(DeviceConfig("runtime", target="numpy")) as session:
        return simulate_nir(plan_graph(graph, NIRImportOptions(**options)), x.numpy().astype(np.uint8), DT, session)


def vector(value, n=24):
    return torch.full((n,), float(value))


def test_norse_feedforward_lif_network_runs_identically():
    """Linear -> LIFBoxCell (per-neuron tau and threshold) -> Linear -> LIFBoxCell: NIR's LIF with
    reset to v_reset in the spiking step, Norse's and brainsim's default."""
    torch.manual_seed(0)
    hidden = norse.LIFBoxParameters(tau_mem_inv=torch.rand(24) * 150 + 50, v_th=torch.rand(24) * 0.4 + 0.6,
                                    v_leak=vector(0), v_reset=vector(0))
    net = norse.SequentialState(torch.nn.Linear(16, 24), norse.LIFBoxCell(hidden), torch.nn.Linear(24, 6),
                                norse.LIFBoxCell())
    with torch.no_grad():
        net[0].weight.mul_(15)
        net[2].weight.mul_(15)
    x = (torch.rand(60, 5, 16) < 0.3).float()
    graph = norse.to_nir(net, x[0, 0])
    assert [type(n).__name__ for n in graph.nodes.values()] == ["Input", "Affine", "LIF", "Affine", "LIF", "Output"]
    expected = norse_run(net, x)
    y = brainsim_run(as_specified(graph), x)
    assert y.shape == expected.shape and expected.sum() > 20
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("cell", ["LIFCell", "IAFCell", "LIBoxCell"])
def test_norse_neuron_types_run_identically(cell):
    """Each other neuron Norse exports, behind an Affine: LIFCell -> CubaLIF, IAFCell -> IF, LIBoxCell -> LI
    (graded: its membrane values)."""
    torch.manual_seed(1)
    options = {}
    if cell == "LIFCell":
        module = norse.LIFCell(norse.LIFParameters(tau_syn_inv=vector(300), tau_mem_inv=torch.rand(24) * 100 + 100,
                                                   v_th=vector(0.8), v_leak=vector(0), v_reset=vector(0)))
    elif cell == "IAFCell":
        module = norse.IAFCell(norse.IAFParameters(v_th=vector(2.0), v_reset=vector(0)))
        options = {"integrator_input": "step"}
    else:
        module = norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=torch.rand(24) * 100 + 100, v_leak=vector(0)))
    net = norse.SequentialState(torch.nn.Linear(16, 24), module)
    with torch.no_grad():
        net[0].weight.mul_(8)
    x = (torch.rand(60, 5, 16) < 0.3).float()
    graph = norse.to_nir(net, x[0, 0])
    kind = {"LIFCell": "CubaLIF", "IAFCell": "IF", "LIBoxCell": "LI"}[cell]
    assert [type(n).__name__ for n in graph.nodes.values()] == ["Input", "Affine", kind, "Output"]
    expected = norse_run(net, x)
    y = brainsim_run(as_specified(graph), x, **options)
    assert y.shape == expected.shape
    if cell == "LIBoxCell":
        assert np.abs(expected).max() > 1
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)   # float32 (Norse) vs float64
    else:
        assert expected.sum() > 200
        np.testing.assert_array_equal(y, expected)


def test_norse_convolutional_network_runs_identically():
    """Conv2d (padding 1) -> LIFBoxCell -> Conv2d (stride 2) -> LIFBoxCell on event-camera sized inputs
    (2 x 34 x 34). Norse's export writes no input_shape on Conv2d (brainsim takes it from the graph) and
    cannot export pooling, Flatten or recurrent cells (they become empty nodes), so this is the
    largest convolutional graph it writes."""
    torch.manual_seed(2)
    net = norse.SequentialState(torch.nn.Conv2d(2, 4, 3, padding=1), norse.LIFBoxCell(),
                                torch.nn.Conv2d(4, 4, 3, stride=2), norse.LIFBoxCell())
    with torch.no_grad():
        net[0].weight.mul_(25)
        net[2].weight.mul_(40)
    x = (torch.rand(30, 2, 2, 34, 34) < 0.3).float()
    graph = norse.to_nir(net, x[0, 0])
    assert graph.nodes["0"].input_shape is None
    expected = norse_run(net, x)
    y = brainsim_run(as_specified(graph), x)
    assert y.shape == expected.shape == (30, 2, 4, 16, 16) and expected.sum() > 500
    np.testing.assert_array_equal(y, expected)


def test_norse_export_of_unmapped_layers_is_refused_in_one_line():
    """Layers Norse's export does not map (here a recurrent cell) become nodes that are not NIR nodes;
    brainsim refuses the graph with one line instead of running a different network."""
    from brainsim.errors import UserError

    net = norse.SequentialState(torch.nn.Linear(16, 12), norse.LIFRecurrentCell(12, 12))
    graph = norse.to_nir(net, torch.zeros(16))
    with pytest.raises(UserError, match="is empty"):
        plan_graph(as_specified(graph))
