"""ParaLip's image networks (Liu et al., AAAI 2022, Table 6 and Sec. 3.2): the identity encoder,
the per-frame video decoder with U-Net-style skips from it, and `render_frames`, which runs the
decoder on every frame of a batch of videos in one call (frames folded into the batch).

TransformerT2L and DualLip reuse both (`lipjax.baselines`), so the paper's comparisons differ
only in the sequence model. The checkpoint correspondence is in `lipjax.convert.paralip`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import einops
import flax.linen as nn
import jax
import jax.numpy as jnp

from lipjax.nn.conv import (
    ConvNormAct,
    ConvTransposeNormAct,
    channels_first_flatten,
    channels_first_unflatten,
)

if TYPE_CHECKING:
    from lipjax.paralip.model import ParaLipConfig

__all__ = ["IdentityEncoder", "VideoDecoder", "render_frames"]


class IdentityEncoder(nn.Module):
    """ParaLip Table 6: `4 x [Conv 5x5 /2 -> BatchNorm -> ReLU]`, flatten, Linear, tanh.

    Returns the identity embedding and the feature maps after each conv (the video decoder's
    skips, finest first).
    """

    config: "ParaLipConfig"

    @nn.compact
    def __call__(self, image: jax.Array, *, train: bool) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        """Args: image `[N, H, W, C]` in [0, 1].

        Returns:
          (embedding `[N, identity_dim]` in (-1, 1), skips `([N, H/2, W/2, c1], ...,
          [N, H/16, W/16, c4])`).
        """
        cfg = self.config
        skips = []
        x = image
        for n, channels in enumerate(cfg.identity_channels, start=1):
            x = ConvNormAct(
                channels,
                kernel_size=cfg.conv_kernel,
                stride=2,
                padding=cfg.conv_kernel // 2,
                bn_momentum=cfg.bn_momentum,
                bn_epsilon=cfg.bn_epsilon,
                bn_axis_name=cfg.bn_axis_name,
                name=f"conv{n}",
            )(x, train=train)
            skips.append(x)
        embedding = jnp.tanh(nn.Dense(cfg.identity_dim, name="fc")(channels_first_flatten(x)))
        return embedding, tuple(skips)


class VideoDecoder(nn.Module):
    """Per-frame decoder: Linear -> seed map -> ReLU -> [concat skip -> ConvT /2 -> BN -> ReLU] x 4
    -> Conv -> BN -> ReLU -> Conv -> tanh.

    Frames are independent (shared weights); the caller folds time into the batch.
    """

    config: "ParaLipConfig"

    @nn.compact
    def __call__(
        self,
        z: jax.Array,
        skips: tuple[jax.Array, ...],
        *,
        train: bool,
        mask: Optional[jax.Array] = None,
    ) -> jax.Array:
        """Args:
          z: `[N, identity_dim + hidden]` (identity embedding first, then motion features).
          skips: identity encoder maps, finest first, each `[N, h, w, c]`.
          train: BatchNorm batch statistics and updates when True.
          mask: optional bool `[N]`; only these rows count in training batch statistics.

        Returns:
          `[N, H, W, image_channels]` in (-1, 1).
        """
        cfg = self.config
        h, w = cfg.bottleneck_shape
        x = nn.Dense(h * w * cfg.decoder_seed_channels, name="fc")(z)
        # The reference views the Linear output as [C, h, w] (channels first).
        x = nn.relu(channels_first_unflatten(x, shape=(h, w, cfg.decoder_seed_channels)))
        row_mask = None if mask is None else mask[:, None, None, None]
        bn = dict(bn_momentum=cfg.bn_momentum, bn_epsilon=cfg.bn_epsilon, bn_axis_name=cfg.bn_axis_name)
        *up_channels, last_channels = cfg.video_decoder_channels
        for n, (channels, skip) in enumerate(zip(up_channels, reversed(skips)), start=1):
            x = jnp.concatenate([x, skip], axis=-1)
            x = ConvTransposeNormAct(
                channels,
                kernel_size=cfg.conv_kernel,
                stride=2,
                padding=cfg.conv_kernel // 2,
                output_padding=1,
                name=f"dconv{n}",
                **bn,
            )(x, train=train, mask=row_mask)
        n = len(up_channels) + 1
        pad = cfg.conv_kernel // 2
        x = ConvNormAct(last_channels, kernel_size=cfg.conv_kernel, padding=pad, name=f"dconv{n}", **bn)(
            x, train=train, mask=row_mask
        )
        k = (cfg.conv_kernel, cfg.conv_kernel)
        x = nn.Conv(cfg.image_channels, k, padding=((pad, pad), (pad, pad)), name=f"dconv{n + 1}")(x)
        return jnp.tanh(x)


def render_frames(
    video_decoder: nn.Module,
    identity_embedding: jax.Array,
    features: jax.Array,
    skips: tuple[jax.Array, ...],
    frame_mask: jax.Array,
    *,
    train: bool,
    mask_batch_norm: bool,
    frame_indices: jax.Array | None = None,
) -> jax.Array:
    """Renders per-frame features with ParaLip's `VideoDecoder`, every frame of a video sharing
    its identity embedding and skips; invalid frames are zeroed.

    Args:
      video_decoder: a bound `VideoDecoder`.
      identity_embedding: `[B, D]`.
      features: `[B, T, hidden]` decoder output per frame.
      skips: identity-encoder maps, each `[B, h, w, c]`.
      frame_mask: bool `[B, T]`.
      train: BatchNorm batch statistics when True.
      mask_batch_norm: only valid frames count in training batch statistics.
      frame_indices: int `[B, F]`: render only these frames (the F of the result), as ParaLip's
        `frames_per_example` training does; None renders all T.

    Returns:
      `[B, T, H, W, C]` (or `[B, F, ...]`) in (-1, 1), exactly 0 on invalid frames.
    """
    if frame_indices is not None:  # render only these frames (training subsample)
        frame_indices = jnp.asarray(frame_indices, jnp.int32)
        features = jnp.take_along_axis(features, frame_indices[..., None], axis=1)
        frame_mask = jnp.take_along_axis(frame_mask, frame_indices, axis=1)
    batch, length = features.shape[:2]
    ident = einops.repeat(identity_embedding, "b d -> b t d", t=length)
    z = einops.rearrange(jnp.concatenate([ident, features], axis=-1), "b t d -> (b t) d")
    # Every frame of a video shares its identity's skips: [B, ...] -> [B * T, ...].
    frame_skips = tuple(einops.repeat(s, "b h w c -> (b t) h w c", t=length) for s in skips)
    bn_mask = einops.rearrange(frame_mask, "b t -> (b t)") if mask_batch_norm else None
    frames = video_decoder(z, frame_skips, train=train, mask=bn_mask)
    frames = einops.rearrange(frames, "(b t) h w c -> b t h w c", b=batch)
    return frames * frame_mask[:, :, None, None, None]
