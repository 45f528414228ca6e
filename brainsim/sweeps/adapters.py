"""What a sweep can run: one adapter per experiment, with its declared parameters and metrics.

An adapter turns one flat dictionary of parameters (the spec's ``[grid]`` and ``[fixed]`` values over
the declared defaults) plus a seed into one flat dictionary of metrics, by calling the experiment's
public functions in this process (no subprocess per run). Every parameter is declared with its type
and default, so a spec is checked before anything runs: unknown names, wrong types and values the
experiment's own parameter classes reject are one-line errors.

Adapters (``brainsim sweep --list`` prints them with their parameters):

``jeffress``      the Jeffress delay-line circuit (:mod:`brainsim.experiments.jeffress`): ``n_trials``
                  stimuli at ``ipd_deg`` (or at random IPDs in -90..90 deg), decoded by the population
                  vector; errors in degrees.
``ipd``           surrogate-gradient training of an IPD network (:func:`brainsim.experiments.ipd.train_ipd`)
                  followed by its evaluation on fresh test stimuli; accuracies and errors.
``ipd-evaluate``  a saved IPD model (``model`` = model directory) on fresh test stimuli of each seed.
``stdp``          a small Diehl & Cook run (:mod:`brainsim.experiments.mnist`): train, observe, test.
``compare``       torch vs Brian2 (cuba or coba) on a trained IPD network (:mod:`brainsim.experiments.compare`):
                  the same test stimuli through both; accuracies, agreement, timings.

Own experiments: a spec may name ``experiment = "package.module:ADAPTER"``, an :class:`Experiment`
object importable on every worker.

Imports here stay light (no Brian2, no torch): the CLI imports this module to validate specs.
"""
from __future__ import annotations

import importlib
import math
import time
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError

REQUIRED = object()  # default of a parameter that every spec must give


