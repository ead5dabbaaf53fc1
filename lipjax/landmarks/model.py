"""A small CNN that regresses the 20 mouth landmarks of an 80x160 lip frame.

LMD (landmark distance; ParaLip, Liu et al., AAAI 2022, Sec. 4.2) compares the mouth landmarks of
generated and ground-truth frames, so the landmarks of *generated* frames must come from a
detector. dlib's 68-point shape predictor is the usual one; this network is a dependency-free
stand-in trained on the exact landmarks of the `synthetic_lips` corpus (see
`lipjax.landmarks.train_landmark_regressor`).

Architecture: ``len(channels)`` stages of [Conv k x k, stride 2 -> GroupNorm -> ReLU] followed by
``convs_per_stage - 1`` [Conv k x k, stride 1 -> GroupNorm -> ReLU] (80x160 -> 5x10 with four
stages), flatten (the position of a feature matters, so no global pooling), Dense -> ReLU ->
Dense -> ``num_landmarks * 2``. The output is *normalised* coordinates ``(x / W, y / H)``, so a
frame's landmarks lie in ``[0, 1]``; `to_pixels` / `to_normalised` convert. GroupNorm, not
BatchNorm: the model has parameters only, no batch statistics, and a prediction does not depend on
the other frames of its batch.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import ConfigError, InputError

__all__ = [
    "LandmarkRegressorConfig",
    "LandmarkRegressor",
    "to_pixels",
    "to_normalised",
]


@dataclasses.dataclass(frozen=True)
class LandmarkRegressorConfig:
    """Shape and width of `LandmarkRegressor`.

    Attributes:
      frame_height, frame_width: input frame size (ParaLip lip crops are 80 x 160).
      num_landmarks: landmarks per frame (20 = dlib mouth points 48-67).
      channels: output channels of each stride-2 stage.
      convs_per_stage: convolutions per stage (the first has stride 2, the others stride 1).
      kernel_size: spatial size of every convolution kernel.
      group_size: channels per GroupNorm group (each stage's width must be a multiple of it).
      hidden: width of the dense layer between the flattened features and the output.
      output_init_scale: standard deviation of the last layer's kernel; small, so that a fresh
        network predicts (almost exactly) its output bias, which training sets to the mean shape.
    """

    frame_height: int = 80
    frame_width: int = 160
    num_landmarks: int = 20
    channels: tuple[int, ...] = (16, 32, 48, 64)
    convs_per_stage: int = 2
    kernel_size: int = 3
    group_size: int = 8
    hidden: int = 128
    output_init_scale: float = 1e-3

    def __post_init__(self):
        # JSON round trips give lists; keep the dataclass hashable and comparable.
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        positive = ("frame_height", "frame_width", "num_landmarks", "convs_per_stage",
                    "kernel_size", "group_size", "hidden")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"LandmarkRegressorConfig.{name} must be >= 1, got "
                                  f"{getattr(self, name)!r}")
        if not self.channels:
            raise ConfigError("LandmarkRegressorConfig.channels needs at least one stage")
        bad = [c for c in self.channels if c < 1 or c % self.group_size]
        if bad:
            raise ConfigError(
                f"every entry of channels {self.channels} must be a positive multiple of "
                f"group_size={self.group_size}; change channels or group_size"
            )
        if not self.output_init_scale >= 0:
            raise ConfigError(f"output_init_scale must be >= 0, got {self.output_init_scale!r}")

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(H, W, 3)`` of one input frame."""
        return (self.frame_height, self.frame_width, 3)


def _pixel_scale(config: LandmarkRegressorConfig) -> jax.Array:
    return jnp.asarray([config.frame_width, config.frame_height], jnp.float32)


def to_pixels(normalised: ArrayLike, config: LandmarkRegressorConfig) -> jax.Array:
    """``[..., K, 2]`` normalised ``(x / W, y / H)`` -> pixel ``(x, y)``."""
    return jnp.asarray(normalised, jnp.float32) * _pixel_scale(config)


def to_normalised(pixels: ArrayLike, config: LandmarkRegressorConfig) -> jax.Array:
    """``[..., K, 2]`` pixel ``(x, y)`` -> normalised ``(x / W, y / H)``."""
    return jnp.asarray(pixels, jnp.float32) / _pixel_scale(config)


class LandmarkRegressor(nn.Module):
    """Frames -> normalised mouth landmarks.

    Call: ``frames`` float ``[N, H, W, 3]`` in [0, 1] -> float32 ``[N, num_landmarks, 2]``,
    ``(x / W, y / H)``.
    """

    config: LandmarkRegressorConfig

    @nn.compact
    def __call__(self, frames: jax.Array) -> jax.Array:
        cfg = self.config
        if frames.ndim != 4 or frames.shape[1:] != cfg.frame_shape:
            raise InputError(
                f"LandmarkRegressor expects frames [N, {cfg.frame_height}, {cfg.frame_width}, 3], "
                f"got {frames.shape}; resize the frames or build the model for this frame size"
            )
        # Centre the pixel values so that the first layer starts from zero-mean input.
        x = frames.astype(jnp.float32) - 0.5
        kernel = (cfg.kernel_size, cfg.kernel_size)
        for stage, width in enumerate(cfg.channels):
            for conv in range(cfg.convs_per_stage):
                stride = 2 if conv == 0 else 1
                x = nn.Conv(width, kernel, strides=(stride, stride), padding="SAME",
                            name=f"stage{stage}_conv{conv}")(x)
                x = nn.GroupNorm(num_groups=None, group_size=cfg.group_size,
                                 name=f"stage{stage}_norm{conv}")(x)
                x = nn.relu(x)
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(cfg.hidden, name="hidden")(x))
        x = nn.Dense(
            cfg.num_landmarks * 2,
            kernel_init=nn.initializers.normal(cfg.output_init_scale),
            # Untrained: every landmark at the frame centre; training sets the mean shape.
            bias_init=nn.initializers.constant(0.5),
            name="output",
        )(x)
        return x.reshape(x.shape[0], cfg.num_landmarks, 2)
