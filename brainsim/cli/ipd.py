"""``brainsim ipd``: surrogate-gradient IPD networks in torch (train, evaluate, analyse).

Only the standard library is imported here; torch is imported when a command runs.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from .args import add_overwrite_options, overwrite_from, positive_int, rerun_with_resume

EPILOG = """examples:
  brainsim ipd train --preset seed --out models/my_seed          # the tutorial's protocol (~10-40 s)
  brainsim ipd train --preset best --out models/my_best          # 90 % test accuracy (~7.5 min of CPU)
  brainsim ipd train --readout fr --tau-ms 2 --epochs 10 --seed 3 --out runs/fr2
  brainsim ipd train --readout fr --tau-ms 2 --epochs 10 --seed 3 --out runs/fr2 --resume   # after Ctrl-C
  brainsim ipd train --repeats 10 --readout oc max fr --tau-ms 20 2 --out runs/readouts
  brainsim ipd evaluate --model models/ipd_best --seed 1 --n-test 4096 --json
  brainsim ipd analyse --model models/ipd_seed
"""


def add_parser(subparsers) -> None:
    from ..experiments.ipd import PRESETS, IPDEvaluation, IPDExecution, IPDProtocol, ProtocolChoice
    from ..sweeps.engine import SweepOptions
    from .options import add_options

    parser = subparsers.add_parser(
        "ipd", help="surrogate-gradient IPD networks in torch: train, evaluate, analyse",
        description="Train spiking networks on the interaural-phase-difference task of the Cosyne 2022 "
                    "sound-localisation tutorial (surrogate gradients, torch), evaluate and analyse them.",
        epilog=EPILOG, formatter_class=_formatter())
    sub = parser.add_subparsers(dest="ipd_command", metavar="SUBCOMMAND", parser_class=type(parser))
    sub.required = True

    train = sub.add_parser("train", help="train a network (or N seeds of several conditions with --repeats)",
                           description="Train an IPD network and save a model directory (weights.npz, manifest.json "
                                       "with the exact protocol and scores, training_curve.csv). Options left out "
                                       "take the preset's value (the defaults shown are the seed preset's).",
                           epilog=EPILOG, formatter_class=_formatter())
    train.add_argument("--out", required=True, help="output model directory (with --repeats: the results directory)")
    choice = add_options(train, ProtocolChoice, many=("tau_ms",),
                         notes={"tau_ms": "several only with --repeats"})
    protocol = add_options(train, IPDProtocol, base=PRESETS["seed"], exclude=("preset",), many=("readout",),
                           title="training", notes={"readout": "several only with --repeats"})
    train.add_argument("--repeats", type=positive_int, default=None, metavar="N",
                       help="train seeds S..S+N-1 of every readout x tau given, on the sweep engine: OUT/results.csv "
                            "and box plots (runs already in the table are skipped, so an interrupted job resumes)")
    execution = add_options(train, IPDExecution, title="execution")
    workers = add_options(train, SweepOptions, only=("workers",), base=SweepOptions(workers=1),
                          notes={"workers": "with --repeats"})
    outputs = train.add_argument_group("output directory")
    outputs.add_argument("--resume", action="store_true",
                         help="continue the interrupted training whose checkpoint is in --out (same options); "
                              "the result is the one an uninterrupted run gives")
    add_overwrite_options(outputs, "a trained model")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--json", action="store_true", help="print the result as one JSON object")
    train.set_defaults(func=run_train, choice_options=choice, protocol_options=protocol,
                       execution_options=execution, sweep_options=workers, resume_hint=_resume_hint)

    ev = sub.add_parser("evaluate", help="accuracy, errors and confusion matrix of a model on fresh test data",
                        formatter_class=_formatter())
    ev.add_argument("--model", required=True, help="model directory")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=run_evaluate, evaluation_options=add_options(ev, IPDEvaluation))

    an = sub.add_parser("analyse", help="write the seeds' analysis figures for a model",
                        formatter_class=_formatter())
    an.add_argument("--model", required=True, help="model directory")
    an.add_argument("--out", default=None, help="figure directory (default: MODELNAME_analysis in the current directory; never inside the model)")
    an.set_defaults(func=run_analyse, evaluation_options=add_options(an, IPDEvaluation))
    parser.set_defaults(func=run)


def _formatter():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def run(args) -> int:
    return args.func(args)


def _resume_hint(args, command: str) -> str | None:
    """How to continue an interrupted ``ipd train``: --repeats skips finished runs by itself."""
    return command if args.repeats is not None else rerun_with_resume(args, command)


def _command_line() -> str:
    return shlex.join(["brainsim", *sys.argv[1:]])


def run_train(args) -> int:
    from ..errors import UserError
    from ..experiments.ipd import protocol_from, train_ipd
    from ..io import ensure_output_dir, to_json

    choice = args.choice_options.given(args)
    preset = choice.get("preset", "seed")
    taus = choice.get("tau_ms") or [None]
    overrides = args.protocol_options.given(args)
    readouts = overrides.pop("readout", None) or [None]
    if args.repeats is None and (len(readouts) > 1 or len(taus) > 1):
        raise UserError("several --readout or --tau-ms values need --repeats N")
    protocols = [protocol_from(preset, tau_ms=tau, readout=readout, **overrides)
                 for readout in readouts for tau in taus]   # every condition checked before anything runs
    execution = args.execution_options.build(args)
    if args.repeats is not None:
        given = [flag for flag, on in (("--resume", args.resume), ("--force", args.force),
                                       ("--overwrite-shipped", args.overwrite_shipped)) if on]
        if given:
            raise UserError(f"{given[0]} applies to a single training, not to --repeats (run the same command "
                            "again to resume: runs already in the table are skipped)")
        return _repeats(args, preset, readouts, taus, overrides, protocols[0].seed, ensure_output_dir(args.out),
                        to_json)
    out_dir = Path(args.out)
    result = train_ipd(protocols[0], out_dir, execution=execution, progress=not args.quiet,
                       command=_command_line(), resume=args.resume, allow=overwrite_from(args))
    s = result.scores
    if args.json:
        print(to_json({"out": str(out_dir), **s, "train_seconds": result.train_seconds,
                       "train_cpu_seconds": result.train_cpu_seconds}, indent=None))
    else:
        print(f"saved {out_dir}: train accuracy {100 * s['train_accuracy']:.1f} %, test accuracy "
              f"{100 * s['test_accuracy']:.1f} % on {s['n_test']} fresh stimuli, test error {s['test_mae_deg']:.2f} deg; "
              f"training {result.train_seconds:.1f} s")
    return 0


REPEAT_FIGURES = {"repeats_accuracy.png": ("train_accuracy", "test_accuracy"),
                  "repeats_error.png": ("train_mae_deg", "test_mae_deg")}


def _repeats(args, preset, readouts, taus, overrides, first_seed, out_dir, to_json) -> int:
    """--repeats: the conditions (readout x tau) as the grid of an ``ipd`` sweep, seeds S..S+N-1."""
    from ..experiments.ipd import PRESETS
    from ..sweeps import spec_from_dict
    from ..sweeps.repeats import run_repeats

    grid = {"readout": [r or PRESETS[preset].net.readout for r in readouts]}
    if taus != [None]:
        grid["tau_ms"] = taus
    fixed = {"preset": preset, **{k: v for k, v in overrides.items() if k != "seed"},
             **args.execution_options.given(args)}
    spec = spec_from_dict({"experiment": "ipd", "seeds": list(range(first_seed, first_seed + args.repeats)),
                           "grid": grid, "fixed": fixed}, source="brainsim ipd train --repeats")
    result = run_repeats(spec, out_dir, REPEAT_FIGURES, args.sweep_options.build(args), progress=not args.quiet)
    if args.json:
        print(to_json({"table": result.table, "figures": list(result.figures), "summary": list(result.summary),
                       "runs": result.sweep.runs, "ok": result.sweep.ok, "skipped": result.sweep.skipped,
                       "failed": result.sweep.failed}, indent=None))
    else:
        print(f"{result.sweep.runs} runs in {result.table} ({result.sweep.skipped} already done, "
              f"{result.sweep.failed} failed)")
        for s in result.summary:
            print(f"  {s['condition']:<24} n={s['runs']:<3} test accuracy median {100 * s['test_accuracy_median']:.1f} % "
                  f"(mean {100 * s['test_accuracy_mean']:.1f}, min {100 * s['test_accuracy_min']:.1f}, "
                  f"max {100 * s['test_accuracy_max']:.1f}), median error {s['test_mae_deg_median']:.2f} deg")
        print("box plots: " + ", ".join(result.figures))
    return 1 if result.sweep.failed else 0


def run_evaluate(args) -> int:
    from ..experiments.ipd import evaluate_model
    from ..io import to_json

    result = evaluate_model(args.model, args.evaluation_options.build(args))
    if args.json:
        print(to_json(result, indent=None))
        return 0
    print(f"model {result['model']} ({result['model_kind']}, readout {result['readout']}), "
          f"{result['n_test']} test stimuli, seed {result['seed']}")
    print(f"  accuracy            {100 * result['accuracy']:.1f} %   (chance {100 * result['chance_accuracy']:.1f} %)")
    print(f"  mean abs error      {result['mae_deg']:.2f} deg  (true IPD vs predicted class midpoint)")
    print(f"  class-to-class err  {result['mae_class_deg']:.2f} deg")
    print("  confusion matrix (rows: true class, columns: predicted class):")
    for row in result["confusion"]:
        print("   " + " ".join(f"{v:4d}" for v in row))
    return 0


def run_analyse(args) -> int:
    from ..experiments.ipd import analyse_model

    result = analyse_model(args.model, out_dir=args.out, params=args.evaluation_options.build(args))
    print(f"test accuracy {100 * result['accuracy']:.1f} %, error {result['mae_deg']:.2f} deg; figures in {result['out_dir']}:")
    for name, path in result["figures"].items():
        print(f"  {name:<16} {path}")
    if "jeffress_correlation" in result:
        print(f"learned delays: best ITD vs ear 1 - ear 0 delay difference over {result['tuned_neurons']} tuned "
              f"hidden neurons: r = {result['jeffress_correlation']:.2f} (Jeffress prediction: r = 1)")
    return 0
