"""Image blocks: conv / transposed conv + BatchNorm + activation with PyTorch semantics, and
PyTorch-order flattening.

Used by ParaLip's identity encoder and video decoder (and so by its baselines) and mapped tensor
by tensor onto PyTorch checkpoints (docstrings give the correspondence). Images are NHWC.
"""

from __future__ import annotations

import itertools
from typing import Optional, Sequence

import einops
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.ops.conv_transpose import conv_transpose, conv_transpose_same

__all__ = [
    "ConvNormAct",
    "ConvTransposeNormAct",
    "PhaseConvTranspose",
    "SameConvTranspose",
    "conv_transpose_padding",
    "channels_first_flatten",
    "channels_first_unflatten",
    "ConvParams",
    "conv_heads",
]


def _batch_norm(
    *, train: bool, momentum: float, epsilon: float, axis_name: Optional[str], name: str
) -> nn.BatchNorm:
    """BatchNorm with running statistics in `batch_stats`, updated only when training.

    flax `momentum` is the weight of the old running value: PyTorch momentum 0.1 = flax 0.9.
    """
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=momentum,
        epsilon=epsilon,
        axis_name=axis_name,
        name=name,
    )


class ConvNormAct(nn.Module):
    """`Conv2d -> BatchNorm -> activation` (NHWC), PyTorch-style symmetric integer padding.

    Checkpoint correspondence (`conv_norm.0` / `conv_norm.1` in the official state dict):
      `conv/kernel [kh, kw, Cin, Cout]` = `weight [Cout, Cin, kh, kw]` permuted (2, 3, 1, 0);
      `conv/bias` = `bias`; `norm/{scale,bias}` = BatchNorm `{weight,bias}`;
      `batch_stats: norm/{mean,var}` = `running_{mean,var}`.

    Attributes:
      features: output channels.
      kernel_size: square kernel size.
      stride: stride in both axes.
      padding: zero padding on every side (PyTorch `padding=`).
      use_norm: BatchNorm after the conv.
      activation: applied last (None for a plain conv + norm).
      bn_momentum, bn_epsilon, bn_axis_name: BatchNorm settings (axis_name for cross-device
        statistics under pmap/shard_map).
    """

    features: int
    kernel_size: int = 5
    stride: int = 1
    padding: int = 2
    use_norm: bool = True
    activation: Optional[str] = "relu"
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    bn_axis_name: Optional[str] = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, mask: Optional[jax.Array] = None) -> jax.Array:
        """Args: x `[N, H, W, Cin]`; mask optional bool `[N, 1, 1, 1]`-broadcastable rows that count
        in the batch statistics. Returns `[N, H', W', features]`."""
        pad = ((self.padding, self.padding), (self.padding, self.padding))
        k = (self.kernel_size, self.kernel_size)
        x = nn.Conv(self.features, k, strides=(self.stride, self.stride), padding=pad, name="conv")(x)
        if self.use_norm:
            norm = _batch_norm(
                train=train,
                momentum=self.bn_momentum,
                epsilon=self.bn_epsilon,
                axis_name=self.bn_axis_name,
                name="norm",
            )
            x = norm(x, mask=None if mask is None else jnp.broadcast_to(mask, x.shape))
        return _activate(x, self.activation)


def conv_transpose_padding(kernel_size: int, padding: int, output_padding: int) -> tuple[int, int]:
    """Low/high padding of the stride-dilated input that reproduces PyTorch `ConvTranspose2d`.

    PyTorch's output size is `(n - 1) * s - 2p + k + output_padding`; as a convolution of the
    dilated input with the flipped kernel this is padding `(k - 1 - p, k - 1 - p + output_padding)`.
    """
    low = kernel_size - 1 - padding
    return low, low + output_padding


