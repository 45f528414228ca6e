"""Entry point of the ``brainsim`` command."""
from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys

from ..errors import DeviceNotRunError, UserError
from .args import OneLineErrorParser

# Command modules, in the order --help lists them. A module that is not present (a capability not
# installed in this checkout) is skipped.
COMMAND_MODULES = (
    "jeffress",   # Jeffress coincidence-detection circuit
    "jeffress_learn",  # Jeffress circuit that learns its delays
    "mnist",      # Diehl & Cook STDP on MNIST
    "ipd",        # surrogate-gradient IPD training in torch
    "delays",     # delay learning (lagging variables in Brian2, differentiable delays in torch)
    "nir_run",    # simulate a NIR graph in Brian2
    "compare",    # torch vs Brian2 on trained IPD networks
    "sweep",      # parameter sweeps (sweep, sweep-plot)
)


EXIT_CODES = """\
exit codes: 0 done; 1 some runs of a sweep failed (recorded in its table); 2 bad input (one line on
stderr), or no command given ('brainsim' alone prints this list); 3 a project was generated but could
not run here (cuda_standalone without a GPU); 4 an mnist stage stopped: its network no longer responds
(one line naming the cause, checkpoint kept); 130 interrupted (Ctrl-C), 143 terminated (SIGTERM),
at any moment, compilation included: one line, saying how to resume where the command can."""


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
        description="Spiking-network simulation on Brian2 with a thin PyTorch side.\n"
                    "Run 'brainsim COMMAND --help' for the options of a command.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
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
    except KeyboardInterrupt as exc:   # Ctrl-C, or SIGTERM (brainsim.interrupts.Terminated)
        from ..interrupts import exit_code

        lead = "\n" if sys.stderr.isatty() else ""   # off a progress bar's line
        code = exit_code(exc)
        if code != 130:
            interrupted = interrupted.replace("interrupted", "terminated (SIGTERM)", 1)
        print(f"{lead}{prog}: {interrupted}", file=sys.stderr)
        return code
    except BrokenPipeError:
        # output piped into e.g. `head`, which closed early: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _subcommands(parser: argparse.ArgumentParser) -> dict:
    """{name: parser} of ``parser``'s subcommands (empty for a command without any)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _chosen_parsers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[argparse.ArgumentParser]:
    """The parsers of the (sub)commands the command line chose, outermost first: the last one's prog
    names the command (``brainsim ipd train``)."""
    chain = [parser]
    while True:
        for action in chain[-1]._actions:
            if isinstance(action, argparse._SubParsersAction):
                name = getattr(args, action.dest, None)
                if name in action.choices:
                    chain.append(action.choices[name])
                    break
        else:
            return chain


def _unrecognized(chain: list[argparse.ArgumentParser], extras: list[str]) -> str:
    """The one-line error for arguments the chosen command does not take; an option that belongs to a
    sibling subcommand (``ipd evaluate --out``) is named with the subcommands that take it."""
    chosen = chain[-1]
    siblings = dict.fromkeys(_subcommands(chain[-2]).values()) if len(chain) > 2 else {}
    hints = []
    for token in extras:
        option = token.split("=", 1)[0]
        owners = [sub.prog for sub in siblings if sub is not chosen and option in sub._option_string_actions]
        if option.startswith("-") and owners:
            hints.append(f"{option} is an option of {' and '.join(owners)}")
    return f"unrecognized arguments: {' '.join(extras)}" + (f" ({'; '.join(hints)})" if hints else "")


def _option_before_subcommand(parser: argparse.ArgumentParser, argv: list[str]):
    """(parser, message) when an option of a subcommand comes before the subcommand's name
    (``brainsim ipd --epochs 3 train``, which argparse reports as an invalid subcommand '3'); None
    otherwise."""
    for i, token in enumerate(argv):
        subs = _subcommands(parser)
        if not subs:
            return None
        if token in subs:
            parser = subs[token]
            continue
        option = token.split("=", 1)[0]
        if option.startswith("-") and option not in parser._option_string_actions:
            later = next((t for t in argv[i + 1:] if t in subs), None)
            if later is not None and option in subs[later]._option_string_actions:
                return parser, f"{option} is an option of {subs[later].prog}: give it after '{later}'"
        return None
    return None


def _bare_group(parser: argparse.ArgumentParser, argv: list[str]):
    """The parser whose command list to show when ``argv`` names only commands that need a subcommand
    (``brainsim``, ``brainsim ipd``, ``brainsim mnist``); None otherwise."""
    for token in argv:
        parser = _subcommands(parser).get(token)
        if parser is None:
            return None
    return parser if _subcommands(parser) else None


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit code.

    ``brainsim`` alone (or a command that needs a subcommand, such as ``brainsim ipd``, without one)
    prints its command list on stdout and returns 2: nothing was run. Errors name the (sub)command
    whose options they concern (``brainsim ipd train: error: ...``)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    group = _bare_group(parser, argv)
    if group is not None:
        group.print_help()
        return 2
    misplaced = _option_before_subcommand(parser, argv)
    if misplaced is not None:
        misplaced[0].error(misplaced[1])
    args, extras = parser.parse_known_args(argv)
    chain = _chosen_parsers(parser, args)
    if extras:
        chain[-1].error(_unrecognized(chain, extras))
    from ..interrupts import terminate_like_ctrl_c

    terminate_like_ctrl_c()
    hint = getattr(args, "resume_hint", None)
    resume = hint(args, shlex.join(["brainsim", *argv])) if hint is not None else None
    interrupted = f"interrupted; resume with: {resume}" if resume else "interrupted"
    return run_reporting_errors(chain[-1].prog, args.func, args, interrupted=interrupted)


if __name__ == "__main__":
    sys.exit(main())
