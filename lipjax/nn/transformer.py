"""Sequence blocks shared by ParaLip and its baselines: positions, self-attention, the FFT layer.

ParaLip (Liu et al., AAAI 2022) uses a FastSpeech-style feed-forward transformer; the TransformerT2L
and DualLip baselines reuse its text encoder. The blocks follow the official ParaLip release
closely enough that a PyTorch checkpoint maps onto them tensor by tensor; each module's docstring
gives the correspondence.

Layout: sequences are `[B, L, C]`, masks bool with True on valid positions. "Padded rows zeroed"
means `x * mask[..., None]` after the residual additions, as in the reference implementation.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = [
    "positions_from_mask",
    "sinusoidal_positions",
    "zero_padded_rows",
    "MultiHeadSelfAttention",
    "ConvFeedForward",
    "FFTLayer",
    "MASKED_LOGIT",
]

MASKED_LOGIT = -1e9


def positions_from_mask(mask: ArrayLike) -> jax.Array:
    """1-based positions over valid entries, 0 on padding (fairseq `make_positions`, pad id 0).

    Args:
      mask: bool `[B, L]`, True on valid (non-padding) entries.

    Returns:
      int32 `[B, L]`: the running count of valid entries at valid places, 0 elsewhere.
    """
    mask = jnp.asarray(mask, jnp.int32)
    return jnp.cumsum(mask, axis=-1) * mask


def sinusoidal_positions(positions: ArrayLike, *, dim: int, max_timescale: float = 10000.0) -> jax.Array:
    """Tensor2tensor-style sinusoidal position vectors (sin half, then cos half; not interleaved).

    For `half = dim // 2` frequencies `f_i = exp(-i * ln(max_timescale) / (half - 1))` the vector of
    position `p` is `[sin(p * f), cos(p * f)]`; position 0 (padding) is the zero vector, exactly as in
    the reference (whose table has a zeroed padding row). An odd `dim` gets a trailing zero column.

    Args:
      positions: int `[...]`, 1-based positions with 0 on padding (see `positions_from_mask`).
      dim: size of each vector (ParaLip: 256, i.e. 128 frequencies).
      max_timescale: the longest wavelength's scale (10000 in the papers).

    Returns:
      float32 `[..., dim]`.
    """
    half = dim // 2
    if half < 2:
        raise ValueError(f"sinusoidal_positions needs dim >= 4, got {dim}")
    positions = jnp.asarray(positions)
    step = math.log(max_timescale) / (half - 1)
    frequencies = jnp.exp(jnp.arange(half, dtype=jnp.float32) * -step)
    angles = positions.astype(jnp.float32)[..., None] * frequencies
    vectors = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
    if dim % 2:
        vectors = jnp.concatenate([vectors, jnp.zeros_like(vectors[..., :1])], axis=-1)
    return jnp.where((positions != 0)[..., None], vectors, 0.0)


def zero_padded_rows(x: ArrayLike, mask: ArrayLike) -> jax.Array:
    """`x * mask[..., None]`: rows of padding positions become exactly zero.

    Args:
      x: `[B, L, C]` (or any `[..., C]`).
      mask: bool `[B, L]` (the leading dims of `x`), True on valid rows.
    """
    x = jnp.asarray(x)
    return x * jnp.asarray(mask, x.dtype)[..., None]


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with one stacked q/k/v projection and no biases (fairseq style).

    `q, k, v = x @ in_proj` (q first), q scaled by `head_dim ** -0.5`, padded keys masked, softmax,
    dropout on the attention weights, heads concatenated, `@ out_proj`.

    Checkpoint correspondence (PyTorch `nn.MultiheadAttention`, bias=False):
      `in_proj/kernel [C, 3C]`  = `in_proj_weight [3C, C]` transposed;
      `out_proj/kernel [C, C]`  = `out_proj.weight [C, C]` transposed.

    Attributes:
      num_heads: number of heads; the width must be divisible by it (ParaLip: 2 heads of 128).
      attention_dropout: dropout rate on the attention weights (train only).
    """

    num_heads: int
    attention_dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool) -> jax.Array:
        """Args: x `[B, L, C]`; mask bool `[B, L]` (True = valid key). Returns `[B, L, C]`."""
        batch, length, width = x.shape
        if width % self.num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads={self.num_heads}")
        head_dim = width // self.num_heads
        qkv = nn.Dense(3 * width, use_bias=False, name="in_proj")(x)
        q, k, v = jnp.split(qkv, 3, axis=-1)
        split = lambda t: t.reshape(batch, length, self.num_heads, head_dim)  # noqa: E731
        q, k, v = split(q) * head_dim**-0.5, split(k), split(v)
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k)
        logits = jnp.where(mask[:, None, None, :], logits, MASKED_LOGIT)
        weights = jax.nn.softmax(logits, axis=-1)
        weights = nn.Dropout(self.attention_dropout)(weights, deterministic=not train)
        attended = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, width)
        return nn.Dense(width, use_bias=False, name="out_proj")(attended)