class PhaseConvTranspose(nn.Module):
    """PyTorch `ConvTranspose2d` with bias, through `lipjax.ops.conv_transpose` (phase split).

    Parameters are those of flax `nn.ConvTranspose(transpose_kernel=True)` with the padding of
    `conv_transpose_padding`: `kernel [k, k, features, Cin]` (LeCun-normal) and `bias [features]`
    (zeros), and the outputs agree; only the computation differs (no multiplications by the
    zeros of a dilated input: 3-24x faster on the CPU, `benchmarks/conv_transpose.py`).
    `method` as in `lipjax.ops.conv_transpose` ("auto": the phase form on the CPU only).
    """

    features: int
    kernel_size: int
    stride: int
    padding: int
    output_padding: int
    method: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (k, k, self.features, x.shape[-1]), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        y = conv_transpose(x, kernel.astype(x.dtype), stride=self.stride, padding=self.padding,
                           output_padding=self.output_padding, method=self.method)
        return y + bias.astype(y.dtype)


class SameConvTranspose(nn.Module):
    """flax `nn.ConvTranspose(features, (k, k), strides=(s, s), padding="SAME")`: the same
    parameters (`kernel [k, k, Cin, features]`, LeCun-normal; `bias`, zeros) and outputs,
    computed by `lipjax.ops.conv_transpose_same` (the phase form on the CPU, where flax's
    dilated form multiplies by the zeros of the dilated input)."""

    features: int
    kernel_size: int
    stride: int
    method: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (k, k, x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        y = conv_transpose_same(x, kernel.astype(x.dtype), stride=self.stride,
                                method=self.method)
        return y + bias.astype(y.dtype)


class ConvTransposeNormAct(nn.Module):
    """`ConvTranspose2d -> BatchNorm -> activation` with PyTorch semantics (NHWC).

    With kernel 5, stride 2, padding 2, output_padding 1 the spatial size doubles exactly.

    Checkpoint correspondence (`trans_conv.0` / `trans_conv.1` in the official state dict):
      `conv/kernel [kh, kw, Cout, Cin]` = `weight [Cin, Cout, kh, kw]` permuted (2, 3, 1, 0)
      (`transpose_kernel=True`: the kernel is stored as the forward conv's and flipped by lax,
      like PyTorch); `conv/bias` = `bias`; `norm/*` as in `ConvNormAct`.

    Attributes:
      features: output channels.
      kernel_size, stride, padding, output_padding: PyTorch `ConvTranspose2d` arguments.
      use_norm, activation, bn_momentum, bn_epsilon, bn_axis_name: as in `ConvNormAct`.
    """

    features: int
    kernel_size: int = 5
    stride: int = 2
    padding: int = 2
    output_padding: int = 1
    use_norm: bool = True
    activation: Optional[str] = "relu"
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    bn_axis_name: Optional[str] = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, mask: Optional[jax.Array] = None) -> jax.Array:
        """Args: x `[N, H, W, Cin]`; mask as in `ConvNormAct`. Returns `[N, H*s, W*s, features]`
        (for the doubling configuration)."""
        x = PhaseConvTranspose(self.features, self.kernel_size, self.stride, self.padding,
                               self.output_padding, name="conv")(x)
        if self.use_norm:
            norm = _batch_norm(
                train=train,
                momentum=self.bn_momentum,
                epsilon=self.bn_epsilon,
                axis_name=self.bn_axis_name,
                name="norm",
            )
            x = norm(x, mask=None if mask is None else jnp.broadcast_to(mask, x.shape))
        return _activate(x, self.activation)


_ACTIVATIONS = {
    "relu": nn.relu,
    "leaky_relu_0.2": lambda x: nn.leaky_relu(x, 0.2),
    "tanh": jnp.tanh,
}


class ConvParams(nn.Module):
    """`nn.Conv(features, (k, k))`'s parameters (same names, shapes, initialisers, hence the
    same initial values under the same module name), returned instead of applied:
    `(kernel [k, k, in_features, features], bias [features])`."""

    features: int
    kernel_size: int

    @nn.compact
    def __call__(self, in_features: int) -> tuple[jax.Array, jax.Array]:
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (k, k, in_features, self.features))
        return kernel, self.param("bias", nn.initializers.zeros_init(), (self.features,))


