"""The linear NIR nodes as sparse matrices over flattened feature vectors (numpy + scipy only).

Every linear node maps its input tensor (shape ``in_shape``, without the batch dimension) to an
output tensor; flattened in C order, this is ``y = M x + b`` with a sparse ``M`` (out x in). The
importer composes these maps along paths between neuron populations and turns the product into
Brian2 synapses (one synapse per non-zero entry), so convolutions and pooling are exact: each
synapse carries one kernel weight (or the sum of the kernel weights that connect the same pair of
neurons through a chain of such nodes).

Conventions (those of PyTorch, which every NIR exporter of convolutions follows):

    Conv1d / Conv2d  input (C_in, *spatial), weight (C_out, C_in / groups, *kernel), bias (C_out,);
                     out[co, o] = bias[co] + sum_{ci in group(co), k} w[co, ci, k] * in[ci, o*stride - pad + k*dilation]
                     (positions outside the input are zero padding); padding an int per axis,
                     "valid" (0) or "same" (stride 1 only: total pad dilation*(k - 1), the smaller
                     half before); output size floor((n + 2 pad - dilation (k - 1) - 1) / stride) + 1
    SumPool2d        the depthwise convolution with a kernel of ones (no bias)
    AvgPool2d        the same divided by the kernel's area (zero padding counted, as PyTorch's default)
    Flatten          a reshape of dims start_dim..end_dim (dims without the batch; C order): the identity
    Scale            elementwise y = s * x (s broadcast to the input's shape)
    Affine / Linear  y = W x (+ b), W (out, in); the input is taken flattened
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import UserError


def _per_axis(value, ndim: int, what: str, node_name: str) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, ndim)
    if arr.size != ndim:
        raise UserError(f"NIR node {node_name!r}: {what} has {arr.size} values for {ndim} spatial dimensions")
    return tuple(int(a) for a in arr)


def conv_output_size(n: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (n + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def convolution_matrix(weight: np.ndarray, in_shape: tuple[int, ...], stride, padding, dilation, groups: int,
                       node_name: str) -> tuple[sp.csr_matrix, tuple[int, ...]]:
    """The sparse matrix of an N-d convolution (PyTorch's cross-correlation) and its output shape.

    Every (output channel, input channel of its group, kernel offset, output position) whose input
    position lies inside the input is one entry; positions in the zero padding are dropped."""
    weight = np.asarray(weight, dtype=float)
    ndim = weight.ndim - 2
    if ndim < 1 or len(in_shape) != ndim + 1:
        raise UserError(f"shape mismatch: NIR node {node_name!r} (weight {weight.shape}) gets input of shape "
                        f"{tuple(in_shape)}")
    c_out, c_in_group = weight.shape[:2]
    kernel = weight.shape[2:]
    c_in, spatial = in_shape[0], tuple(in_shape[1:])
    groups = int(groups)
    if groups < 1 or c_in % groups or c_out % groups or c_in // groups != c_in_group:
        raise UserError(f"shape mismatch: NIR node {node_name!r}: {c_in} input channels, {c_out} output channels, "
                        f"groups {groups} and weight {weight.shape} do not fit")
    stride = _per_axis(stride, ndim, "stride", node_name)
    dilation = _per_axis(dilation, ndim, "dilation", node_name)
    if isinstance(padding, (str, bytes)):
        padding = padding.decode() if isinstance(padding, bytes) else padding
        if padding == "valid":
            pad_before = (0,) * ndim
            pad_total = (0,) * ndim
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise UserError(f"NIR node {node_name!r}: padding 'same' needs stride 1")
            pad_total = tuple(d * (k - 1) for d, k in zip(dilation, kernel))
            pad_before = tuple(t // 2 for t in pad_total)
        else:
            raise UserError(f"NIR node {node_name!r}: unknown padding {padding!r}")
    else:
        pad_before = _per_axis(padding, ndim, "padding", node_name)
        pad_total = tuple(2 * p for p in pad_before)
    if any(s < 1 for s in stride) or any(d < 1 for d in dilation) or any(p < 0 for p in pad_before):
        raise UserError(f"NIR node {node_name!r}: stride and dilation must be >= 1, padding >= 0")
    out_spatial = tuple((n + t - d * (k - 1) - 1) // s + 1
                        for n, t, d, k, s in zip(spatial, pad_total, dilation, kernel, stride))
    if any(o < 1 for o in out_spatial):
        raise UserError(f"shape mismatch: NIR node {node_name!r}: input {tuple(in_shape)} is smaller than its kernel")
    # one axis per index: output channel, input channel within the group, kernel offsets, output positions
    grids = np.meshgrid(np.arange(c_out), np.arange(c_in_group), *[np.arange(k) for k in kernel],
                        *[np.arange(o) for o in out_spatial], indexing="ij")
    co, ci_local = grids[0].ravel(), grids[1].ravel()
    offsets = [g.ravel() for g in grids[2:2 + ndim]]
    positions = [g.ravel() for g in grids[2 + ndim:]]
    inside = np.ones(co.size, dtype=bool)
    in_pos = []
    for axis in range(ndim):
        p = positions[axis] * stride[axis] - pad_before[axis] + offsets[axis] * dilation[axis]
        inside &= (p >= 0) & (p < spatial[axis])
        in_pos.append(p)
    ci = (co // (c_out // groups)) * c_in_group + ci_local
    rows = np.ravel_multi_index((co[inside], *[p[inside] for p in positions]), (c_out, *out_spatial))
    cols = np.ravel_multi_index((ci[inside], *[p[inside] for p in in_pos]), (c_in, *spatial))
    values = weight[(co[inside], ci_local[inside], *[o[inside] for o in offsets])]
    n_out, n_in = c_out * int(np.prod(out_spatial)), c_in * int(np.prod(spatial))
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(n_out, n_in))
    matrix.eliminate_zeros()
    return matrix, (c_out, *out_spatial)


def pooling_matrix(kind: str, in_shape: tuple[int, ...], kernel_size, stride, padding,
                   node_name: str) -> tuple[sp.csr_matrix, tuple[int, ...]]:
    """SumPool2d / AvgPool2d as a depthwise convolution (see the module docstring)."""
    if len(in_shape) != 3:
        raise UserError(f"shape mismatch: NIR node {node_name!r} ({kind}) needs input (C, H, W), gets "
                        f"{tuple(in_shape)}")
    kernel = _per_axis(kernel_size, 2, "kernel_size", node_name)
    stride = kernel if stride is None else _per_axis(stride, 2, "stride", node_name)
    padding = (0, 0) if padding is None else _per_axis(padding, 2, "padding", node_name)
    channels = in_shape[0]
    value = 1.0 if kind == "SumPool2d" else 1.0 / (kernel[0] * kernel[1])
    weight = np.full((channels, 1, *kernel), value)
    return convolution_matrix(weight, in_shape, stride, padding, 1, channels, node_name)


def flatten_shape(in_shape: tuple[int, ...], start_dim: int, end_dim: int, node_name: str) -> tuple[int, ...]:
    ndim = len(in_shape)
    start = start_dim + ndim if start_dim < 0 else start_dim
    end = end_dim + ndim if end_dim < 0 else end_dim
    if not (0 <= start <= end < ndim):
        if ndim == 0:
            return in_shape
        raise UserError(f"NIR node {node_name!r} (Flatten): dims {start_dim}..{end_dim} do not exist in an input "
                        f"of shape {tuple(in_shape)}")
    return (*in_shape[:start], int(np.prod(in_shape[start:end + 1])), *in_shape[end + 1:])


def linear_map(name: str, node, kind: str, in_shape: tuple[int, ...]):
    """``(M, b, out_shape)`` of a linear node fed by a tensor of shape ``in_shape``; ``M`` None for the
    identity (Flatten, pass-through nodes)."""
    n_in = int(np.prod(in_shape))
    if kind in ("Affine", "Linear"):
        w = np.asarray(node.weight, dtype=float)
        if w.ndim != 2 or w.shape[1] != n_in:
            raise UserError(f"shape mismatch: {kind} node {name!r} has weight {w.shape}, its input has shape "
                            f"{tuple(in_shape)}")
        if kind == "Affine" and getattr(node, "bias", None) is not None:
            b = np.asarray(node.bias, dtype=float).reshape(-1)
            if b.size == 1:
                b = np.full(w.shape[0], float(b[0]))
        else:
            b = np.zeros(w.shape[0])
        if b.size != w.shape[0]:
            raise UserError(f"shape mismatch: {kind} node {name!r} bias has {b.size} values for {w.shape[0]} outputs")
        m = sp.csr_matrix(w)
        m.eliminate_zeros()
        return m, b, (w.shape[0],)
    if kind == "Scale":
        s = np.asarray(node.scale, dtype=float)
        try:
            s = np.broadcast_to(s, in_shape).reshape(-1)
        except ValueError:
            raise UserError(f"shape mismatch: Scale node {name!r} has scale of shape {s.shape}, its input has shape "
                            f"{tuple(in_shape)}") from None
        return sp.diags(s, format="csr"), np.zeros(n_in), tuple(in_shape)
    if kind == "Flatten":
        declared = (getattr(node, "input_type", None) or {}).get("input")
        if declared is not None and int(np.prod(np.asarray(declared))) != n_in:
            raise UserError(f"shape mismatch: Flatten node {name!r} expects input {tuple(np.asarray(declared))}, gets "
                            f"{tuple(in_shape)}")
        return None, np.zeros(n_in), flatten_shape(tuple(in_shape), int(node.start_dim), int(node.end_dim), name)
    if kind in ("Conv1d", "Conv2d"):
        ndim = 1 if kind == "Conv1d" else 2
        declared = getattr(node, "input_shape", None)
        if declared is not None and len(in_shape) == ndim + 1:
            declared = tuple(int(d) for d in np.atleast_1d(np.asarray(declared)))
            if declared != tuple(in_shape[1:]):
                raise UserError(f"shape mismatch: {kind} node {name!r} expects spatial input {declared}, gets "
                                f"{tuple(in_shape[1:])}")
        w = np.asarray(node.weight, dtype=float)
        if w.ndim != ndim + 2:
            raise UserError(f"{kind} node {name!r}: weight of shape {w.shape}, expected {ndim + 2} dimensions")
        m, out_shape = convolution_matrix(w, tuple(in_shape), node.stride, node.padding, node.dilation,
                                          node.groups, name)
        bias = getattr(node, "bias", None)
        b = np.zeros(out_shape[0]) if bias is None else np.asarray(bias, dtype=float).reshape(-1)
        if b.size == 1:
            b = np.full(out_shape[0], float(b[0]))
        if b.size != out_shape[0]:
            raise UserError(f"shape mismatch: {kind} node {name!r} bias has {b.size} values for {out_shape[0]} channels")
        return m, np.repeat(b, int(np.prod(out_shape[1:]))), out_shape
    if kind in ("SumPool2d", "AvgPool2d"):
        m, out_shape = pooling_matrix(kind, tuple(in_shape), node.kernel_size, node.stride, node.padding, name)
        return m, np.zeros(m.shape[0]), out_shape
    raise AssertionError(kind)
