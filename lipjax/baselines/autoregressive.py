"""The autoregressive machinery that ParaLip's baselines share (TransformerT2L, DualLip;
ParaLip, Liu et al., AAAI 2022, Sec. 4.2).

Training is teacher-forced: the inputs are the ground-truth frames shifted right by one
(`previous_frames`: an all-zero "go" frame first) and all frames are decoded in parallel.
Inference (`autoregressive_decode`) is one `lax.while_loop` under `jax.jit`: each iteration
encodes the previously generated frame, advances the model's decoder state, renders one frame
and stops when every sequence has emitted its stop token (`stop_labels` in training) or
`max_frames` is reached. Frames after a sequence's stop are exactly 0, and the latency grows
linearly with the video length, which is what ParaLip's Figure 4 compares against.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional, Protocol

import einops
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from lipjax.errors import InputError
from lipjax.paralip.model import ParaLipConfig, to_unit_range

__all__ = [
    "AutoregressiveOutput",
    "AutoregressiveLipModel",
    "previous_frames",
    "stop_labels",
    "stop_threshold_logit",
    "encode_frames",
    "check_ar_inputs",
    "teacher_forcing_inputs",
    "autoregressive_decode",
]

PyTree = Any


class AutoregressiveOutput(NamedTuple):
    """What the autoregressive lip models return (teacher-forced or free-running).

    Attributes:
      frames: `[B, T, H, W, C]` tanh output; 0 on invalid frames (see `to_unit_range`).
      stop_logits: `[B, T]` logit of "frame t is the last frame".
      frame_mask: bool `[B, T]`: the given mask (teacher forcing) or the frames up to and
        including each sequence's stop (free running).
    """

    frames: jax.Array
    stop_logits: jax.Array
    frame_mask: jax.Array


def previous_frames(frames: ArrayLike) -> jax.Array:
    """Teacher-forcing inputs: the video shifted right by one frame, an all-zero "go" frame first.

    Args:
      frames: `[B, T, H, W, C]` target frames in [0, 1].

    Returns:
      `[B, T, H, W, C]` where output t is input t - 1 (and output 0 is zeros).
    """
    frames = jnp.asarray(frames, jnp.float32)
    return jnp.concatenate([jnp.zeros_like(frames[:, :1]), frames[:, :-1]], axis=1)


def stop_labels(frame_mask: ArrayLike) -> jax.Array:
    """Stop-token targets: True at the last valid frame of each (prefix-valid) sequence.

    Args:
      frame_mask: bool `[B, T]`, True on valid frames (a prefix of each row).

    Returns:
      bool `[B, T]`.
    """
    mask = jnp.asarray(frame_mask, bool)
    following = jnp.concatenate([mask[:, 1:], jnp.zeros_like(mask[:, :1])], axis=1)
    return mask & ~following


def stop_threshold_logit(threshold: float) -> float:
    """The logit of probability `threshold` (comparing logits avoids sigmoid saturation)."""
    return math.log(threshold / (1.0 - threshold))


def encode_frames(frame_encoder: nn.Module, frames: jax.Array, *, train: bool) -> jax.Array:
    """`[B, T, H, W, C]` -> `[B, T, D]` through a per-frame `IdentityEncoder`-style stack."""
    embedding, _ = frame_encoder(einops.rearrange(frames, "b t h w c -> (b t) h w c"),
                                 train=train)
    return einops.rearrange(embedding, "(b t) d -> b t d", b=frames.shape[0])


def check_ar_inputs(config: ParaLipConfig, tokens: jax.Array, identity: jax.Array,
                    frames: Optional[jax.Array] = None, frame_mask: Optional[jax.Array] = None) -> None:
    """Raises `InputError` unless tokens `[B, S]` int, identity `[B, H, W, C]`, and (if given)
    frames `[B, T, H, W, C]` and frame_mask `[B, T]` match the config."""
    if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise InputError(f"tokens must be an int array [B, S], got {tokens.dtype} {tokens.shape}")
    image = (config.image_height, config.image_width, config.image_channels)
    if identity.shape != (tokens.shape[0],) + image:
        raise InputError(
            f"identity must be [B, H, W, C] = {(tokens.shape[0],) + image} (one lip image per "
            f"sequence), got {identity.shape}; crop/resize the lips to {image[0]}x{image[1]}")
    if frames is not None:
        if frames.ndim != 5 or frames.shape[0] != tokens.shape[0] or frames.shape[2:] != image:
            raise InputError(f"frames must be [B, T, {image[0]}, {image[1]}, {image[2]}] with "
                             f"B = {tokens.shape[0]}, got {frames.shape}")
        if frame_mask is None or frame_mask.shape != frames.shape[:2]:
            raise InputError(f"frame_mask must be bool [B, T] = {frames.shape[:2]}, got "
                             f"{None if frame_mask is None else frame_mask.shape}")


def teacher_forcing_inputs(config: ParaLipConfig, tokens: ArrayLike, identity: ArrayLike,
                           frames: ArrayLike, frame_mask: ArrayLike
                           ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The inputs of a teacher-forced forward pass as arrays (int tokens, float32 identity and
    frames, bool mask), checked by `check_ar_inputs`."""
    tokens, identity = jnp.asarray(tokens), jnp.asarray(identity, jnp.float32)
    frames, frame_mask = jnp.asarray(frames, jnp.float32), jnp.asarray(frame_mask, bool)
    check_ar_inputs(config, tokens, identity, frames, frame_mask)
    return tokens, identity, frames, frame_mask


