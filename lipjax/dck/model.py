"""DCK talking face: a U-Net whose middle layers convolve with audio-predicted kernels.

Ye et al., "Audio-driven talking face video generation with dynamic convolution kernels",
IEEE TMM 2022 (no public code). Per video frame:

* the face crop I (256x256 in the paper) goes through a U-Net with 5 down-sampling layers,
  4 middle layers and 5 up-sampling layers;
* every middle layer is a dynamic convolution (DCK): a 1x1 convolution, 256 -> 256 channels,
  whose weights and bias are predicted from the frame's audio features by that layer's own
  fully connected kernel generator, output reshaped to `[frames, 256, 256 * 1 * 1 + 1]`;
* the audio features are Wav2Lip's audio encoder applied to the frame's 80 x 16 mel window;
* the network outputs an attention mask alpha (1 channel) and a motion image M (3 channels), and
  the result is `I' = I * (1 - alpha) + M * alpha` (`blend`).

Design choices where the paper is silent (see BUILD_NOTES.md):

* Visual input: the frame to be edited, unmasked, as in the paper (training pairs share head
  pose and identity but not speech, so the network must take the mouth from the audio). It is
  rescaled from [0, 1] to [-1, 1] inside the network.
* Down layers: Conv 4x4 stride 2 -> BatchNorm (not on the first) -> LeakyReLU(0.2). Up layers:
  ConvTranspose 4x4 stride 2 -> BatchNorm -> ReLU, each followed by concatenation with the
  encoder feature map of the same size (U-Net skips; the input frame is the last skip). The
  bottleneck has no skip around it, so everything the decoder gets from the deepest level has
  passed through the 4 audio-driven layers.
* Middle layers: `x + ReLU(BatchNorm(DCK(x)))` (residual, for trainability).
* Kernel generator: Dense(512) -> ReLU -> Dense(Cout * (Cin * k * k + 1)). The last Dense's bias
  is initialised to a He-initialised static kernel (and zero bias) and its weights small, so each
  DCK starts as an ordinary convolution plus an audio-dependent correction.
* Heads: Conv 3x3 -> sigmoid for alpha and for M (M is an image in [0, 1]).
* Ablation "without DCK": the middle layers are static 1x1 convolutions and the audio enters
  once before them: Dense -> reshaped to 16 x h x w at the bottleneck -> fused by spatial
  attention, `x + sigmoid(Conv3x3([x, a])) * Conv1x1(a)`.
* Ablation "without blending": the output frame is M itself (alpha is reported as ones, since
  `blend(I, M, 1) = M`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, NamedTuple, Sequence

import einops
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import ConfigError, InputError
from lipjax.nn.audio_encoder import WAV2LIP_AUDIO_BLOCKS, AudioEncoder, ConvBlockSpec
from lipjax.nn.conv import ConvParams, SameConvTranspose, conv_heads
from lipjax.nn.discriminators import DCKDiscriminator, DCKDiscriminatorConfig
from lipjax.ops.dynamic_conv import DYNAMIC_CONV_METHODS, dynamic_conv

__all__ = [
    "DCKConfig",
    "DCKOutput",
    "blend",
    "KernelGenerator",
    "DCKLayer",
    "SpatialAttentionFusion",
    "DCKUNet",
    "DCKGenerator",
    "DCKDiscriminator",  # defined in lipjax.nn.discriminators, re-exported here
    "DCKDiscriminatorConfig",
]


@dataclasses.dataclass(frozen=True)
class DCKConfig:
    """Sizes of the DCK talking-face generator and its discriminator (paper values by default).

    Attributes:
      image_size: side of the square face crop (256 in the paper); a multiple of 2 ** (number of
        down layers).
      down_channels: output channels of the down-sampling layers (5 in the paper).
      up_channels: output channels of the up-sampling layers (as many as down layers).
      num_middle_layers: number of DCK layers at the bottleneck (4 in the paper).
      middle_channels: channels of the middle layers (256); must equal `down_channels[-1]`.
      dck_kernel_size: spatial size of the dynamic kernels (1 in the paper).
      conv_kernel_size: kernel size of the (transposed) stride-2 convolutions.
      head_kernel_size: kernel size of the alpha and motion output convolutions.
      negative_slope: LeakyReLU slope in the down layers.
      audio_blocks: the audio encoder's block table (Wav2Lip's; a smaller one for quick tests).
      audio_feature_dim: audio embedding size; must equal the last audio block's features.
      freeze_audio_encoder: a fixed, pre-trained audio encoder (stop-gradient, BatchNorm in
        inference mode); set from `config.pretrained_audio` (`lipjax.dck.pretrained_audio`).
      kernel_generator_hidden: hidden layer sizes of each kernel generator.
      kernel_generator_init_scale: initial size of the audio-dependent kernel part relative to
        a He-initialised static kernel.
      middle_residual: add the input of each middle layer to its output.
      use_dck: False = the "without DCK" ablation (static middle convolutions, audio fused by
        spatial attention).
      attention_audio_channels: channels of the audio map in that ablation (16 in the paper).
      use_blending: False = the "without blending" ablation (the motion image is the output).
      dynamic_conv_method: `lipjax.ops.dynamic_conv` method ("auto" = the fast path).
      bn_axis_name: BatchNorm cross-device axis (None; 'data' under `jax.pmap`).
      bn_momentum, bn_epsilon: BatchNorm settings (flax convention).
      discriminator: sizes of the `DCKDiscriminator` (`DCKDiscriminator(config.discriminator)`).
    """

    image_size: int = 256
    down_channels: tuple[int, ...] = (64, 128, 256, 256, 256)
    up_channels: tuple[int, ...] = (256, 256, 128, 64, 32)
    num_middle_layers: int = 4
    middle_channels: int = 256
    dck_kernel_size: int = 1
    conv_kernel_size: int = 4
    head_kernel_size: int = 3
    negative_slope: float = 0.2
    audio_blocks: tuple[ConvBlockSpec, ...] = WAV2LIP_AUDIO_BLOCKS
    audio_feature_dim: int = 512
    freeze_audio_encoder: bool = False
    kernel_generator_hidden: tuple[int, ...] = (512,)
    kernel_generator_init_scale: float = 0.5
    middle_residual: bool = True
    use_dck: bool = True
    attention_audio_channels: int = 16
    use_blending: bool = True
    dynamic_conv_method: str = "auto"
    bn_axis_name: str | None = None
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    discriminator: DCKDiscriminatorConfig = DCKDiscriminatorConfig()

    def __post_init__(self) -> None:
        # Lists from ml_collections configs become tuples so that the config stays hashable.
        for name in ("down_channels", "up_channels", "audio_blocks", "kernel_generator_hidden"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        blocks = (ConvBlockSpec(*block) for block in self.audio_blocks)
        object.__setattr__(self, "audio_blocks", tuple(
            block._replace(stride=tuple(block.stride)) for block in blocks))
        levels = len(self.down_channels)
        if levels == 0 or len(self.up_channels) != levels:
            raise ConfigError(
                f"need as many up_channels as down_channels (5 each in the paper), got "
                f"{len(self.down_channels)} and {len(self.up_channels)}")
        if self.image_size <= 0 or self.image_size % (2**levels):
            raise ConfigError(
                f"image_size {self.image_size} must be a positive multiple of 2 ** {levels} = "
                f"{2**levels} ({levels} stride-2 layers); e.g. 64, 96 or 256")
        if self.down_channels[-1] != self.middle_channels:
            raise ConfigError(
                f"middle_channels ({self.middle_channels}) must equal the last down_channels "
                f"({self.down_channels[-1]}): the DCK layers map Cin -> Cout = middle_channels")
        if self.num_middle_layers < 1 or self.dck_kernel_size < 1:
            raise ConfigError("num_middle_layers and dck_kernel_size must be >= 1")
        if not self.audio_blocks or self.audio_blocks[-1].features != self.audio_feature_dim:
            raise ConfigError(
                f"audio_feature_dim ({self.audio_feature_dim}) must equal the features of the "
                "last audio encoder block")
        if isinstance(self.discriminator, dict):  # from an ml_collections ConfigDict
            object.__setattr__(self, "discriminator", DCKDiscriminatorConfig(**self.discriminator))
        if self.dynamic_conv_method not in DYNAMIC_CONV_METHODS:
            raise ConfigError(
                f"dynamic_conv_method {self.dynamic_conv_method!r} is not one of "
                f"{DYNAMIC_CONV_METHODS}")

    @property
    def bottleneck_size(self) -> int:
        """Side of the feature maps at the middle layers (8 at 256x256)."""
        return self.image_size // 2 ** len(self.down_channels)


class DCKOutput(NamedTuple):
    """Generator outputs, each `[..., H, W, C]` in [0, 1].

    Attributes:
      frame: the edited frame `blend(input, motion, alpha)` (`motion` without blending).
      motion: the motion image M (3 channels).
      alpha: the attention mask (1 channel; ones without blending).
    """

    frame: jax.Array
    motion: jax.Array
    alpha: jax.Array


def blend(frame: ArrayLike, motion: ArrayLike, alpha: ArrayLike) -> jax.Array:
    """DCK talking face Eq. (blending): `frame * (1 - alpha) + motion * alpha`.

    Args:
      frame: `[..., H, W, 3]` input frames.
      motion: `[..., H, W, 3]` motion images.
      alpha: `[..., H, W, 1]` (or broadcastable) attention mask in [0, 1].

    Returns:
      `[..., H, W, 3]`; equals `frame` where alpha = 0 and `motion` where alpha = 1.
    """
    frame, motion, alpha = jnp.asarray(frame), jnp.asarray(motion), jnp.asarray(alpha)
    return frame * (1.0 - alpha) + motion * alpha


def _static_kernel_bias_init(
    fan_in: int, out_features: int
) -> Callable[[jax.Array, Sequence[int], jnp.dtype], jax.Array]:
    """Bias initialiser of the kernel generator's last layer: rows `[Cout, fan_in + 1]` holding a
    He-normal kernel (std sqrt(2 / fan_in)) followed by a zero bias, flattened."""

    def init(key: jax.Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> jax.Array:
        if tuple(shape) != (out_features * (fan_in + 1),):
            raise ConfigError(f"unexpected kernel generator output shape {shape}")
        weights = jax.random.normal(key, (out_features, fan_in), dtype) * math.sqrt(2.0 / fan_in)
        rows = jnp.concatenate([weights, jnp.zeros((out_features, 1), dtype)], axis=1)
        return rows.reshape(-1)

    return init


class KernelGenerator(nn.Module):
    """Fully connected network: audio features -> one convolution kernel and bias per frame.

    The last layer's output is read as `[B, Cout, Cin * k * k + 1]` (the paper's
    `[frames, 256, 256 * 1 * 1 + 1]`): each row holds one output channel's weights, in
    (Cin, kh, kw) order as a PyTorch OIHW kernel would, followed by its bias.

    Attributes:
      in_features, out_features: Cin and Cout of the generated convolution.
      kernel_size: k of the generated k x k kernels.
      hidden: hidden layer sizes (ReLU).
      init_scale: initial size of the audio-dependent part relative to the static He kernel.
    """

    in_features: int
    out_features: int
    kernel_size: int = 1
    hidden: Sequence[int] = (512,)
    init_scale: float = 0.5

    @nn.compact
    def __call__(self, audio: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Maps `[B, D]` audio features to kernels `[B, k, k, Cin, Cout]` and bias `[B, Cout]`."""
        k, cin, cout = self.kernel_size, self.in_features, self.out_features
        fan_in = cin * k * k
        h = audio
        for i, width in enumerate(self.hidden):
            h = nn.relu(nn.Dense(width, name=f"hidden_{i}")(h))
        rows = nn.Dense(
            cout * (fan_in + 1),
            kernel_init=nn.initializers.variance_scaling(
                2.0 * self.init_scale**2 / fan_in, "fan_in", "truncated_normal"),
            bias_init=_static_kernel_bias_init(fan_in, cout),
            name="out",
        )(h)
        # Each output channel's row is its cin*k*k weights (PyTorch OIHW order) and its bias.
        rows = einops.rearrange(rows, "n (o f) -> n o f", o=cout)
        weights = einops.rearrange(rows[..., :fan_in], "n o (i kh kw) -> n kh kw i o",
                                   i=cin, kh=k, kw=k)
        return weights, rows[..., fan_in]


