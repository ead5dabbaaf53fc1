"""Examples from lip-video records (synthetic_lips, GRID, TCD-TIMIT): the pipeline transform
that ParaLip and its baselines train on.

A lips record has frames `[T, H, W, 3]` (uint8 on disk), tokens `[S]`, durations `[S]` with
`sum(durations) == T` and mouth landmarks `[T, K, 2]` (and optionally a speaker id).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lipjax.errors import BadRecordError

__all__ = ["lips_lengths", "lips_example", "pad_to", "to_unit_float"]


def _field(record: Mapping[str, Any], key: str) -> np.ndarray:
    try:
        return np.asarray(record[key])
    except KeyError:
        raise BadRecordError(f"record has no field {key!r} (fields: {sorted(record)})") from None


def lips_lengths(record: Mapping[str, Any]) -> tuple[int, int]:
    """Validates a lips record and returns `(num_tokens, num_frames)`.

    A lips record has frames `[T, H, W, 3]`, tokens `[S]`, durations `[S]` with
    `sum(durations) == T` (every frame belongs to one token; ParaLip Sec. 3.1) and landmarks
    `[T, K, 2]`.

    Raises:
      BadRecordError: naming what is inconsistent.
    """
    frames, tokens = _field(record, "frames"), _field(record, "tokens")
    durations, landmarks = _field(record, "durations"), _field(record, "landmarks")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise BadRecordError(f"frames must be [T, H, W, 3], got shape {frames.shape}")
    num_frames = frames.shape[0]
    if num_frames == 0:
        raise BadRecordError("the video has zero frames")
    if tokens.ndim != 1 or tokens.shape[0] == 0:
        raise BadRecordError(f"tokens must be a non-empty [S] vector, got shape {tokens.shape}")
    if durations.shape != tokens.shape:
        raise BadRecordError(
            f"durations {durations.shape} and tokens {tokens.shape} have different shapes"
        )
    if np.any(durations < 0) or int(durations.sum()) != num_frames:
        raise BadRecordError(
            f"durations sum to {int(durations.sum())} (min {int(durations.min())}) but the "
            f"video has {num_frames} frames"
        )
    if landmarks.ndim != 3 or landmarks.shape[0] != num_frames or landmarks.shape[-1] != 2:
        raise BadRecordError(
            f"landmarks must be [{num_frames}, K, 2] to match the frames, got {landmarks.shape}"
        )
    return int(tokens.shape[0]), int(num_frames)


def pad_to(array: np.ndarray, length: int, dtype: Any) -> np.ndarray:
    """Zero-pads (or never truncates) axis 0 of `array` to `length`."""
    out = np.zeros((length,) + array.shape[1:], dtype)
    out[: array.shape[0]] = array
    return out


def to_unit_float(frames: np.ndarray) -> np.ndarray:
    """uint8 in [0, 255] (file I/O) -> float32 in [0, 1] (the public API)."""
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / np.float32(255.0)
    return frames.astype(np.float32)


def lips_example(
    record: Mapping[str, Any],
    *,
    max_tokens: int,
    max_frames: int,
    rng: np.random.Generator,
    training: bool,
) -> dict[str, np.ndarray]:
    """One lips record -> arrays padded to the bucket `(max_tokens, max_frames)`.

    ParaLip (AAAI 2022, Sec. 4.1): the identity image is a random frame of the target video in
    training and the first frame at inference.

    Returns:
      tokens int32 `[S]` (0 = padding), token_mask bool `[S]`, durations int32 `[S]`,
      frames float32 `[T, H, W, 3]` in [0, 1], frame_mask bool `[T]`, landmarks float32
      `[T, K, 2]`, identity float32 `[H, W, 3]`, num_tokens int32 `[]`, num_frames int32 `[]`,
      and speaker int32 `[]` when the record has one; S = max_tokens, T = max_frames.

    Raises:
      BadRecordError: the record is malformed or longer than the bucket.
    """
    num_tokens, num_frames = lips_lengths(record)
    if num_tokens > max_tokens or num_frames > max_frames:
        raise BadRecordError(
            f"record of {num_tokens} tokens / {num_frames} frames does not fit the bucket "
            f"({max_tokens}, {max_frames})"
        )
    frames = to_unit_float(_field(record, "frames"))
    identity_frame = int(rng.integers(num_frames)) if training else 0
    example = {
        "tokens": pad_to(_field(record, "tokens"), max_tokens, np.int32),
        "token_mask": np.arange(max_tokens) < num_tokens,
        "durations": pad_to(_field(record, "durations"), max_tokens, np.int32),
        "frames": pad_to(frames, max_frames, np.float32),
        "frame_mask": np.arange(max_frames) < num_frames,
        "landmarks": pad_to(_field(record, "landmarks"), max_frames, np.float32),
        "identity": frames[identity_frame],
        "num_tokens": np.int32(num_tokens),
        "num_frames": np.int32(num_frames),
    }
    if "speaker" in record:
        example["speaker"] = np.asarray(record["speaker"], np.int32)
    return example
