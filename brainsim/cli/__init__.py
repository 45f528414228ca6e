"""Thin command line: each module parses the arguments of one command and calls library functions.

A command module defines ``add_parser(subparsers)`` and ``run(args) -> int``. Modules import only
the standard library at import time, so ``brainsim --help`` stays fast; heavy imports (Brian2,
torch) happen inside ``run``.
"""
