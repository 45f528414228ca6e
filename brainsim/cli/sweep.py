"""``brainsim sweep`` (run a TOML sweep spec) and ``brainsim sweep-plot`` (figures of its table).

Only the standard library is imported here; the sweep machinery is imported when a command runs.
"""
from __future__ import annotations

import argparse

from .args import rerun_as_is

SWEEP_DESCRIPTION = """\
Run every setting x seed of a TOML sweep spec and collect one tidy table (OUT/results.csv: one row
per run with its parameters, seed, status, metrics, error, wall time, host and versions).

  experiment = "jeffress"       # jeffress, ipd, ipd-evaluate, stdp, compare (or package.module:ADAPTER)
  repeats = 2                   # seeds 0..repeats-1 (first_seed = S shifts them; or seeds = [...])
  [grid]                        # the cartesian product of these lists
  ipd_deg = [-45.0, 0.0, 45.0]
  [fixed]                       # optional: one value for every run
  n_trials = 4

Runs execute locally on --workers processes (default: one per CPU) or, with --scheduler, on an existing
Dask distributed cluster (started with 'dask scheduler' + 'dask worker --nthreads 1', or through
dask-jobqueue on Slurm; every worker needs brainsim installed). Running the same spec again with the
same --out skips finished runs and retries failed ones: an interrupted sweep resumes. A failing run
is recorded with its error and the sweep goes on. 'brainsim sweep --list' lists the experiments,
'brainsim sweep --list EXPERIMENT' its parameters (with defaults) and metrics."""

SWEEP_EPILOG = """\
examples:
  brainsim sweep docs/sweeps/jeffress_ipd.toml --out runs/jeffress_ipd
  brainsim sweep docs/sweeps/ipd_envelope_power.toml --out runs/envelope --workers 2
  brainsim sweep spec.toml --out /shared/runs/big --scheduler tcp://10.0.0.5:8786
  brainsim sweep --list ipd
  brainsim sweep-plot runs/envelope --x envelope_power --y test_accuracy --y train_accuracy
exit codes: 0 all runs ok, 1 some runs failed (recorded in the table), 2 bad input"""

PLOT_DESCRIPTION = """\
Figures of a sweep table: box plots per setting (seed 000 style: quartiles, median, mean as a white
circle) or mean +- std error bars against one parameter (seed 002 style). Several --y draw several
metrics side by side (e.g. train and test accuracy). Parameters that vary besides --x give one series
each; fix them with --where NAME=VALUE. Failed runs and runs without a value are left out; each
point states its n, and points with fewer runs than the spec's seeds are marked in red ("n=2/3"). A CSV
of the plotted statistics (n, runs, missing, mean, std, median, min, max per point) is written beside
the figure."""

PLOT_EPILOG = """\
examples:
  brainsim sweep-plot runs/envelope --x envelope_power --y test_accuracy --y train_accuracy
  brainsim sweep-plot runs/readouts --y test_accuracy --kind box            # one box per setting
  brainsim sweep-plot runs/jeffress --x n_detectors --y mae_deg --where duration_ms=100 --out mae.svg
  brainsim sweep-plot runs/mnist_sizes --x n_neurons --y accuracy --kind errorbar --logx \
      --reference 100=0.829 --reference 400=0.870 --reference 1600=0.919 --reference 6400=0.950 \
      --reference-label "Diehl & Cook 2015"
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="run a parameter sweep (TOML spec) locally or on a Dask cluster",
                              description=SWEEP_DESCRIPTION, epilog=SWEEP_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", nargs="?", metavar="SPEC.toml", help="the sweep spec")
    p.add_argument("--out", metavar="DIR", help="results directory (results.csv, sweep.json); required to run")
    from ..sweeps.engine import SweepOptions
    from .options import add_options

    options = add_options(p, SweepOptions)
    p.add_argument("--dry-run", action="store_true", help="check the spec, print the runs to do, run nothing")
    p.add_argument("--list", nargs="?", const="", default=None, metavar="EXPERIMENT",
                   help="list the experiments, or one experiment's parameters and metrics, and exit")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    p.set_defaults(func=run_sweep_command, sweep_options=options, resume_hint=rerun_as_is)

    q = subparsers.add_parser("sweep-plot", help="box plots / mean +- std error bars from a sweep's table",
                              description=PLOT_DESCRIPTION, epilog=PLOT_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("dir", metavar="DIR", help="the --out directory of a sweep")
    q.add_argument("--x", default=None, metavar="PARAM",
                   help="parameter on the x axis (box plots: default one box per setting)")
    q.add_argument("--y", action="append", default=None, metavar="METRIC",
                   help="metric on the y axis; repeat for several (default: the experiment's main metric)")
    q.add_argument("--kind", choices=("auto", "box", "errorbar"), default="auto",
                   help="auto (default): error bars for a numeric --x with more than 2 values, else box plots")
    q.add_argument("--where", action="append", default=[], metavar="NAME=VALUE",
                   help="keep only runs with this parameter value (repeatable)")
    q.add_argument("--out", default=None, metavar="FILE",
                   help="figure path (.png, .svg or .pdf; default DIR/plots/Y_vs_X_KIND.png)")
    q.add_argument("--logx", action="store_true", help="symmetric-log x axis (e.g. envelope power 0..100)")
    q.add_argument("--title", default="", help="figure title")
    q.add_argument("--reference", action="append", default=[], metavar="X=Y",
                   help="a reference point drawn beside the error bars, e.g. a paper's figure (repeatable)")
    q.add_argument("--reference-label", default="reference", metavar="TEXT",
                   help="legend entry of the --reference points (default: reference)")
    q.add_argument("--json", action="store_true", help="print the figure path and statistics as JSON")
    q.set_defaults(func=run_plot_command)


def _pipe_safe(func):
    """Output piped into e.g. ``head`` that closes early: stop printing quietly (the work is done)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:
            import os
            import sys

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0

    return wrapper


