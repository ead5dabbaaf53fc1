"""Masked reductions: the batch-and-mask convention every metric and loss in lipjax follows.

An input has *batch dimensions* followed by the dimensions of one *item* (an image, a landmark
set, a scalar). `mask` is bool with a shape that is a prefix of the batch shape (e.g. a frame
mask `[B, T]` for videos `[B, T, H, W, C]`); each item is reduced first, then averaged over the
valid items; invalid items are selected out with `where`, so padding (even NaN) never changes a
value; nothing valid gives 0, never NaN. The full statement is in `lipjax.metrics`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = ["masked_mean", "zero_invalid", "check_pair"]


def masked_mean(values: ArrayLike, mask: ArrayLike | None = None) -> jax.Array:
    """Mean of per-item means over the valid items (the convention in the module docstring).

    Args:
      values: ``[*M, ...]`` numbers; everything after the mask dimensions is one item.
      mask: bool ``[*M]`` (a prefix of ``values.shape``), True on valid items; ``None`` = all valid.

    Returns:
      Scalar float32: ``sum_valid(mean_item(values)) / max(num_valid, 1)``; 0 if nothing is valid.
    """
    values = jnp.asarray(values)
    values = values.astype(jnp.promote_types(values.dtype, jnp.float32))
    if mask is None:
        return jnp.mean(values)
    mask = jnp.asarray(mask)
    if mask.shape != values.shape[: mask.ndim]:
        raise InputError(
            f"mask shape {mask.shape} must be a prefix of the batch shape of values "
            f"{values.shape} (e.g. a frame mask [B, T] for a video [B, T, H, W, C]); "
            "pass the mask of the frames, not of the pixels"
        )
    mask = mask.astype(bool)
    item_axes = tuple(range(mask.ndim, values.ndim))
    per_item = jnp.mean(values, axis=item_axes) if item_axes else values
    # where, not multiplication: garbage (inf/NaN) in padding items must not leak into the sum.
    total = jnp.sum(jnp.where(mask, per_item, 0.0))
    count = jnp.sum(mask)
    return total / jnp.maximum(count, 1).astype(total.dtype)


def zero_invalid(x: ArrayLike, mask: ArrayLike | None) -> jax.Array:
    """Replaces invalid items by zeros: ``x`` where the mask is True, 0 elsewhere.

    `masked_mean` already keeps padding out of the *value*; losses apply this to their inputs
    as well so that non-finite padding cannot turn the *gradient* into NaN (0 * inf).

    Args:
      x: ``[*M, ...]`` array.
      mask: bool ``[*M]`` (a prefix of ``x.shape``) or ``None`` (``x`` is returned unchanged).

    Returns:
      ``x`` with every invalid item set to zero (same shape and dtype).
    """
    x = jnp.asarray(x)
    if mask is None:
        return x
    mask = jnp.asarray(mask)
    if mask.shape != x.shape[: mask.ndim]:
        raise InputError(
            f"mask shape {mask.shape} must be a prefix of the batch shape of {x.shape} "
            "(e.g. a frame mask [B, T] for a video [B, T, H, W, C])"
        )
    mask = mask.astype(bool).reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    return jnp.where(mask, x, jnp.zeros((), x.dtype))


def check_pair(x: jax.Array, y: jax.Array, min_ndim: int, layout: str) -> None:
    if x.shape != y.shape:
        raise InputError(f"the two inputs must have the same shape, got {x.shape} and {y.shape}")
    if x.ndim < min_ndim:
        raise InputError(f"expected inputs of shape {layout}, got shape {x.shape}")
