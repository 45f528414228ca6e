"""``brainsim ipd``: surrogate-gradient IPD networks in torch (train, evaluate, analyse).

Only the standard library is imported here; torch is imported when a command runs.
"""
from __future__ import annotations

import shlex
import sys

from .args import positive_float, positive_int, nonnegative_int

EPILOG = """examples:
  brainsim ipd train --preset seed --out models/my_seed          # the tutorial's protocol (~10-40 s)
  brainsim ipd train --preset best --out models/my_best          # 90 % test accuracy (~3-7.5 min of CPU)
  brainsim ipd train --readout fr --tau-ms 2 --epochs 10 --seed 3 --out runs/fr2
  brainsim ipd train --repeats 10 --readout oc max fr --tau-ms 20 2 --out runs/readouts
  brainsim ipd evaluate --model models/ipd_best --seed 1 --n-test 4096 --json
  brainsim ipd analyse --model models/ipd_seed
"""


def add_parser(subparsers) -> None:
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
                                       "take the preset's value.", epilog=EPILOG, formatter_class=_formatter())
    train.add_argument("--preset", default="seed", help="seed (the tutorial's protocol exactly) or best "
                                                        "(the documented 90 %% recipe). Default: seed")
    train.add_argument("--out", required=True, help="output model directory (with --repeats: the results directory)")
    net = train.add_argument_group("network")
    net.add_argument("--model", default=None, help="snn (hidden spiking layer, default) or membrane "
                                                   "(the membrane-only baseline, no hidden layer)")
    net.add_argument("--readout", nargs="+", default=None,
                     help="oc (mean output membrane), max (max over time), fr (spiking outputs, rate) or pop "
                          "(several spiking outputs per class, spike-count loss). Several only with --repeats")
    net.add_argument("--tau-ms", nargs="+", type=positive_float, default=None,
                     help="membrane time constant of both layers (ms). Several only with --repeats")
    net.add_argument("--tau-hidden-ms", type=positive_float, default=None, help="hidden-layer tau (ms)")
    net.add_argument("--tau-out-ms", type=positive_float, default=None, help="output-layer tau (ms)")
    net.add_argument("--hidden", type=positive_int, default=None, help="hidden neurons (seed preset: 30)")
    net.add_argument("--pop-per-class", type=positive_int, default=None, help="pop readout: outputs per class (10)")
    net.add_argument("--tau-hetero", action="store_true", default=None,
                     help="heterogeneous taus (gamma distributed per neuron around the layer's tau)")
    net.add_argument("--learn-tau", action="store_true", default=None, help="learn the time constants")
    net.add_argument("--positive-weights", action="store_true", default=None, help="only positive weights")
    opt = train.add_argument_group("training")
    opt.add_argument("--epochs", type=positive_int, default=None, help="epochs (seed preset: 10)")
    opt.add_argument("--batch-size", type=positive_int, default=None, help="batch size (seed preset: 64)")
    opt.add_argument("--n-train", type=positive_int, default=None, help="training stimuli (seed preset: 4096)")
    opt.add_argument("--n-test", type=positive_int, default=None, help="test stimuli (seed preset: 2048)")
    opt.add_argument("--fresh-data", action="store_true", default=None, help="new training stimuli every epoch")
    opt.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate (seed preset: 0.01)")
    opt.add_argument("--lr-schedule", default=None, help="constant or cosine")
    opt.add_argument("--seed", type=nonnegative_int, default=None, help="random seed (default 0)")
    opt.add_argument("--repeats", type=positive_int, default=None,
                     help="train seeds S..S+N-1 of every readout x tau given; writes repeats.csv and box plots "
                          "(runs already in repeats.csv are skipped, so an interrupted job resumes)")
    run = train.add_argument_group("execution")
    run.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    run.add_argument("--backend", default="auto", help="auto (native numba kernels on the CPU, the plain torch "
                                                       "loop on CUDA), native or torch")
    run.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    run.add_argument("--deterministic", action="store_true",
                     help="one torch thread and torch's deterministic algorithms (cuBLAS, cuDNN): for --device "
                          "cuda; CPU training repeats bit for bit without it (docs/ipd_training.md)")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--json", action="store_true", help="print the result as one JSON object")
    train.set_defaults(func=run_train)

    ev = sub.add_parser("evaluate", help="accuracy, errors and confusion matrix of a model on fresh test data",
                        formatter_class=_formatter())
    ev.add_argument("--model", required=True, help="model directory")
    ev.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the test stimuli (default 0)")
    ev.add_argument("--n-test", type=positive_int, default=2048, help="test stimuli (default 2048)")
    ev.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=run_evaluate)

    an = sub.add_parser("analyse", help="write the seeds' analysis figures for a model",
                        formatter_class=_formatter())
    an.add_argument("--model", required=True, help="model directory")
    an.add_argument("--out", default=None, help="figure directory (default MODEL/analysis)")
    an.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the test stimuli (default 0)")
    an.add_argument("--n-test", type=positive_int, default=2048, help="test stimuli (default 2048)")
    an.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    an.set_defaults(func=run_analyse)
    parser.set_defaults(func=run)


