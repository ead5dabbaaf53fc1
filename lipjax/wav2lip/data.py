"""Training examples of Wav2Lip's expert and generator from `synthetic_talking_faces` records
(Prajwal et al., ACM MM 2020; its `color_syncnet_train.py` and `hq_wav2lip_train.py` loaders).

Both treat each clip of a pair record as a video (`lipjax.data.clip_windows`) and take a fixed
number W of 5-frame windows from each of the two clips (the bucket's `max_frames`; training:
random windows, evaluation: evenly spaced), so an example always holds N = 2 W windows, clip a's
then clip b's; slots a short clip cannot fill are masked. Faces are 96x96 crops of the record's
face boxes in Wav2Lip's convention, **BGR / 255**; the mel window of frame t starts at t
(80 mel frames per second, 16 frames = 0.2 s = the 5 video frames of a window at 25 fps).

* Expert (`expert_example`): the faces of a window, its own audio (in sync, label 1) and the
  audio of a non-overlapping window elsewhere in the same clip (off sync, label 0): every window
  gives one positive and one negative, so the labels are balanced. (Wav2Lip draws the face
  window at random, off-sync windows may overlap there; here they never do.)
* Generator (`wav2lip_example`): the target window, the mel windows of its 5 frames and a
  reference window of the same clip (non-overlapping where the clip is long enough, as
  Wav2Lip's random "wrong" window) whose faces give the identity; the masked input is built by
  the model's `generator_input`.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lipjax.audio import MelConfig
from lipjax.data.clip_windows import (
    CLIPS,
    clip_frame_count,
    clip_mel_windows,
    face_windows,
    other_window_start,
    window_frames,
    window_mouth_masks,
    window_starts,
)
from lipjax.data.pairs import MelCache, _array
from lipjax.wav2lip.model import FACE_SIZE, MEL_WINDOW, NUM_MELS, SYNC_FRAMES

__all__ = ["expert_example", "wav2lip_example", "expert_example_shapes",
           "wav2lip_example_shapes"]


def expert_example_shapes(windows: int) -> dict[str, tuple[tuple[int, ...], Any]]:
    """`{key: (shape, dtype)}` of an `expert_example` with `windows` (W) windows per clip."""
    n = 2 * int(windows)
    face = (n, SYNC_FRAMES, FACE_SIZE, FACE_SIZE, 3)
    return {"faces": (face, np.float32), "mel_sync": ((n, NUM_MELS, MEL_WINDOW), np.float32),
            "mel_off": ((n, NUM_MELS, MEL_WINDOW), np.float32), "window_mask": ((n,), bool),
            "off_mask": ((n,), bool), "start": ((n,), np.int32), "off_start": ((n,), np.int32),
            "clip": ((n,), np.int32)}


def wav2lip_example_shapes(windows: int) -> dict[str, tuple[tuple[int, ...], Any]]:
    """`{key: (shape, dtype)}` of a `wav2lip_example` with `windows` (W) windows per clip."""
    n = 2 * int(windows)
    face = (n, SYNC_FRAMES, FACE_SIZE, FACE_SIZE, 3)
    return {"target": (face, np.float32), "reference": (face, np.float32),
            "mel": ((n, SYNC_FRAMES, NUM_MELS, MEL_WINDOW), np.float32),
            "mouth_mask": ((n, SYNC_FRAMES, FACE_SIZE, FACE_SIZE), bool),
            "window_mask": ((n,), bool), "start": ((n,), np.int32),
            "reference_start": ((n,), np.int32), "clip": ((n,), np.int32)}


def _zeros(shapes: Mapping[str, tuple[tuple[int, ...], Any]]) -> dict[str, np.ndarray]:
    out = {k: np.zeros(shape, dtype) for k, (shape, dtype) in shapes.items()}
    for key in ("start", "off_start", "reference_start"):
        if key in out:
            out[key][:] = -1
    out["clip"] = np.repeat(np.arange(len(CLIPS), dtype=np.int32), len(out["clip"]) // 2)
    return out


def _bgr_windows(record: Mapping[str, Any], tag: str, starts: np.ndarray) -> np.ndarray:
    """`[n, 5, 96, 96, 3]` BGR / 255 face crops of clip `tag`'s windows at `starts`."""
    rgb = face_windows(_array(record, f"frames_{tag}"), _array(record, "face_boxes"),
                       window_frames(starts, SYNC_FRAMES), size=FACE_SIZE)
    return np.ascontiguousarray(rgb[..., ::-1])


