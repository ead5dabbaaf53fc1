"""Windows of consecutive frames from the clips of talking-face pair records: what Wav2Lip's
lip-sync expert and generator train on (Prajwal et al., ACM MM 2020, Sec. 3).

Wav2Lip samples, from one video, a window of `syncnet_T = 5` consecutive frames, the mel windows
of its frames and a second window of the same video (the expert's off-sync faces, or the
generator's identity reference). A `synthetic_talking_faces` pair record (`lipjax.data.pairs`)
holds two clips with the same head motion and different speech; here each clip is simply a
video (`CLIPS`), the pairing is not used.

Everything here is per clip and static in shape: `window_starts` picks a fixed number of window
starts (padding slots masked when the clip is short), `other_window_start` a second window,
`face_windows` cuts the face crops of windows, `clip_mel_windows` the per-frame mel windows
(through `lipjax.data.pairs`' helpers and its `MelCache`), `window_mouth_masks` the mouth boxes
of the mouth-region PSNR. The system-specific examples are built from these in
`lipjax.wav2lip.data`.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np

from lipjax.audio import MelConfig
from lipjax.data.pairs import (
    MelCache,
    _array,
    _clip_mel_windows,
    _unit,
    crop_landmarks,
    mouth_region_mask,
    pair_lengths,
)
from lipjax.errors import BadRecordError, LipjaxError
from lipjax.face import crop_and_resize

__all__ = [
    "CLIPS",
    "clip_frame_count",
    "window_starts",
    "other_window_start",
    "window_frames",
    "face_windows",
    "clip_mel_windows",
    "window_mouth_masks",
]

CLIPS: tuple[str, ...] = ("a", "b")   # the clips of a pair record, each used as a video


def clip_frame_count(record: Mapping[str, Any], window: int) -> int:
    """Validates a pair record (`lipjax.data.pairs.pair_lengths`) and returns its clips' frame
    count T (both clips have T frames).

    Raises:
      BadRecordError: a malformed record, or clips shorter than one `window`-frame window.
    """
    pair_lengths(record)
    num_frames = int(_array(record, "face_boxes").shape[0])
    if num_frames < window:
        raise BadRecordError(f"pair {record.get('pair_id')!r}: its clips have {num_frames} "
                             f"frames, fewer than one {window}-frame window")
    return num_frames


def window_starts(num_frames: int, count: int, *, window: int, rng: np.random.Generator,
                  training: bool) -> tuple[np.ndarray, np.ndarray]:
    """`count` first frames of `window`-frame windows inside a clip of `num_frames` frames.

    Training draws distinct starts at random; evaluation spaces them evenly (deterministic).
    A clip with fewer than `count` possible starts fills the first slots with all of them and
    masks the rest.

    Returns:
      `(starts int64 [count], 0 on padding slots; mask bool [count])`.
    """
    num_starts = num_frames - window + 1
    starts, mask = np.zeros(count, np.int64), np.zeros(count, bool)
    if num_starts < 1:
        return starts, mask
    if num_starts <= count:
        chosen = np.arange(num_starts)
    elif training:
        chosen = np.sort(rng.choice(num_starts, size=count, replace=False))
    else:
        chosen = np.round(np.linspace(0, num_starts - 1, count)).astype(np.int64)
    starts[:len(chosen)], mask[:len(chosen)] = chosen, True
    return starts, mask


def other_window_start(start: int, num_frames: int, *, window: int, min_gap: int,
                       rng: np.random.Generator) -> int:
    """A random window start `s` of the clip with `|s - start| >= min_gap`, or -1 if there is
    none (`min_gap = window`: windows that do not overlap)."""
    candidates = np.arange(num_frames - window + 1)
    candidates = candidates[np.abs(candidates - start) >= min_gap]
    return int(rng.choice(candidates)) if len(candidates) else -1


def window_frames(starts: np.ndarray, window: int) -> np.ndarray:
    """Frame indices `[n, window]` of the windows starting at `starts` `[n]`."""
    return np.asarray(starts, np.int64)[:, None] + np.arange(window)[None, :]


def face_windows(frames: np.ndarray, boxes: np.ndarray, index: np.ndarray, *,
                 size: int) -> np.ndarray:
    """Face crops of frames `index` `[n, window]`: each frame's box of the record
    (`face_boxes`) cut and resized with `lipjax.face.crop_and_resize`, RGB in [0, 1].

    Returns:
      float32 `[n, window, size, size, 3]`; a frame used twice is cropped once.
    """
    crops: dict[int, np.ndarray] = {}
    out = np.empty(index.shape + (size, size, 3), np.float32)
    for position, t in np.ndenumerate(index):
        if t not in crops:
            crops[t] = _unit(crop_and_resize(frames[t], boxes[t], (size, size)))
        out[position] = crops[t]
    return out


def clip_mel_windows(record: Mapping[str, Any], tag: str, *, mel_config: MelConfig,
                     mel_window: int, mel_cache: MelCache | None) -> np.ndarray:
    """Clip `tag`'s mel window of every video frame, `[T, num_mels, mel_window]`: frame t's
    window starts at t (Wav2Lip's `crop_audio_window`: mel frame `int(80 t / fps)`), so the
    window of a 5-frame window's first frame spans exactly those 5 frames (16 mel frames).

    Cached per (pair_id, clip) in `mel_cache` when the record has a pair_id.

    Raises:
      BadRecordError: the clip's audio is unusable (too short, silent, not finite).
    """
    num_frames = int(_array(record, "face_boxes").shape[0])
    key = record.get("pair_id")
    key = bytes(key) if isinstance(key, (bytes, np.bytes_)) else key
    compute = functools.partial(_clip_mel_windows, record, tag, num_frames,
                                mel_config=mel_config, mel_window=mel_window, center=False)
    try:
        if mel_cache is None or key is None:
            return compute()
        return mel_cache.get((key, tag, num_frames, mel_config, mel_window, False), compute)
    except LipjaxError as error:
        raise BadRecordError(f"pair {key!r}, clip {tag}: {error}") from error


def window_mouth_masks(landmarks: np.ndarray, boxes: np.ndarray, index: np.ndarray, *,
                       size: int, margin: float) -> np.ndarray:
    """Bool `[n, window, size, size]` mouth boxes (`lipjax.data.pairs.mouth_region_mask` of the
    frame's landmarks in crop pixels) of frames `index` `[n, window]`."""
    out = np.zeros(index.shape + (size, size), bool)
    for position, t in np.ndenumerate(index):
        points = crop_landmarks(landmarks[t], boxes[t], size)
        out[position] = mouth_region_mask(points, size, margin=margin)
    return out
