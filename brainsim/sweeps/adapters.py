"""The built-in sweep experiments: one adapter per experiment, its parameters derived from the
experiment's configuration dataclasses (nothing restated; ``brainsim sweep --list NAME`` prints them).

``jeffress``      the Jeffress delay-line circuit (:class:`brainsim.experiments.jeffress.JeffressConfig`):
                  ``n_trials`` stimuli at ``ipd_deg`` (or at random IPDs in -90..90 deg), decoded by the
                  population vector; errors in degrees.
``jeffress-learn`` the self-wiring Jeffress circuit
                  (:class:`brainsim.experiments.jeffress_learning.JeffressLearnConfig`): train its
                  lagging-variable delays, freeze, decode 200 test tones; MAE, coverage, CPU time.
``ipd``           surrogate-gradient training of an IPD network (:func:`brainsim.experiments.ipd.train_ipd`:
                  a preset's protocol, any of its fields overridden) followed by its evaluation on fresh
                  test stimuli; accuracies and errors.
``ipd-evaluate``  a saved IPD model (``model`` = model directory) on fresh test stimuli of each seed.
``stdp``          a small Diehl & Cook run (:mod:`brainsim.experiments.mnist`): train, observe, test.
``compare``       torch vs Brian2 (cuba or coba) on a trained IPD network
                  (:class:`brainsim.experiments.compare.CompareParams`): the same test stimuli through
                  both; accuracies, agreement, timings.

A run's seed replaces the configuration's own seed. The adapters' few own parameters (how many
trials, which model) are declared the same way, in small dataclasses here. Brian2 and torch are
imported when a run starts, never when the parameters are listed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import UserError
from ..experiments.jeffress import IPD_RANGE_DEG
from ..params import check_fields, param
from .experiment import Experiment, config_from, config_params

PRESET_NOTE = " (default: the preset's)"


@dataclass(frozen=True)
class JeffressTrials:
    """The trials of one ``jeffress`` run."""

    ipd_deg: float | None = param(None, "IPD of every trial (none: random IPDs in -90..90 deg)", unit="deg",
                                  ge=IPD_RANGE_DEG[0], le=IPD_RANGE_DEG[1])
    n_trials: int = param(8, "stimuli simulated side by side in one network", ge=1)
    within_deg: float = param(7.5, "a trial is correct when its error is at most this (metric fraction_within)",
                              unit="deg", ge=0)

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True)
class TrainedModel:
    """The trained network a run uses."""

    model: str = param(help="trained IPD network: model directory (brainsim ipd train --out), its weights.npz "
                       "or a brainsim NIR export")

    def __post_init__(self):
        check_fields(self)


# --- jeffress -------------------------------------------------------------------------------------------

JEFFRESS_METRICS = ("mae_deg", "median_abs_error_deg", "fraction_within", "fraction_silent",
                    "peak_detector_mae_deg", "mean_detector_spikes_per_trial", "simulation_s")


def _jeffress_objects(params: dict):
    from ..experiments.jeffress import JeffressConfig

    return config_from(JeffressTrials, params), config_from(JeffressConfig, params)


def _jeffress_run(params: dict, seed: int, workdir: Path) -> dict:
    import numpy as np

    from ..experiments.jeffress import accuracy_metrics, simulate_jeffress

    trials, config = _jeffress_objects(params)
    n = trials.n_trials
    if trials.ipd_deg is None:
        ipd_deg = np.random.default_rng([seed, 7]).uniform(-90.0, 90.0, n)
    else:
        ipd_deg = np.full(n, trials.ipd_deg)
    run = simulate_jeffress(ipd_deg, replace(config, seed=seed))
    metrics = accuracy_metrics(run, within_deg=trials.within_deg)
    within = metrics.pop(f"fraction_within_{trials.within_deg:g}_deg")
    return {"mae_deg": metrics["mae_deg"], "median_abs_error_deg": metrics["median_abs_error_deg"],
            "fraction_within": within, "fraction_silent": metrics["fraction_silent"],
            "peak_detector_mae_deg": metrics["peak_detector_mae_deg"],
            "mean_detector_spikes_per_trial": metrics["mean_detector_spikes_per_trial"],
            "simulation_s": round(run.wall_s["simulation"], 4)}


def jeffress() -> Experiment:
    """The ``jeffress`` sweep experiment."""
    from ..experiments.jeffress import JeffressConfig

    return Experiment("jeffress", "Jeffress delay-line circuit in Brian2: decode the IPD of n_trials tone stimuli",
                      tuple(config_params(JeffressTrials) + config_params(JeffressConfig)), JEFFRESS_METRICS,
                      _jeffress_run, check=lambda p: (_jeffress_objects(p), None)[1],
                      cost="about 1 s per run with the numpy target and the defaults")


# --- jeffress-learn (the self-wiring circuit) --------------------------------------------------------

JEFFRESS_LEARN_METRICS = ("mae_deg", "median_abs_error_deg", "max_gap_deg", "detectors_inside",
                          "fraction_within_7.5_deg", "fraction_silent", "training_cpu_s", "training_wall_s",
                          "evaluation_wall_s")


def _jeffress_learn_objects(params: dict):
    from ..experiments.jeffress_learning import JeffressLearnConfig

    return config_from(JeffressLearnConfig, params)


def _jeffress_learn_run(params: dict, seed: int, workdir: Path) -> dict:
    from ..experiments.jeffress_learning import summary, train_and_evaluate

    config = _jeffress_learn_objects(params)
    # the run's seed; the training checkpoint in the run's own folder
    config = replace(config, circuit=replace(config.circuit, seed=seed),
                     training=replace(config.training, data_dir=str(workdir / "jeffress-learn"), resume=False))
    out = summary(train_and_evaluate(config))
    return {"mae_deg": out["mae_deg"], "median_abs_error_deg": out["median_abs_error_deg"],
            "max_gap_deg": out["coverage"]["max_gap_deg"], "detectors_inside": out["coverage"]["detectors_inside"],
            "fraction_within_7.5_deg": out["fraction_within_7.5_deg"], "fraction_silent": out["fraction_silent"],
            "training_cpu_s": out["cpu_s"]["training"], "training_wall_s": out["wall_s"]["training"],
            "evaluation_wall_s": out["wall_s"]["evaluation"]}


def jeffress_learn() -> Experiment:
    """The ``jeffress-learn`` sweep experiment."""
    from ..experiments.jeffress_learning import JeffressLearnConfig

    return Experiment("jeffress-learn", "self-wiring Jeffress circuit: learn the delay lines (one Brian2 run), "
                      "freeze, decode test tones", tuple(config_params(JeffressLearnConfig)), JEFFRESS_LEARN_METRICS,
                      _jeffress_learn_run, check=lambda p: (_jeffress_learn_objects(p), None)[1],
                      cost="cpp_standalone, defaults: about 50-70 s of CPU per run (compilations included)")


# --- ipd (torch training + evaluation) ---------------------------------------------------------------

IPD_METRICS = ("test_accuracy", "train_accuracy", "test_mae_deg", "train_mae_deg", "test_mae_class_deg",
               "test_accuracy_seed_decoder", "final_loss", "train_seconds")
PROTOCOL_EXCLUDE = ("seed", "preset")           # the run's seed; the preset is ProtocolChoice's


def _ipd_objects(params: dict):
    from ..experiments.ipd import IPDExecution, IPDProtocol, ProtocolChoice, protocol_from
    from ..stimuli.ipd import STIMULUS_NAMES, IPDStimulusParams

    choice = config_from(ProtocolChoice, params)
    overrides = {name: params[name] for name in (p.name for p in config_params(IPDProtocol, exclude=PROTOCOL_EXCLUDE))
                 if params.get(name) is not None}
    protocol = protocol_from(choice.preset, tau_ms=choice.tau_ms, **overrides)
    stimulus = config_from(IPDStimulusParams, params, rename=STIMULUS_NAMES)
    return protocol, stimulus, config_from(IPDExecution, params)


def _ipd_run(params: dict, seed: int, workdir: Path) -> dict:
    from ..experiments.ipd import train_ipd

    protocol, stimulus, execution = _ipd_objects(params)
    result = train_ipd(replace(protocol, seed=seed), None, execution=execution, progress=False, stimulus=stimulus)
    scores = result.scores
    history = result.history
    return {"test_accuracy": scores["test_accuracy"], "train_accuracy": scores["train_accuracy"],
            "test_mae_deg": scores["test_mae_deg"], "train_mae_deg": scores["train_mae_deg"],
            "test_mae_class_deg": scores["test_mae_class_deg"],
            "test_accuracy_seed_decoder": scores["test_accuracy_seed_decoder"],
            "final_loss": float(history[-1]["loss"]) if history else None,
            "train_seconds": round(result.train_seconds, 4)}


def ipd() -> Experiment:
    """The ``ipd`` sweep experiment."""
    from ..experiments.ipd import IPDExecution, IPDProtocol, ProtocolChoice
    from ..stimuli.ipd import STIMULUS_NAMES, IPDStimulusParams

    params = (config_params(ProtocolChoice) + config_params(IPDExecution)
              + config_params(IPDProtocol, exclude=PROTOCOL_EXCLUDE, overrides=True, note=PRESET_NOTE)
              + config_params(IPDStimulusParams, rename=STIMULUS_NAMES))
    return Experiment("ipd", "train a surrogate-gradient IPD network in torch, then test it on fresh stimuli",
                      tuple(params), IPD_METRICS, _ipd_run, check=lambda p: (_ipd_objects(p), None)[1],
                      cost="preset seed: 30-45 s per run on one core; scale with epochs x n_train")


def _ipd_eval_objects(params: dict):
    from ..experiments.ipd import IPDEvaluation

    return config_from(TrainedModel, params), config_from(IPDEvaluation, params)


def _ipd_eval_run(params: dict, seed: int, workdir: Path) -> dict:
    from ..experiments.ipd import evaluate_model

    model, evaluation = _ipd_eval_objects(params)
    result = evaluate_model(model.model, replace(evaluation, seed=seed))
    return {k: result[k] for k in ("accuracy", "mae_deg", "mae_class_deg", "chance_accuracy")}


def ipd_evaluate() -> Experiment:
    """The ``ipd-evaluate`` sweep experiment."""
    from ..experiments.ipd import IPDEvaluation

    return Experiment("ipd-evaluate", "evaluate a saved IPD model (a model directory) on fresh test stimuli",
                      tuple(config_params(TrainedModel) + config_params(IPDEvaluation)),
                      ("accuracy", "mae_deg", "mae_class_deg", "chance_accuracy"), _ipd_eval_run,
                      check=lambda p: (_ipd_eval_objects(p), None)[1], cost="about a second per 2,048 stimuli")


# --- stdp (Diehl & Cook, small runs) ------------------------------------------------------------------

STDP_METRICS = ("accuracy", "silent_neurons", "train_seconds_per_sample", "mean_presentations_per_sample",
                "build_seconds", "stages_seconds")
STDP_STAGE = ("chunk",)
STDP_DEVICE = ("device", "target", "threads")


def _stdp_bases():
    from ..circuits.diehl_cook import DiehlCookParams
    from ..experiments.mnist import MnistSamples, StageOptions

    return MnistSamples(n_train=200, n_observe=200, n_test=200), DiehlCookParams(n_neurons=100), StageOptions()


def _stdp_objects(params: dict):
    from ..circuits.diehl_cook import DiehlCookParams
    from ..experiments.mnist import MnistSamples, StageOptions

    counts, circuit, stage = _stdp_bases()
    return (config_from(MnistSamples, params, base=counts), config_from(DiehlCookParams, params, base=circuit),
            config_from(StageOptions, params, base=stage))


def _stdp_run(params: dict, seed: int, workdir: Path) -> dict:
    from ..experiments import mnist
    from ..stimuli.mnist import load_mnist

    counts, circuit, stage = _stdp_objects(params)
    data = load_mnist(None, default_dir=str(workdir / "no-mnist-here"))  # the embedded 5,000 digits
    if counts.n_test > len(data.test_labels):
        raise UserError(f"n_test {counts.n_test} exceeds the {len(data.test_labels)} test images")
    opts = replace(stage, data_dir=str(workdir / "stdp"), seed=seed, resume=False, n_snapshots=0, progress=False)
    Path(opts.data_dir).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    trained = mnist.train(circuit, data, counts.n_train, opts, epochs=counts.epochs, order=counts.order)
    observed = mnist.observe(data, counts.n_observe, opts)
    tested = mnist.test(data, counts.n_test, opts)
    return {"accuracy": tested["accuracy"], "silent_neurons": observed["silent_neurons"],
            "train_seconds_per_sample": trained["seconds_per_sample"],
            "mean_presentations_per_sample": trained["mean_presentations_per_sample"],
            "build_seconds": trained.get("build_seconds"), "stages_seconds": round(time.perf_counter() - t0, 3)}


def stdp() -> Experiment:
    """The ``stdp`` sweep experiment."""
    from ..circuits.diehl_cook import DiehlCookParams
    from ..experiments.mnist import MnistSamples, StageOptions

    counts, circuit, stage = _stdp_bases()
    params = (config_params(MnistSamples, base=counts) + config_params(StageOptions, base=stage, only=STDP_STAGE)
              + config_params(DiehlCookParams, base=circuit)
              + config_params(StageOptions, base=stage, only=STDP_DEVICE))
    return Experiment("stdp", "small Diehl & Cook STDP run on the embedded MNIST digits: train, label, test",
                      tuple(params), STDP_METRICS, _stdp_run, check=lambda p: (_stdp_objects(p), None)[1],
                      cost="cpp_standalone: three compilations (~10-30 s each) + ~0.05 s per sample at 100 neurons")


# --- compare (torch vs Brian2 on a trained IPD network) ----------------------------------------------

COMPARE_METRICS = ("accuracy_difference", "torch_accuracy", "brian2_accuracy", "identical_predictions",
                   "torch_mae_deg", "brian2_mae_deg", "hidden_count_correlation_mean", "hidden_bins_identical",
                   "torch_hidden_spikes", "brian2_hidden_spikes", "hidden_spike_ratio", "torch_output_spikes",
                   "brian2_output_spikes", "output_spike_ratio", "torch_seconds", "brian2_build_seconds", "brian2_run_seconds", "brian2_total_seconds")


def _compare_objects(params: dict):
    from ..experiments.compare import CompareParams

    return config_from(TrainedModel, params), config_from(CompareParams, params)


def _compare_run(params: dict, seed: int, workdir: Path) -> dict:
    from ..experiments.compare import compare

    model, settings = _compare_objects(params)
    result = compare(model.model, replace(settings, seed=seed))
    if not result.get("ran", False):
        raise RuntimeError(f"Brian2 did not run on {settings.device.name} (project generated only)")
    return {k: result.get(k) for k in COMPARE_METRICS}


def compare() -> Experiment:
    """The ``compare`` sweep experiment."""
    from ..experiments.compare import CompareParams

    return Experiment("compare", "torch vs Brian2 (cuba or coba) on a trained IPD network, same test stimuli",
                      tuple(config_params(TrainedModel) + config_params(CompareParams)), COMPARE_METRICS,
                      _compare_run, check=lambda p: (_compare_objects(p), None)[1],
                      cost="cpp_standalone: one compilation (~10-30 s) + the run; runtime/numpy for small n_test")