def conv_heads(x: ArrayLike, heads: Sequence[tuple[jax.Array, jax.Array]], *,
               method: str = "auto") -> tuple[jax.Array, ...]:
    """Several stride-1 "SAME" convolutions of one NHWC input `[N, H, W, C]` (`(kernel [k, k,
    C, F_i], bias [F_i])` each, as `ConvParams` gives them, odd k) as one computation.

    A 1- or 3-channel head over a wide map (DCK's 256x256 alpha and motion heads) costs the
    reading of the map, not its few multiplications, so the heads share one pass:
    `method="matmul"` multiplies every pixel by all k*k*sum(F_i) kernel taps at once (one GEMM
    over the C channels) and adds the k*k shifted tap maps; `"conv"` is one convolution with
    the kernels concatenated. `"auto"`: matmul on the CPU (about 3x faster than two separate
    convolutions at DCK's sizes, `benchmarks/conv_heads.py`), conv elsewhere. Both equal each
    head applied on its own, up to float rounding.
    """
    x = jnp.asarray(x)
    kernel = jnp.concatenate([k for k, _ in heads], axis=-1)
    bias = jnp.concatenate([b for _, b in heads])
    dtype = jnp.promote_types(x.dtype, kernel.dtype)
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    if method == "auto":
        method = "matmul" if jax.default_backend() == "cpu" else "conv"
    if method == "conv":
        y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
    elif method == "matmul":
        y = _shifted_taps_sum(x, kernel)
    else:
        raise ValueError(f"method must be 'auto', 'conv' or 'matmul', got {method!r}")
    y = y + bias.astype(dtype)
    splits = list(itertools.accumulate(k.shape[-1] for k, _ in heads))[:-1]
    return tuple(jnp.split(y, splits, axis=-1))


def _shifted_taps_sum(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """"SAME" correlation of `x [N, H, W, C]` with `kernel [k, k, C, F]` (odd k) as one GEMM to
    every tap's output, `taps[n, i, j, t] = x[n, i, j] @ kernel[t]`, then
    `sum_t taps[n, i + dy_t - k//2, j + dx_t - k//2, t]` (zero outside)."""
    kh, kw, channels, features = kernel.shape
    height, width = x.shape[1:3]
    taps = jnp.einsum("nhwc,cf->nhwf", x,
                      kernel.transpose(2, 0, 1, 3).reshape(channels, kh * kw * features))
    taps = taps.reshape(*x.shape[:3], kh * kw, features)
    taps = jnp.pad(taps, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0), (0, 0)))
    out = jnp.zeros((*x.shape[:3], features), x.dtype)
    for dy in range(kh):
        for dx in range(kw):
            out = out + taps[:, dy:dy + height, dx:dx + width, dy * kw + dx]
    return out


def _activate(x: jax.Array, activation: Optional[str]) -> jax.Array:
    if activation is None:
        return x
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; use one of {sorted(_ACTIVATIONS)} or None")
    return _ACTIVATIONS[activation](x)


def channels_first_flatten(x: ArrayLike) -> jax.Array:
    """Flattens NHWC maps in PyTorch's NCHW order: `[N, H, W, C] -> [N, C*H*W]`.

    Keeping PyTorch's order makes the following Linear a plain transpose of the PyTorch weight.
    """
    return einops.rearrange(jnp.asarray(x), "n h w c -> n (c h w)")


def channels_first_unflatten(x: ArrayLike, *, shape: Sequence[int]) -> jax.Array:
    """Inverse of `channels_first_flatten`: `[N, C*H*W]` viewed as `[N, C, H, W]` -> NHWC.

    Args:
      x: `[N, C*H*W]`.
      shape: `(H, W, C)` of the result.
    """
    height, width, channels = shape
    return einops.rearrange(jnp.asarray(x), "n (c h w) -> n h w c", c=channels, h=height,
                            w=width)

