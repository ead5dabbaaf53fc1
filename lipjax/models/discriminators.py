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
    def __call__(self, frames: ArrayLike) -> jax.Array:
        """Scores frames.

        Args:
          frames: float `[B, T, H, W, C]` in [0, 1] (or `[N, H, W, C]` single frames).

        Returns:
          `[B, T]` (or `[N]`) unbounded scores (LSGAN targets: 1 real, 0 fake).
        """
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
