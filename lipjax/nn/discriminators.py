"""Discriminators: ParaLip's frame discriminator (Liu et al., AAAI 2022, Table 7), which is
Wav2Lip's visual-quality discriminator (Prajwal et al., ACM MM 2020, `Wav2Lip_disc_qual`) with
one padding changed, and the DCK talking-face discriminator.

The frame discriminator is 13 convolutions with bias, each followed by LeakyReLU(0.01) (Wav2Lip's
`nonorm_Conv2d`: no normalisation), then a 1x1 convolution to one score per frame: 14 convs and
14,113,793 parameters (Table 5: 14.114M). Kernel / stride (rows, columns) / padding / channels:

    conv  1: 7 / 1     / 3   3 -> 32     conv  8: 3 / 2 / 1  256 -> 512
    conv  2: 5 / (1,2) / 2  32 -> 64     conv  9: 3 / 1 / 1  512 -> 512
    conv  3: 5 / 1     / 2  64 -> 64     conv 10: 3 / 2 / 1  512 -> 512
    conv  4: 5 / 2     / 2  64 -> 128    conv 11: 3 / 1 / 0 or 1 512 -> 512 (see below)
    conv  5: 5 / 1     / 2 128 -> 128    conv 12: 3 / 1 / 0  512 -> 512
    conv  6: 5 / 2     / 2 128 -> 256    conv 13: 1 / 1 / 0  512 -> 512
    conv  7: 5 / 1     / 2 256 -> 256    conv 14: 1 / 1 / 0  512 -> 1 (the score)

Both reduce a frame to 1x1, from different inputs, which is why the 11th padding differs:
- ParaLip (`FrameDiscriminatorConfig()`, the default): an 80x160 lip frame goes 80x160 -> 80x80
  (conv 2) -> 40 -> 20 -> 10 -> 5 (conv 10) -> 3 (conv 11, padding 0) -> 1 (conv 12), then a
  sigmoid: ParaLip Sec. 3.3 projects the hidden states "to a value of probability", and the
  stack is Wav2Lip's, which ends in one; the LSGAN losses (Eq. 6-7) score that probability.
- Wav2Lip (`WAV2LIP_QUALITY_CONFIG`): the lower half (rows 48..95) of a 96x96 face, 48x96 ->
  48x48 -> 24 -> 12 -> 6 -> 3 (conv 10) -> 3 (conv 11, padding 1) -> 1 (conv 12), then a
  sigmoid (Wav2Lip trains it with binary cross-entropy).
Every size is a config field, so smaller stacks (e.g. for a CPU run) need no code change.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import ConfigError, InputError

__all__ = ["FrameDiscriminatorConfig", "FrameDiscriminator", "conv_output_size",
           "WAV2LIP_QUALITY_CONFIG", "TABLE7_PADDINGS", "WAV2LIP_QUALITY_PADDINGS"]

# ParaLip Table 7 / Wav2Lip_disc_qual, conv by conv (the final 1x1 score conv not included).
TABLE7_CHANNELS = (32, 64, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512)
TABLE7_KERNEL_SIZES = (7, 5, 5, 5, 5, 5, 5, 3, 3, 3, 3, 3, 1)
TABLE7_ROW_STRIDES = (1, 1, 1, 2, 1, 2, 1, 2, 1, 2, 1, 1, 1)
TABLE7_COLUMN_STRIDES = (1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 1, 1)
TABLE7_PADDINGS = (3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 0, 0, 0)
WAV2LIP_QUALITY_PADDINGS = (3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0)   # the 11th conv: 1

_PER_CONV_FIELDS = ("channels", "kernel_sizes", "row_strides", "column_strides", "paddings")


def conv_output_size(size: int, *, kernel_size: int, stride: int, padding: int) -> int:
    """Output length of a convolution with symmetric zero padding (PyTorch formula)."""
    return (size + 2 * padding - kernel_size) // stride + 1


@dataclasses.dataclass(frozen=True)
class FrameDiscriminatorConfig:
    """Sizes of the frame discriminator; the defaults are ParaLip's Table 7 on 80x160 frames.

    The five per-conv tuples have one entry per LeakyReLU conv (13 in Table 7); the final score
    conv is not listed: its kernel covers the map the convs leave (1x1 for Table 7 and Wav2Lip).

    Attributes:
      channels: output channels of each conv.
      kernel_sizes: square kernel of each conv.
      row_strides, column_strides: stride of each conv along the height and the width.
      paddings: symmetric zero padding of each conv (both axes).
      negative_slope: LeakyReLU slope (0.01 in Wav2Lip's `nonorm_Conv2d`).
      sigmoid: squash the score to (0, 1), a probability (ParaLip Sec. 3.3; Wav2Lip's BCE
        discriminator), instead of leaving it unbounded. ParaLip's LSGAN losses score the
        probability; unbounded, the term dominated and wrecked training here (BUILD_NOTES.md,
        "Adversarial training").
      pytorch_init: initialise every conv as PyTorch's `nn.Conv2d` does (kernel and bias
        uniform in +-1/sqrt(fan_in)), the initialisation both papers' PyTorch code trained
        from; False: flax's default (LeCun-normal kernels, zero biases). It matters: each conv's
        output has 3x the variance under flax's default, so at initialisation the LSGAN term's
        gradient at the frames is ~1000-2000x larger than under PyTorch's and, at ParaLip's
        weight 5, dwarfs L1's (BUILD_NOTES.md, "Adversarial training").
      image_height, image_width, image_channels: the frames scored (80 x 160 x 3; Wav2Lip:
        48 x 96 x 3, the lower half of a 96x96 face).
    """

    channels: tuple[int, ...] = TABLE7_CHANNELS
    kernel_sizes: tuple[int, ...] = TABLE7_KERNEL_SIZES
    row_strides: tuple[int, ...] = TABLE7_ROW_STRIDES
    column_strides: tuple[int, ...] = TABLE7_COLUMN_STRIDES
    paddings: tuple[int, ...] = TABLE7_PADDINGS
    negative_slope: float = 0.01
    sigmoid: bool = True
    pytorch_init: bool = True
    image_height: int = 80
    image_width: int = 160
    image_channels: int = 3

    def __post_init__(self) -> None:
        for name in _PER_CONV_FIELDS:
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        lengths = {name: len(getattr(self, name)) for name in _PER_CONV_FIELDS}
        if len(set(lengths.values())) != 1 or not self.channels:
            raise ConfigError(f"FrameDiscriminatorConfig needs one entry per conv in each of "
                              f"{', '.join(_PER_CONV_FIELDS)} (at least one conv), got lengths "
                              f"{lengths}")
        if min(self.channels + self.kernel_sizes + self.row_strides + self.column_strides) < 1 \
                or min(self.paddings) < 0:
            raise ConfigError("FrameDiscriminatorConfig channels, kernel sizes and strides must "
                              "be positive and paddings non-negative")
        _ = self.spatial_sizes  # raises a ConfigError if the frame shrinks to nothing

    @property
    def spatial_sizes(self) -> tuple[tuple[int, int], ...]:
        """`(height, width)` of the frame and after each conv (80x160, 80x160, 80x80, ... 1x1)."""
        sizes = [(self.image_height, self.image_width)]
        for i, (kernel, row_stride, column_stride, padding) in enumerate(zip(
                self.kernel_sizes, self.row_strides, self.column_strides, self.paddings)):
            height, width = sizes[-1]
            sizes.append((conv_output_size(height, kernel_size=kernel, stride=row_stride,
                                           padding=padding),
                          conv_output_size(width, kernel_size=kernel, stride=column_stride,
                                           padding=padding)))
            if min(sizes[-1]) < 1:
                raise ConfigError(
                    f"conv {i + 1} (kernel {kernel}, padding {padding}) shrinks a "
                    f"{self.image_height}x{self.image_width} frame to nothing ({height}x{width} "
                    "before it); use fewer convs, smaller kernels or strides")
        return tuple(sizes)

    @property
    def final_kernel(self) -> tuple[int, int]:
        """The map left after the convs: the score conv's kernel (1x1 in Table 7 and Wav2Lip)."""
        return self.spatial_sizes[-1]


