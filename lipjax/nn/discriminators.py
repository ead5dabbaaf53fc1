"""Discriminators: the ParaLip frame discriminator (Liu et al., AAAI 2022, Table 7).

(The DCK talking-face discriminator goes in this file too.)

ParaLip trains its generator with an LSGAN loss against a per-frame discriminator: a stack of
strided convolutions with LeakyReLU after every conv but the last, reducing each 80x160 lip frame
to a single score. The paper gives its size as 14,113,793 parameters (Table 5: 14.114M) but no
code was released. The default stack here (4x4 stride-2 convs, 64 -> 1024 channels, then a conv
whose kernel covers the remaining 2x5 map) has 11,156,417 parameters, 2,957,376 fewer. An
exhaustive search over plausible stacks (3/4/5/7 kernels, stride 1/2 patterns, doubling widths
16..2048, with or without biases and BatchNorm, final conv over the remaining map) found no stack
with exactly the paper's count; the only exact hits were implausible (e.g. 22x62 final kernels).
Every size is a config field, so the exact stack can be set without code edits once it is known.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import ConfigError, InputError

__all__ = ["FrameDiscriminatorConfig", "FrameDiscriminator", "conv_output_size"]


def conv_output_size(size: int, *, kernel_size: int, stride: int, padding: int) -> int:
    """Output length of a convolution with symmetric zero padding (PyTorch formula)."""
    return (size + 2 * padding - kernel_size) // stride + 1


@dataclasses.dataclass(frozen=True)
class FrameDiscriminatorConfig:
    """Sizes of the frame discriminator.

    Attributes:
      channels: output channels of the strided convs (each followed by LeakyReLU).
      kernel_size: square kernel of the strided convs.
      stride: stride of the strided convs.
      padding: symmetric zero padding of the strided convs.
      negative_slope: LeakyReLU slope.
      use_bias: biases in the strided convs (the final conv always has one).
      image_height, image_width, image_channels: input frame size (80 x 160 x 3).
    """

    channels: tuple[int, ...] = (64, 128, 256, 512, 1024)
    kernel_size: int = 4
    stride: int = 2
    padding: int = 1
    negative_slope: float = 0.2
    use_bias: bool = True
    image_height: int = 80
    image_width: int = 160
    image_channels: int = 3

    def __post_init__(self) -> None:
        if not self.channels:
            raise ConfigError("FrameDiscriminatorConfig.channels must name at least one conv")
        height, width = self.final_kernel
        if height < 1 or width < 1:
            raise ConfigError(
                f"{len(self.channels)} convs (kernel {self.kernel_size}, stride {self.stride}, padding "
                f"{self.padding}) shrink a {self.image_height}x{self.image_width} frame to nothing; "
                "use fewer convs or a smaller stride"
            )

    @property
    def final_kernel(self) -> tuple[int, int]:
        """Spatial size left after the strided convs: the final conv's kernel (-> 1x1 output)."""
        height, width = self.image_height, self.image_width
        for _ in self.channels:
            height = conv_output_size(height, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)
            width = conv_output_size(width, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)
        return height, width