class DCKLayer(nn.Module):
    """Dynamic convolution: every sample is convolved with the kernel its audio predicts.

    Attributes:
      features: output channels (Cout).
      kernel_size: k (1 in the paper); SAME padding, stride 1.
      hidden: kernel generator hidden sizes.
      init_scale: kernel generator initial audio-dependent scale.
      method: `lipjax.ops.dynamic_conv` method ("auto": batched matmul for 1x1 kernels).
    """

    features: int
    kernel_size: int = 1
    hidden: Sequence[int] = (512,)
    init_scale: float = 0.5
    method: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, audio: jax.Array) -> jax.Array:
        """Maps `[B, H, W, Cin]` features and `[B, D]` audio features to `[B, H, W, Cout]`."""
        kernels, bias = KernelGenerator(
            x.shape[-1], self.features, self.kernel_size, tuple(self.hidden), self.init_scale,
            name="kernel_generator",
        )(audio)
        return dynamic_conv(x, kernels, bias, stride=1, padding="SAME", method=self.method)


class SpatialAttentionFusion(nn.Module):
    """"Without DCK" ablation: audio features -> a `channels x h x w` map fused by attention.

    `x + sigmoid(Conv3x3([x, a])) * Conv1x1(a)`, where `a` is Dense(audio) reshaped (channel
    first, as the paper's "16 x H x W") to `[B, h, w, channels]`.
    """

    channels: int = 16

    @nn.compact
    def __call__(self, x: jax.Array, audio: jax.Array) -> jax.Array:
        batch, height, width, features = x.shape
        audio_map = nn.Dense(self.channels * height * width, name="audio_map")(audio)
        audio_map = einops.rearrange(audio_map, "b (c h w) -> b h w c", c=self.channels,
                                     h=height, w=width)
        joint = jnp.concatenate([x, audio_map], axis=-1)
        attention = nn.sigmoid(nn.Conv(1, (3, 3), padding="SAME", name="attention")(joint))
        return x + attention * nn.Conv(features, (1, 1), name="project")(audio_map)


