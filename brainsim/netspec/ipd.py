"""The IPD network as plain numpy: its configuration (:class:`NetConfig`) and, once trained, its
weights and decay factors (:class:`IPDNetworkSpec`). One description for the torch model
(:meth:`brainsim.snn.IPDNet.from_spec`), the Brian2 realisations
(:func:`brainsim.circuits.ipd_network.build`) and the NIR export; this module imports neither torch
nor Brian2.

The network (Cosyne 2022 sound-localisation tutorial, D. Goodman; seeds 000/002/004): ``n_inputs``
auditory-nerve fibres -> ``n_hidden`` spiking LIF neurons -> ``n_out`` output neurons, leaky
(non-spiking) for the ``oc`` and ``max`` readouts, spiking for ``fr`` and ``pop``; the
membrane-only baseline (``model="membrane"``) has no hidden layer. Weights are input-major
(current ``I_t = x_t @ W``).

Discretisation (:data:`DISCRETISATION`; time step ``dt_ms``, ``alpha = exp(-dt/tau)`` per neuron,
the equations are written out in :mod:`brainsim.snn.core`)::

    spiking:  s_{t+1} = H(v_t - theta);  v_{t+1} = (alpha v_t + I_t)(1 - s_t)
    leaky:    v_{t+1} = alpha v_t + I_t
    recorded: t = 0 .. T-1, v_0 = s_0 = 0

The decay factors are part of the trained network: float32 values exactly as the torch model used
them. torch's float32 ``exp`` is not correctly rounded (about 1 % of time constants give a value one
ulp away from the correctly rounded one) and one ulp can flip a threshold decision, so a spec made
from a torch model (or read from a model directory that stores them) carries torch's values, and
a Brian2 realisation of it reproduces torch bit for bit. :func:`decay_factor` computes them from
time constants where they were not stored.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import UserError
from ..params import check_fields, param
from ..stimuli.ipd import DEFAULT_CLASSES, TUTORIAL, IPDClasses, IPDStimulusParams

MODELS = ("snn", "membrane")
READOUTS = ("oc", "max", "fr", "pop")
SPIKING_READOUTS = ("fr", "pop")          # readouts whose output layer spikes
LEAKY_READOUTS = ("oc", "max")
DELAY_INITS = ("ear", "synapse")
MIN_TAU_MS = 0.1                          # time constants are clamped here: alpha stays well defined

READOUT_DEFINITIONS = {"oc": "argmax_c mean_t v_t,c", "max": "argmax_c max_t v_t,c",
                       "fr": "argmax_c mean_t s_t,c",
                       "pop": "argmax_c mean over t and the pop_per_class outputs c*P..c*P+P-1"}
DISCRETISATION = ("brainsim.snn.core v1: s_{t+1} = H(v_t - theta); v_{t+1} = (alpha v_t + I_t)(1 - s_t) "
                  "(spiking); v_{t+1} = alpha v_t + I_t (leaky); I_t = x_t W; records t = 0..T-1")


def _is_torch_tensor(value) -> bool:
    return type(value).__module__.startswith("torch")


def decay_factor(tau_ms, dt_ms: float):
    """Per-step decay ``alpha = exp(-dt_ms / tau_ms)`` of neurons with time constants ``tau_ms`` (ms),
    time step ``dt_ms`` (ms); time constants below :data:`MIN_TAU_MS` are clamped to it.

    The one definition of the decay factor, for both sides:

    * a torch tensor gives torch's own float32 value, differentiable in ``tau_ms`` (what the torch
      model computes at every forward pass, learnable time constants included);
    * anything else (numpy arrays, floats) gives a float32 ndarray: the float32 quotient formed as
      torch forms it (``-dt * (1 / tau)``), its exponential in float64 rounded to float32. It equals
      torch's value for about 99 % of time constants (every time constant of the shipped models) and
      is one ulp away otherwise, which is why specs store torch's values when they have them.
    """
    if _is_torch_tensor(tau_ms):
        return (-dt_ms / tau_ms.clamp(min=MIN_TAU_MS)).exp()
    tau = np.maximum(np.asarray(tau_ms, dtype=np.float32), np.float32(MIN_TAU_MS))
    quotient = np.float32(-dt_ms) * (np.float32(1.0) / tau)
    return np.exp(quotient.astype(np.float64)).astype(np.float32)


@dataclass(frozen=True)
class NetConfig:
    """Structure and dynamics of an IPD network: what to build before any weight is known (and what
    the model directory's manifest stores as ``net``). Raises :class:`UserError` on invalid values.

    ``tau_hidden_ms`` and ``tau_out_ms`` are the layers' (mean) initial time constants in ms; a
    trained network's per-neuron values are in :class:`IPDNetworkSpec`. ``n_inputs`` and ``dt_ms``
    (ms) are those of the stimulus, ``n_classes`` that of the IPD classes.
    """

    model: str = param("snn", "snn (hidden spiking layer) or membrane (the membrane-only baseline, no hidden "
                       "layer)", choices=MODELS)
    readout: str = param("oc", "oc (mean output membrane), max (max over time), fr (spiking outputs, rate) or pop "
                         "(several spiking outputs per class, spike-count loss)", choices=READOUTS)
    n_inputs: int = param(200, "input fibres (the stimulus's)", ge=1, cli="", sweep=False)
    n_hidden: int = param(30, "hidden neurons", ge=1, cli="--hidden", sweep="hidden")
    n_classes: int = param(12, "IPD classes (the class bins')", ge=1, cli="", sweep=False)
    pop_per_class: int = param(10, "pop readout: outputs per class", ge=1)
    tau_hidden_ms: float = param(20.0, "hidden-layer membrane time constant", unit="ms", gt=0)
    tau_out_ms: float = param(20.0, "output-layer membrane time constant", unit="ms", gt=0)
    tau_hetero: bool = param(False, "heterogeneous taus (gamma distributed per neuron, shape 3, around the "
                             "layer's tau)")
    learn_tau: bool = param(False, "learn the time constants")
    positive_weights: bool = param(False, "only positive weights")
    learn_delays: bool = param(False, "learnable per-synapse input-to-hidden delays (DCLS-style Gaussian taps whose "
                               "width shrinks to 0 during training; integer steps once trained)")
    max_delay_ms: float = param(20.0, "learnable delays: the largest delay", unit="ms", gt=0)
    delay_init: str = param("ear", "learnable delays: initial delays, ear (each hidden neuron draws one delay per ear, "
                            "uniform in 0..max, its synapses start within half a step of it: a random Jeffress "
                            "array) or synapse (every synapse uniform in 0..max)", choices=DELAY_INITS)
    delay_sigma_ms: float = param(5.0, "learnable delays, training only: initial width of the Gaussian taps (it "
                                  "shrinks to 0.25 dt by 80 % of the epochs; the rest train with integer delays)",
                                  unit="ms", gt=0)
    delay_lr_scale: float = param(20.0, "learnable delays, training only: delay steps moved per unit of Adam step "
                                  "(the delays' learning rate relative to the weights')", gt=0)
    threshold: float = param(1.0, "firing threshold", gt=0, cli="", sweep=False)
    surrogate_slope: float = param(5.0, "training only: slope of the sigmoid surrogate gradient", gt=0, cli="",
                                   sweep=False)
    dt_ms: float = param(1.0, "time step: the stimulus's, recorded with the trained network (set from the "
                         "stimulus, never a parameter of its own)", unit="ms", gt=0, cli="", sweep=False)

    def __post_init__(self):
        if self.model not in MODELS:
            raise UserError(f"unknown model {self.model!r} (snn or membrane)")
        if self.readout not in READOUTS:
            raise UserError(f"unknown readout {self.readout!r} (choose from {', '.join(READOUTS)})")
        check_fields(self)
        if self.model == "membrane" and self.readout not in LEAKY_READOUTS:
            raise UserError("the membrane-only model has no spiking outputs: use readout oc or max")
        if self.learn_delays and self.model != "snn":
            raise UserError("learnable delays sit on the input-to-hidden synapses: they need model snn")

    @property
    def max_delay_steps(self) -> int:
        """The largest learnable delay in time steps (delays are whole steps once trained)."""
        return int(round(self.max_delay_ms / self.dt_ms))

    @property
    def has_hidden(self) -> bool:
        return self.model == "snn"

    @property
    def n_out(self) -> int:
        """Output neurons: one per class, ``pop_per_class`` per class for the pop readout."""
        return self.n_classes * (self.pop_per_class if self.readout == "pop" else 1)

    @property
    def spiking_output(self) -> bool:
        return self.readout in SPIKING_READOUTS


def _float32_array(value, name: str, source: str) -> np.ndarray:
    """``value`` as float32; integers and floats only (no complex, strings or objects)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise UserError(f"{source}: {name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float32)


def _float32_vector(value, name: str, source: str) -> np.ndarray:
    arr = _float32_array(value, name, source)
    if arr.ndim != 1:
        raise UserError(f"{source}: shape mismatch: {name} must be a vector, got shape {arr.shape}")
    return arr


def _delay_steps(value, net: NetConfig, source: str) -> np.ndarray | None:
    """The checked integer delays (int32) of a network with learnable delays; None without them."""
    if not net.learn_delays:
        if value is not None:
            raise UserError(f"{source}: delay_steps given, but the network has no learnable delays (learn_delays false)")
        return None
    if value is None:
        raise UserError(f"{source}: a network with learnable delays needs delay_steps")
    arr = np.asarray(value)
    shape = (net.n_inputs, net.n_hidden)
    if arr.shape != shape:
        raise UserError(f"{source}: shape mismatch: delay_steps has shape {arr.shape}, the network needs {shape}")
    if arr.dtype.kind not in "iu":
        raise UserError(f"{source}: delay_steps must be whole time steps (integers), got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > net.max_delay_steps):
        raise UserError(f"{source}: delay_steps must lie in 0 .. {net.max_delay_steps} (max_delay_ms "
                        f"{net.max_delay_ms:g} at dt {net.dt_ms:g} ms), got {arr.min()} .. {arr.max()}")
    return arr.astype(np.int32)


@dataclass(frozen=True, eq=False)
class IPDNetworkSpec:
    """A trained IPD network as numpy arrays (float32; weights input-major, current = x @ W).

    ``net``: its configuration (readout, sizes, threshold, dt). ``W1`` (n_inputs, n_hidden) and
    ``tau_hidden_ms`` (n_hidden,) are None for the membrane-only model; ``W2`` (n_hidden or
    n_inputs, n_out); ``tau_out_ms`` (n_out,). ``alpha_hidden`` / ``alpha_out``: the decay factors
    as the torch model used them (None: computed by :func:`decay_factor` from the time constants).
    ``stimulus`` and ``classes``: the task it was trained on. ``source``: where it came from (used
    in error messages). ``delay_steps`` (n_inputs, n_hidden), networks with learnable delays only
    (``net.learn_delays``): the input-to-hidden delays in whole time steps, 0 .. ``net.max_delay_steps``
    (the current of hidden neuron j is ``I_j(t) = sum_i W1_ij x_i(t - delay_steps_ij)``). Invalid or
    inconsistent arrays raise :class:`UserError`.
    """

    net: NetConfig
    W1: np.ndarray | None
    W2: np.ndarray
    tau_hidden_ms: np.ndarray | None
    tau_out_ms: np.ndarray
    alpha_hidden: np.ndarray | None = None
    alpha_out: np.ndarray | None = None
    stimulus: IPDStimulusParams = TUTORIAL
    classes: IPDClasses = DEFAULT_CLASSES
    source: str = ""
    delay_steps: np.ndarray | None = None

    def __post_init__(self):
        src, net = self.source or "network", self.net
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen dataclass
        if net.has_hidden:
            if self.W1 is None or self.tau_hidden_ms is None:
                raise UserError(f"{src}: a network with a hidden layer needs W1 and tau_hidden_ms")
            set_("W1", _float32_array(self.W1, "W1", src))
            set_("tau_hidden_ms", _float32_vector(self.tau_hidden_ms, "tau_hidden_ms", src))
            expected = {"W1": (net.n_inputs, net.n_hidden), "W2": (net.n_hidden, net.n_out),
                        "tau_hidden_ms": (net.n_hidden,)}
        else:
            if self.W1 is not None or self.tau_hidden_ms is not None or self.alpha_hidden is not None:
                raise UserError(f"{src}: the membrane-only model has no hidden layer (no W1, tau_hidden_ms)")
            expected = {"W2": (net.n_inputs, net.n_out)}
        set_("W2", _float32_array(self.W2, "W2", src))
        set_("tau_out_ms", _float32_vector(self.tau_out_ms, "tau_out_ms", src))
        expected["tau_out_ms"] = (net.n_out,)
        for name, shape in expected.items():
            value = getattr(self, name)
            if value.shape != shape:
                raise UserError(f"{src}: shape mismatch: {name} has shape {value.shape}, the network "
                                f"({net.n_inputs} inputs, {net.n_hidden if net.has_hidden else 0} hidden, "
                                f"{net.n_out} outputs for readout {net.readout}) needs {shape}")
            if not np.all(np.isfinite(value)):
                raise UserError(f"{src}: {name} contains non-finite values")
        for tau_name, alpha_name in (("tau_hidden_ms", "alpha_hidden"), ("tau_out_ms", "alpha_out")):
            tau = getattr(self, tau_name)
            if tau is None:
                continue
            if np.any(tau <= 0):
                raise UserError(f"{src}: time constants must be > 0 ({tau_name})")
            computed = decay_factor(tau, net.dt_ms)
            alpha = getattr(self, alpha_name)
            if alpha is None:
                set_(alpha_name, computed)
                continue
            alpha = _float32_vector(alpha, alpha_name, src)
            # stored values are torch's: within a few ulp of the computed ones, never further
            if alpha.shape != tau.shape or not np.allclose(alpha, computed, rtol=1e-6, atol=0.0):
                raise UserError(f"{src}: {alpha_name} does not match exp(-dt/{tau_name}) (dt {net.dt_ms:g} ms)")
            set_(alpha_name, alpha)
        set_("delay_steps", _delay_steps(self.delay_steps, net, src))
        if net.dt_ms != self.stimulus.dt_ms:
            raise UserError(f"{src}: the network's time step ({net.dt_ms:g} ms) is not its stimulus's "
                            f"({self.stimulus.dt_ms:g} ms)")
        if net.n_inputs != self.stimulus.n_fibres:
            raise UserError(f"{src}: shape mismatch: the network has {net.n_inputs} inputs, the stimulus "
                            f"{self.stimulus.n_fibres} fibres")
        if net.n_classes != self.classes.n_classes:
            raise UserError(f"{src}: the network has {net.n_classes} classes, the class bins {self.classes.n_classes}")

    @property
    def has_hidden(self) -> bool:
        return self.net.has_hidden

    @property
    def n_inputs(self) -> int:
        return self.net.n_inputs

    @property
    def n_hidden(self) -> int:
        """Hidden neurons (0 for the membrane-only model)."""
        return self.net.n_hidden if self.net.has_hidden else 0

    @property
    def n_out(self) -> int:
        return self.net.n_out

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by name (as stored in a model directory's ``weights.npz``)."""
        out = {"W2": self.W2, "tau_out_ms": self.tau_out_ms, "alpha_out": self.alpha_out}
        if self.has_hidden:
            out.update(W1=self.W1, tau_hidden_ms=self.tau_hidden_ms, alpha_hidden=self.alpha_hidden)
        if self.delay_steps is not None:
            out["delay_steps"] = self.delay_steps
        return out

    def with_decay_factors(self, alpha_hidden: np.ndarray | None, alpha_out: np.ndarray) -> IPDNetworkSpec:
        """The same network with the given decay factors (float32, e.g. those torch computes)."""
        return replace(self, alpha_hidden=alpha_hidden, alpha_out=alpha_out)

    def scores(self, output_sum: np.ndarray, output_max: np.ndarray | None, n_steps: int) -> np.ndarray:
        """Class scores (samples, classes) from the per-output sums over the ``n_steps`` recorded
        values (membrane v or spikes s; shape (samples, n_out)) and, for ``max``, the per-output
        maxima: the readout of :data:`READOUT_DEFINITIONS` (as :func:`brainsim.snn.core.readout_scores`)."""
        if self.net.readout == "max":
            return np.asarray(output_max, dtype=float)
        mean = np.asarray(output_sum, dtype=float) / n_steps
        if self.net.readout == "pop":
            return mean.reshape(mean.shape[0], self.net.n_classes, self.net.pop_per_class).mean(axis=2)
        return mean
