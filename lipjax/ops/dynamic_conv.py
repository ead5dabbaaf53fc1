"""Dynamic convolution: a 2-D convolution whose kernel differs for every sample of the batch.

DCK talking face (IEEE TMM 2022, Sec. III): the 4 middle layers of the U-Net convolve each video
frame with its own 1x1 kernel (256 -> 256 channels, plus a bias) predicted from that frame's audio
window. `dynamic_conv` computes

    out[b] = conv2d(x[b], kernels[b], stride, padding) + bias[b]

for every sample `b`, in one of four equivalent ways:

* ``"vmap"`` — the reference: `jax.vmap` of a per-sample `lax.conv_general_dilated`. XLA lowers
  it to a grouped convolution (one group per sample), which is slow on CPU (~12-40 GFLOP/s
  measured on this project's machines, against ~130-180 GFLOP/s for a plain matmul).
* ``"einsum"`` — 1x1 kernels only: stride and padding are applied to `x` directly and the
  convolution is a batched matrix product `[B, H*W, Cin] @ [B, Cin, Cout]`.
* ``"patches"`` — any kernel size: `lax.conv_general_dilated_patches` extracts the `kh*kw*Cin`
  patch vectors and the convolution is a batched matrix product with the flattened kernels.
  The extraction is itself a grouped convolution, slow on CPU.
* ``"taps"`` — any kernel size: the sum over the `kh*kw` kernel taps of a batched matrix product
  of a strided view of the padded input with that tap's `[Cin, Cout]` matrix.

``"auto"`` picks ``"einsum"`` for 1x1 kernels and ``"taps"`` otherwise (see
benchmarks/dynamic_conv.py for the measurements behind the choice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Union

import einops
import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = ["dynamic_conv", "DYNAMIC_CONV_METHODS"]

DYNAMIC_CONV_METHODS = ("auto", "vmap", "einsum", "patches", "taps")

Padding = Union[str, Sequence[tuple[int, int]]]
Method = Literal["auto", "vmap", "einsum", "patches", "taps"]

# Layouts of x, kernels and output as `lax.conv_general_dilated` names them.
_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def _normalize_stride(stride: int | Sequence[int]) -> tuple[int, int]:
    """Returns `(stride_h, stride_w)` from an int or a pair of positive ints."""
    pair = (stride, stride) if isinstance(stride, int) else tuple(stride)
    if len(pair) != 2 or not all(isinstance(s, int) and s >= 1 for s in pair):
        raise InputError(
            f"stride must be a positive int or a pair of positive ints, got {stride!r}"
        )
    return pair  # type: ignore[return-value]


def _explicit_padding(
    padding: Padding, spatial: tuple[int, int], window: tuple[int, int], stride: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Resolves "SAME" / "VALID" / explicit `((lo, hi), (lo, hi))` to explicit pairs.

    All methods pad through this one function so that they agree exactly (TensorFlow-style SAME:
    the extra row/column of an odd total goes at the high end).
    """
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise InputError(
                f"padding must be 'SAME', 'VALID' or ((top, bottom), (left, right)), "
                f"got {padding!r}"
            )
        pads = lax.padtype_to_pads(spatial, window, stride, padding.upper())
        return tuple((int(lo), int(hi)) for lo, hi in pads)  # type: ignore[return-value]
    try:
        pairs = tuple((int(lo), int(hi)) for lo, hi in padding)
    except (TypeError, ValueError):
        pairs = ()
    if len(pairs) != 2 or any(p < 0 for pair in pairs for p in pair):
        raise InputError(
            "padding must be 'SAME', 'VALID' or two non-negative (low, high) pairs "
            f"((top, bottom), (left, right)), got {padding!r}"
        )
    return pairs  # type: ignore[return-value]


def _conv_vmap(
    x: jax.Array,
    kernels: jax.Array,
    stride: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    precision: lax.PrecisionLike,
) -> jax.Array:
    """Reference: one `lax.conv_general_dilated` per sample, vectorised with `jax.vmap`."""

    def conv_one(image: jax.Array, kernel: jax.Array) -> jax.Array:
        return lax.conv_general_dilated(
            image[None],
            kernel,
            window_strides=stride,
            padding=pads,
            dimension_numbers=_DIMENSION_NUMBERS,
            precision=precision,
        )[0]

    return jax.vmap(conv_one)(x, kernels)


def _conv_einsum(
    x: jax.Array,
    kernels: jax.Array,
    stride: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    precision: lax.PrecisionLike,
) -> jax.Array:
    """1x1 kernels: pad, subsample by the stride, then a batched matmul over channels."""
    (top, bottom), (left, right) = pads
    if any(pads[0]) or any(pads[1]):
        x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    x = x[:, :: stride[0], :: stride[1], :]
    return jnp.einsum("bhwi,bio->bhwo", x, kernels[:, 0, 0], precision=precision)