class DCKUNet(nn.Module):
    """The U-Net: frames `[B, H, W, 3]` + audio features `[B, D]` -> alpha and motion logits.

    Returns `(alpha_logits [B, H, W, 1], motion_logits [B, H, W, 3])`; alpha_logits is None
    when `config.use_blending` is False.
    """

    config: DCKConfig

    @nn.compact
    def __call__(self, frames: jax.Array, audio: jax.Array, *, train: bool) -> tuple[
            jax.Array | None, jax.Array]:
        cfg = self.config
        k = cfg.conv_kernel_size

        def norm(name: str) -> nn.BatchNorm:
            return nn.BatchNorm(
                use_running_average=not train, momentum=cfg.bn_momentum,
                epsilon=cfg.bn_epsilon, axis_name=cfg.bn_axis_name, name=name)

        x = frames * 2.0 - 1.0
        skips = [x]
        for i, features in enumerate(cfg.down_channels):
            x = nn.Conv(features, (k, k), strides=(2, 2), padding="SAME", name=f"down_{i}")(x)
            if i > 0:  # no normalisation on the first layer (pix2pix convention)
                x = norm(f"down_{i}_norm")(x)
            x = nn.leaky_relu(x, cfg.negative_slope)
            skips.append(x)
        skips.pop()  # the bottleneck itself is not a skip: it goes through the middle layers

        if not cfg.use_dck:
            x = SpatialAttentionFusion(cfg.attention_audio_channels, name="audio_fusion")(x, audio)
        for i in range(cfg.num_middle_layers):
            if cfg.use_dck:
                y = DCKLayer(
                    cfg.middle_channels, cfg.dck_kernel_size, cfg.kernel_generator_hidden,
                    cfg.kernel_generator_init_scale, cfg.dynamic_conv_method, name=f"dck_{i}",
                )(x, audio)
            else:
                y = nn.Conv(cfg.middle_channels, (cfg.dck_kernel_size,) * 2, padding="SAME",
                            name=f"middle_{i}")(x)
            y = nn.relu(norm(f"middle_{i}_norm")(y))
            x = x + y if cfg.middle_residual else y

        for i, features in enumerate(cfg.up_channels):
            # flax nn.ConvTranspose(padding="SAME")'s parameters and outputs, phase form on CPU
            x = SameConvTranspose(features, k, 2, name=f"up_{i}")(x)
            x = nn.relu(norm(f"up_{i}_norm")(x))
            x = jnp.concatenate([x, skips.pop()], axis=-1)

        # Both heads in one convolution (one read of the 256x256 map; nn.Conv's parameters).
        heads = [ConvParams(3, cfg.head_kernel_size, name="motion_head")(x.shape[-1])]
        if cfg.use_blending:  # the "without blending" ablation has no mask
            heads.append(ConvParams(1, cfg.head_kernel_size, name="alpha_head")(x.shape[-1]))
        logits = conv_heads(x, heads)
        return (logits[1] if cfg.use_blending else None), logits[0]


