"""Benchmark of ``nir-run``'s Brian2 backend (issue #15): steps per second against snnTorch, one run.

Two graphs that snnTorch exports with its own NIR export (``snntorch.export_nir``):

``recurrent``      Linear(100 -> 128) -> RSynaptic(128, an Affine recurrence) -> Linear(128 -> 10) -> Leaky(10)
``convolutional``  Conv2d(2 -> 4, 3x3) -> Leaky -> AvgPool2d(2) -> Conv2d(4 -> 6, 3x3, stride 2) -> Leaky ->
                   Flatten -> Linear(486 -> 10) -> Leaky, on 2 x 34 x 34 event-camera inputs

For each graph the same random input spikes (T steps, batch 64, p = 0.1 per input and step) run in
snnTorch (CPU, eager, ``--torch-threads`` threads; reset before each run) and in brainsim
(``build_nir_network`` on cpp_standalone, one thread, reset by subtraction as snnTorch's default).
brainsim's figure excludes compilation and the program's start-up (building the synapses): the graph
runs for T and for 2T steps (two builds), and steps/s = T / (run time of 2T - run time of T). Both
outputs of the T-step run are compared bin by bin with snnTorch's first run from a fresh network (the
fraction of identical (time, batch, neuron) output bins).

    python bench/bench_nir.py                       # both graphs, T = 100, batch 64
    python bench/bench_nir.py --graphs recurrent --steps 200 --json runs/bench_nir.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GRAPHS = ("recurrent", "convolutional")
SIDE = 34


def recurrent_net(torch, snn):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(100, 128)
            self.rec = snn.RSynaptic(alpha=torch.rand(128) * 0.3 + 0.5, beta=torch.rand(128) * 0.3 + 0.6,
                                     linear_features=128, threshold=torch.ones(128), init_hidden=True)
            self.fc2 = torch.nn.Linear(128, 10)
            self.out = snn.Leaky(beta=torch.full((10,), 0.8), threshold=torch.ones(10), init_hidden=True)

        def forward(self, x):
            return self.out(self.fc2(self.rec(self.fc1(x))))

    net = Net()
    with torch.no_grad():
        for weight in (net.fc1.weight, net.fc2.weight):
            weight.mul_(3.0)
    return net, (100,)


def convolutional_net(torch, snn, n_out: int = 10):
    """The convolutional graph (also tests/test_nir.py's snnTorch export test, with n_out = 5)."""
    def leaky(*shape):   # snnTorch's export needs per-neuron parameters of the layer's shape
        return snn.Leaky(beta=torch.rand(*shape) * 0.3 + 0.6, threshold=torch.ones(*shape), init_hidden=True)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.lif1 = torch.nn.Conv2d(2, 4, 3, padding=1), leaky(4, SIDE, SIDE)
            self.pool = torch.nn.AvgPool2d(2)
            self.conv2, self.lif2 = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1), leaky(6, 9, 9)
            self.flat = torch.nn.Flatten()
            self.fc, self.lif3 = torch.nn.Linear(6 * 9 * 9, n_out), leaky(n_out)

        def forward(self, x):
            x = self.lif2(self.conv2(self.pool(self.lif1(self.conv1(x)))))
            return self.lif3(self.fc(self.flat(x)))

    net = Net()
    with torch.no_grad():
        for layer in (net.conv1, net.conv2, net.fc):
            layer.weight.mul_(4.0)
    return net, (2, SIDE, SIDE)


def snntorch_run(net, x) -> tuple[np.ndarray, float]:
    """Output spikes (T, B, n) and the seconds of the T forward steps."""
    import torch
    from snntorch import utils as snn_utils

    snn_utils.reset(net)
    with torch.no_grad():
        t0 = time.perf_counter()
        out = [net(x[t]) for t in range(x.shape[0])]
        seconds = time.perf_counter() - t0
    return torch.stack(out).numpy(), seconds


def brainsim_run(plan, inputs: np.ndarray, dt_s: float) -> dict:
    """One cpp_standalone build and run: outputs, build and run seconds, synapse count."""
    import brian2 as b2

    from brainsim.bridge.nir_brian2 import build_nir_network, read_outputs
    from brainsim.devices import BrianSession, DeviceConfig

    with tempfile.TemporaryDirectory(prefix="bench-nir-") as build_dir:
        with BrianSession(DeviceConfig("cpp_standalone", build_dir=build_dir), label="bench-nir") as session:
            net = build_nir_network(plan, inputs, dt_s)
            session.run(net.network, net.n_steps * dt_s * b2.second)
            outputs = read_outputs(net, plan, dt_s)
            synapses = sum(len(obj) for obj in net.network.objects if isinstance(obj, b2.Synapses))
            return {"outputs": outputs, "build_s": session.timings["build"], "run_s": session.timings["run"],
                    "synapses": int(synapses)}


