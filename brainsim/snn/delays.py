"""Differentiable synaptic delays (seed 001, method A, written cleanly).

Every synapse (every element of the trailing dimensions of the input) has its own real-valued delay
``d`` in time steps, 0 <= d <= max_delay. The input is padded with zeros (``max_delay`` steps at the
end) so that no shifted spike is lost: an input of T steps gives an output of T + max_delay steps.

Two ways to make the shift differentiable:

``interpolate`` (default): linear interpolation between the two neighbouring integer shifts,
    out[t] = (1 - f) * x[t - n] + f * x[t - n - 1],   n = floor(d), f = d - n.
    Exact for integer delays; for fractional ones a spike is split over two steps. The gradient is
    that of the interpolant: d out[t] / d d = x[t - n - 1] - x[t - n].
``straight_through``: the forward pass shifts by round(d) (spikes stay binary), the backward pass
    uses the central difference (x[t - n - 1] - x[t - n + 1]) / 2 as the derivative of the shift.
    Seed 001 passed the gradient straight through a one-sided difference; that gradient never
    vanishes at the optimum (it is J(n + 1) - J(n)), so the latent delay drifts to the next rounding
    boundary and oscillates half a step away from the answer. The central difference vanishes at a
    symmetric optimum, so the latent delay settles on it.

Functional core: :func:`shift` (a pure function), :func:`delayed_projection` (delays on the synapses
of a dense projection, computed as one convolution), and the coincidence objective of the delay
tasks (:func:`exponential_filter`, :func:`coincidence`). Modules: :class:`DelayLayer` (parameters + shift)
and :class:`DelayedIPDNet` (the IPD network of :mod:`brainsim.snn.models` with learnable
input-to-hidden delays instead of built-in fibre phase delays).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

SURROGATES = ("interpolate", "straight_through")


class DelayParameters(NamedTuple):
    """Static settings of a delay shift."""

    max_delay: int                    # in time steps
    surrogate: str = "interpolate"    # one of SURROGATES


def shift(x: torch.Tensor, delays: torch.Tensor, params: DelayParameters) -> torch.Tensor:
    """Delay every trailing element of ``x`` by its own (real, differentiable) number of steps.

    ``x``: (batch, time, *S); ``delays``: broadcastable to S (steps; clamped to [0, max_delay]).
    Returns (batch, time + max_delay, *S'), S' the broadcast of S and the delays' shape.
    """
    if params.surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {params.surrogate!r}; choose one of {', '.join(SURROGATES)}")
    max_delay = int(params.max_delay)
    if max_delay < 0:
        raise ValueError(f"max_delay must be >= 0, got {max_delay}")
    if x.dim() < 2:
        raise ValueError("x must have shape (batch, time, ...)")
    batch, steps = x.shape[:2]
    trailing = torch.broadcast_shapes(x.shape[2:], delays.shape)
    x = x.expand(batch, steps, *trailing).reshape(batch, steps, -1)
    d = delays.to(x.dtype).expand(trailing).reshape(-1).clamp(0.0, float(max_delay))

    if params.surrogate == "interpolate":
        whole = torch.floor(d).detach()
        frac = d - whole                                   # carries the gradient
    else:
        whole = torch.round(d).detach()
        frac = d - d.detach()                              # value 0, gradient 1
    whole = whole.long()

    # Padded input: max_delay + 1 zeros in front (reads before t = 0), max_delay at the end.
    padded = torch.nn.functional.pad(x, (0, 0, max_delay + 1, max_delay))
    out_steps = steps + max_delay
    t = torch.arange(out_steps, device=x.device)[:, None]
    now = t - whole[None, :] + max_delay + 1               # index of x[t - n] in padded
    gather = lambda idx: torch.gather(padded, 1, idx.clamp(0, padded.shape[1] - 1).expand(batch, -1, -1))
    x_now, x_later = gather(now), gather(now - 1)          # x[t - n], x[t - n - 1]
    if params.surrogate == "interpolate":
        out = (1.0 - frac) * x_now + frac * x_later
    else:
        # Forward: x_now (frac == 0). Backward: d out / d d = (x[t-n-1] - x[t-n+1]) / 2.
        x_earlier = gather(now + 1)                        # x[t - n + 1]
        out = x_now + frac * 0.5 * (x_later - x_earlier)
    return out.reshape(batch, out_steps, *trailing)


def delay_kernel(weight: torch.Tensor, delays: torch.Tensor, params: DelayParameters) -> torch.Tensor:
    """(n_out, n_in, max_delay + 3) convolution kernel over the taps k = -1 .. max_delay + 1.

    Tap k multiplies x(t - k). Interpolation: weight * (1 - f) at floor(d) and weight * f at
    floor(d) + 1, exactly :func:`shift`'s. Straight-through: weight at round(d) in the forward pass,
    central-difference gradient through the taps round(d) +- 1 (the -1 tap only carries gradient).
    """
    d = delays.clamp(0.0, float(params.max_delay)).unsqueeze(-1)        # (n_in, n_out, 1)
    taps = torch.arange(-1, params.max_delay + 2, device=weight.device)
    if params.surrogate == "interpolate":
        whole = torch.floor(d).detach()
        frac = d - whole
        profile = (taps == whole) * (1.0 - frac) + (taps == whole + 1) * frac
    else:
        whole = torch.round(d).detach()
        frac = d - d.detach()
        profile = (taps == whole) + 0.5 * frac * ((taps == whole + 1).to(d.dtype) - (taps == whole - 1).to(d.dtype))
    return (weight.unsqueeze(-1) * profile).permute(1, 0, 2)


def delayed_projection(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor, params: DelayParameters,
                       full: bool = True) -> torch.Tensor:
    """Input current sum_i W_ij x_i(t - d_ij) of a dense projection with per-synapse delays.

    ``x``: (batch, time, n_in); ``weight``, ``delays``: (n_in, n_out). Returns (batch, time +
    max_delay, n_out) (``full``) or the first ``time`` steps. Equal to summing :func:`shift` over the
    inputs (values and gradients), as one convolution, without the (batch, time, n_in, n_out) tensor.
    """
    if params.surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {params.surrogate!r}; choose one of {', '.join(SURROGATES)}")
    kernel = delay_kernel(weight, delays, params).flip(-1)               # conv1d correlates: flip taps
    right = (params.max_delay if full else 0) + 1
    padded = torch.nn.functional.pad(x.transpose(1, 2), (params.max_delay + 1, right))
    return torch.nn.functional.conv1d(padded, kernel).transpose(1, 2)


def exponential_filter(x: torch.Tensor, tau_steps: float) -> torch.Tensor:
    """Causal exponential filter (time constant ``tau_steps`` time steps, kernel 8 tau long) along
    time of x (batch, time, channels), as a convolution."""
    length = int(math.ceil(8 * tau_steps)) + 1
    kernel = torch.exp(-torch.arange(length, dtype=x.dtype) / tau_steps).flip(0)
    batch, steps, channels = x.shape
    flat = x.permute(0, 2, 1).reshape(batch * channels, 1, steps)
    flat = torch.nn.functional.pad(flat, (length - 1, 0))
    out = torch.nn.functional.conv1d(flat, kernel.view(1, 1, -1))
    return out.reshape(batch, channels, steps).permute(0, 2, 1)


def coincidence(reference: torch.Tensor, delayed: torch.Tensor, tau_steps: float) -> torch.Tensor:
    """Sum over time of the product of the filtered reference and the filtered delayed input
    (batch, time, channels each; the reference is zero-padded to the delayed input's length)."""
    pad = delayed.shape[1] - reference.shape[1]
    reference = torch.nn.functional.pad(reference, (0, 0, 0, pad))
    return (exponential_filter(reference, tau_steps) * exponential_filter(delayed, tau_steps)).sum(dim=1)


class DelayLayer(nn.Module):
    """Learnable per-synapse delays (in time steps) of shape ``shape``.

    ``forward(x)`` with x of shape (batch, time, *S), S broadcastable with ``shape``; returns
    (batch, time + max_delay, *broadcast(S, shape)). For a fully connected layer from n_in inputs
    to n_out neurons, use ``shape=(n_in, n_out)`` and pass ``x.unsqueeze(-1)``.
    """

    def __init__(self, shape, max_delay: int, surrogate: str = "interpolate", init: str | float = "uniform",
                 generator: torch.Generator | None = None):
        super().__init__()
        if surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {surrogate!r}; choose one of {', '.join(SURROGATES)}")
        if int(max_delay) < 0:
            raise ValueError(f"max_delay must be >= 0, got {max_delay}")
        self.params = DelayParameters(int(max_delay), surrogate)
        shape = tuple(shape) if isinstance(shape, (tuple, list, torch.Size)) else (int(shape),)
        if init == "uniform":
            values = torch.rand(shape, generator=generator) * max_delay
        elif init == "zero":
            values = torch.zeros(shape)
        else:
            values = torch.full(shape, float(init))
        self.delays = nn.Parameter(values)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shift(x, self.delays, self.params)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep the latent delays in [0, max_delay] (call after an optimiser step)."""
        self.delays.clamp_(0.0, float(self.params.max_delay))

    def extra_repr(self) -> str:
        return f"shape={tuple(self.delays.shape)}, max_delay={self.params.max_delay}, surrogate={self.params.surrogate}"


def _ipd_net_class():
    from .models import IPDNet

    return IPDNet


class DelayedIPDNet(_ipd_net_class()):
    """:class:`~brainsim.snn.models.IPDNet` with a learnable delay on every input-to-hidden synapse.

    The input current of hidden neuron j is sum_i W1_ij x_i(t - d_ij) (:func:`delayed_projection`,
    first T steps). The delays are stored as ``delay_raw`` = d / ``delay_scale`` so that one Adam
    learning rate suits weights and delays (a step of lr on delay_raw moves d by lr * delay_scale
    time steps); :meth:`project` keeps them in [0, max_delay] after every optimiser step.
    """

    def __init__(self, config, max_delay_steps: int, seed: int = 0, backend: str = "auto",
                 delay_scale: float = 20.0, surrogate: str = "interpolate"):
        super().__init__(config, seed=seed, backend=backend)
        if config.model != "snn":
            raise ValueError("delays sit on the input-to-hidden synapses: model must be 'snn'")
        self.delay_params = DelayParameters(int(max_delay_steps), surrogate)
        self.delay_scale = float(delay_scale)
        gen = torch.Generator().manual_seed(int(seed) + 1)
        initial = torch.rand((config.n_inputs, config.n_hidden), generator=gen) * max_delay_steps
        self.delay_raw = nn.Parameter(initial / self.delay_scale)

    @property
    def delays(self) -> torch.Tensor:
        """Delays in time steps, (n_inputs, n_hidden)."""
        return self.delay_raw * self.delay_scale

    def forward(self, x: torch.Tensor, traces: bool = True) -> dict:
        current = delayed_projection(x, self.W1, self.delays, self.delay_params, full=False)
        hidden = self.hidden_from_current(current)
        out = self._output(hidden @ self.W2, traces)
        out["hidden_spikes"] = hidden
        return out

    @torch.no_grad()
    def project(self) -> None:
        super().project()
        self.delay_raw.clamp_(0.0, self.delay_params.max_delay / self.delay_scale)

    def to_spec(self, *args, **kwargs):
        """The network as an :class:`~brainsim.netspec.ipd.IPDNetworkSpec` with its delays rounded to
        whole steps (``delay_steps``; ``net.learn_delays`` on, ``max_delay_ms`` this layer's), i.e.
        what a model directory, Brian2 synapses and NIR Delay nodes carry. Exact for integer delays;
        a fractional delay, which the layer splits over two steps, moves to the nearer one."""
        from dataclasses import replace

        spec = super().to_spec(*args, **kwargs)
        top = self.delay_params.max_delay
        steps = torch.round(self.delays.detach()).clamp(0, top).to(torch.int32).cpu().numpy()
        net = replace(spec.net, learn_delays=True, max_delay_ms=top * spec.net.dt_ms)
        return replace(spec, net=net, delay_steps=steps)


# -- DCLS-style learnable delays of the IPD network (issue 16) -------------------------------------
# Every synapse's delay d (steps, real) spreads its weight over the taps k = 0 .. max_delay as a
# Gaussian of width sigma centred on d, normalised to sum 1 (Hammouamri, Khalfaoui-Hassani &
# Masquelier 2023, "Learning delays in spiking neural networks using dilated convolutions with
# learnable spacings"). A wide Gaussian lets the loss see far-away delays; sigma shrinks during
# training, and at sigma = 0 the kernel is the one-hot tap round(d): an integer delay, exactly what
# a Brian2 synapse with delay round(d) * dt computes.

def gaussian_delay_kernel(weight: torch.Tensor, delays: torch.Tensor, sigma: float, max_delay: int) -> torch.Tensor:
    """(n_out, n_in, max_delay + 1) kernel; tap k multiplies x(t - k). ``weight``, ``delays``: (n_in,
    n_out), delays in steps (clamped to [0, max_delay]). ``sigma`` > 0: Gaussian taps, differentiable
    in the delays; ``sigma`` = 0: the single tap round(d) (no gradient to the delays)."""
    d = delays.clamp(0.0, float(max_delay)).unsqueeze(-1)               # (n_in, n_out, 1)
    taps = torch.arange(max_delay + 1, device=weight.device, dtype=weight.dtype)
    if sigma > 0:
        profile = torch.exp(-0.5 * ((taps - d) / sigma) ** 2)
        profile = profile / profile.sum(dim=-1, keepdim=True)
    else:
        profile = (taps == torch.round(d.detach())).to(weight.dtype)
    return (weight.unsqueeze(-1) * profile).permute(1, 0, 2)


def delayed_current(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """I_j(t) = sum_{i,k} kernel[j, i, k] x_i(t - k) for t = 0 .. T-1 (x (batch, T, n_in), zero before
    t = 0), one causal convolution. Returns (batch, T, n_out)."""
    max_delay = kernel.shape[-1] - 1
    padded = torch.nn.functional.pad(x.transpose(1, 2), (max_delay, 0))
    return torch.nn.functional.conv1d(padded, kernel.flip(-1)).transpose(1, 2)
