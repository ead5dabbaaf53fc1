"""Length regulation: expanding token-level features to frame level by integer durations.

ParaLip (Liu et al., AAAI 2022, Sec. 3.1), after FastSpeech: every token i is repeated d_i
frames. Under `jax.jit` the number of frames must be static, so the expansion is a *gather*
through a padded frame->token index map of fixed length `max_frames`:

    frame_to_token[b, t] = i + 1   if frame t belongs to token i   (1-based)
                         = 0       if t >= sum(durations[b])       (padding frame)

and `expand` gathers from the token features with a zero row prepended at index 0, so padding
frames come out as zeros. No Python loop, no data-dependent shape: new durations of the same
bucket reuse the compiled function.

Validation: values can only be checked where they are concrete (NumPy arrays, or JAX arrays
outside `jax.jit`). There, durations must be whole numbers whose row sums fit int32, and a
`frame_to_token` index must lie in `[0, S]`; anything else is an `InputError`. Under `jax.jit`
nothing can be checked: durations are cast to int32 as given (values beyond int32 wrap), and an
index outside `[0, S]` (negative ones included) gathers the fill value of `jnp.take`'s "fill"
mode, NaN for floating features (the minimum integer for integer ones), so a bad index is
visible downstream instead of silently reading another token.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = ["LengthRegulation", "length_regulate", "expand"]


class LengthRegulation(NamedTuple):
    """Result of `length_regulate`.

    Attributes:
      frame_to_token: int32 `[B, max_frames]`, 1-based token index of every frame, 0 on padding.
      frame_mask: bool `[B, max_frames]`, True on valid frames.
      total_frames: int32 `[B]`, the *untruncated* sum of durations (may exceed `max_frames`).
      overflow: bool `[B]`, True where `total_frames > max_frames` and frames were dropped.
    """

    frame_to_token: jax.Array
    frame_mask: jax.Array
    total_frames: jax.Array
    overflow: jax.Array


_INT32_MAX = int(np.iinfo(np.int32).max)


def _concrete(x: ArrayLike) -> np.ndarray | None:
    """`x` as a NumPy array when its values are known (not traced under jit), else None."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def _check_durations(durations: np.ndarray) -> None:
    if not (np.issubdtype(durations.dtype, np.integer)
            or np.issubdtype(durations.dtype, np.floating)):
        raise InputError(f"durations must be integers (frames per token), got dtype "
                         f"{durations.dtype}")
    if np.issubdtype(durations.dtype, np.floating) and not (
            np.all(np.isfinite(durations)) and np.all(durations == np.round(durations))):
        raise InputError("durations must be whole numbers of frames per token (no NaN, inf or "
                         "fractions); round them first, e.g. np.round(d).astype(np.int32)")
    if durations.ndim != 2 or durations.size == 0:
        return  # the shape is checked by the caller
    wide = np.maximum(durations.astype(np.float64), 0.0)
    largest, longest = float(wide.max()), float(wide.sum(axis=-1).max())
    if longest > _INT32_MAX:
        raise InputError(f"durations must fit int32: each value and each sequence's sum at most "
                         f"{_INT32_MAX} frames, got a value of {largest:.0f} and a sum of "
                         f"{longest:.0f}")


def length_regulate(durations: ArrayLike, max_frames: int) -> LengthRegulation:
    """Builds the padded frame->token map for integer durations.

    Args:
      durations: int `[B, S]` non-negative frames per token (padding tokens have 0). Zero
        durations drop their token. Negative values are treated as 0. Concrete values must be
        whole numbers whose row sums fit int32 (see the module docstring for the jit case).
      max_frames: static number of output frames (the bucket size).

    Returns:
      A `LengthRegulation`. Durations whose sum exceeds `max_frames` are truncated at the end;
      `overflow` and `total_frames` report it so that callers never lose frames silently.
    """
    concrete = _concrete(durations)
    if concrete is not None:
        _check_durations(concrete)
    durations = jnp.maximum(jnp.asarray(durations, jnp.int32), 0)
    if durations.ndim != 2:
        raise InputError(f"durations must be [B, S], got shape {durations.shape}")
    if not isinstance(max_frames, int) or max_frames <= 0:
        raise InputError(f"max_frames must be a positive Python int, got {max_frames!r}")
    ends = jnp.cumsum(durations, axis=-1)  # [B, S], frame index one past each token
    total = ends[:, -1] if durations.shape[1] else jnp.zeros(durations.shape[:1], jnp.int32)
    frames = jnp.arange(max_frames, dtype=jnp.int32)
    # Token of frame t = number of tokens that end at or before t (searchsorted, right side),
    # vectorised over the batch; +1 makes it 1-based.
    token = jax.vmap(lambda e: jnp.searchsorted(e, frames, side="right"))(ends)
    frame_mask = frames[None, :] < total[:, None]
    frame_to_token = jnp.where(frame_mask, token + 1, 0).astype(jnp.int32)
    return LengthRegulation(
        frame_to_token=frame_to_token,
        frame_mask=frame_mask,
        total_frames=total.astype(jnp.int32),
        overflow=total > max_frames,
    )


def expand(x: ArrayLike, frame_to_token: ArrayLike) -> jax.Array:
    """Gathers token features to frames: `out[b, t] = x[b, frame_to_token[b, t] - 1]`, 0 on padding.

    Args:
      x: `[B, S, ...]` token-level features.
      frame_to_token: int `[B, T]` from `length_regulate` (1-based, 0 = padding frame). Concrete
        indices outside `[0, S]` are an InputError; under jit they give the fill value (NaN for
        float features; see the module docstring).

    Returns:
      `[B, T, ...]` frame-level features; rows of padding frames are exactly zero. Differentiable
      in `x` (the gradient of a token is the sum over its frames).
    """
    x = jnp.asarray(x)
    if not isinstance(frame_to_token, jax.core.Tracer):
        frame_to_token = np.asarray(frame_to_token)
        if not np.issubdtype(frame_to_token.dtype, np.integer):
            raise InputError(f"frame_to_token must be integer token indices, got dtype "
                             f"{frame_to_token.dtype}")
    if x.ndim < 2 or frame_to_token.ndim != 2 or x.shape[0] != frame_to_token.shape[0]:
        raise InputError(
            f"expected x [B, S, ...] and frame_to_token [B, T] with the same B, got "
            f"{x.shape} and {np.shape(frame_to_token)}"
        )
    _check_token_indices(frame_to_token, x.shape[1])
    index = jnp.asarray(frame_to_token, jnp.int32)
    # Out of range on either side -> one past the end: "fill" mode, never a wrapped-around row.
    index = jnp.where((index < 0) | (index > x.shape[1]), x.shape[1] + 1, index)
    padded = jnp.concatenate([jnp.zeros_like(x[:, :1]), x], axis=1)
    return jax.vmap(lambda rows, idx: jnp.take(rows, idx, axis=0, mode="fill"))(padded, index)


def _check_token_indices(frame_to_token: ArrayLike, num_tokens: int) -> None:
    concrete = _concrete(frame_to_token)
    if concrete is None or concrete.size == 0:
        return
    low, high = int(concrete.min()), int(concrete.max())
    if low < 0 or high > num_tokens:
        raise InputError(
            f"frame_to_token indices must lie in [0, {num_tokens}] (1-based tokens of x, 0 = "
            f"padding), got values from {low} to {high}; build them with length_regulate on "
            "durations of the same sequence length as x")
