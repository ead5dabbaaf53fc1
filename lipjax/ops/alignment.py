"""Monotonic alignment search (MAS): the most likely hard monotonic token-to-frame alignment.

ParaLip trains its duration predictor on per-token frame counts. Without audio they come from a
CTC lipreading model plus monotonic alignment search (ParaLip Sec. 6); MAS itself is the dynamic
programme of Glow-TTS (Kim et al., NeurIPS 2020, Sec. 3.2 / Algorithm 1). Given the
log-likelihood `L[s, t]` of frame `t` under token `s`, it finds the alignment that maximises
`sum_t L[a(t), t]` over token indices `a(t)` that

* start at token 0 on frame 0 and end at the last valid token on the last valid frame,
* never decrease and advance by at most one token per frame (so every token gets >= 1 frame).

Forward pass (a `lax.scan` over frames, vectorised over batch and tokens):

    Q[s, 0] = L[0, 0] if s == 0 else -inf
    Q[s, t] = L[s, t] + max(Q[s, t-1], Q[s-1, t-1])

storing only which predecessor won. Backtracking is a reverse `lax.scan` from the last valid
(token, frame). Shapes are static; `token_mask` / `frame_mask` carry the valid lengths.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = ["monotonic_alignment_search", "durations_from_alignment"]


def monotonic_alignment_search(
    log_likelihood: ArrayLike, token_mask: ArrayLike, frame_mask: ArrayLike
) -> jax.Array:
    """Hard monotonic alignment maximising the total log-likelihood (Glow-TTS MAS).

    Args:
      log_likelihood: float `[B, S, T]`, log-likelihood of frame `t` under token `s` (e.g. CTC
        log-probabilities of each token's label gathered per frame). Values on padding are ignored.
      token_mask: bool `[B, S]`, True on valid tokens; valid tokens must come first (prefix mask).
      frame_mask: bool `[B, T]`, True on valid frames; valid frames must come first.

    Returns:
      int32 `[B, S, T]` 0/1 alignment: every valid frame belongs to exactly one valid token, the
      token index never decreases over frames, every valid token gets at least one frame, frame 0
      goes to token 0 and the last valid frame to the last valid token; padding rows and columns
      are 0. Ties go to staying on the current token. If a sequence has fewer valid frames than
      valid tokens no such alignment exists; then frame `t` goes to token `t` and the last tokens
      get no frame (check `durations_from_alignment(...) > 0` when this can happen).
      Not differentiable (the alignment is piecewise constant): use it under `stop_gradient`.
    """
    log_likelihood = jnp.asarray(log_likelihood)
    token_mask = jnp.asarray(token_mask, bool)
    frame_mask = jnp.asarray(frame_mask, bool)
    if log_likelihood.ndim != 3:
        raise InputError(f"log_likelihood must be [B, S, T], got shape {log_likelihood.shape}")
    batch, num_tokens, num_frames = log_likelihood.shape
    if token_mask.shape != (batch, num_tokens) or frame_mask.shape != (batch, num_frames):
        raise InputError(
            f"token_mask must be [B, S] = {(batch, num_tokens)} and frame_mask [B, T] = "
            f"{(batch, num_frames)}, got {token_mask.shape} and {frame_mask.shape}"
        )
    if not jnp.issubdtype(log_likelihood.dtype, jnp.floating):
        raise InputError(f"log_likelihood must be floating point, got {log_likelihood.dtype}")
    if num_tokens == 0 or num_frames == 0:
        return jnp.zeros((batch, num_tokens, num_frames), jnp.int32)

    log_likelihood = jax.lax.stop_gradient(log_likelihood.astype(jnp.float32))
    num_valid_tokens = token_mask.sum(-1).astype(jnp.int32)  # [B]
    num_valid_frames = frame_mask.sum(-1).astype(jnp.int32)  # [B]
    neg_inf = jnp.float32(-jnp.inf)

    # ---- forward DP over frames: carry Q[:, :, t-1], emit "came from token s-1" flags ----
    per_frame = jnp.moveaxis(log_likelihood, -1, 0)  # [T, B, S]
    first_column = jnp.where(jnp.arange(num_tokens) == 0, per_frame[0], neg_inf)

    def forward(previous: jax.Array, frame_ll: jax.Array) -> tuple[jax.Array, jax.Array]:
        from_previous_token = jnp.pad(previous[:, :-1], ((0, 0), (1, 0)), constant_values=-jnp.inf)
        advanced = from_previous_token > previous  # strict: ties stay on the same token
        current = frame_ll + jnp.maximum(previous, from_previous_token)
        return current, advanced

    _, advanced = jax.lax.scan(forward, first_column, per_frame[1:])  # [T-1, B, S]
    advanced = jnp.concatenate([jnp.zeros((1, batch, num_tokens), bool), advanced])  # [T, B, S]

    # ---- backtracking from (last valid token, last valid frame) towards frame 0 ----
    def backward(token: jax.Array, inputs: tuple[jax.Array, jax.Array]):
        frame, advanced_t = inputs
        # A token index above the frame index is unreachable; the clamp only binds on
        # infeasible sequences (fewer frames than tokens) and keeps the path monotonic there.
        token = jnp.clip(jnp.minimum(token, frame), 0, num_tokens - 1)
        is_valid_frame = frame < num_valid_frames
        stepped_back = jnp.take_along_axis(advanced_t, token[:, None], axis=1)[:, 0]
        next_token = jnp.where(is_valid_frame & stepped_back, token - 1, token)
        return next_token, jnp.where(is_valid_frame, token, -1)

    frames = jnp.arange(num_frames, dtype=jnp.int32)
    _, frame_to_token = jax.lax.scan(
        backward, num_valid_tokens - 1, (frames, advanced), reverse=True
    )  # [T, B], -1 on padding frames
    alignment = frame_to_token.T[:, None, :] == jnp.arange(num_tokens)[None, :, None]
    alignment &= token_mask[:, :, None] & frame_mask[:, None, :]
    return alignment.astype(jnp.int32)


def durations_from_alignment(alignment: ArrayLike) -> jax.Array:
    """Frames per token of a hard alignment.

    Args:
      alignment: 0/1 `[B, S, T]` from `monotonic_alignment_search`.

    Returns:
      int32 `[B, S]`, the number of frames assigned to each token (0 on padding tokens); feeds
      `lipjax.ops.length_regulate` and the ParaLip duration loss.
    """
    alignment = jnp.asarray(alignment)
    if alignment.ndim != 3:
        raise InputError(f"alignment must be [B, S, T], got shape {alignment.shape}")
    return alignment.astype(jnp.int32).sum(-1)
