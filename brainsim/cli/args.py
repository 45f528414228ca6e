"""Argument types of the options that no configuration declares (the others are made from the
configurations' fields by :mod:`.options`). Bad values become one-line errors with exit code 2."""
from __future__ import annotations

import argparse
import math


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse parser whose errors are one line (no usage dump) with exit code 2."""

    def error(self, message):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message}\n")


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def positive_int(text: str) -> int:
    value = _integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def float_in_range(low: float, high: float, unit: str = ""):
    """Type accepting finite floats in the closed range [low, high]."""

    def parse(text: str) -> float:
        value = finite_float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}{unit}, got {text!r}")
        return value

    return parse


def rerun_with_resume(args, command: str) -> str:
    """The resume hint of commands that continue from their checkpoints with ``--resume``."""
    return command if "--resume" in command.split() else f"{command} --resume"


def rerun_as_is(args, command: str) -> str:
    """The resume hint of commands that skip what is finished when run again (sweeps)."""
    return command


def add_overwrite_options(parser, what: str = "a finished result") -> None:
    """--force and --overwrite-shipped (see :mod:`brainsim.outdir`)."""
    parser.add_argument("--force", action="store_true",
                        help=f"replace {what} in the output directory (refused otherwise), and discard a checkpoint "
                             "left by an interrupted run")
    parser.add_argument("--overwrite-shipped", action="store_true",
                        help="replace a model that ships with brainsim (models/...), refused even with --force; "
                             "re-make it only by its manifest's command")


def overwrite_from(args):
    """The :class:`brainsim.outdir.Overwrite` that the command line allows."""
    from ..outdir import Overwrite

    return Overwrite(force=bool(args.force), shipped=bool(args.overwrite_shipped))
