"""Thin ``nn.Module`` wrappers around the functional core (:mod:`brainsim.snn.core`).

:class:`IPDNet`, the network of the IPD task (Cosyne 2022 tutorial, seeds 000/002/004): input
(2 x 100 fibres) -> hidden spiking LIF layer (30 by default, threshold 1, multiplicative reset,
sigmoid surrogate of slope 5) -> 12 outputs read out by ``oc``, ``max``, ``fr`` or ``pop``
(``pop_per_class`` spiking outputs per class); with ``model="membrane"`` the tutorial's warm-up
baseline, input -> leaky non-spiking outputs. Its configuration is a
:class:`~brainsim.netspec.NetConfig`; :meth:`IPDNet.from_spec` and :meth:`IPDNet.to_spec` convert
between a model and a trained network's numpy spec (:class:`~brainsim.netspec.IPDNetworkSpec`).

Options: one membrane time constant per layer, heterogeneous time constants (drawn per neuron from
a gamma distribution of shape 3 with the layer's mean, as in Perez-Nieves et al. 2021), learnable
time constants, positive-only weights (projected after each optimiser step), any hidden size.

Weights are stored input-major: ``W1`` (n_in, n_hidden), ``W2`` (n_hidden, n_out), current
``I_t = x_t @ W``. Initialisation as the seeds: uniform in +-1/sqrt(fan_in) (in [0, 1/sqrt(fan_in)]
for positive-only weights).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from ..netspec.ipd import MIN_TAU_MS, IPDNetworkSpec, NetConfig, decay_factor
from ..stimuli.ipd import DEFAULT_CLASSES, TUTORIAL, IPDClasses, IPDStimulusParams
from .core import LeakyParams, LIFParams, leaky_layer, leaky_layer_mean, lif_layer, readout_scores

__all__ = ["IPDNet", "NetConfig", "TimeConstants"]

DELAY_SOFT_FRACTION = 0.8   # learnable delays: epochs with Gaussian taps; then integer delays
DELAY_SIGMA_FINAL = 0.25    # steps: the taps' width at the last Gaussian epoch (~one-hot already)


def _init_weight(n_in: int, n_out: int, positive: bool, generator: torch.Generator) -> nn.Parameter:
    bound = 1.0 / math.sqrt(n_in)
    w = torch.empty((n_in, n_out))
    low = 0.0 if positive else -bound
    w.uniform_(low, bound, generator=generator)
    return nn.Parameter(w)


def _init_tau(mean_ms: float, n: int, hetero: bool, rng: np.random.Generator) -> torch.Tensor:
    if not hetero:
        return torch.full((n,), float(mean_ms))
    shape = 3.0  # gamma(k=3, scale=mean/k): mean tau_ms, coefficient of variation 1/sqrt(3)
    samples = rng.gamma(shape, mean_ms / shape, size=n)
    return torch.as_tensor(np.maximum(samples, MIN_TAU_MS), dtype=torch.float32)


def _init_delays(config: NetConfig, generator: torch.Generator) -> torch.Tensor:
    """Initial delays in steps (n_inputs, n_hidden), see ``NetConfig.delay_init``; inputs are ear 0's
    first half, then ear 1's (the stimulus's fibre layout)."""
    shape, top = (config.n_inputs, config.n_hidden), float(config.max_delay_steps)
    if config.delay_init == "synapse":
        return torch.rand(shape, generator=generator) * top
    per_ear = torch.rand((2, config.n_hidden), generator=generator) * top
    ear = (torch.arange(config.n_inputs) >= config.n_inputs // 2).long()
    jitter = torch.rand(shape, generator=generator) - 0.5
    return (per_ear[ear] + jitter).clamp(0.0, top)


class TimeConstants(nn.Module):
    """Per-neuron membrane time constants (ms), fixed (a buffer) or learnable (a parameter)."""

    def __init__(self, tau_ms: torch.Tensor, learnable: bool):
        super().__init__()
        if learnable:
            self.tau_ms = nn.Parameter(tau_ms.clone())
        else:
            self.register_buffer("tau_ms", tau_ms.clone())

    def alpha(self, dt_ms: float) -> torch.Tensor:
        """Decay factors exp(-dt/tau) per neuron for a time step of ``dt_ms`` (ms)."""
        return decay_factor(self.tau_ms, dt_ms)


class IPDNet(nn.Module):
    """Input -> spiking hidden LIF layer -> output layer + readout (or, with ``model='membrane'``,
    input -> leaky outputs). ``forward`` returns a dict: ``scores`` (batch, classes), ``output``
    (the output layer's record, batch x T x n_out: membrane v_t for oc/max, spikes s_t for fr/pop)
    and ``hidden_spikes`` (batch x T x n_hidden, absent for the membrane-only model)."""

    def __init__(self, config: NetConfig, seed: int = 0, backend: str = "auto"):
        super().__init__()
        self.config = config
        self.backend = backend
        gen = torch.Generator().manual_seed(int(seed))
        tau_rng = np.random.default_rng([int(seed), 7])  # heterogeneous tau draws
        if config.model == "membrane":
            self.W1 = None
            self.W2 = _init_weight(config.n_inputs, config.n_out, config.positive_weights, gen)
            self.tau_hidden = None
        else:
            self.W1 = _init_weight(config.n_inputs, config.n_hidden, config.positive_weights, gen)
            self.W2 = _init_weight(config.n_hidden, config.n_out, config.positive_weights, gen)
            self.tau_hidden = TimeConstants(_init_tau(config.tau_hidden_ms, config.n_hidden, config.tau_hetero, tau_rng),
                                            config.learn_tau)
        if config.learn_delays:
            # delays in steps = delay_raw * delay_lr_scale: one Adam learning rate moves weights by lr
            # and delays by lr * delay_lr_scale steps; initial delays uniform over 0 .. max_delay
            initial = _init_delays(config, torch.Generator().manual_seed(int(seed) + 1))
            self.delay_raw = nn.Parameter(initial / config.delay_lr_scale)
            # width (steps) of the Gaussian taps, set per epoch by begin_epoch; 0: integer delays
            self.register_buffer("delay_sigma", torch.tensor(config.delay_sigma_ms / config.dt_ms))
        self.tau_out = TimeConstants(_init_tau(config.tau_out_ms, config.n_out, config.tau_hetero, tau_rng),
                                     config.learn_tau)

    # -- learnable delays (DCLS-style; brainsim.snn.delays.gaussian_delay_kernel) -----------------------
    @property
    def delays(self) -> torch.Tensor:
        """Input-to-hidden delays in time steps (real while training), (n_inputs, n_hidden)."""
        return (self.delay_raw * self.config.delay_lr_scale).clamp(0.0, float(self.config.max_delay_steps))

    def delay_steps(self) -> np.ndarray:
        """The delays as whole time steps (int32), as the forward pass uses them at width 0."""
        return torch.round(self.delays.detach()).to(torch.int32).cpu().numpy().copy()

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        """Set what depends on the training epoch (called by the trainer before each epoch): the
        width of the delay taps shrinks geometrically from ``delay_sigma_ms`` to
        :data:`DELAY_SIGMA_FINAL` steps over the first :data:`DELAY_SOFT_FRACTION` of the epochs; the
        remaining epochs train the weights with the integer delays the saved network has.
        ``epoch == epochs``: the trained network (integer delays). Frozen delays (``requires_grad``
        off) keep width 0."""
        if not self.config.learn_delays or not self.delay_raw.requires_grad:
            return   # frozen delays (a hand-wired array) stay integer
        soft = max(1, int(math.ceil(DELAY_SOFT_FRACTION * epochs)))
        start = self.config.delay_sigma_ms / self.config.dt_ms
        final = min(DELAY_SIGMA_FINAL, start)
        if epoch >= soft:
            sigma = 0.0
        else:
            sigma = start * (final / start) ** (epoch / max(soft - 1, 1))
        self.delay_sigma.fill_(sigma)

    def input_current(self, x: torch.Tensor) -> torch.Tensor:
        """Current into the hidden layer (batch, T, n_hidden): ``x @ W1``, through the delays if any."""
        if not self.config.learn_delays:
            return x @ self.W1
        from .delays import delayed_current, gaussian_delay_kernel  # delays.py subclasses IPDNet: import here

        kernel = gaussian_delay_kernel(self.W1, self.delays, float(self.delay_sigma), self.config.max_delay_steps)
        return delayed_current(x, kernel)

    # -- the hidden layer, reusable with an externally computed input current ----------------------
    def hidden_params(self) -> LIFParams:
        c = self.config
        return LIFParams(self.tau_hidden.alpha(c.dt_ms), c.threshold, c.surrogate_slope)

    def hidden_from_current(self, current: torch.Tensor) -> torch.Tensor:
        """Hidden spikes (batch, T, n_hidden) from an input current (batch, T, n_hidden)."""
        return lif_layer(current, self.hidden_params(), self.backend)

    def _output(self, current: torch.Tensor, traces: bool) -> dict:
        """Output layer from its input current: scores, and the record when ``traces``."""
        c = self.config
        alpha = self.tau_out.alpha(c.dt_ms)
        if c.spiking_output:
            output = lif_layer(current, LIFParams(alpha, c.threshold, c.surrogate_slope), self.backend)
        elif c.readout == "oc" and not traces:
            # the mean of the leaky trace is one weighted sum over time: no trace needed
            return {"scores": leaky_layer_mean(current, LeakyParams(alpha))}
        else:
            output = leaky_layer(current, LeakyParams(alpha))
        return {"scores": readout_scores(output, c.readout, c.n_classes), "output": output}

    def forward(self, x: torch.Tensor, traces: bool = True) -> dict:
        """``x``: input spikes (batch, T, n_inputs) as floats. With ``traces=False`` (training) the
        output record may be skipped when the readout does not need it."""
        if self.config.model == "membrane":
            return self._output(x @ self.W2, traces)
        hidden = self.hidden_from_current(self.input_current(x))
        out = self._output(hidden @ self.W2, traces)
        out["hidden_spikes"] = hidden
        return out

    @torch.no_grad()
    def project(self) -> None:
        """Constraints applied after each optimiser step (positive-only weights)."""
        if self.config.positive_weights:
            for w in (self.W1, self.W2):
                if w is not None:
                    w.clamp_(min=0.0)

    @torch.no_grad()
    def decay_factors(self) -> tuple[np.ndarray | None, np.ndarray]:
        """The decay factors (hidden, output; float32 numpy copies) exactly as the forward pass uses them."""
        dt = self.config.dt_ms
        hidden = None if self.tau_hidden is None else self.tau_hidden.alpha(dt).cpu().numpy().copy()
        return hidden, self.tau_out.alpha(dt).cpu().numpy().copy()

    def to_spec(self, stimulus: IPDStimulusParams = TUTORIAL, classes: IPDClasses = DEFAULT_CLASSES,
                source: str = "") -> IPDNetworkSpec:
        """The trained network as numpy arrays (copies): weights, time constants (ms) and torch's own
        decay factors, with the stimulus and classes it was trained on."""
        def copy(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().copy()

        alpha_hidden, alpha_out = self.decay_factors()
        hidden = self.W1 is not None
        return IPDNetworkSpec(net=self.config, W1=copy(self.W1) if hidden else None, W2=copy(self.W2),
                              tau_hidden_ms=copy(self.tau_hidden.tau_ms) if hidden else None,
                              tau_out_ms=copy(self.tau_out.tau_ms), alpha_hidden=alpha_hidden, alpha_out=alpha_out,
                              stimulus=stimulus, classes=classes, source=source,
                              delay_steps=self.delay_steps() if self.config.learn_delays else None)

    @classmethod
    @torch.no_grad()
    def from_spec(cls, spec: IPDNetworkSpec, backend: str = "auto") -> IPDNet:
        """The torch model of a trained network spec: its configuration, weights and time constants
        (the forward pass computes the decay factors from the time constants, as in training)."""
        model = cls(spec.net, seed=0, backend=backend)
        model.W2.copy_(torch.from_numpy(spec.W2))
        model.tau_out.tau_ms.copy_(torch.from_numpy(spec.tau_out_ms))
        if spec.has_hidden:
            model.W1.copy_(torch.from_numpy(spec.W1))
            model.tau_hidden.tau_ms.copy_(torch.from_numpy(spec.tau_hidden_ms))
        if spec.delay_steps is not None:
            model.delay_raw.copy_(torch.from_numpy(spec.delay_steps.astype(np.float32)) / spec.net.delay_lr_scale)
            model.delay_sigma.fill_(0.0)
        return model