def _conv_patches(
    x: jax.Array,
    kernels: jax.Array,
    stride: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    precision: lax.PrecisionLike,
) -> jax.Array:
    """k x k kernels: patch extraction, then a batched matmul with the flattened kernels."""
    batch, kh, kw, cin, cout = kernels.shape
    # The patch extractor is a convolution with a one-hot kernel; HIGHEST precision keeps it an
    # exact copy on accelerators whose default float32 convolution rounds inputs (TF32, bf16).
    patches = lax.conv_general_dilated_patches(
        x,
        filter_shape=(kh, kw),
        window_strides=stride,
        padding=pads,
        dimension_numbers=_DIMENSION_NUMBERS,
        precision=lax.Precision.HIGHEST,
    )
    # Patch features are ordered channel-major (index = c * kh * kw + i * kw + j), so the HWIO
    # kernels are flattened in (Cin, kh, kw) order.
    flat_kernels = einops.rearrange(kernels, "b kh kw i o -> b (i kh kw) o")
    return jnp.einsum("bhwp,bpo->bhwo", patches, flat_kernels, precision=precision)


def _conv_taps(
    x: jax.Array,
    kernels: jax.Array,
    stride: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    precision: lax.PrecisionLike,
) -> jax.Array:
    """k x k kernels: one batched matmul per kernel tap (i, j) on a strided view, summed.

    Equivalent to "patches" without materialising the kh*kw times larger patch tensor and
    without the grouped convolution that extracts it (slow on CPU).
    """
    batch, kh, kw, _, _ = kernels.shape
    (top, bottom), (left, right) = pads
    x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    _, height, width, cin = x.shape
    out_height = (height - kh) // stride[0] + 1
    out_width = (width - kw) // stride[1] + 1
    # Extent of the input rows/columns that one tap reads, first to last (inclusive) + 1.
    span_h = (out_height - 1) * stride[0] + 1
    span_w = (out_width - 1) * stride[1] + 1
    out = None
    for i in range(kh):  # static unroll over the (small) kernel window
        for j in range(kw):
            view = lax.slice(
                x, (0, i, j, 0), (batch, i + span_h, j + span_w, cin), (1, stride[0], stride[1], 1)
            )
            term = jnp.einsum("bhwi,bio->bhwo", view, kernels[:, i, j], precision=precision)
            out = term if out is None else out + term
    return out


_IMPLEMENTATIONS = {
    "vmap": _conv_vmap,
    "einsum": _conv_einsum,
    "patches": _conv_patches,
    "taps": _conv_taps,
}


def dynamic_conv(
    x: ArrayLike,
    kernels: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding = "SAME",
    method: Method = "auto",
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """Convolves every sample with its own kernel (DCK talking face, dynamic convolution kernels).

    Args:
      x: `[B, H, W, Cin]` input feature maps (NHWC).
      kernels: `[B, kh, kw, Cin, Cout]` one HWIO kernel per sample.
      bias: optional `[B, Cout]` one bias vector per sample.
      stride: int or `(stride_h, stride_w)`.
      padding: "SAME", "VALID" or explicit `((top, bottom), (left, right))`, as in
        `lax.conv_general_dilated`.
      method: "vmap" (reference), "einsum" (1x1 kernels), "patches" or "taps" (any kernel), or
        "auto" ("einsum" for 1x1 kernels, else "taps"). All give the same values and gradients
        up to floating-point rounding.
      precision: `lax.Precision` of the main contraction (None = the backend default).

    Returns:
      `[B, H', W', Cout]` with `H', W'` as for `lax.conv_general_dilated` with these settings;
      dtype follows JAX type promotion of `x`, `kernels` (and `bias`).

    Raises:
      InputError: on mismatched shapes, a bad stride or padding, or an unknown method.
    """
    x = jnp.asarray(x)
    kernels = jnp.asarray(kernels)
    if x.ndim != 4:
        raise InputError(f"x must be [B, H, W, Cin], got shape {x.shape}")
    if kernels.ndim != 5:
        raise InputError(
            f"kernels must be [B, kh, kw, Cin, Cout] (one HWIO kernel per sample), "
            f"got shape {kernels.shape}"
        )
    batch, height, width, cin = x.shape
    _, kh, kw, kernel_cin, cout = kernels.shape
    if kernels.shape[0] != batch or kernel_cin != cin:
        raise InputError(
            f"kernels {kernels.shape} do not match x {x.shape}: need kernels[0] == B == {batch} "
            f"and kernels[3] == Cin == {cin}"
        )
    if method not in DYNAMIC_CONV_METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {DYNAMIC_CONV_METHODS}")
    if method == "auto":
        method = "einsum" if (kh, kw) == (1, 1) else "taps"
    if method == "einsum" and (kh, kw) != (1, 1):
        raise InputError(
            f"method='einsum' needs 1x1 kernels, got {kh}x{kw}; use 'patches' or 'auto'"
        )
    strides = _normalize_stride(stride)
    pads = _explicit_padding(padding, (height, width), (kh, kw), strides)
    if height + sum(pads[0]) < kh or width + sum(pads[1]) < kw:
        raise InputError(
            f"a {kh}x{kw} kernel does not fit the padded {height}x{width} input "
            f"(padding {pads}); pad more or use a smaller kernel"
        )

    out = _IMPLEMENTATIONS[method](x, kernels, strides, pads, precision)
    if bias is not None:
        bias = jnp.asarray(bias)
        if bias.shape != (batch, cout):
            raise InputError(f"bias must be [B, Cout] = {(batch, cout)}, got shape {bias.shape}")
        out = out + bias[:, None, None, :]
    return out
