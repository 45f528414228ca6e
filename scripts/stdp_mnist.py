#!/usr/bin/env python3
"""Diehl & Cook (2015) unsupervised STDP on MNIST, seed-style entry point.

    python scripts/stdp_mnist.py --mode train|observe|test|plot [options]

The same library code and options as ``brainsim mnist MODE`` (see ``--help``).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brainsim.cli.args import OneLineErrorParser  # noqa: E402
from brainsim.cli.mnist import DESCRIPTION, MODES, add_stage_arguments, run_mode  # noqa: E402
from brainsim.cli.main import run_reporting_errors  # noqa: E402

PROG = "stdp_mnist.py"


def main(argv=None) -> int:
    import argparse

    parser = OneLineErrorParser(prog=PROG, description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", required=True, choices=MODES, help="stage to run")
    add_stage_arguments(parser)
    args = parser.parse_args(argv)
    return run_reporting_errors(PROG, run_mode, args.mode, args)


if __name__ == "__main__":
    sys.exit(main())