def _list(name: str) -> int:
    from .. import sweeps

    if name:
        print(sweeps.get(name).describe())
        return 0
    available = sweeps.available()
    for n in sweeps.names():
        summary = sweeps.get(n).summary if n in available else "(not available in this installation)"
        print(f"{n:14s} {summary}")
    print("\n'brainsim sweep --list EXPERIMENT' shows its parameters and metrics.")
    return 0


@_pipe_safe
def run_sweep_command(args) -> int:
    from ..errors import UserError

    if args.list is not None:
        return _list(args.list)
    if not args.spec:
        raise UserError("give a spec: brainsim sweep SPEC.toml --out DIR (or --list)")
    from .. import sweeps as sw
    from ..io import to_json

    options = args.sweep_options.build(args)
    spec = sw.load_spec(args.spec)
    runs = sw.expand(spec)
    if args.dry_run:
        _, rows = sw.read_table(args.out) if args.out else ([], [])
        done = {r["run_id"] for r in rows if r.get("status") == "ok"}
        todo = [r for r in runs if r.run_id not in done]
        if args.json:
            print(to_json({"runs": len(runs), "todo": [{"run_id": r.run_id, "setting": r.setting, "seed": r.seed}
                                                       for r in todo]}, indent=None))
        else:
            print(f"{spec.experiment}: {spec.n_settings} settings x {len(spec.seeds)} seeds = {len(runs)} runs, "
                  f"{len(todo)} to do")
            for r in todo:
                print(f"  {r.run_id}  seed {r.seed}  {r.setting}")
        return 0
    if not args.out:
        raise UserError("--out DIR is required (where results.csv goes)")
    result = sw.run_sweep(spec, args.out, options, progress=not args.quiet)
    if args.json:
        print(to_json(result.to_dict(), indent=None))
    else:
        print(f"sweep {spec.experiment}: {result.runs} runs, {result.skipped} already done, {result.ok} ok, "
              f"{result.failed} failed, {result.wall_s:.1f} s on {result.executor}")
        print(f"results: {result.table}")
        for failure in result.failures[:5]:
            print(f"  failed {failure['run_id']} ({failure['setting']}, seed {failure['seed']}): {failure['error']}")
        if len(result.failures) > 5:
            print(f"  ... {len(result.failures) - 5} more failures (see the error column)")
    return 1 if result.failed else 0


@_pipe_safe
def run_plot_command(args) -> int:
    from ..errors import UserError
    from ..io import to_json

    ys = args.y
    if not ys:
        from .. import sweeps as sw

        _, rows = sw.read_table(args.dir)
        if not rows:
            raise UserError(f"no results in {args.dir}: run 'brainsim sweep SPEC --out {args.dir}' first")
        try:
            ys = [sw.get(rows[0]["experiment"]).metrics[0]]
        except UserError:
            raise UserError("give --y METRIC") from None
    from ..plotting.sweep import plot_sweep

    result = plot_sweep(args.dir, args.x, ys, kind=args.kind, path=args.out, where=args.where,
                        title=args.title, logx=args.logx, reference=_reference_points(args.reference),
                        reference_label=args.reference_label)
    if args.json:
        print(to_json(result, indent=None))
        return 0
    print(f"wrote {result['figure']} ({result['kind']}) and {result['summary_csv']}")
    series = result["series"]
    for row in result["summary"]:
        label = ", ".join([f"{result['x']}={_fmt(row[result['x']])}"] + [f"{s}={_fmt(row[s])}" for s in series])
        short = f" of {row['runs']} runs ({row['missing']} failed, without a value or not run)" if row["missing"] else ""
        stats = (f"mean {row['mean']:.4g}  std {row['std']:.3g}  median {row['median']:.4g}" if row["n"]
                 else "no value")
        print(f"  {row['metric']:>16s}  {label}: n={row['n']}{short}  {stats}")
    return 0


def _reference_points(texts: list[str]) -> list[tuple[float, float]]:
    from ..errors import UserError

    points = []
    for text in texts:
        try:
            x, y = (float(part) for part in text.split("="))
        except ValueError:
            raise UserError(f"--reference {text!r}: give X=Y with two numbers, e.g. --reference 400=0.87") from None
        points.append((x, y))
    return points


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
