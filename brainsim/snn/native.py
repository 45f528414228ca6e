"""Fast native spiking layer: the recurrence of :func:`brainsim.snn.core.lif_step` in numba, with a
hand-written backward pass (backpropagation through time with the sigmoid surrogate).

Why: the seeds' training loop spends its time dispatching ~10 tiny torch ops per time step. Here the
whole time loop of a batch is one compiled call forward and one backward; the expensive linear
parts (``x @ W`` for all steps) stay in torch, so autograd supplies the weight gradients.

Forward (per sample b, neuron j; identical arithmetic order to the torch loop, float32)::

    v_0 = s_0 = 0;  for t < T-1:  s_{t+1} = H(v_t - theta);  v_{t+1} = (alpha v_t + I_t)(1 - s_t)

Backward, with g_t = dL/ds_t from above, A_v = dL/dv_{t+1}, A_s = dL/ds_{t+1} (both totals),
starting at t = T-2 with A_v = 0 (v_{T-1} feeds nothing recorded), A_s = g_{T-1}::

    a_t      = alpha v_t + I_t
    dL/dI_t  = A_v (1 - s_t)
    dL/dalpha += A_v v_t (1 - s_t)
    A_v     <- A_v alpha (1 - s_t) + A_s sigma'(v_t - theta)
    A_s     <- g_t - A_v_old a_t
    (dL/dI_{T-1} = 0)

Checked against autograd through the torch loop in tests/test_snn_core.py.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

from .core import LIFParams


@numba.njit(cache=True, nogil=True)
def _lif_forward(current, alpha, threshold, v_out, s_out):
    batch, steps, n = current.shape
    for b in range(batch):
        for j in range(n):
            v_out[b, 0, j] = 0.0
            s_out[b, 0, j] = 0.0
        for t in range(steps - 1):
            for j in range(n):
                v = v_out[b, t, j]
                s = s_out[b, t, j]
                s_out[b, t + 1, j] = 1.0 if v - threshold > 0 else 0.0
                v_out[b, t + 1, j] = (alpha[j] * v + current[b, t, j]) * (1 - s)


@numba.njit(cache=True, nogil=True)
def _lif_backward(grad_s, current, alpha, threshold, slope, v_rec, s_rec, grad_current, grad_alpha):
    batch, steps, n = current.shape
    a_v = np.zeros(n, dtype=np.float32)   # dL/dv_{t+1}
    a_s = np.zeros(n, dtype=np.float32)   # dL/ds_{t+1}
    for b in range(batch):
        for j in range(n):
            grad_current[b, steps - 1, j] = 0.0
            a_v[j] = 0.0
            a_s[j] = grad_s[b, steps - 1, j]
        for t in range(steps - 2, -1, -1):
            for j in range(n):
                v = v_rec[b, t, j]
                keep = 1 - s_rec[b, t, j]
                av = a_v[j]
                grad_current[b, t, j] = av * keep
                grad_alpha[j] += av * v * keep
                sig = 1.0 / (1.0 + np.exp(-slope * (v - threshold)))
                a_v[j] = av * alpha[j] * keep + a_s[j] * (slope * sig * (1.0 - sig))
                a_s[j] = grad_s[b, t, j] - av * (alpha[j] * v + current[b, t, j])


def _alpha_vector(alpha, n: int, like: torch.Tensor) -> torch.Tensor:
    a = torch.as_tensor(alpha, dtype=like.dtype, device=like.device).reshape(-1)
    return a.expand(n).contiguous() if a.numel() == 1 else a.contiguous()


class _NativeLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, alpha_vec, threshold: float, slope: float):
        cur = current.detach().contiguous().numpy()
        alpha_np = alpha_vec.detach().contiguous().numpy()
        v = np.empty_like(cur)
        s = np.empty_like(cur)
        _lif_forward(cur, alpha_np, np.float32(threshold), v, s)
        v_t, s_t = torch.from_numpy(v), torch.from_numpy(s)
        ctx.save_for_backward(current, alpha_vec, v_t, s_t)
        ctx.threshold, ctx.slope = threshold, slope
        return s_t

    @staticmethod
    def backward(ctx, grad_s):
        current, alpha_vec, v_t, s_t = ctx.saved_tensors
        cur = current.detach().contiguous().numpy()
        grad_current = np.empty_like(cur)
        grad_alpha = np.zeros(alpha_vec.shape[0], dtype=np.float64)
        _lif_backward(grad_s.detach().to(current.dtype).contiguous().numpy(), cur,
                      alpha_vec.detach().contiguous().numpy(), np.float32(ctx.threshold),
                      np.float32(ctx.slope), v_t.numpy(), s_t.numpy(), grad_current, grad_alpha)
        g_alpha = torch.from_numpy(grad_alpha).to(alpha_vec.dtype) if ctx.needs_input_grad[1] else None
        return torch.from_numpy(grad_current), g_alpha, None, None


def native_lif_layer(current: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Spiking layer on CPU float32 via numba; same result and (surrogate) gradients as
    :func:`brainsim.snn.core.lif_layer_loop`. Gradients flow to ``current`` and to ``p.alpha``."""
    if current.device.type != "cpu":
        raise ValueError("the native spiking layer runs on the CPU; use backend='torch' on other devices")
    if current.dtype != torch.float32:
        raise ValueError("the native spiking layer needs float32 input")
    n = current.shape[-1]
    alpha_vec = _alpha_vector(p.alpha, n, current)
    s = _NativeLIF.apply(current, alpha_vec, float(p.threshold), float(p.surrogate_slope))
    return s



def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) the kernels before timed work."""
    cur = torch.zeros((1, 3, 2), requires_grad=True)
    native_lif_layer(cur, LIFParams(0.9)).sum().backward()