# Wav2Lip's visual-quality discriminator (`Wav2Lip_disc_qual`): same convs, the 11th padded by 1,
# on the lower half of a 96x96 face, with a sigmoid.
WAV2LIP_QUALITY_CONFIG = FrameDiscriminatorConfig(
    paddings=WAV2LIP_QUALITY_PADDINGS, sigmoid=True, image_height=48, image_width=96)


def _conv_init(pytorch: bool, fan_in: int) -> dict:
    """`nn.Conv` initialiser arguments: PyTorch's `nn.Conv2d` default (kaiming_uniform with
    a = sqrt(5) for the kernel, i.e. U(+-1/sqrt(fan_in)), and the same bound for the bias), or
    flax's default."""
    if not pytorch:
        return {}
    bound = 1.0 / fan_in**0.5

    def bias_init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return {"kernel_init": nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
            "bias_init": bias_init}


class FrameDiscriminator(nn.Module):
    """Per-frame discriminator: convs + LeakyReLU, then one conv to a 1x1 score.

    Parameters are named `conv_<i>` (i = 0..12 for Table 7) and `final` (flax NHWC kernels
    `[kh, kw, Cin, Cout]`); Wav2Lip's `face_encoder_blocks.<b>.<j>.conv_block.0` are the convs
    in order (blocks of 1, 2, 2, 2, 2, 2, 2) and `binary_pred.0` is `final`.
    Frames are scored independently (time folded into the batch); scores of padding frames are
    computed like any other and must be masked by the loss.
    """

    config: FrameDiscriminatorConfig = FrameDiscriminatorConfig()

    @nn.compact
    def __call__(self, frames: ArrayLike, *, train: bool = False) -> jax.Array:
        """Scores frames.

        Args:
          frames: float `[B, T, H, W, C]` in [0, 1] (or `[N, H, W, C]` single frames), (H, W, C)
            as configured (Wav2Lip: the lower half of the face, channels BGR as in its data).
          train: unused (no BatchNorm or dropout); the shared GAN step passes it to every
            discriminator.

        Returns:
          `[B, T]` (or `[N]`) scores: unbounded (LSGAN targets: 1 real, 0 fake), or in (0, 1)
          with `config.sigmoid` (Wav2Lip: the probability that the frame is real).
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
        for i, (channels, kernel, row_stride, column_stride, padding) in enumerate(zip(
                cfg.channels, cfg.kernel_sizes, cfg.row_strides, cfg.column_strides,
                cfg.paddings)):
            x = nn.Conv(channels, (kernel, kernel), strides=(row_stride, column_stride),
                        padding=((padding, padding), (padding, padding)), name=f"conv_{i}",
                        **_conv_init(cfg.pytorch_init, kernel * kernel * x.shape[-1]))(x)
            x = nn.leaky_relu(x, cfg.negative_slope)
        final_fan_in = cfg.final_kernel[0] * cfg.final_kernel[1] * x.shape[-1]
        x = nn.Conv(1, cfg.final_kernel, padding="VALID", name="final",
                    **_conv_init(cfg.pytorch_init, final_fan_in))(x)
        if cfg.sigmoid:
            x = nn.sigmoid(x)
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
