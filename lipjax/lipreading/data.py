"""Lipreading examples from lips records (synthetic_lips, GRID, TCD-TIMIT): frames and tokens.

A lipreader learns from the video and its text alone: it never reads the record's durations
(that is the point of ParaLip Sec. 6, durations for corpora without audio). When a record has
consistent durations they travel along as `durations` / `has_durations`, so that evaluation can
compare the lipreader's alignment with them; training ignores them.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lipjax.data.lips import pad_to, to_unit_float
from lipjax.errors import BadRecordError

__all__ = ["lipreading_lengths", "lipreading_example", "ctc_min_frames"]


def _field(record: Mapping[str, Any], key: str) -> np.ndarray:
    try:
        return np.asarray(record[key])
    except KeyError:
        raise BadRecordError(f"record has no field {key!r} (fields: {sorted(record)})") from None


def ctc_min_frames(tokens: np.ndarray) -> int:
    """The fewest frames a CTC path of `tokens` needs: one per token plus a blank between
    two equal neighbours ("ee" in "green")."""
    tokens = np.asarray(tokens)
    return int(len(tokens) + np.sum(tokens[1:] == tokens[:-1]))


def lipreading_lengths(record: Mapping[str, Any], *, require_ctc_frames: bool = True
                       ) -> tuple[int, int]:
    """Validates a record's frames and tokens and returns `(num_tokens, num_frames)`.

    Args:
      record: frames `[T, H, W, 3]`, tokens `[S]` (ids >= 1; 0 is the CTC blank).
      require_ctc_frames: also require the frames a CTC path needs (`ctc_min_frames`).

    Raises:
      BadRecordError: naming what is wrong (the pipeline skips such a record).
    """
    frames, tokens = _field(record, "frames"), _field(record, "tokens")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise BadRecordError(f"frames must be a non-empty [T, H, W, 3] video, got shape "
                             f"{frames.shape}")
    if tokens.ndim != 1 or tokens.shape[0] == 0 or not np.issubdtype(tokens.dtype, np.integer):
        raise BadRecordError(f"tokens must be a non-empty integer [S] vector, got "
                             f"{tokens.dtype} {tokens.shape}")
    if tokens.min() < 1:
        raise BadRecordError("token id 0 (padding, the CTC blank) occurs in the text")
    if require_ctc_frames and frames.shape[0] < ctc_min_frames(tokens):
        raise BadRecordError(f"{frames.shape[0]} frames are too few for a CTC path of "
                             f"{len(tokens)} tokens (needs {ctc_min_frames(tokens)})")
    return int(tokens.shape[0]), int(frames.shape[0])


def lipreading_example(record: Mapping[str, Any], *, max_tokens: int, max_frames: int,
                       rng: np.random.Generator | None, training: bool
                       ) -> dict[str, np.ndarray]:
    """One record -> arrays padded to the bucket `(max_tokens, max_frames)`.

    Returns:
      frames float32 `[T, H, W, 3]` in [0, 1], frame_mask bool `[T]`, tokens int32 `[S]`
      (0 = padding), token_mask bool `[S]`, num_frames / num_tokens int32 `[]`, durations
      int32 `[S]` and has_durations bool `[]` (True when the record's durations are one per
      token and sum to its frames; zeros otherwise). `rng` and `training` are unused (no
      augmentation); they are the pipeline's signature.

    Raises:
      BadRecordError: a malformed record or one longer than the bucket.
    """
    del rng, training
    # The CTC length condition is the pipeline's `length_fn`'s; alignment (MAS) needs less.
    num_tokens, num_frames = lipreading_lengths(record, require_ctc_frames=False)
    if num_tokens > max_tokens or num_frames > max_frames:
        raise BadRecordError(f"record of {num_tokens} tokens / {num_frames} frames does not "
                             f"fit the bucket ({max_tokens}, {max_frames})")
    durations = np.asarray(record.get("durations", np.zeros(0)))
    has_durations = bool(durations.shape == (num_tokens,) and durations.min() >= 0
                         and int(durations.sum()) == num_frames)
    return {
        "frames": pad_to(to_unit_float(_field(record, "frames")), max_frames, np.float32),
        "frame_mask": np.arange(max_frames) < num_frames,
        "tokens": pad_to(_field(record, "tokens"), max_tokens, np.int32),
        "token_mask": np.arange(max_tokens) < num_tokens,
        "num_frames": np.int32(num_frames),
        "num_tokens": np.int32(num_tokens),
        "durations": pad_to(durations if has_durations else np.zeros(num_tokens), max_tokens,
                            np.int32),
        "has_durations": np.bool_(has_durations),
    }