class FrameDiscriminator(nn.Module):
    """Per-frame LSGAN discriminator: strided convs + LeakyReLU, then one conv to a 1x1 score.

    Parameters are named `conv_<i>` and `final` (flax NHWC kernels `[kh, kw, Cin, Cout]`).
    Frames are scored independently (time folded into the batch); scores of padding frames are
    computed like any other and must be masked by the loss.
    """

    config: FrameDiscriminatorConfig = FrameDiscriminatorConfig()

    @nn.compact
    def __call__(self, frames: ArrayLike, *, train: bool = False) -> jax.Array:
        """Scores frames.

        Args:
          frames: float `[B, T, H, W, C]` in [0, 1] (or `[N, H, W, C]` single frames).
          train: unused (no BatchNorm or dropout); the shared GAN step passes it to every
            discriminator.

        Returns:
          `[B, T]` (or `[N]`) unbounded scores (LSGAN targets: 1 real, 0 fake).
        """
        del train
        cfg = self.config
        frames = jnp.asarray(frames, jnp.float32)
        expected = (cfg.image_height, cfg.image_width, cfg.image_channels)
        if frames.ndim not in (4, 5) or frames.shape[-3:] != expected:
            raise InputError(
                f"frames must be [B, T, H, W, C] or [N, H, W, C] with (H, W, C) = {expected}, got "
                f"{frames.shape}"
            )
        leading = frames.shape[:-3]
        x = frames.reshape((-1,) + expected)
        pad = ((cfg.padding, cfg.padding), (cfg.padding, cfg.padding))
        for i, channels in enumerate(cfg.channels):
            x = nn.Conv(
                channels,
                (cfg.kernel_size, cfg.kernel_size),
                strides=(cfg.stride, cfg.stride),
                padding=pad,
                use_bias=cfg.use_bias,
                name=f"conv_{i}",
            )(x)
            x = nn.leaky_relu(x, cfg.negative_slope)
        x = nn.Conv(1, cfg.final_kernel, padding="VALID", name="final")(x)
        return x.reshape(leading)


# -------------------------------------------------------------------------------------------------
# DCK talking face (Ye et al., IEEE TMM 2022): per-frame patch discriminator for its LSGAN loss.

__all__ += ["DCKDiscriminatorConfig", "DCKDiscriminator"]


@dataclasses.dataclass(frozen=True)
class DCKDiscriminatorConfig:
    """Sizes of the DCK talking-face discriminator (the paper gives none; PatchGAN-style).

    Attributes:
      channels: output channels of the k x k stride-2 convolutions.
      kernel_size: k, also the kernel of the final stride-1 score convolution.
      negative_slope: LeakyReLU slope.
      instance_norm: InstanceNorm after every strided conv but the first.
    """

    channels: tuple[int, ...] = (64, 128, 256, 512)
    kernel_size: int = 4
    negative_slope: float = 0.2
    instance_norm: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        if not self.channels or min(self.channels) <= 0 or self.kernel_size <= 0:
            raise ConfigError(
                f"DCK discriminator channels must be a non-empty list of positive ints and "
                f"kernel_size positive, got {self.channels} and {self.kernel_size}")


class DCKDiscriminator(nn.Module):
    """Per-frame patch discriminator: `[..., H, W, 3]` frames in [0, 1] -> patch scores.

    Conv k x k stride 2 (`config.channels`) -> [InstanceNorm] -> LeakyReLU, then a k x k
    stride-1 convolution to one score per patch: `[..., H / 2^L, W / 2^L, 1]` (SAME padding).
    No BatchNorm, so `train` changes nothing; it is accepted for the common GAN-step interface.
    """

    config: DCKDiscriminatorConfig = DCKDiscriminatorConfig()

    @nn.compact
    def __call__(self, frames: ArrayLike, *, train: bool = False) -> jax.Array:
        del train
        cfg = self.config
        frames = jnp.asarray(frames)
        if frames.ndim < 4 or frames.shape[-1] != 3:
            raise InputError(f"frames must be [..., H, W, 3], got shape {frames.shape}")
        lead = frames.shape[:-3]
        x = frames.reshape(-1, *frames.shape[-3:]) * 2.0 - 1.0
        kernel = (cfg.kernel_size, cfg.kernel_size)
        for i, features in enumerate(cfg.channels):
            x = nn.Conv(features, kernel, strides=(2, 2), padding="SAME", name=f"conv_{i}")(x)
            if i > 0 and cfg.instance_norm:
                x = nn.InstanceNorm(name=f"norm_{i}")(x)
            x = nn.leaky_relu(x, cfg.negative_slope)
        scores = nn.Conv(1, kernel, padding="SAME", name="score")(x)
        return scores.reshape(*lead, *scores.shape[1:])