def bench_graph(name: str, args) -> dict:
    import nir
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    from brainsim.bridge.nir_import import NIRImportOptions, plan_graph, read_graph

    torch.manual_seed(args.seed)
    net, shape = {"recurrent": recurrent_net, "convolutional": convolutional_net}[name](torch, snn)
    T, B = args.steps, args.batch
    x = (torch.rand(2 * T, B, *shape) < args.p).float()
    with tempfile.TemporaryDirectory() as tmp:      # the graph as a file, as nir-run reads it
        path = Path(tmp) / f"{name}.nir"
        example = x[0, 0] if name == "recurrent" else x[0, :1]     # one sample (with its batch axis for conv)
        graph = export_to_nir(net, example) if name == "recurrent" else export_to_nir(net, example, ignore_dims=[0])
        nir.write(str(path), graph)
        plan = plan_graph(read_graph(path), NIRImportOptions(reset="subtract"))
    expected, torch_s = snntorch_run(net, x[:T])      # the first run from a fresh net: the reference
    _, torch_2t_s = snntorch_run(net, x)              # (utils.reset leaves RSynaptic's last spikes: timing only)
    inputs = x.numpy().astype(np.uint8)
    short = brainsim_run(plan, inputs[:T], args.dt_s)
    long = brainsim_run(plan, inputs, args.dt_s)
    marginal = long["run_s"] - short["run_s"]
    brian_steps_per_s = T / marginal if marginal > 0 else float("nan")
    torch_steps_per_s = 2 * T / torch_2t_s
    same = float(np.mean(short["outputs"] == expected))
    return {
        "graph": name, "steps": T, "batch": B, "input_shape": list(shape), "input_p": args.p,
        "input_events_per_step": float(inputs.sum() / (2 * T)),
        "synapses": long["synapses"],
        "snntorch_steps_per_s": torch_steps_per_s, "snntorch_threads": torch.get_num_threads(),
        "brainsim_steps_per_s": brian_steps_per_s,
        "ratio_brainsim_over_snntorch": brian_steps_per_s / torch_steps_per_s,
        "brainsim_build_s": [short["build_s"], long["build_s"]],
        "brainsim_run_s": [short["run_s"], long["run_s"]],
        "brainsim_startup_s": short["run_s"] - marginal,
        "identical_output_bins": same, "output_spikes": int(expected.sum()),
        "snntorch_seconds": [torch_s, torch_2t_s],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", nargs="+", choices=GRAPHS, default=list(GRAPHS))
    parser.add_argument("--steps", type=int, default=100, help="T: time steps of the short run (the long: 2T)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--p", type=float, default=0.1, help="probability of an input spike per input and step")
    parser.add_argument("--dt-s", type=float, default=1e-4, help="time step handed to the NIR import (s)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch CPU threads (brainsim: one thread)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.torch_threads)
    rows = []
    load_before = list(os.getloadavg())
    for name in args.graphs:
        rows.append(bench_graph(name, args))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n| graph | batch | steps | synapses | input events / step | snnTorch steps/s ({args.torch_threads} "
          "thread) | brainsim steps/s (cpp_standalone) | brainsim / snnTorch | identical output bins |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['graph']} | {r['batch']} | {2 * r['steps']} | {r['synapses']:,} | {r['input_events_per_step']:.0f} "
              f"| {r['snntorch_steps_per_s']:.0f} | {r['brainsim_steps_per_s']:.0f} "
              f"| {r['ratio_brainsim_over_snntorch']:.2f}x | {100 * r['identical_output_bins']:.2f} % |")
    print(f"brainsim: compilation excluded, and start-up (T and 2T steps, steps/s = T / extra run time); "
          f"load average before {load_before}, after {list(os.getloadavg())}")
    if args.json:
        from brainsim.io import write_json

        write_json(args.json, {"rows": rows, "command": " ".join(sys.argv), "load_before": load_before})
    return 0


if __name__ == "__main__":
    sys.exit(main())
