"""``brainsim nir-run``: simulate a NIR graph in Brian2 on a 0/1 input array.

Only the standard library is imported here.
"""
from __future__ import annotations

EPILOG = """examples:
  brainsim nir-run net.nir --input x.npy --output y.npy                  # runtime (numpy), dt 1e-4 s
  brainsim nir-run net.nir --input x.npy --output y.npy --device cpp_standalone
  brainsim nir-run net.nir --input x.npy --output y.npy --device cuda_standalone --build-only
  brainsim nir-run seed.nir --export-from models/ipd_seed   # write a trained model as NIR (+ side file)

Input: a .npy array of 0/1 values, shape (time, batch, features). Output: the spikes of the graph's
Output node(s) (uint8, 0/1) in the same layout; for a graded source (LI, CubaLI) the membrane value v
after each step (float). One time bin = one Euler step of length --dt; spikes cross all layers in the
step they are emitted and a spike's reset applies at the next step (snnTorch's Leaky with
reset_mechanism="zero"). Supported nodes: Input, Output, Affine, Linear, LIF, LI, CubaLIF, CubaLI, IF,
Threshold, Delay (after a spiking node). See docs/bridge.md.
"""


def add_parser(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser(
        "nir-run", help="simulate a NIR graph in Brian2 on a 0/1 input array",
        description="Import a NIR graph (Neuromorphic Intermediate Representation) into Brian2 and simulate it "
                    "on a batch of inputs; write the output spikes.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graph", help="NIR file (.nir, HDF5)")
    parser.add_argument("--input", help="input .npy, 0/1, shape (time, batch, features)")
    parser.add_argument("--output", help="output .npy (written atomically)")
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

        if args.input or args.output:
            raise UserError("--export-from writes GRAPH; it takes no --input/--output")
        graph, side = export_nir(load_network(args.export_from), Path(args.graph))
        print(f"wrote {graph} and {side}")
        return 0
    if not args.input or not args.output:
        raise UserError("--input and --output are required (or --export-from MODEL to write GRAPH)")
    from ..bridge.nir_run import run_graph

    params = args.run_options.build(args)
    params.device.check_applies(args.run_options.given(args))
    result = run_graph(Path(args.graph), Path(args.input), Path(args.output), params, progress=True)
    print(result.describe())
    return 0
