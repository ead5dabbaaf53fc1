"""A CTC lipreader (LipNet-style): spatio-temporal convolutions over the lip frames, a
bidirectional GRU (or LSTM), and a linear layer to the vocabulary whose column 0 is the CTC blank.

ParaLip (Liu et al., AAAI 2022, Sec. 6) obtains token durations without audio from "a lipreading
model [trained] by CTC loss on the training set" and monotonic alignment search over its
outputs; the paper gives no architecture for that lipreader. lipjax follows LipNet (Assael et
al., 2016, one of the lipreaders ParaLip cites): three 3-D convolutions over `[T, H, W]`, each
followed by a ReLU, spatial dropout and a 1x2x2 max-pool, then two bidirectional GRU layers.
Every convolution has temporal stride 1 and "SAME" temporal padding, so output `t` is computed
around video frame `t`, as the duration alignment (`lipjax.lipreading.align`) assumes; the CTC
loss itself does not tie a token's outputs to its frames (see below).

Why a bidirectional RNN rather than a transformer: it is LipNet's choice, it handles variable
lengths exactly through `seq_lengths` (the backward direction starts at each video's last valid
frame) and needs no positional encoding. For the alignment, though, CTC only asks for the
tokens in the right order, not at the right frames: on `synthetic_lips` the trained model emits
the first letters right after frame 0, inside the leading silence, and the last ones at the end
of the trailing silence (BUILD_NOTES.md, "Durations without audio"). `rnn="conv"` replaces the
RNN by temporal convolutions (receptive field of a few frames) to test whether locality keeps
the outputs in place; it did not by itself (the emissions drift within the receptive field).

Masking: padding frames are zeroed before and after every convolution, which makes the valid
outputs independent of what (and how much) padding follows a video; the RNN reads only the
valid prefix. No BatchNorm: its statistics would mix padding into every frame.

Vocabulary: id 0 (`<pad>`, `lipjax.text.PAD_ID`) never occurs in a label, so its logit column
is the CTC blank (optax's default `blank_id=0`); the output has `vocab_size` columns.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import ConfigError, InputError

__all__ = ["LipreaderConfig", "SpatioTemporalConv", "SpatioTemporalFrontEnd", "Lipreader",
           "BLANK_ID", "validate_lipreader_config", "conv3d_as_2d", "feature_map_size"]

BLANK_ID = 0  # the padding id doubles as the CTC blank (it is never a label)
RNN_KINDS = ("gru", "lstm", "conv")


@dataclasses.dataclass(frozen=True)
class LipreaderConfig:
    """Sizes of the lipreader (`config.model`).

    Attributes:
      vocab_size: output classes; id 0 is the blank, the others the vocabulary's tokens.
      image_height, image_width: the lip frames (80 x 160 for every lipjax lips corpus).
      input_pool: average-pool the frames by this spatial factor first (1 = full resolution).
      channels: output channels of the 3-D convolutions.
      kernels: `(t, h, w)` kernel of each convolution (temporal stride is always 1).
      first_stride: spatial stride of the first convolution (LipNet: 2).
      pool: a 1x2x2 max-pool after every convolution (LipNet).
      rnn: the sequence model: "gru" (LipNet) or "lstm", bidirectional, or "conv": temporal
        convolutions with a local receptive field (what the duration alignment needs, see the
        module docstring).
      rnn_hidden: features per direction (a "conv" layer has 2 * rnn_hidden channels);
        rnn_layers: stacked layers.
      temporal_kernel: frames per "conv" kernel.
      dropout: LipNet's spatial dropout after each convolution (whole channels) and dropout
        after each RNN layer; 0 = none.
    """

    vocab_size: int = 29
    image_height: int = 80
    image_width: int = 160
    input_pool: int = 1
    channels: tuple[int, ...] = (32, 64, 96)
    kernels: tuple[tuple[int, int, int], ...] = ((3, 5, 5), (3, 5, 5), (3, 3, 3))
    first_stride: int = 2
    pool: bool = True
    rnn: str = "gru"
    rnn_hidden: int = 256
    rnn_layers: int = 2
    temporal_kernel: int = 5
    dropout: float = 0.5


def validate_lipreader_config(config: LipreaderConfig) -> None:
    """Raises ConfigError naming the first inconsistent field of a `LipreaderConfig`."""
    if config.vocab_size < 2:
        raise ConfigError(f"model.vocab_size must be >= 2 (blank + tokens), got "
                          f"{config.vocab_size}")
    if len(config.channels) == 0 or len(config.kernels) != len(config.channels):
        raise ConfigError(f"model.kernels ({len(config.kernels)}) and model.channels "
                          f"({len(config.channels)}) must be non-empty and of the same length")
    if any(len(k) != 3 or min(k) < 1 for k in config.kernels):
        raise ConfigError(f"model.kernels must be (t, h, w) triples >= 1, got {config.kernels}")
    if config.rnn not in RNN_KINDS:
        raise ConfigError(f"model.rnn must be one of {RNN_KINDS}, got {config.rnn!r}")
    if min(config.input_pool, config.first_stride, config.rnn_hidden, config.rnn_layers,
           config.temporal_kernel) < 1:
        raise ConfigError("model.input_pool, first_stride, rnn_hidden, rnn_layers and "
                          "temporal_kernel must be >= 1")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"model.dropout must be in [0, 1), got {config.dropout}")
    height, width = feature_map_size(config)
    if height < 1 or width < 1:
        raise ConfigError(f"the {config.image_height}x{config.image_width} frames shrink to "
                          f"{height}x{width} after input_pool, first_stride and the pools; "
                          "lower them")


def feature_map_size(config: LipreaderConfig) -> tuple[int, int]:
    """`(h, w)` of the front-end's last feature map ("SAME" convolutions, VALID pools)."""
    sizes = []
    for size in (config.image_height, config.image_width):
        size //= config.input_pool
        size = -(-size // config.first_stride)
        if config.pool:
            for _ in config.channels:
                size //= 2
        sizes.append(size)
    return sizes[0], sizes[1]


def _masked(features: jax.Array, frame_mask: jax.Array) -> jax.Array:
    """Zeros every padding frame of `[B, T, ...]` features."""
    shape = frame_mask.shape + (1,) * (features.ndim - 2)
    return features * frame_mask.reshape(shape).astype(features.dtype)


def conv3d_as_2d(x: ArrayLike, kernel: ArrayLike, *, spatial_stride: int) -> jax.Array:
    """A 3-D convolution with temporal stride 1 and "SAME" padding, computed as one 2-D
    convolution over frames whose channels hold the `kt` neighbouring frames.

    Identical to `lax.conv_general_dilated(x, kernel, (1, s, s), "SAME")` in NDHWC/DHWIO
    (checked in tests/lipreading/test_model.py), but far faster on XLA's CPU backend: the
    gradient of LipNet's first layer (3x5x5, 3 -> 32, stride 2) on 4 x 75 frames of 80x160
    took 5.3 s this way and did not finish within 10 minutes as a 3-D convolution (2 shared
    cores).

    Args:
      x: float `[B, T, H, W, C]`.
      kernel: float `[kt, kh, kw, C, O]`.
      spatial_stride: stride over H and W.

    Returns:
      `[B, T, H', W', O]`, frame t centred on input frame t (frames outside are zeros).
    """
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    batch, frames, height, width, channels = x.shape
    kt = kernel.shape[0]
    before = (kt - 1) // 2
    padded = jnp.pad(x, ((0, 0), (before, kt - 1 - before), (0, 0), (0, 0), (0, 0)))
    stacked = jnp.concatenate([padded[:, i:i + frames] for i in range(kt)], axis=-1)
    stacked = stacked.reshape(batch * frames, height, width, kt * channels)
    kernel_2d = jnp.moveaxis(kernel, 0, 2).reshape(kernel.shape[1], kernel.shape[2],
                                                    kt * channels, kernel.shape[-1])
    y = jax.lax.conv_general_dilated(stacked, kernel_2d, (spatial_stride, spatial_stride),
                                     "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y.reshape(batch, frames, *y.shape[1:])


class SpatioTemporalConv(nn.Module):
    """A 3-D convolution (kernel `[kt, kh, kw, C, O]` + bias), temporal stride 1."""

    features: int
    kernel_size: tuple[int, int, int]
    spatial_stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (*self.kernel_size, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return conv3d_as_2d(x, kernel, spatial_stride=self.spatial_stride) + bias


class SpatioTemporalFrontEnd(nn.Module):
    """3-D convolutions over `[T, H, W]` -> one feature vector per video frame."""

    config: LipreaderConfig

    @nn.compact
    def __call__(self, frames: jax.Array, frame_mask: jax.Array, *, train: bool) -> jax.Array:
        """frames float `[B, T, H, W, 3]` in [0, 1], frame_mask bool `[B, T]` ->
        `[B, T, F]` (F = the last feature map's h * w * channels; zero on padding frames)."""
        cfg = self.config
        x = _masked(frames - 0.5, frame_mask)
        if cfg.input_pool > 1:
            p = cfg.input_pool
            x = nn.avg_pool(x, (1, p, p), strides=(1, p, p))
        for i, (channels, kernel) in enumerate(zip(cfg.channels, cfg.kernels)):
            x = SpatioTemporalConv(channels, tuple(kernel),
                                   spatial_stride=cfg.first_stride if i == 0 else 1,
                                   name=f"conv{i}")(x)
            x = _masked(nn.relu(x), frame_mask)
            if cfg.dropout > 0:  # spatial dropout: whole channels of a frame
                x = nn.Dropout(cfg.dropout, broadcast_dims=(2, 3), deterministic=not train)(x)
            if cfg.pool:
                x = nn.max_pool(x, (1, 2, 2), strides=(1, 2, 2))
        batch, frames_, h, w, c = x.shape
        return x.reshape(batch, frames_, h * w * c)


class Lipreader(nn.Module):
    """Frames -> per-frame CTC logits over the vocabulary (column 0 = blank)."""

    config: LipreaderConfig

    def _cell(self, name: str) -> nn.Module:
        cls = nn.GRUCell if self.config.rnn == "gru" else nn.OptimizedLSTMCell
        return cls(self.config.rnn_hidden, name=name)

    @nn.compact
    def __call__(self, frames: ArrayLike, frame_mask: ArrayLike, *,
                 train: bool = False) -> jax.Array:
        """Per-frame logits.

        Args:
          frames: float `[B, T, H, W, 3]` in [0, 1] (H, W = image_height, image_width).
          frame_mask: bool `[B, T]`, True on valid frames (a prefix of each row).
          train: dropout on.

        Returns:
          float32 `[B, T, vocab_size]`; rows of padding frames are meaningless (mask them).
        """
        cfg = self.config
        frames, frame_mask = jnp.asarray(frames, jnp.float32), jnp.asarray(frame_mask, bool)
        expected = (cfg.image_height, cfg.image_width, 3)
        if frames.ndim != 5 or frames.shape[2:] != expected or frame_mask.shape != frames.shape[:2]:
            raise InputError(f"frames must be [B, T, {expected[0]}, {expected[1]}, 3] and "
                             f"frame_mask [B, T], got {frames.shape} and {frame_mask.shape}")
        x = SpatioTemporalFrontEnd(cfg, name="front_end")(frames, frame_mask, train=train)
        lengths = frame_mask.sum(-1).astype(jnp.int32)
        for i in range(cfg.rnn_layers):
            if cfg.rnn == "conv":  # padding frames are zeros: "SAME" sees only the video
                x = nn.Conv(2 * cfg.rnn_hidden, (cfg.temporal_kernel,), name=f"temporal{i}")(x)
                x = _masked(nn.relu(x), frame_mask)
            else:
                rnn = nn.Bidirectional(nn.RNN(self._cell(f"forward{i}")),
                                       nn.RNN(self._cell(f"backward{i}")), name=f"birnn{i}")
                x = _masked(rnn(x, seq_lengths=lengths), frame_mask)
            if cfg.dropout > 0:
                x = nn.Dropout(cfg.dropout, deterministic=not train)(x)
        return nn.Dense(cfg.vocab_size, name="classifier")(x).astype(jnp.float32)
