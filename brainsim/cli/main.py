"""Entry point of the ``brainsim`` command."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import DeviceNotRunError, UserError
from .args import OneLineErrorParser

# Command modules, in the order --help lists them. A module that is not present (a capability not
# installed in this checkout) is skipped.
COMMAND_MODULES = (
    "jeffress",   # Jeffress coincidence-detection circuit
    "mnist",      # Diehl & Cook STDP on MNIST
    "ipd",        # surrogate-gradient IPD training in torch
    "delays",     # delay learning (lagging variables in Brian2, differentiable delays in torch)
    "nir_run",    # simulate a NIR graph in Brian2
    "compare",    # torch vs Brian2 on trained IPD networks
    "sweep",      # parameter sweeps (sweep, sweep-plot)
)


def _load_commands():
    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(f"{__package__}.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = OneLineErrorParser(
        prog="brainsim",
        description="Spiking-network simulation on Brian2 with a thin PyTorch side. "
                    "Run 'brainsim COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"brainsim {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineErrorParser)
    subparsers.required = True
    for module in _load_commands():
        module.add_parser(subparsers)
    return parser


def run_reporting_errors(prog: str, func, *args, interrupted: str = "interrupted") -> int:
    """Call ``func(*args)``; bad input becomes one line on stderr and its exit code, never a traceback."""
    try:
        return int(func(*args) or 0)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except DeviceNotRunError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # output piped into e.g. `head`, which closed early: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_reporting_errors(f"brainsim {args.command}", args.func, args)


if __name__ == "__main__":
    sys.exit(main())
