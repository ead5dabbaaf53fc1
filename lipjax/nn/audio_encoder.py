"""Wav2Lip's audio encoder: an 80 x 16 mel window -> a 512-vector per video frame.

DCK talking face (IEEE TMM 2022, Sec. III-A) predicts its dynamic kernels from the features of
Wav2Lip's audio encoder (Prajwal et al., ACM MM 2020). The encoder is 13 blocks of

    Conv2d -> BatchNorm -> (+ block input, if residual) -> ReLU

(`WAV2LIP_AUDIO_BLOCKS`); it has 2,812,672 parameters (BatchNorm scale/bias included) and its
layout matches Wav2Lip's PyTorch state dict block for block (`block_{i}/conv`, `block_{i}/norm`),
so a published checkpoint can be imported (kernels OIHW -> HWIO).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = ["ConvBlockSpec", "WAV2LIP_AUDIO_BLOCKS", "AudioEncoder"]


class ConvBlockSpec(NamedTuple):
    """One Conv2d -> BatchNorm -> (+ input) -> ReLU block; strides are (mel axis, time axis)."""

    features: int
    kernel_size: int
    stride: tuple[int, int]
    padding: int
    residual: bool


# Wav2Lip's audio encoder (its `models/wav2lip.py`), block by block in checkpoint order.
WAV2LIP_AUDIO_BLOCKS: tuple[ConvBlockSpec, ...] = (
    ConvBlockSpec(32, 3, (1, 1), 1, False),
    ConvBlockSpec(32, 3, (1, 1), 1, True),
    ConvBlockSpec(32, 3, (1, 1), 1, True),
    ConvBlockSpec(64, 3, (3, 1), 1, False),
    ConvBlockSpec(64, 3, (1, 1), 1, True),
    ConvBlockSpec(64, 3, (1, 1), 1, True),
    ConvBlockSpec(128, 3, (3, 3), 1, False),
    ConvBlockSpec(128, 3, (1, 1), 1, True),
    ConvBlockSpec(128, 3, (1, 1), 1, True),
    ConvBlockSpec(256, 3, (3, 2), 1, False),
    ConvBlockSpec(256, 3, (1, 1), 1, True),
    ConvBlockSpec(512, 3, (1, 1), 0, False),
    ConvBlockSpec(512, 1, (1, 1), 0, False),
)


class ConvNormBlock(nn.Module):
    """Conv2d (with bias) -> BatchNorm -> (+ input if residual) -> ReLU, NHWC.

    Attributes:
      spec: the block's sizes.
      axis_name: BatchNorm cross-device axis (e.g. 'data' under pmap); None = per device.
      momentum, epsilon: BatchNorm running-average momentum (flax convention: PyTorch's 0.1 is
        0.9 here) and variance epsilon (PyTorch default 1e-5).
    """

    spec: ConvBlockSpec
    axis_name: str | None = None
    momentum: float = 0.9
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        spec = self.spec
        y = nn.Conv(
            spec.features,
            (spec.kernel_size, spec.kernel_size),
            strides=spec.stride,
            padding=((spec.padding, spec.padding), (spec.padding, spec.padding)),
            name="conv",
        )(x)
        y = nn.BatchNorm(
            use_running_average=not train,
            momentum=self.momentum,
            epsilon=self.epsilon,
            axis_name=self.axis_name,
            name="norm",
        )(y)
        if spec.residual:
            y = y + x
        return nn.relu(y)


class AudioEncoder(nn.Module):
    """Wav2Lip audio encoder: mel windows `[B, 80, 16, 1]` (NHWC: mel bins, time) -> `[B, 512]`.

    Spatial sizes (mel x time): 80x16 -> (blocks 3) 27x16 -> (6) 9x6 -> (9) 3x3 -> (11) 1x1.

    Attributes:
      blocks: the block table (Wav2Lip's by default).
      axis_name: BatchNorm cross-device axis name (None; 'data' under `jax.pmap`).
      bn_momentum, bn_epsilon: BatchNorm settings (PyTorch defaults, in flax convention).
    """

    blocks: Sequence[ConvBlockSpec] = WAV2LIP_AUDIO_BLOCKS
    axis_name: str | None = None
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, mel: ArrayLike, *, train: bool = False) -> jax.Array:
        """Encodes mel windows.

        Args:
          mel: `[B, num_mels, window, 1]` or `[B, num_mels, window]` normalised mel windows
            (`lipjax.audio.mel_windows`, in [-4, 4]).
          train: BatchNorm uses (and updates) batch statistics when True.

        Returns:
          `[B, features]` audio embeddings (512 for Wav2Lip), non-negative (final ReLU).
        """
        x = jnp.asarray(mel)
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] != 1:
            raise InputError(
                f"mel windows must be [B, num_mels, window] or [B, num_mels, window, 1], "
                f"got shape {x.shape}")
        for index, spec in enumerate(self.blocks):
            x = ConvNormBlock(
                spec, axis_name=self.axis_name, momentum=self.bn_momentum,
                epsilon=self.bn_epsilon, name=f"block_{index}",
            )(x, train=train)
        if x.shape[1:3] != (1, 1):
            raise InputError(
                f"mel windows of {mel.shape[1]}x{mel.shape[2]} leave a {x.shape[1]}x{x.shape[2]} "
                "map after the encoder, not 1x1; Wav2Lip's encoder needs 80 mel bins x 16 frames")
        return x.reshape(x.shape[0], x.shape[-1])
