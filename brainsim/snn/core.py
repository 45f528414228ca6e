"""Functional core of the torch side: pure step functions over typed parameter tuples.

These are the discrete-time equations of the Cosyne 2022 sound-localisation tutorial network
(D. Goodman; seeds 000 and 002), written once here and used by every model, the fast native
trainer (:mod:`brainsim.snn.native`, which implements exactly the same recurrence) and, through the
network spec (:mod:`brainsim.netspec.ipd`), the Brian2 realisations. Time step ``dt``;
``alpha = exp(-dt / tau)`` per neuron (:func:`brainsim.netspec.decay_factor`); the layer input current is ``I_t = x_t @ W`` (or any externally computed current, e.g. through learnable
delays) for steps ``t = 0 .. T-1``.

Spiking LIF layer (hidden layer; output layer of the ``fr`` and ``pop`` readouts)::

    v_0 = 0,  s_0 = 0
    for t = 0 .. T-2:
        s_{t+1} = H(v_t - theta)                  # spike from the *previous* membrane value
        v_{t+1} = (alpha * v_t + I_t) * (1 - s_t) # multiplicative reset by the previous spike
    recorded: s_0 .. s_{T-1}   (T values; s_0 = 0; I_{T-1} is never used)

    H is the Heaviside step (H(0) = 0) in the forward pass; its derivative is replaced by the
    sigmoid surrogate  dH/dx ~ beta * sig(beta x) * (1 - sig(beta x))  (beta = 5 in the seeds).
    The reset factor (1 - s_t) carries that surrogate gradient too (it is not detached).
    Consequence of this order (kept because the seeds train with it): a threshold crossing at v_t
    gives s_{t+1} = 1, but v_{t+1} is reset only if s_t = 1, so v is zeroed at t+2; spikes
    therefore often come in pairs.

Leaky non-spiking layer (output layer of the ``oc`` and ``max`` readouts, membrane-only model)::

    v_0 = 0
    for t = 0 .. T-2:
        v_{t+1} = alpha * v_t + I_t
    recorded: v_0 .. v_{T-1}   i.e.  v_t = sum_{k < t} alpha^(t-1-k) I_k

Readouts (scores ``m`` of shape (batch, classes); the predicted class is ``argmax m``):
    oc   m_c = mean_t v_t,c           (the seed's "original classification", mean over T values)
    max  m_c = max_t v_t,c
    fr   m_c = mean_t s_t,c           (spiking outputs)
    pop  m_c = sum_{t, p} s_t,(c*P+p) / (T * P)   (P spiking outputs per class, seed 004)
Loss: cross-entropy of ``log_softmax(m)`` for oc/max/fr; for pop the mean squared error between
``m`` and the target rates (``correct_rate`` for the true class, ``incorrect_rate`` otherwise).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..netspec.ipd import READOUTS


class LIFParams(NamedTuple):
    """Parameters of a spiking LIF layer. ``alpha`` is exp(-dt/tau): a float or one value per neuron."""

    alpha: torch.Tensor | float
    threshold: float = 1.0
    surrogate_slope: float = 5.0


class LIFState(NamedTuple):
    v: torch.Tensor  # membrane potential v_t
    s: torch.Tensor  # spike s_t (0 or 1)


class LeakyParams(NamedTuple):
    """Parameters of a leaky non-spiking layer."""

    alpha: torch.Tensor | float


def surrogate_derivative(x: torch.Tensor, slope: float) -> torch.Tensor:
    """beta * sig(beta x) * (1 - sig(beta x)): the sigmoid surrogate of dH/dx."""
    sig = torch.sigmoid(slope * x)
    return slope * sig * (1 - sig)


class SurrogateSpike(torch.autograd.Function):
    """Heaviside forward (x > 0), sigmoid-surrogate backward."""

    @staticmethod
    def forward(ctx, x, slope: float):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * surrogate_derivative(x, ctx.slope), None


def spike_fn(x: torch.Tensor, slope: float = 5.0) -> torch.Tensor:
    return SurrogateSpike.apply(x, slope)


# --- step functions ---------------------------------------------------------------------------------

def lif_initial_state(batch: int, n: int, like: torch.Tensor) -> LIFState:
    zeros = torch.zeros((batch, n), dtype=like.dtype, device=like.device)
    return LIFState(zeros, zeros)


def lif_step(state: LIFState, current: torch.Tensor, p: LIFParams) -> LIFState:
    """One step t -> t+1 of the spiking layer (see the module docstring)."""
    s_next = spike_fn(state.v - p.threshold, p.surrogate_slope)
    v_next = (p.alpha * state.v + current) * (1 - state.s)
    return LIFState(v_next, s_next)


def leaky_step(v: torch.Tensor, current: torch.Tensor, p: LeakyParams) -> torch.Tensor:
    """One step t -> t+1 of the leaky non-spiking layer."""
    return p.alpha * v + current


# --- whole layers -----------------------------------------------------------------------------------

def lif_layer_loop(current: torch.Tensor, p: LIFParams, return_v: bool = False):
    """Plain-torch spiking layer: a Python loop over :func:`lif_step` (any device, autograd).

    ``current``: (batch, T, n). Returns the spikes s_0..s_{T-1}, (batch, T, n) (and, with
    ``return_v``, the membrane values v_0..v_{T-1}).
    """
    batch, steps, n = current.shape
    state = lif_initial_state(batch, n, current)
    spikes, vs = [state.s], [state.v]
    for t in range(steps - 1):
        state = lif_step(state, current[:, t], p)
        spikes.append(state.s)
        vs.append(state.v)
    s = torch.stack(spikes, dim=1)
    return (s, torch.stack(vs, dim=1)) if return_v else s


def lif_layer(current: torch.Tensor, p: LIFParams, backend: str = "auto") -> torch.Tensor:
    """Spiking layer over all steps. ``backend``: ``native`` (numba kernels with a hand-written
    backward pass, CPU float32), ``torch`` (the plain loop) or ``auto`` (native on CPU)."""
    if backend == "auto":
        backend = "native" if current.device.type == "cpu" else "torch"
    if backend == "native":
        from .native import native_lif_layer

        return native_lif_layer(current, p)
    if backend == "torch":
        return lif_layer_loop(current, p)
    raise ValueError(f"unknown backend {backend!r}")


def leaky_kernel(alpha: torch.Tensor | float, steps: int, n: int, like: torch.Tensor) -> torch.Tensor:
    """Filter matrix K (n, T, T) with K[j, t, k] = alpha_j^(t-1-k) for k < t, else 0."""
    t = torch.arange(steps, device=like.device)
    power = (t[:, None] - 1 - t[None, :])
    mask = power >= 0
    alpha_t = torch.as_tensor(alpha, dtype=like.dtype, device=like.device).reshape(-1)
    alpha_t = alpha_t.expand(n) if alpha_t.numel() == 1 else alpha_t
    powered = alpha_t[:, None, None] ** power.clamp(min=0).to(like.dtype)[None]
    return torch.where(mask[None], powered, torch.zeros((), dtype=like.dtype, device=like.device))


_KERNEL_CACHE: dict = {}


def _cached(key, make):
    if key not in _KERNEL_CACHE:
        if len(_KERNEL_CACHE) > 16:
            _KERNEL_CACHE.clear()
        _KERNEL_CACHE[key] = make()
    return _KERNEL_CACHE[key]


def _alpha_key(alpha, steps, like, kind):
    """Cache key for a fixed (non-learnable) alpha; None when alpha needs gradients."""
    if isinstance(alpha, torch.Tensor):
        if alpha.requires_grad:
            return None
        return (kind, alpha.detach().cpu().numpy().tobytes(), steps, like.dtype, like.device)
    return (kind, float(alpha), steps, like.dtype, like.device)


def leaky_layer(current: torch.Tensor, p: LeakyParams) -> torch.Tensor:
    """Leaky non-spiking layer, all steps at once as one causal filter (equal, up to rounding, to
    the loop of :func:`leaky_step`). (batch, T, n) -> membrane v_0..v_{T-1}, (batch, T, n)."""
    _, steps, n = current.shape
    key = _alpha_key(p.alpha, steps, current, ("kernel", n))
    make = lambda: leaky_kernel(p.alpha, steps, n, current)  # noqa: E731
    kernel = make() if key is None else _cached(key, make)
    return torch.einsum("ntk,bkn->btn", kernel, current)


def leaky_mean_weights(alpha, steps: int, n: int, like: torch.Tensor) -> torch.Tensor:
    """c (n, T) with mean_t v_t = sum_k c[j, k] I_k: c_k = (1 - alpha^(T-1-k)) / ((1 - alpha) T)."""
    k = torch.arange(steps, device=like.device, dtype=like.dtype)
    alpha_t = torch.as_tensor(alpha, dtype=like.dtype, device=like.device).reshape(-1)
    alpha_t = alpha_t.expand(n) if alpha_t.numel() == 1 else alpha_t
    # sum_{m=0}^{T-2-k} alpha^m written as a sum (exact also for alpha -> 1)
    m = torch.arange(steps, device=like.device, dtype=like.dtype)
    terms = alpha_t[:, None, None] ** m[None, None, :]                         # (n, 1, T)
    mask = (m[None, :] <= (steps - 2 - k)[:, None]).to(like.dtype)            # (T_k, T_m)
    return (terms * mask[None]).sum(-1) / steps                               # (n, T_k)


def leaky_layer_mean(current: torch.Tensor, p: LeakyParams) -> torch.Tensor:
    """mean_t v_t of the leaky layer without the trace (the ``oc`` scores): one weighted sum."""
    _, steps, n = current.shape
    key = _alpha_key(p.alpha, steps, current, ("mean", n))
    make = lambda: leaky_mean_weights(p.alpha, steps, n, current)  # noqa: E731
    weights = make() if key is None else _cached(key, make)
    return torch.einsum("btn,nt->bn", current, weights)


def leaky_layer_loop(current: torch.Tensor, p: LeakyParams) -> torch.Tensor:
    """Leaky layer as a Python loop over :func:`leaky_step` (reference for tests)."""
    batch, steps, n = current.shape
    v = torch.zeros((batch, n), dtype=current.dtype, device=current.device)
    vs = [v]
    for t in range(steps - 1):
        v = leaky_step(v, current[:, t], p)
        vs.append(v)
    return torch.stack(vs, dim=1)


# --- readouts and losses ----------------------------------------------------------------------------

def readout_scores(output: torch.Tensor, readout: str, n_classes: int) -> torch.Tensor:
    """Class scores m (batch, classes) from the output layer's record (batch, T, n_out)."""
    if readout == "oc" or readout == "fr":
        return output.mean(dim=1)
    if readout == "max":
        return output.max(dim=1).values
    if readout == "pop":
        batch, steps, n_out = output.shape
        per_class = n_out // n_classes
        return output.reshape(batch, steps, n_classes, per_class).mean(dim=(1, 3))
    raise ValueError(f"unknown readout {readout!r} (one of {', '.join(READOUTS)})")


def readout_loss(scores: torch.Tensor, labels: torch.Tensor, readout: str,
                 correct_rate: float = 0.5, incorrect_rate: float = 0.0) -> torch.Tensor:
    """Training loss of a batch (see the module docstring)."""
    if readout == "pop":
        target = torch.full_like(scores, incorrect_rate)
        target.scatter_(1, labels[:, None], correct_rate)
        return F.mse_loss(scores, target)
    return F.nll_loss(F.log_softmax(scores, dim=1), labels)
