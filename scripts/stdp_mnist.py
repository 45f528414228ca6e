#!/usr/bin/env python3
"""Diehl & Cook (2015) unsupervised STDP on MNIST, seed-style entry point.

    python scripts/stdp_mnist.py --mode train|observe|test|plot [options]

A thin wrapper: ``--mode MODE OPTIONS`` runs ``brainsim mnist MODE OPTIONS`` (the same options; see
``python scripts/stdp_mnist.py --mode MODE --help``).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

def main(argv=None) -> int:
    import argparse

    from brainsim.cli.main import main as brainsim_main

    parser = argparse.ArgumentParser(prog="stdp_mnist.py", add_help=False,
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", help="stage to run: train, observe, test or plot (checked by brainsim mnist)")
    parser.add_argument("-h", "--help", action="store_true")
    args, rest = parser.parse_known_args(argv)
    if args.mode is None:
        if args.help:
            parser.print_help()
            return 0
        parser.exit(2, f"{parser.prog}: error: the following arguments are required: --mode\n")
    return brainsim_main(["mnist", args.mode, *rest, *(["--help"] if args.help else [])])


if __name__ == "__main__":
    sys.exit(main())
