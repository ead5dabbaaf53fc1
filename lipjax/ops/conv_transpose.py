"""Transposed 2-D convolution with PyTorch semantics, computed as `stride**2` ordinary convolutions.

A stride-s transposed convolution is usually run as a convolution over the input dilated with
s - 1 zeros between pixels, so that (s^2 - 1) / s^2 of the multiplications are by zero. Split by
output phase instead: output pixel `o = s q + r` only meets kernel taps `j = s m + c` with
`c = (r + p) mod s`, so each of the s^2 output phases is a plain stride-1 convolution of the
undilated input with the sub-kernel of those taps (flipped), and the phases interleave into the
output. Same sums, no zeros. On the CPU the forward and backward pass of the ParaLip decoder's
layers run 3-24x faster this way (`benchmarks/conv_transpose.py`). On a GPU or TPU the library's
native transposed convolution (cuDNN's, `lax.conv_transpose`) is the better form, so `method=
"auto"` picks the phase form on the CPU only (`jax.default_backend()`); both give the same sums.

The definition (PyTorch `ConvTranspose2d`, per axis): with input length n, kernel k, stride s,
padding p and output padding a, the output has length `(n - 1) s - 2 p + k + a` and

    y[o, co] = sum over i, j, ci with o = s i - p + j of x[i, ci] * w[ci, co, j].
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = ["conv_transpose", "conv_transpose_same", "conv_transpose_output_size",
           "CONV_TRANSPOSE_METHODS",
           "resolve_method", "same_padding_as_torch", "flax_kernel_as_torch"]

CONV_TRANSPOSE_METHODS = ("auto", "phase", "lax")


def resolve_method(method: str) -> str:
    """`"phase"` or `"lax"`: "auto" is the phase form on the CPU backend and the native
    (`lax.conv_transpose`) form elsewhere.

    Raises:
      InputError: a method outside `CONV_TRANSPOSE_METHODS`.
    """
    if method not in CONV_TRANSPOSE_METHODS:
        raise InputError(f"conv_transpose method must be one of {CONV_TRANSPOSE_METHODS}, got "
                         f"{method!r}")
    if method == "auto":
        return "phase" if jax.default_backend() == "cpu" else "lax"
    return method


def same_padding_as_torch(kernel_size: int, stride: int) -> tuple[int, int]:
    """PyTorch-style `(padding, output_padding)` of `lax.conv_transpose(..., padding="SAME")`
    (what flax `nn.ConvTranspose(padding="SAME")` runs, output length `size * stride`).

    lax pads the dilated input by `(a, b)` with `a + b = k + s - 2` and `a = k - 1` if `s > k - 1`
    else `ceil((k + s - 2) / 2)`; as a PyTorch transposed convolution that is `p = k - 1 - a`
    and `output_padding = b - a`, which is -1 for some odd kernels (one row and column fewer
    than `output_padding=0` gives: compute with 0 and drop the last).
    """
    if kernel_size < 1 or stride < 1:
        raise InputError(f"need kernel_size and stride >= 1, got {kernel_size}, {stride}")
    total = kernel_size + stride - 2
    low = kernel_size - 1 if stride > kernel_size - 1 else math.ceil(total / 2)
    return kernel_size - 1 - low, total - 2 * low


def flax_kernel_as_torch(kernel: ArrayLike) -> jax.Array:
    """A flax `nn.ConvTranspose` kernel (default `transpose_kernel=False`: `[kh, kw, Cin, Cout]`,
    correlated with the dilated input as stored) in this module's layout `[kh, kw, Cout, Cin]`
    (PyTorch's, which flips the kernel): spatially flipped, channel axes swapped."""
    return jnp.swapaxes(jnp.flip(jnp.asarray(kernel), (0, 1)), 2, 3)


def conv_transpose_output_size(size: int, *, kernel_size: int, stride: int, padding: int,
                               output_padding: int) -> int:
    """PyTorch's output length `(size - 1) * stride - 2 * padding + kernel_size + output_padding`."""
    return (size - 1) * stride - 2 * padding + kernel_size + output_padding


class _Phase(NamedTuple):
    taps: tuple[int, ...]  # kernel indices of this phase, in correlation order (flipped)
    pad: tuple[int, int]   # low/high padding of the input (negative = crop)


def _axis_phases(size: int, out_size: int, *, kernel_size: int, stride: int,
                 padding: int) -> list[_Phase | None]:
    """Per output phase r: its taps and input padding, or None if no tap reaches it."""
    per_phase = math.ceil(out_size / stride)  # every phase is computed to this length
    phases = []
    for r in range(stride):
        c, d = (r + padding) % stride, (r + padding) // stride
        taps = tuple(range(c, kernel_size, stride))
        if not taps:
            phases.append(None)
            continue
        # y_r[q] = sum_m x[q + d - m] w[s m + c]: a correlation with the reversed sub-kernel
        # whose first tap reads x[q + d - (len(taps) - 1)].
        low = len(taps) - 1 - d
        high = (per_phase - 1) + d - (size - 1)
        phases.append(_Phase(taps[::-1], (low, high)))
    return phases


def _phase_kernel(kernel: jax.Array, phase: _Phase, axis: int, stride: int) -> jax.Array:
    """The taps of one phase along `axis`, in correlation order: `kernel[c::s][::-1]`."""
    first = min(phase.taps)
    taps = lax.slice_in_dim(kernel, first, first + stride * (len(phase.taps) - 1) + 1, stride,
                            axis)
    return lax.rev(taps, (axis,))


def conv_transpose(
    x: ArrayLike,
    kernel: ArrayLike,
    *,
    stride: int,
    padding: int,
    output_padding: int = 0,
    precision: lax.Precision | None = None,
    method: str = "auto",
) -> jax.Array:
    """PyTorch `ConvTranspose2d` (no bias, groups 1, dilation 1) on NHWC input.

    Args:
      x: float `[N, H, W, Cin]`.
      kernel: `[kh, kw, Cout, Cin]`, PyTorch's weight `[Cin, Cout, kh, kw]` permuted (2, 3, 1, 0):
        the layout flax's `nn.ConvTranspose(transpose_kernel=True)` stores.
      stride: the same stride on both axes.
      padding: PyTorch `padding` (both sides, both axes); must be `< kernel size`.
      output_padding: PyTorch `output_padding` (extra rows/cols at the high end), `< stride`.
      precision: passed to `lax.conv_general_dilated`.
      method: "phase" (stride**2 convolutions of the undilated input), "lax" (the library's
        dilated form, `lax.conv_transpose`) or "auto" (`resolve_method`: phase on the CPU).

    Returns:
      `[N, H', W', Cout]` with `H' = (H - 1) * stride - 2 * padding + kh + output_padding` (and W').

    Raises:
      InputError: shapes or arguments that do not describe a transposed convolution.
    """
    x = jnp.asarray(x)
    kernel = jnp.asarray(kernel)
    if x.ndim != 4 or kernel.ndim != 4:
        raise InputError(f"expected x [N, H, W, Cin] and kernel [kh, kw, Cout, Cin], got "
                         f"{x.shape} and {kernel.shape}")
    if kernel.shape[3] != x.shape[3]:
        raise InputError(f"kernel has {kernel.shape[3]} input channels, x has {x.shape[3]}")
    if stride < 1 or not 0 <= output_padding < stride:
        raise InputError(f"need stride >= 1 and 0 <= output_padding < stride, got "
                         f"stride={stride}, output_padding={output_padding}")
    if not 0 <= padding < min(kernel.shape[:2]):
        raise InputError(f"padding must be in [0, kernel size), got {padding}")
    out_hw = [conv_transpose_output_size(n, kernel_size=k, stride=stride, padding=padding,
                                         output_padding=output_padding)
              for n, k in zip(x.shape[1:3], kernel.shape[:2])]
    if min(out_hw) < 1:
        raise InputError(f"output would be empty ({out_hw}) for input {x.shape[1:3]}")
    if resolve_method(method) == "lax":
        pads = [(k - 1 - padding, k - 1 - padding + output_padding) for k in kernel.shape[:2]]
        return lax.conv_transpose(x, kernel, (stride, stride), pads, transpose_kernel=True,
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                  precision=precision)
    plans = [_axis_phases(n, out, kernel_size=k, stride=stride, padding=padding)
             for n, out, k in zip(x.shape[1:3], out_hw, kernel.shape[:2])]
    per_phase = [math.ceil(out / stride) for out in out_hw]
    rows = []
    for phase_h in plans[0]:
        cols = []
        for phase_w in plans[1]:
            if phase_h is None or phase_w is None:
                cols.append(jnp.zeros((x.shape[0], *per_phase, kernel.shape[2]),
                                      jnp.result_type(x, kernel)))
                continue
            # Strided slices + reversal of the kernel (no gather), in the forward layout HWIO:
            # XLA's CPU backend hands HWIO convolutions to YNNPACK and runs HWOI ones with
            # Eigen, 3-5x slower (measured).
            sub = _phase_kernel(_phase_kernel(kernel, phase_h, 0, stride), phase_w, 1, stride)
            cols.append(lax.conv_general_dilated(
                x, jnp.swapaxes(sub, 2, 3), (1, 1), (phase_h.pad, phase_w.pad),
                dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=precision))
        rows.append(jnp.stack(cols, axis=3))            # [N, h, w, s_w, C]
    y = jnp.stack(rows, axis=2)                          # [N, h, s_h, w, s_w, C]
    n, h, _, w, _, c = y.shape
    y = y.reshape(n, h * stride, w * stride, c)
    return y[:, : out_hw[0], : out_hw[1]]


def conv_transpose_same(x: ArrayLike, kernel: ArrayLike, *, stride: int,
                        method: str = "auto") -> jax.Array:
    """`lax.conv_transpose(x, kernel, (stride, stride), "SAME")` on NHWC input with a flax
    `nn.ConvTranspose` kernel `[k, k, Cin, Cout]` (`transpose_kernel=False`): output
    `[N, H * stride, W * stride, Cout]`. `method` as in `conv_transpose`; the phase form runs it
    as the PyTorch transposed convolution of `same_padding_as_torch` with the kernel of
    `flax_kernel_as_torch`."""
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[0] != kernel.shape[1]:
        raise InputError(f"expected a square kernel [k, k, Cin, Cout], got {kernel.shape}")
    if resolve_method(method) == "lax":
        return lax.conv_transpose(x, kernel, (stride, stride), "SAME",
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
    padding, output_padding = same_padding_as_torch(kernel.shape[0], stride)
    y = conv_transpose(x, flax_kernel_as_torch(kernel), stride=stride, padding=padding,
                       output_padding=max(output_padding, 0), method="phase")
    return y[:, : x.shape[1] * stride, : x.shape[2] * stride]
