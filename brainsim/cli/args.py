"""Argument types and shared options. Bad values become one-line errors with exit code 2."""
from __future__ import annotations

import argparse
import math
import sys

from ..devices import DEVICES, RUNTIME_TARGETS


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


def nonnegative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
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


def nonnegative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def float_in_range(low: float, high: float, unit: str = ""):
    """Type accepting finite floats in the closed range [low, high]."""

    def parse(text: str) -> float:
        value = finite_float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}{unit}, got {text!r}")
        return value

    return parse


def add_device_arguments(parser: argparse.ArgumentParser, default: str = "runtime",
                         default_target: str = "numpy") -> None:
    """--device, --target, --threads, --build-dir, --build-only: how Brian2 runs."""
    group = parser.add_argument_group("simulation device")
    group.add_argument("--device", choices=DEVICES, default=default,
                       help=f"runtime (in this process), cpp_standalone (compiled C++) or cuda_standalone "
                            f"(brian2cuda; without a GPU only code generation). Default: {default}")
    group.add_argument("--target", choices=RUNTIME_TARGETS, default=default_target,
                       help=f"code generation target of the runtime device (default: {default_target})")
    group.add_argument("--threads", type=positive_int, default=1,
                       help="OpenMP threads for cpp_standalone (default: 1)")
    group.add_argument("--build-dir", default=None,
                       help="standalone project directory (default: a fresh temporary one, removed after the run)")
    group.add_argument("--build-only", action="store_true",
                       help="standalone devices: generate the project but do not run it")


def device_config(args):
    """DeviceConfig from the options of :func:`add_device_arguments`."""
    from ..devices import DeviceConfig

    return DeviceConfig(name=args.device, target=args.target, threads=args.threads,
                        build_dir=args.build_dir, build_only=args.build_only,
                        keep_build=args.build_dir is not None)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
