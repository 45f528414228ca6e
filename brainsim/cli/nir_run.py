"""``brainsim nir-run``: simulate a NIR graph in Brian2 on a 0/1 input array.

Only the standard library is imported here.
"""
from __future__ import annotations

EPILOG = """examples:
  brainsim nir-run net.nir --input x.npy --output y.npy                  # runtime (numpy), dt 1e-4 s
  brainsim nir-run net.nir --input x.npy --output y.npy --reset subtract --record lif1.lif --record lif1.lif:v
  brainsim nir-run net.nir --input x.npy --output y.npy --device cpp_standalone
  brainsim nir-run net.nir --input x.npy --output y.npy --device cuda_standalone --build-only
  brainsim nir-run seed.nir --export-from models/ipd_seed   # write a trained model as NIR (+ side file)

Input: a .npy array of 0/1 values, shape (time, batch, *input_shape), e.g. (T, B, 2, 34, 34) for an
event camera. Output: the spikes of the graph's Output node (uint8, 0/1), shape (time, batch,
*node shape); for a graded source (LI, CubaLI, I) the membrane value v after each step (float),
for an Output fed through linear nodes that step's W z + b; several Output nodes are concatenated,
flattened. --record NODE[:VARIABLE] (repeatable; nested
graphs' nodes as SUBGRAPH.NODE) writes that node's spikes (default for spiking nodes) or v / I_s
(the value at the end of each step; v of LIF/IF before the reset of the next step) to
OUTPUT.records.npz, one array (time, batch, *node shape) per entry.

One time bin = one Euler step of length --dt; spikes cross all feed-forward layers in the step they
are emitted; an edge that closes a cycle (a recurrent layer, as snnTorch's RLeaky/RSynaptic export
writes it) delivers the previous step's spikes. Convolutions and pooling are exact synapses.

Where NIR 1.0 leaves a choice open (defaults first; which exporters expect which setting):
  --reset auto|zero|subtract   zero = v <- v_reset (NIR's equation; snnTorch reset_mechanism="zero",
                               Norse's default). subtract = v <- v - v_threshold: graphs trained with
                               snnTorch's default reset_mechanism="subtract" (they store v_reset = 0;
                               snnTorch's export does not say which it was). auto: the graph's
                               metadata "reset_method" if set, else zero.
  --cuba-current same|previous CubaLIF/CubaLI membrane driven by the synaptic current of the same step
                               (snnTorch Synaptic/RSynaptic, Norse 1.1 LIFCell) or of the previous one
                               (a one-step synaptic delay; no exporter checked needs it).
  --integrator-input dt|step   IF/I: v += dt*r*I (Euler step of NIR's ODE) or v += r*I per step
                               (Sinabs IAF, Norse IAF: graphs with r = 1 that are silent under dt).
Supported nodes: Input, Output, Affine, Linear, Scale, Flatten, Conv1d, Conv2d, SumPool2d, AvgPool2d,
Delay (on paths from spiking nodes), I, IF, LI, LIF, CubaLI, CubaLIF, Threshold, nested NIRGraph.
Norse 1.1's to_nir writes every time constant as dt*tau (Norse issue #411) and CubaLIF without
w_in = tau_syn/dt: correct those fields before running its graphs (docs/nir.md, "Norse").
See docs/nir.md.
"""


def add_parser(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser(
        "nir-run", help="simulate a NIR graph in Brian2 on a 0/1 input array",
        description="Import a NIR graph (Neuromorphic Intermediate Representation) into Brian2 and simulate it "
                    "on a batch of inputs; write the output spikes.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graph", help="NIR file (.nir, HDF5)")
    parser.add_argument("--input", help="input .npy, 0/1, shape (time, batch, *input_shape)")
    parser.add_argument("--output", help="output .npy (written atomically)")
    parser.add_argument("--record", metavar="NODE[:VARIABLE]", action="append", default=[],
                        help="also write this node's spikes, or its v / I_s, to OUTPUT.records.npz (repeatable)")
    parser.add_argument("--export-from", metavar="MODEL", default=None,
                        help="instead of running: write the trained IPD model MODEL (model directory or its "
                             "weights.npz) to GRAPH as NIR, with the side file GRAPH.brainsim.json (readout, "
                             "classes, stimulus, discretisation)")
    from ..bridge.nir_run import NIRRunParams
    from .options import add_options

    parser.set_defaults(func=run, run_options=add_options(parser, NIRRunParams))


def run(args) -> int:
    from pathlib import Path

    from ..errors import UserError

    if args.export_from is not None:
        from ..bridge.nir_export import export_nir
        from ..bridge.sources import load_network

        if args.input or args.output or args.record:
            raise UserError("--export-from writes GRAPH; it takes no --input/--output/--record")
        graph, side = export_nir(load_network(args.export_from), Path(args.graph))
        print(f"wrote {graph} and {side}")
        return 0
    if not args.input or not args.output:
        raise UserError("--input and --output are required (or --export-from MODEL to write GRAPH)")
    from ..bridge.nir_run import run_graph

    params = args.run_options.build(args)
    params.device.check_applies(args.run_options.given(args))
    result = run_graph(Path(args.graph), Path(args.input), Path(args.output), params, progress=True,
                       record=tuple(args.record))
    print(result.describe())
    return 0