class AutoregressiveLipModel(Protocol):
    """What `autoregressive_decode` needs from a model (TransformerT2L, DualLip)."""

    config: ParaLipConfig

    def start_decoding(self, tokens, identity, *, max_frames): ...

    def decode_step(self, state, previous_frame, index): ...


def autoregressive_decode(
    model: AutoregressiveLipModel,
    variables: PyTree,
    tokens: ArrayLike,
    identity: ArrayLike,
    *,
    max_frames: int,
    use_stop_token: bool = True,
) -> AutoregressiveOutput:
    """Free-running generation: one frame per `lax.while_loop` iteration, no Python loop.

    Each iteration feeds the previous generated frame (clipped to [0, 1], the official reading
    of the tanh output) back in. A sequence's frames end at (and include) the first frame whose
    stop probability exceeds `config.stop_threshold`; later frames are 0. The loop exits when all
    sequences have stopped or after `max_frames` frames. Jit the caller with `max_frames` and
    `use_stop_token` static.

    Args:
      model: a TransformerT2L or DualLip module (unbound).
      variables: its `{'params', 'batch_stats'}`.
      tokens: int32 `[B, S]`; identity: `[B, H, W, C]` in [0, 1].
      max_frames: static maximum length (the output's T).
      use_stop_token: False ignores the stop head and always generates `max_frames` frames
        (latency measurements at a fixed length).

    Returns:
      `AutoregressiveOutput`; `frame_mask` marks the frames before and at each stop.
    """
    if not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames <= 0:
        raise InputError(f"max_frames must be a positive Python int, got {max_frames!r}")
    cfg = model.config
    identity = jnp.asarray(identity, jnp.float32)
    state = model.apply(variables, tokens, identity, max_frames=max_frames,
                        method=model.start_decoding)
    batch = identity.shape[0]
    threshold = stop_threshold_logit(cfg.stop_threshold)
    init = (
        jnp.zeros((), jnp.int32),
        jnp.zeros_like(identity),
        state,
        jnp.zeros((batch, max_frames) + identity.shape[1:], jnp.float32),
        jnp.zeros((batch, max_frames), jnp.float32),
        jnp.zeros((batch,), bool),
        jnp.zeros((batch,), jnp.int32),
    )

    def keep_going(carry):
        index, *_, done, _ = carry
        return (index < max_frames) & ~jnp.all(done)

    def one_frame(carry):
        index, previous, state, frames, stops, done, lengths = carry
        state, frame, stop_logit = model.apply(variables, state, previous, index,
                                               method=model.decode_step)
        alive = ~done
        frames = lax.dynamic_update_slice_in_dim(
            frames, (frame * alive[:, None, None, None])[:, None], index, axis=1)
        stops = lax.dynamic_update_slice_in_dim(stops, stop_logit[:, None], index, axis=1)
        lengths = lengths + alive.astype(jnp.int32)
        if use_stop_token:
            done = done | (stop_logit > threshold)
        return index + 1, to_unit_range(frame), state, frames, stops, done, lengths

    *_, frames, stops, _, lengths = lax.while_loop(keep_going, one_frame, init)
    frame_mask = jnp.arange(max_frames)[None, :] < lengths[:, None]
    return AutoregressiveOutput(frames, stops, frame_mask)