class DCKGenerator(nn.Module):
    """DCK talking-face generator: face frames + mel windows -> edited frames.

    Attributes:
      config: a `DCKConfig`.
    """

    config: DCKConfig = DCKConfig()

    @nn.compact
    def __call__(self, frames: ArrayLike, mel: ArrayLike, *, train: bool = False) -> DCKOutput:
        """Edits the mouth of every frame to match its audio window.

        Args:
          frames: `[..., S, S, 3]` face crops in [0, 1], S = `config.image_size` (any leading
            dims, e.g. `[B]` or `[B, T]`; frames are processed independently).
          mel: `[..., 80, 16]` mel windows (`lipjax.audio.mel_windows`), same leading dims.
          train: BatchNorm uses batch statistics (and updates them) when True.

        Returns:
          A `DCKOutput` with `[..., S, S, C]` arrays.
        """
        cfg = self.config
        frames, mel = jnp.asarray(frames), jnp.asarray(mel)
        size = cfg.image_size
        if frames.ndim < 4 or frames.shape[-3:] != (size, size, 3):
            raise InputError(
                f"frames must be [..., {size}, {size}, 3] face crops (config.image_size = {size}),"
                f" got shape {frames.shape}; resize the crops with lipjax.face")
        lead = frames.shape[:-3]
        if mel.ndim != len(lead) + 2 or mel.shape[: len(lead)] != lead:
            raise InputError(
                f"mel must be [..., num_mels, window] with the frames' leading dims {lead}, got "
                f"shape {mel.shape}; build it with lipjax.audio.mel_windows")
        flat_frames = frames.reshape(-1, size, size, 3)
        flat_mel = mel.reshape(-1, *mel.shape[-2:])
        audio = AudioEncoder(
            cfg.audio_blocks, axis_name=cfg.bn_axis_name, bn_momentum=cfg.bn_momentum,
            bn_epsilon=cfg.bn_epsilon, name="audio_encoder",
        )(flat_mel, train=train and not cfg.freeze_audio_encoder)
        audio = jax.lax.stop_gradient(audio) if cfg.freeze_audio_encoder else audio
        alpha_logits, motion_logits = DCKUNet(cfg, name="unet")(flat_frames, audio, train=train)
        motion = nn.sigmoid(motion_logits)
        if cfg.use_blending:
            alpha = nn.sigmoid(alpha_logits)
            edited = blend(flat_frames, motion, alpha)
        else:
            alpha = jnp.ones_like(motion[..., :1])
            edited = motion
        unflatten = lambda a: a.reshape(*lead, *a.shape[1:])  # noqa: E731
        return DCKOutput(unflatten(edited), unflatten(motion), unflatten(alpha))