def expert_example(record: Mapping[str, Any], *, max_tokens: int, max_frames: int,
                   rng: np.random.Generator, training: bool, mel_config: MelConfig = MelConfig(),
                   mel_cache: MelCache | None = None) -> dict[str, np.ndarray]:
    """One pair record -> the expert's in-sync / off-sync windows (module docstring).

    Args:
      record: a pair record (`lipjax.data.pairs.pair_lengths`).
      max_tokens: unused (buckets are `(1, W)`).
      max_frames: W, windows per clip.
      rng: the pipeline's per-example generator. training: random windows if True.
      mel_config, mel_cache: the audio features (Wav2Lip's) and their per-clip cache.

    Returns:
      With N = 2 W (`expert_example_shapes`): faces float32 `[N, 5, 96, 96, 3]` BGR / 255;
      mel_sync, mel_off float32 `[N, 80, 16]` (the window's own audio, another window's);
      window_mask, off_mask bool `[N]` (off_mask: an off-sync window exists, clip >= 10
      frames); start, off_start int32 `[N]` first frames (-1: none); clip int32 `[N]`.

    Raises:
      BadRecordError: a malformed record, clips shorter than 5 frames, unusable audio.
    """
    del max_tokens
    num_frames = clip_frame_count(record, SYNC_FRAMES)
    count = int(max_frames)
    out = _zeros(expert_example_shapes(count))
    for c, tag in enumerate(CLIPS):
        mels = clip_mel_windows(record, tag, mel_config=mel_config, mel_window=MEL_WINDOW,
                                mel_cache=mel_cache)
        starts, mask = window_starts(num_frames, count, window=SYNC_FRAMES, rng=rng,
                                     training=training)
        slots = slice(c * count, (c + 1) * count)
        off = np.asarray([other_window_start(s, num_frames, window=SYNC_FRAMES,
                                             min_gap=SYNC_FRAMES, rng=rng) if m else -1
                          for s, m in zip(starts, mask)], np.int64)
        out["faces"][slots] = _bgr_windows(record, tag, starts) * mask[:, None, None, None, None]
        out["mel_sync"][slots] = mels[starts] * mask[:, None, None]
        out["off_mask"][slots] = off >= 0
        out["mel_off"][slots] = mels[np.maximum(off, 0)] * (off >= 0)[:, None, None]
        out["window_mask"][slots] = mask
        out["start"][slots] = np.where(mask, starts, -1)
        out["off_start"][slots] = off
    return out


def _reference_start(start: int, num_frames: int, rng: np.random.Generator) -> int:
    """Another window of the clip: non-overlapping if the clip allows, else any other, else the
    same (a clip of exactly 5 frames)."""
    for gap in (SYNC_FRAMES, 1):
        other = other_window_start(start, num_frames, window=SYNC_FRAMES, min_gap=gap, rng=rng)
        if other >= 0:
            return other
    return start


def wav2lip_example(record: Mapping[str, Any], *, max_tokens: int, max_frames: int,
                    rng: np.random.Generator, training: bool,
                    mel_config: MelConfig = MelConfig(), mouth_margin: float = 0.25,
                    mel_cache: MelCache | None = None) -> dict[str, np.ndarray]:
    """One pair record -> the generator's windows (module docstring).

    Args:
      record, max_tokens, max_frames, rng, training, mel_config, mel_cache: as in
        `expert_example`.
      mouth_margin: relative margin of the mouth box (`lipjax.data.pairs.mouth_region_mask`).

    Returns:
      With N = 2 W (`wav2lip_example_shapes`): target, reference float32
      `[N, 5, 96, 96, 3]` BGR / 255; mel float32 `[N, 5, 80, 16]` (frame t's window starts at
      t; `mel[:, 0]` is the expert's window); mouth_mask bool `[N, 5, 96, 96]` (the target's
      mouth box); window_mask bool `[N]`; start, reference_start int32 `[N]` (-1: padding);
      clip int32 `[N]`.

    Raises:
      BadRecordError: as `expert_example`.
    """
    del max_tokens
    num_frames = clip_frame_count(record, SYNC_FRAMES)
    count = int(max_frames)
    out = _zeros(wav2lip_example_shapes(count))
    boxes = _array(record, "face_boxes")
    for c, tag in enumerate(CLIPS):
        mels = clip_mel_windows(record, tag, mel_config=mel_config, mel_window=MEL_WINDOW,
                                mel_cache=mel_cache)
        starts, mask = window_starts(num_frames, count, window=SYNC_FRAMES, rng=rng,
                                     training=training)
        refs = np.asarray([_reference_start(int(s), num_frames, rng) for s in starts], np.int64)
        slots = slice(c * count, (c + 1) * count)
        frames = window_frames(starts, SYNC_FRAMES)
        keep = mask[:, None, None, None, None]
        out["target"][slots] = _bgr_windows(record, tag, starts) * keep
        out["reference"][slots] = _bgr_windows(record, tag, refs) * keep
        out["mel"][slots] = mels[frames] * mask[:, None, None, None]
        out["mouth_mask"][slots] = window_mouth_masks(
            _array(record, f"landmarks_{tag}"), boxes, frames, size=FACE_SIZE,
            margin=mouth_margin) & mask[:, None, None, None]
        out["window_mask"][slots] = mask
        out["start"][slots] = np.where(mask, starts, -1)
        out["reference_start"][slots] = np.where(mask, refs, -1)
    return out
