"""Thin ``nn.Module`` wrappers around the functional core (:mod:`brainsim.snn.core`).

Models of the IPD task (Cosyne 2022 tutorial, seeds 000/002/004):

* :class:`MembraneOnlyNet`: input -> leaky non-spiking outputs (the tutorial's warm-up baseline).
* :class:`IPDNet`: input (2 x 100 fibres) -> hidden spiking LIF layer (30 by default, threshold 1,
  multiplicative reset, sigmoid surrogate of slope 5) -> 12 outputs read out by ``oc``, ``max``,
  ``fr`` or ``pop`` (``pop_per_class`` spiking outputs per class).

Options: one membrane time constant per layer, heterogeneous time constants (drawn per neuron from
a gamma distribution of shape 3 with the layer's mean, as in Perez-Nieves et al. 2021), learnable
time constants, positive-only weights (projected after each optimiser step), any hidden size.

Weights are stored input-major: ``W1`` (n_in, n_hidden), ``W2`` (n_hidden, n_out), current
``I_t = x_t @ W``. Initialisation as the seeds: uniform in +-1/sqrt(fan_in) (in [0, 1/sqrt(fan_in)]
for positive-only weights).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

from .core import (READOUTS, SPIKING_OUTPUT_READOUTS, LeakyParams, LIFParams, leaky_layer,
                   leaky_layer_mean, lif_layer, readout_scores)

# Learnable time constants never go below this (ms): keeps alpha = exp(-dt/tau) well defined.
MIN_TAU_MS = 0.1


@dataclass(frozen=True)
class NetConfig:
    """Everything that defines a network's structure and dynamics (stored in the model manifest)."""

    model: str = "snn"              # "snn" (hidden spiking layer) or "membrane" (membrane-only baseline)
    readout: str = "oc"
    n_inputs: int = 200
    n_hidden: int = 30
    n_classes: int = 12
    pop_per_class: int = 10         # pop readout only
    tau_hidden_ms: float = 20.0
    tau_out_ms: float = 20.0
    tau_hetero: bool = False
    learn_tau: bool = False
    positive_weights: bool = False
    threshold: float = 1.0
    surrogate_slope: float = 5.0
    dt_ms: float = 1.0

    @property
    def n_out(self) -> int:
        return self.n_classes * (self.pop_per_class if self.readout == "pop" else 1)

    @property
    def spiking_output(self) -> bool:
        return self.readout in SPIKING_OUTPUT_READOUTS

    def validate(self) -> None:
        if self.model not in ("snn", "membrane"):
            raise ValueError(f"unknown model {self.model!r} (snn or membrane)")
        if self.readout not in READOUTS:
            raise ValueError(f"unknown readout {self.readout!r} (one of {', '.join(READOUTS)})")
        if self.model == "membrane" and self.readout not in ("oc", "max"):
            raise ValueError("the membrane-only model has leaky outputs: readout oc or max")
        for name in ("n_inputs", "n_hidden", "n_classes", "pop_per_class"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("tau_hidden_ms", "tau_out_ms", "dt_ms", "surrogate_slope", "threshold"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0")

    def to_dict(self) -> dict:
        return asdict(self)


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


class TimeConstants(nn.Module):
    """Per-neuron membrane time constants (ms), fixed (a buffer) or learnable (a parameter)."""

    def __init__(self, tau_ms: torch.Tensor, learnable: bool):
        super().__init__()
        if learnable:
            self.tau_ms = nn.Parameter(tau_ms.clone())
        else:
            self.register_buffer("tau_ms", tau_ms.clone())

    def alpha(self, dt_ms: float) -> torch.Tensor:
        return torch.exp(-dt_ms / self.tau_ms.clamp(min=MIN_TAU_MS))


class IPDNet(nn.Module):
    """Input -> spiking hidden LIF layer -> output layer + readout (or, with ``model='membrane'``,
    input -> leaky outputs). ``forward`` returns a dict: ``scores`` (batch, classes), ``output``
    (the output layer's record, batch x T x n_out: membrane v_t for oc/max, spikes s_t for fr/pop)
    and ``hidden_spikes`` (batch x T x n_hidden, absent for the membrane-only model)."""

    def __init__(self, config: NetConfig, seed: int = 0, backend: str = "auto"):
        super().__init__()
        config.validate()
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
        self.tau_out = TimeConstants(_init_tau(config.tau_out_ms, config.n_out, config.tau_hetero, tau_rng),
                                     config.learn_tau)

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
        hidden = self.hidden_from_current(x @ self.W1)
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

    def weights_numpy(self) -> dict[str, np.ndarray]:
        out = {"W2": self.W2.detach().cpu().numpy(),
               "tau_out_ms": self.tau_out.tau_ms.detach().cpu().numpy()}
        if self.W1 is not None:
            out["W1"] = self.W1.detach().cpu().numpy()
            out["tau_hidden_ms"] = self.tau_hidden.tau_ms.detach().cpu().numpy()
        return out

    @torch.no_grad()
    def load_weights_numpy(self, arrays: dict) -> None:
        self.W2.copy_(torch.as_tensor(np.asarray(arrays["W2"]), dtype=self.W2.dtype))
        self.tau_out.tau_ms.copy_(torch.as_tensor(np.asarray(arrays["tau_out_ms"]), dtype=torch.float32))
        if self.W1 is not None:
            self.W1.copy_(torch.as_tensor(np.asarray(arrays["W1"]), dtype=self.W1.dtype))
            self.tau_hidden.tau_ms.copy_(torch.as_tensor(np.asarray(arrays["tau_hidden_ms"]), dtype=torch.float32))
