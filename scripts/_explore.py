"""Shared driver of the ``explore_*.py`` scripts: options, sweeps, figures, one-line errors.

Each script declares studies: a question, a sweep spec (the same structure as a TOML spec) and the
figures that answer it. The driver runs the sweep with :func:`brainsim.sweeps.run_sweep`
(resumable: run the script again with the same --out to continue) and draws the figures with
:func:`brainsim.plotting.sweep.plot_sweep`.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brainsim.cli.args import OneLineErrorParser, positive_int  # noqa: E402
from brainsim.cli.main import run_reporting_errors  # noqa: E402


@dataclass
class Figure:
    x: str | None
    ys: list[str]
    kind: str = "auto"
    logx: bool = False
    name: str = ""


@dataclass
class Study:
    name: str
    question: str
    spec: Callable[[argparse.Namespace], dict]      # options -> spec dict
    figures: list[Figure] = field(default_factory=list)
    answer: Callable[[list[dict]], str] | None = None  # summary rows of the first figure -> one line


def build_parser(prog: str, doc: str, studies: list[Study], default_out: str, default_repeats: int,
                 full_repeats: int) -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", nargs="+", choices=[s.name for s in studies] + ["all"], default=["all"],
                        help="which studies to run (default: all)")
    parser.add_argument("--out", default=default_out, help=f"results folder (default: {default_out})")
    parser.add_argument("--repeats", type=positive_int, default=None,
                        help=f"seeds per setting (default: {default_repeats}; --full: {full_repeats})")
    parser.add_argument("--full", action="store_true", help="the seeds' full protocol (slow; see the docstring)")
    parser.add_argument("--workers", type=positive_int, default=None, help="local worker processes (default: CPUs)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on a Dask cluster")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def run(prog: str, doc: str, studies: list[Study], args: argparse.Namespace) -> int:
    from brainsim import sweeps as sw
    from brainsim.plotting.sweep import plot_sweep

    chosen = [s for s in studies if "all" in args.study or s.name in args.study]
    out = Path(args.out)
    specs = {s.name: sw.spec_from_dict(s.spec(args), source=f"{prog} --study {s.name}") for s in chosen}
    failed = 0
    for study in chosen:
        spec = specs[study.name]
        print(f"\n== {study.name}: {study.question}\n   {spec.n_settings} settings x {len(spec.seeds)} seeds "
              f"= {spec.n_runs} runs -> {out / study.name}", flush=True)
        result = sw.run_sweep(spec, out / study.name, sw.SweepOptions(workers=args.workers, scheduler=args.scheduler),
                              progress=not args.quiet)
        failed += result.failed
        print(f"   {result.ok} new runs ok, {result.skipped} already done, {result.failed} failed "
              f"({result.wall_s:.1f} s)")
        for k, fig in enumerate(study.figures):
            name = fig.name or f"{study.name}_{'+'.join(fig.ys)}"
            drawn = plot_sweep(out / study.name, fig.x, fig.ys, kind=fig.kind, path=out / f"{name}.png",
                               logx=fig.logx, title=study.question)
            print(f"   figure: {drawn['figure']}")
            if k == 0:
                for row in drawn["summary"]:
                    label = ", ".join(f"{c}={_fmt(row[c])}" for c in [drawn["x"], *drawn["series"]])
                    n = f"n={row['n']}" + (f" of {row['runs']} runs" if row["missing"] else "")
                    print(f"     {row['metric']}  {label}: mean {row['mean']:.4g} +/- {row['std']:.3g} ({n})")
                if study.answer:
                    print(f"   answer: {study.answer(drawn['summary'])}")
    return 1 if failed else 0


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def best(rows: list[dict], metric: str, key: str, lowest: bool = False) -> str:
    """'KEY=V (mean M)' of the best point of ``metric`` in summary rows."""
    rows = [r for r in rows if r["metric"] == metric and r["n"] > 0]
    if not rows:
        return "no data"
    pick = (min if lowest else max)(rows, key=lambda r: r["mean"])
    return f"{key}={_fmt(pick[key])} ({metric} {pick['mean']:.4g} +/- {pick['std']:.3g})"


def main(prog: str, doc: str, studies: list[Study], default_out: str, default_repeats: int, full_repeats: int,
         argv=None) -> int:
    parser = build_parser(prog, doc, studies, default_out, default_repeats, full_repeats)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = full_repeats if args.full else default_repeats
    return run_reporting_errors(prog, run, prog, doc, studies, args,
                                interrupted="interrupted (run again with the same --out to resume)")
