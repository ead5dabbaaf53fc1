"""Folding inference-mode BatchNorm into the convolution before it.

At inference BatchNorm is an affine map per channel, `y = (x - mean) * scale / sqrt(var + eps)
+ bias`, so `BatchNorm(conv(x, W) + b)` equals `conv(x, W') + b'` with

    m  = scale / sqrt(var + eps)          (flax: `lax.rsqrt(var + eps) * scale`)
    W' = W * m   (over the kernel's output-channel axis)
    b' = (b - mean) * m + bias

which removes one elementwise pass over every activation map (and, in ParaLip's decoder, lets
the identity skips be convolved once per video: `lipjax.paralip.fast`). Training keeps the
unfolded blocks: the statistics change there.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = ["fold_batch_norm", "fold_conv_norm"]


def fold_batch_norm(kernel: ArrayLike, bias: ArrayLike | None, norm: Mapping[str, ArrayLike],
                    stats: Mapping[str, ArrayLike], *, epsilon: float,
                    output_axis: int = -1) -> dict[str, jax.Array]:
    """`conv(x, kernel) + bias -> BatchNorm (running statistics)` as one convolution.

    Args:
      kernel: the convolution's kernel; its output channels on `output_axis` (flax `nn.Conv`:
        `[kh, kw, Cin, Cout]`, -1; `lipjax.nn.PhaseConvTranspose`: `[kh, kw, Cout, Cin]`, 2).
      bias: the convolution's bias `[Cout]`, or None for a conv without one.
      norm: the BatchNorm's params `{"scale": [Cout], "bias": [Cout]}`.
      stats: its batch statistics `{"mean": [Cout], "var": [Cout]}`.
      epsilon: the BatchNorm's epsilon.
      output_axis: the kernel's output-channel axis.

    Returns:
      `{"kernel": same shape as kernel, "bias": [Cout]}`.

    Raises:
      InputError: the BatchNorm's size does not match the kernel's output channels.
    """
    kernel = jnp.asarray(kernel)
    axis = output_axis % kernel.ndim
    channels = kernel.shape[axis]
    shapes = {name: jnp.shape(value) for name, value in (*norm.items(), *stats.items())}
    if any(shape != (channels,) for shape in shapes.values()):
        raise InputError(f"BatchNorm of sizes {shapes} does not follow a convolution with "
                         f"{channels} output channels on axis {axis}")
    multiplier = jax.lax.rsqrt(jnp.asarray(stats["var"]) + epsilon) * jnp.asarray(norm["scale"])
    shape = [1] * kernel.ndim
    shape[axis] = channels
    conv_bias = jnp.zeros((channels,), kernel.dtype) if bias is None else jnp.asarray(bias)
    return {"kernel": kernel * multiplier.reshape(shape),
            "bias": (conv_bias - jnp.asarray(stats["mean"])) * multiplier
            + jnp.asarray(norm["bias"])}


def fold_conv_norm(params: Mapping[str, Any], stats: Mapping[str, Any], *, epsilon: float,
                   transposed: bool = False) -> dict[str, jax.Array]:
    """The folded `{"kernel", "bias"}` of a `lipjax.nn.ConvNormAct` (`transposed=False`) or
    `ConvTransposeNormAct` (`transposed=True`) block: `params` = its `{"conv", "norm"}` params,
    `stats` = its `{"norm": {"mean", "var"}}` batch statistics. The activation stays to be
    applied after the folded convolution."""
    conv = params["conv"]
    return fold_batch_norm(conv["kernel"], conv.get("bias"), params["norm"], stats["norm"],
                           epsilon=epsilon, output_axis=2 if transposed else -1)