@dataclass(frozen=True)
class Param:
    """A declared parameter: name, type (int, float, bool or str), default, help."""

    name: str
    kind: type
    default: Any
    help: str = ""
    choices: tuple | None = None
    optional: bool = False   # None (leave to the experiment) is a valid value

    def coerce(self, value, where: str = ""):
        """The value in the parameter's type; UserError for a value of the wrong type."""
        where = where or self.name
        if value is None and self.optional:
            return None
        kind = self.kind
        if kind is bool:
            if isinstance(value, bool):
                return value
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return int(value)
            if isinstance(value, float) and math.isfinite(value) and value == int(value):
                return int(value)
        elif kind is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = float(value)
                if not math.isfinite(value):
                    raise UserError(f"{where} must be a finite number, got {value!r}")
                return value
        elif kind is str:
            if isinstance(value, str):
                if self.choices and value not in self.choices:
                    raise UserError(f"{where} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
                return value
        raise UserError(f"{where} must be {_kind_name(kind)}, got {value!r}")

    def describe(self) -> str:
        default = "(required)" if self.default is REQUIRED else repr(self.default)
        choices = f" [{'|'.join(self.choices)}]" if self.choices else ""
        return f"{self.name} ({_kind_name(self.kind)}{choices}, default {default}): {self.help}"


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[kind]


@dataclass(frozen=True)
class Experiment:
    """A sweepable experiment.

    ``run(params, seed, workdir)`` gets every declared parameter (defaults filled in), the run's seed
    and a fresh scratch directory (removed afterwards) and returns a flat dict of metrics (numbers,
    strings, booleans or None). ``check(params)`` validates one setting before any run starts (raise
    UserError). ``metrics`` names the main metrics, the first one being the default of plots.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    metrics: tuple[str, ...]
    run: Callable[[dict, int, Path], dict]
    check: Callable[[dict], None] | None = None
    cost: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def resolve(self, given: dict) -> dict:
        """All parameters: defaults overridden by ``given`` (already coerced)."""
        values = {p.name: p.default for p in self.params}
        values.update(given)
        missing = [name for name, value in values.items() if value is REQUIRED]
        if missing:
            raise UserError(f"experiment {self.name!r} needs a value for {', '.join(missing)}")
        return values

    def describe(self) -> str:
        lines = [f"{self.name}: {self.summary}"]
        if self.cost:
            lines.append(f"  cost: {self.cost}")
        lines.append("  parameters:")
        lines += [f"    {p.describe()}" for p in self.params]
        lines.append(f"  metrics: {', '.join(self.metrics)}")
        return "\n".join(lines)


def _dataclass_params(cls, skip=(), rename: dict | None = None, overrides: dict | None = None,
                      helps: dict | None = None) -> list[Param]:
    """Params declared from a frozen parameter dataclass (type from its default)."""
    rename, overrides, helps = rename or {}, overrides or {}, helps or {}
    out = []
    for f in fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        default = overrides.get(f.name, default)
        optional = default is None
        kind = type(default) if default is not None else float
        if kind not in (bool, int, float, str):
            kind = float
        out.append(Param(rename.get(f.name, f.name), kind, default, helps.get(f.name, f"{cls.__name__}.{f.name}"),
                         optional=optional))
    return out


def _value_error(fn, *args, **kwargs):
    """Call a parameter-class constructor; its ValueError / UserError becomes a UserError."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None


DEVICE_PARAMS = (
    Param("device", str, "runtime", "Brian2 device", choices=("runtime", "cpp_standalone", "cuda_standalone")),
    Param("target", str, "numpy", "code generation target of the runtime device", choices=("numpy", "cython")),
    Param("threads", int, 1, "OpenMP threads (cpp_standalone)"),
)


def _device(params: dict):
    from ..devices import DeviceConfig

    return _value_error(DeviceConfig, name=params["device"], target=params["target"], threads=params["threads"])


# --- jeffress -------------------------------------------------------------------------------------------

def _jeffress_params() -> tuple[Param, ...]:
    from ..circuits.jeffress import JeffressParams
    from ..stimuli.ipd import IPDStimulusParams

    own = [
        Param("ipd_deg", float, None, "IPD of every trial in degrees (-180..180); none: random IPDs in -90..90",
              optional=True),
        Param("n_trials", int, 8, "stimuli simulated side by side in one network"),
        Param("within_deg", float, 7.5, "a trial is correct when its error is at most this (metric fraction_within)"),
        Param("circuit_freq_hz", float, None, "frequency the delay lines are laid out for (none: freq_hz)",
              optional=True),
    ]
    circuit = _dataclass_params(JeffressParams, skip=("freq_hz",))
    stimulus = _dataclass_params(IPDStimulusParams, rename={"dt_ms": "stimulus_dt_ms"},
                                 overrides={"phase_delays": False},
                                 helps={"dt_ms": "time bin of the stimulus (ms)",
                                        "freq_hz": "tone frequency (Hz)"})
    return tuple(own + circuit + stimulus + list(DEVICE_PARAMS))


def _jeffress_objects(params: dict):
    from ..circuits.jeffress import JeffressParams
    from ..stimuli.ipd import IPDStimulusParams

    circuit_names = {f.name for f in fields(JeffressParams)}
    stim_names = {f.name for f in fields(IPDStimulusParams)}
    stim_values = {name: params["stimulus_dt_ms" if name == "dt_ms" else name] for name in stim_names}
    stimulus = _value_error(IPDStimulusParams, **stim_values)
    circuit_values = {name: params[name] for name in circuit_names if name != "freq_hz"}
    circuit_values["freq_hz"] = params["circuit_freq_hz"] or params["freq_hz"]
    circuit = _value_error(JeffressParams, **circuit_values)
    if params["n_trials"] < 1:
        raise UserError("n_trials must be >= 1")
    if params["ipd_deg"] is not None and not -180.0 <= params["ipd_deg"] <= 180.0:
        raise UserError(f"ipd_deg must be between -180 and 180, got {params['ipd_deg']:g}")
    return circuit, stimulus, _device(params)


def _jeffress_run(params: dict, seed: int, workdir: Path) -> dict:
    import numpy as np

    from .jeffress import accuracy_metrics, simulate_jeffress

    circuit, stimulus, device = _jeffress_objects(params)
    n = params["n_trials"]
    if params["ipd_deg"] is None:
        ipd_deg = np.random.default_rng([seed, 7]).uniform(-90.0, 90.0, n)
    else:
        ipd_deg = np.full(n, params["ipd_deg"])
    run = simulate_jeffress(ipd_deg, circuit=circuit, stimulus=stimulus, seed=seed, device=device)
    metrics = accuracy_metrics(run, within_deg=params["within_deg"])
    within = metrics.pop(f"fraction_within_{params['within_deg']:g}_deg")
    return {"mae_deg": metrics["mae_deg"], "median_abs_error_deg": metrics["median_abs_error_deg"],
            "fraction_within": within, "fraction_silent": metrics["fraction_silent"],
            "peak_detector_mae_deg": metrics["peak_detector_mae_deg"],
            "mean_detector_spikes_per_trial": metrics["mean_detector_spikes_per_trial"],
            "simulation_s": round(run.wall_s["simulation"], 4)}


# --- ipd (torch training + evaluation) ---------------------------------------------------------------

IPD_PROTOCOL_HELP = {
    "readout": "oc (mean output membrane), max, fr (spiking outputs) or pop",
    "model": "snn (hidden spiking layer) or membrane (no hidden layer)",
    "hidden": "hidden neurons", "tau_hidden_ms": "hidden-layer tau (ms)", "tau_out_ms": "output-layer tau (ms)",
    "epochs": "training epochs", "n_train": "training stimuli", "n_test": "test stimuli", "lr": "Adam learning rate",
}


def _ipd_params() -> tuple[Param, ...]:
    from ..stimuli.ipd import IPDStimulusParams
    from .ipd import IPDProtocol

    protocol = []
    for name, default in IPDProtocol().to_dict().items():  # the protocol's flat fields
        if name in ("seed", "preset"):
            continue
        # None: the preset's value (the preset decides the protocol unless a spec overrides it)
        protocol.append(Param(name, type(default), None,
                              IPD_PROTOCOL_HELP.get(name, f"IPDProtocol.{name}") + " (default: the preset's)",
                              optional=True))
    own = [
        Param("preset", str, "seed", "seed (the tutorial's protocol) or best", choices=("seed", "best")),
        Param("tau_ms", float, None, "membrane tau of both layers (ms); overrides the preset's taus", optional=True),
        Param("backend", str, "auto", "auto, native (numba kernels) or torch", choices=("auto", "native", "torch")),
        Param("torch_threads", int, 1, "torch threads per run"),
    ]
    stimulus = _dataclass_params(IPDStimulusParams, rename={"dt_ms": "stimulus_dt_ms"},
                                 helps={"dt_ms": "time step of stimulus and network (ms)",
                                        "envelope_power": "rate = rate_max (0.5 (1 + sin theta))^k: k (seed 002: 0..100)"})
    return tuple(own + protocol + stimulus)


def _ipd_objects(params: dict):
    from ..stimuli.ipd import IPDStimulusParams
    from .ipd import IPDProtocol, protocol_from

    if params["tau_ms"] is not None and (params["tau_hidden_ms"] is not None or params["tau_out_ms"] is not None):
        raise UserError("give tau_ms (both layers) or tau_hidden_ms / tau_out_ms, not both")
    overrides = {name: params[name] for name in IPDProtocol().to_dict() if name in params and name != "preset"}
    if params["tau_ms"] is not None:
        overrides["tau_hidden_ms"] = overrides["tau_out_ms"] = params["tau_ms"]
    protocol = protocol_from(params["preset"], **overrides)
    stim_names = {f.name for f in fields(IPDStimulusParams)}
    stimulus = _value_error(IPDStimulusParams,
                            **{n: params["stimulus_dt_ms" if n == "dt_ms" else n] for n in stim_names})
    if params["torch_threads"] < 1:
        raise UserError("torch_threads must be >= 1")
    return protocol, stimulus


def _ipd_run(params: dict, seed: int, workdir: Path) -> dict:
    from dataclasses import replace

    from .ipd import train_ipd

    protocol, stimulus = _ipd_objects(params)
    protocol = replace(protocol, seed=seed)
    result = train_ipd(protocol, None, backend=params["backend"], threads=params["torch_threads"],
                       progress=False, stimulus=stimulus)
    scores = result["scores"]
    history = result["history"]
    return {"test_accuracy": scores["test_accuracy"], "train_accuracy": scores["train_accuracy"],
            "test_mae_deg": scores["test_mae_deg"], "train_mae_deg": scores["train_mae_deg"],
            "test_mae_class_deg": scores["test_mae_class_deg"],
            "test_accuracy_seed_decoder": scores["test_accuracy_seed_decoder"],
            "final_loss": float(history[-1]["loss"]) if history else None,
            "train_seconds": round(result["train_seconds"], 4)}


def _ipd_eval_run(params: dict, seed: int, workdir: Path) -> dict:
    from .ipd import evaluate_model

    result = evaluate_model(params["model"], seed=seed, n_test=params["n_test"], threads=params["torch_threads"])
    return {k: result[k] for k in ("accuracy", "mae_deg", "mae_class_deg", "chance_accuracy")}


def _ipd_eval_check(params: dict) -> None:
    if params["n_test"] < 1:
        raise UserError("n_test must be >= 1")


# --- stdp (Diehl & Cook, small runs) ------------------------------------------------------------------

STDP_OWN = ("n_train", "n_observe", "n_test", "chunk")


def _stdp_params() -> tuple[Param, ...]:
    from ..circuits.diehl_cook import DiehlCookParams

    own = [
        Param("n_train", int, 200, "training images (STDP)"),
        Param("n_observe", int, 200, "training images used to label the neurons"),
        Param("n_test", int, 200, "test images"),
        Param("chunk", int, 250, "samples per compiled run"),
    ]
    circuit = _dataclass_params(DiehlCookParams, overrides={"n_neurons": 100},
                                helps={"n_neurons": "excitatory (= inhibitory) neurons",
                                       "intensity": "input rate = pixel / 8 * intensity Hz (boosted when silent)",
                                       "dt_ms": "time step (ms)"})
    device = [Param("device", str, "cpp_standalone", "Brian2 device",
                    choices=("runtime", "cpp_standalone", "cuda_standalone")), *DEVICE_PARAMS[1:]]
    return tuple(own + circuit + device)


def _stdp_objects(params: dict):
    from ..circuits.diehl_cook import DiehlCookParams

    names = {f.name for f in fields(DiehlCookParams)}
    circuit = _value_error(DiehlCookParams, **{n: params[n] for n in names})
    for name in STDP_OWN:
        if params[name] < 1:
            raise UserError(f"{name} must be >= 1")
    return circuit, _device(params)


def _stdp_run(params: dict, seed: int, workdir: Path) -> dict:
    from ..stimuli.mnist import load_mnist
    from . import mnist

    circuit, device = _stdp_objects(params)
    data = load_mnist(None, default_dir=str(workdir / "no-mnist-here"))  # the embedded 5,000 digits
    if params["n_test"] > len(data.test_labels):
        raise UserError(f"n_test {params['n_test']} exceeds the {len(data.test_labels)} test images")
    opts = mnist.StageOptions(data_dir=workdir / "stdp", device=device, seed=seed, resume=False,
                              chunk_samples=params["chunk"], n_snapshots=0, progress=False)
    Path(opts.data_dir).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    trained = mnist.train(circuit, data, params["n_train"], opts)
    observed = mnist.observe(data, params["n_observe"], opts)
    tested = mnist.test(data, params["n_test"], opts)
    return {"accuracy": tested["accuracy"], "silent_neurons": observed["silent_neurons"],
            "train_seconds_per_sample": trained["seconds_per_sample"],
            "mean_presentations_per_sample": trained["mean_presentations_per_sample"],
            "build_seconds": trained.get("build_seconds"), "stages_seconds": round(time.perf_counter() - t0, 3)}


# --- compare (torch vs Brian2 on a trained IPD network) ----------------------------------------------

COMPARE_METRICS = ("accuracy_difference", "torch_accuracy", "brian2_accuracy", "identical_predictions",
                   "torch_mae_deg", "brian2_mae_deg", "hidden_count_correlation_mean", "hidden_bins_identical",
                   "torch_seconds", "brian2_build_seconds", "brian2_run_seconds", "brian2_total_seconds")


def _compare_params() -> tuple[Param, ...]:
    from ..circuits.ipd_network import CobaParams

    own = [
        Param("model", str, REQUIRED, "trained IPD network: model directory, weights.npz or brainsim NIR file"),
        Param("neuron", str, "cuba", "Brian2 realisation: cuba (torch dynamics) or coba (conductances)",
              choices=("cuba", "coba")),
        Param("n_test", int, 256, "test stimuli (stream [seed, 1], as brainsim ipd evaluate)"),
        Param("torch_threads", int, 1, "torch threads per run"),
    ]
    coba = _dataclass_params(CobaParams, rename={f.name: f"coba_{f.name}" for f in fields(CobaParams)},
                             helps={f.name: f"coba realisation: CobaParams.{f.name}" for f in fields(CobaParams)})
    device = [Param("device", str, "cpp_standalone", "Brian2 device",
                    choices=("runtime", "cpp_standalone", "cuda_standalone")), *DEVICE_PARAMS[1:]]
    return tuple(own + coba + device)


def _compare_objects(params: dict):
    from ..circuits.ipd_network import CobaParams

    coba = _value_error(CobaParams, **{f.name: params[f"coba_{f.name}"] for f in fields(CobaParams)})
    if params["n_test"] < 1:
        raise UserError("n_test must be >= 1")
    return coba, _device(params)


def _compare_run(params: dict, seed: int, workdir: Path) -> dict:
    from .compare import compare

    coba, device = _compare_objects(params)
    result = compare(params["model"], neuron=params["neuron"], n_test=params["n_test"], seed=seed,
                     device_config=device, coba_params=coba, threads=params["torch_threads"])
    if not result.get("ran", False):
        raise RuntimeError(f"Brian2 did not run on {device.name} (project generated only)")
    return {k: result.get(k) for k in COMPARE_METRICS}


# --- registry -------------------------------------------------------------------------------------------

@dataclass
class _Lazy:
    """Adapters are built on first use (their parameter lists import the parameter classes)."""

    factory: Callable[[], Experiment]
    value: Experiment | None = field(default=None)

    def get(self) -> Experiment:
        if self.value is None:
            self.value = self.factory()
        return self.value


def _jeffress() -> Experiment:
    return Experiment("jeffress", "Jeffress delay-line circuit in Brian2: decode the IPD of n_trials tone stimuli",
                      _jeffress_params(),
                      ("mae_deg", "median_abs_error_deg", "fraction_within", "fraction_silent",
                       "peak_detector_mae_deg", "mean_detector_spikes_per_trial", "simulation_s"),
                      _jeffress_run, check=lambda p: (_jeffress_objects(p), None)[1],
                      cost="about 1 s per run with the numpy target and the defaults")


def _ipd() -> Experiment:
    return Experiment("ipd", "train a surrogate-gradient IPD network in torch, then test it on fresh stimuli",
                      _ipd_params(),
                      ("test_accuracy", "train_accuracy", "test_mae_deg", "train_mae_deg", "test_mae_class_deg",
                       "test_accuracy_seed_decoder", "final_loss", "train_seconds"),
                      _ipd_run, check=lambda p: (_ipd_objects(p), None)[1],
                      cost="preset seed: 30-45 s per run on one core; scale with epochs x n_train")


def _ipd_evaluate() -> Experiment:
    return Experiment("ipd-evaluate", "evaluate a saved IPD model (a model directory) on fresh test stimuli",
                      (Param("model", str, REQUIRED, "model directory (brainsim ipd train --out)"),
                       Param("n_test", int, 2048, "test stimuli"),
                       Param("torch_threads", int, 1, "torch threads per run")),
                      ("accuracy", "mae_deg", "mae_class_deg", "chance_accuracy"),
                      _ipd_eval_run, check=_ipd_eval_check, cost="about a second per 2,048 stimuli")


def _stdp() -> Experiment:
    return Experiment("stdp", "small Diehl & Cook STDP run on the embedded MNIST digits: train, label, test",
                      _stdp_params(),
                      ("accuracy", "silent_neurons", "train_seconds_per_sample", "mean_presentations_per_sample",
                       "build_seconds", "stages_seconds"),
                      _stdp_run, check=lambda p: (_stdp_objects(p), None)[1],
                      cost="cpp_standalone: three compilations (~10-30 s each) + ~0.05 s per sample at 100 neurons")


def _compare() -> Experiment:
    return Experiment("compare", "torch vs Brian2 (cuba or coba) on a trained IPD network, same test stimuli",
                      _compare_params(), COMPARE_METRICS, _compare_run,
                      check=lambda p: (_compare_objects(p), None)[1],
                      cost="cpp_standalone: one compilation (~10-30 s) + the run; runtime/numpy for small n_test")


_REGISTRY: dict[str, _Lazy] = {
    "jeffress": _Lazy(_jeffress),
    "ipd": _Lazy(_ipd),
    "ipd-evaluate": _Lazy(_ipd_evaluate),
    "stdp": _Lazy(_stdp),
    "compare": _Lazy(_compare),
}


def register(experiment: Experiment | Callable[[], Experiment], name: str | None = None) -> None:
    """Add an experiment to this process's registry (workers import plug-ins by ``module:attr``)."""
    if isinstance(experiment, Experiment):
        _REGISTRY[name or experiment.name] = _Lazy(lambda: experiment, experiment)
    else:
        if name is None:
            raise ValueError("register(factory) needs a name")
        _REGISTRY[name] = _Lazy(experiment)


def names() -> list[str]:
    return list(_REGISTRY)


def available() -> list[str]:
    """Registered experiments whose code is installed here."""
    out = []
    for name in _REGISTRY:
        try:
            get(name)
        except UserError:
            continue
        out.append(name)
    return out


def get(name: str) -> Experiment:
    """The experiment called ``name`` (a registered name or ``package.module:attr``); UserError if unknown."""
    if name in _REGISTRY:
        try:
            return _REGISTRY[name].get()
        except ModuleNotFoundError as exc:
            raise UserError(f"experiment {name!r} is not available in this installation ({exc})") from None
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            obj = getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise UserError(f"cannot import experiment {name!r}: {exc}") from None
        if callable(obj) and not isinstance(obj, Experiment):
            obj = obj()
        if not isinstance(obj, Experiment):
            raise UserError(f"{name!r} is not a brainsim.experiments.sweep_adapters.Experiment")
        return obj
    raise UserError(f"unknown experiment {name!r}; choose one of {', '.join(names())} "
                    "(or package.module:ADAPTER)")