class ConvFeedForward(nn.Module):
    """Position-wise feed-forward with a 1-D convolution first (FastSpeech FFN).

    `Conv1d(C -> hidden, kernel, SAME, bias) * kernel_size**-0.5 -> ReLU -> dropout ->
    Linear(hidden -> C)`. The scale keeps the conv output's variance independent of the kernel.

    Checkpoint correspondence: `ffn_1/kernel [k, C, hidden]` = `ffn_1.weight [hidden, C, k]`
    permuted (2, 1, 0); `ffn_2/kernel [hidden, C]` = `ffn_2.weight` transposed; biases as is.

    Attributes:
      hidden: inner width (ParaLip: 1024).
      kernel_size: conv kernel (ParaLip: 9; odd, so SAME pads (k-1)/2 on both sides).
      relu_dropout: dropout after the ReLU (train only).
    """

    hidden: int
    kernel_size: int
    relu_dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        """Args: x `[B, L, C]`. Returns `[B, L, C]`."""
        width = x.shape[-1]
        h = nn.Conv(self.hidden, (self.kernel_size,), padding="SAME", name="ffn_1")(x)
        h = nn.relu(h * self.kernel_size**-0.5)
        h = nn.Dropout(self.relu_dropout)(h, deterministic=not train)
        return nn.Dense(width, name="ffn_2")(h)


class FFTLayer(nn.Module):
    """Feed-forward Transformer layer (pre-LayerNorm), as in the ParaLip encoder and decoders.

        x = zero_pad(x + dropout(Attn(LN1(x))))
        x = zero_pad(x + dropout(FFN(LN2(x))))

    By default the FFN sees the LayerNorm of zeroed padding rows (i.e. the LN bias), exactly as
    the official model does in a padded batch: only the residual sums are masked, so a
    sequence's last `ffn_kernel // 2` rows depend on how far its batch is padded. With
    `mask_padding_in_ffn` the LayerNorm output is zeroed on padding rows before the conv, which
    makes every sequence's output independent of the padding and equal to the official model's
    on the sequence alone (unpadded: the conv's SAME zero padding). Parameters are the same.

    Checkpoint correspondence (`<prefix>.layers.<i>.op.` in the official state dict):
      `layer_norm1/{scale,bias}` = `layer_norm1.{weight,bias}`; `self_attn/*` see
      `MultiHeadSelfAttention`; `layer_norm2/*` = `layer_norm2.*`; `ffn/*` see `ConvFeedForward`.

    Attributes:
      num_heads: attention heads (2).
      ffn_hidden: feed-forward width (1024).
      ffn_kernel: feed-forward conv kernel (9).
      dropout: residual-branch dropout (official: 0.2).
      attention_dropout: attention-weight dropout (official: 0.0).
      relu_dropout: dropout after the feed-forward's ReLU (official: 0.2, the same hparam as
        the residual dropout).
      layer_norm_epsilon: LayerNorm epsilon (1e-5, PyTorch default).
      mask_padding_in_ffn: zero padding rows of the feed-forward's input (see above).
    """

    num_heads: int = 2
    ffn_hidden: int = 1024
    ffn_kernel: int = 9
    dropout: float = 0.2
    attention_dropout: float = 0.0
    relu_dropout: float = 0.2
    layer_norm_epsilon: float = 1e-5
    mask_padding_in_ffn: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool) -> jax.Array:
        """Args: x `[B, L, C]`; mask bool `[B, L]`. Returns `[B, L, C]` with padded rows zero."""
        h = nn.LayerNorm(epsilon=self.layer_norm_epsilon, name="layer_norm1")(x)
        h = MultiHeadSelfAttention(self.num_heads, self.attention_dropout, name="self_attn")(
            h, mask, train=train
        )
        h = nn.Dropout(self.dropout)(h, deterministic=not train)
        x = zero_padded_rows(x + h, mask)
        h = nn.LayerNorm(epsilon=self.layer_norm_epsilon, name="layer_norm2")(x)
        if self.mask_padding_in_ffn:
            h = zero_padded_rows(h, mask)
        h = ConvFeedForward(self.ffn_hidden, self.ffn_kernel, self.relu_dropout, name="ffn")(h, train=train)
        h = nn.Dropout(self.dropout)(h, deterministic=not train)
        return zero_padded_rows(x + h, mask)