def _formatter():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def run(args) -> int:
    return args.func(args)


def _command_line() -> str:
    return shlex.join(["brainsim", *sys.argv[1:]])


def _prepare_out_dir(path_text: str):
    from ..io import ensure_output_dir

    return ensure_output_dir(path_text)


def run_train(args) -> int:
    from ..errors import UserError
    from ..experiments.ipd import PRESETS, protocol_from, run_repeats, train_ipd
    from ..io import to_json
    from ..netspec import READOUTS

    if args.preset not in PRESETS:
        raise UserError(f"unknown preset {args.preset!r} (choose from {', '.join(PRESETS)})")
    readouts = args.readout or [None]
    for r in readouts:
        if r is not None and r not in READOUTS:
            raise UserError(f"unknown readout {r!r} (choose from {', '.join(READOUTS)})")
    taus = args.tau_ms or [None]
    if args.repeats is None and (len(readouts) > 1 or len(taus) > 1):
        raise UserError("several --readout or --tau-ms values need --repeats N")
    if args.device not in ("cpu", "cuda"):
        raise UserError(f"unknown device {args.device!r} (cpu or cuda)")
    if args.backend not in ("auto", "native", "torch"):
        raise UserError(f"unknown backend {args.backend!r} (auto, native or torch)")

    protocols = []
    for readout in readouts:
        for tau in taus:
            protocols.append(protocol_from(
                args.preset, model=args.model, readout=readout,
                tau_hidden_ms=args.tau_hidden_ms if args.tau_hidden_ms is not None else tau,
                tau_out_ms=args.tau_out_ms if args.tau_out_ms is not None else tau,
                hidden=args.hidden, pop_per_class=args.pop_per_class, tau_hetero=args.tau_hetero,
                learn_tau=args.learn_tau, positive_weights=args.positive_weights, epochs=args.epochs,
                batch_size=args.batch_size, n_train=args.n_train, n_test=args.n_test, fresh_data=args.fresh_data,
                lr=args.lr, lr_schedule=args.lr_schedule, seed=args.seed))
    if args.deterministic and args.threads != 1:
        raise UserError("--deterministic trains with one torch thread; leave out --threads")
    out_dir = _prepare_out_dir(args.out)
    common = dict(device=args.device, backend=args.backend, threads=args.threads, progress=not args.quiet,
                  command=_command_line(), deterministic=args.deterministic)
    if args.repeats is not None:
        result = run_repeats(protocols, args.repeats, out_dir, **common)
        if args.json:
            print(to_json({"table": result["table"], "figures": result["figures"], "summary": result["summary"]},
                          indent=None))
        else:
            print(f"{len(result['rows'])} runs in {result['table']}")
            for s in result["summary"]:
                print(f"  {s['condition']:<14} n={s['runs']:<3} test accuracy median {100 * s['test_accuracy_median']:.1f} % "
                      f"(mean {100 * s['test_accuracy_mean']:.1f}, min {100 * s['test_accuracy_min']:.1f}, "
                      f"max {100 * s['test_accuracy_max']:.1f}), median error {s['test_mae_deg_median']:.2f} deg")
            print("box plots: " + ", ".join(result["figures"]))
        return 0
    result = train_ipd(protocols[0], out_dir, **common)
    s = result["scores"]
    if args.json:
        print(to_json({"out": str(out_dir), **s, "train_seconds": result["train_seconds"],
                       "train_cpu_seconds": result["train_cpu_seconds"]}, indent=None))
    else:
        print(f"saved {out_dir}: train accuracy {100 * s['train_accuracy']:.1f} %, test accuracy "
              f"{100 * s['test_accuracy']:.1f} % on {s['n_test']} fresh stimuli, test error {s['test_mae_deg']:.2f} deg; "
              f"training {result['train_seconds']:.1f} s")
    return 0


def run_evaluate(args) -> int:
    from ..experiments.ipd import evaluate_model
    from ..io import to_json

    result = evaluate_model(args.model, seed=args.seed, n_test=args.n_test, threads=args.threads)
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

    result = analyse_model(args.model, out_dir=args.out, seed=args.seed, n_test=args.n_test, threads=args.threads)
    print(f"test accuracy {100 * result['accuracy']:.1f} %, error {result['mae_deg']:.2f} deg; figures in {result['out_dir']}:")
    for name, path in result["figures"].items():
        print(f"  {name:<16} {path}")
    return 0
