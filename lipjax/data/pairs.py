"""Examples from talking-face pair records: both directions of a pair, as the DCK paper trains.

A pair record holds two clips with the same identity and head motion but different speech
(`synthetic_talking_faces`; the DCK paper builds such pairs from real videos and Wav2Lip's
re-synced versions of them, Sec. IV). `pair_example` turns one record into the model's inputs
for predicting clip B from (A's face crops, B's audio) and clip A from (B's crops, A's audio),
a fixed number of frames each, so that every batch has the same static shapes;
`face_crop_landmark_records` gives the same face crops with their mouth landmarks (the training
data of an LMD regressor for face crops).
"""

from __future__ import annotations

import collections
import functools
import threading
from typing import Any, Callable, Mapping

import numpy as np
from jax.typing import ArrayLike

from lipjax.audio import MelConfig, mel_spectrogram, mel_windows
from lipjax.errors import BadRecordError
from lipjax.errors import ConfigError, LipjaxError
from lipjax.face import box_to_pixels, crop_and_resize

__all__ = [
    "DIRECTIONS",
    "MelCache",
    "pair_lengths",
    "pair_example",
    "crop_landmarks",
    "mouth_region_mask",
    "face_crop_landmark_records",
]

# (source clip, target clip) of the two directions of a pair, in the order of the example arrays.
DIRECTIONS: tuple[tuple[str, str], ...] = (("a", "b"), ("b", "a"))


def _array(record: Mapping[str, Any], key: str) -> np.ndarray:
    try:
        return np.asarray(record[key])
    except KeyError:
        raise BadRecordError(f"pair record has no field {key!r} (fields: {sorted(record)})") from None


def pair_lengths(record: Mapping[str, Any]) -> tuple[int, int]:
    """Validates a talking-face pair record; returns `(1, 1)` so that it fits every bucket.

    An example takes a fixed number of frames (the bucket's `max_frames`) from any clip, so the
    pipeline's length bucketing has nothing to sort; the record only needs one frame.

    A pair record (`lipjax.data.synthetic.talking_faces.generate_pairs`) has frames_a/frames_b
    `[T, H, W, 3]`, audio_a/audio_b `[N]`, face_boxes `[T, 4]`, landmarks_a/_b `[T, K, 2]` and fps.

    Raises:
      BadRecordError: naming the inconsistent field.
    """
    frames_a, frames_b = _array(record, "frames_a"), _array(record, "frames_b")
    if frames_a.ndim != 4 or frames_a.shape[-1] != 3 or frames_a.shape != frames_b.shape:
        raise BadRecordError(
            f"frames_a and frames_b must both be [T, H, W, 3] of one shape, got {frames_a.shape} "
            f"and {frames_b.shape}")
    num_frames = frames_a.shape[0]
    if num_frames == 0:
        raise BadRecordError("the pair's clips have zero frames")
    boxes = _array(record, "face_boxes")
    if boxes.shape != (num_frames, 4):
        raise BadRecordError(f"face_boxes must be [{num_frames}, 4], got {boxes.shape}")
    for tag in ("a", "b"):
        landmarks = _array(record, f"landmarks_{tag}")
        if landmarks.ndim != 3 or landmarks.shape[0] != num_frames or landmarks.shape[-1] != 2:
            raise BadRecordError(
                f"landmarks_{tag} must be [{num_frames}, K, 2], got {landmarks.shape}")
        if _array(record, f"audio_{tag}").ndim != 1:
            raise BadRecordError(f"audio_{tag} must be a mono waveform [N]")
    if not float(_array(record, "fps")) > 0:
        raise BadRecordError(f"fps must be positive, got {record['fps']!r}")
    return 1, 1


class MelCache:
    """A bounded, thread-safe LRU cache of per-clip mel windows, keyed by (pair_id, clip).

    The STFT of a clip is computed once (not per frame, not per epoch while cached).
    """

    def __init__(self, max_entries: int = 256):
        if max_entries < 0:
            raise ConfigError(f"MelCache max_entries must be >= 0, got {max_entries}")
        self._max = max_entries
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached value of `key`, computing (and storing) it if absent."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = compute()
        with self._lock:
            if self._max:
                self._entries[key] = value
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return value


def _clip_mel_windows(record: Mapping[str, Any], tag: str, num_frames: int, *,
                      mel_config: MelConfig, mel_window: int, center: bool) -> np.ndarray:
    """`[T, num_mels, mel_window]` windows of clip `tag`'s audio, one per video frame."""
    mel = mel_spectrogram(_array(record, f"audio_{tag}"), mel_config, min_rms=0.0)
    return mel_windows(mel, num_frames, fps=float(_array(record, "fps")), window=mel_window,
                       mel_fps=mel_config.frames_per_second, center=center)


def crop_landmarks(landmarks: ArrayLike, box: ArrayLike, size: int) -> np.ndarray:
    """Frame pixel coordinates -> coordinates in the `size x size` crop of `box`.

    Uses the box as `lipjax.face.crop_and_resize` cuts it (snapped to whole pixels) and the
    pixel-centre convention of its resize: `x' = (x - x0 + 0.5) * size / width - 0.5`.

    Args:
      landmarks: `[..., K, 2]` (x, y) points in the frame.
      box: (x0, y0, x1, y1) face box in the frame.
      size: side of the square crop.

    Returns:
      float32 `[..., K, 2]`.
    """
    x0, y0, x1, y1 = box_to_pixels(box)
    scale = np.asarray([size / (x1 - x0), size / (y1 - y0)], np.float64)
    origin = np.asarray([x0, y0], np.float64)
    return ((np.asarray(landmarks, np.float64) - origin + 0.5) * scale - 0.5).astype(np.float32)


def mouth_region_mask(points: ArrayLike, size: int, *, margin: float) -> np.ndarray:
    """Bool `[size, size]` box around `points` `[K, 2]` (crop pixels), widened by `margin` times
    its width and height on every side and clipped to the crop."""
    points = np.asarray(points, np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    pad = margin * (high - low)
    x0, y0 = np.floor(np.maximum(low - pad, 0)).astype(int)
    x1, y1 = np.ceil(np.minimum(high + pad, size - 1)).astype(int)
    mask = np.zeros((size, size), bool)
    mask[y0:y1 + 1, x0:x1 + 1] = True
    return mask


def _choose_frames(num_frames: int, count: int, rng: np.random.Generator,
                   training: bool) -> np.ndarray:
    """`min(num_frames, count)` distinct sorted frame indices: random in training, else evenly
    spaced (deterministic evaluation)."""
    if num_frames <= count:
        return np.arange(num_frames)
    if training:
        return np.sort(rng.choice(num_frames, size=count, replace=False))
    return np.round(np.linspace(0, num_frames - 1, count)).astype(np.int64)


def pair_example(
    record: Mapping[str, Any],
    *,
    max_tokens: int,
    max_frames: int,
    rng: np.random.Generator,
    training: bool,
    image_size: int,
    mel_config: MelConfig = MelConfig(),
    mel_window: int = 16,
    center_mel_windows: bool = False,
    mouth_margin: float = 0.25,
    mel_cache: MelCache | None = None,
) -> dict[str, np.ndarray]:
    """One pair record -> both training directions, `F = max_frames` frames each.

    Direction 0 predicts clip B from (A's face crops, B's audio), direction 1 clip A from
    (B's crops, A's audio) (DCK paper, Sec. III-D). For each chosen video frame t both crops use
    the record's face box of frame t (the clips share head motion), cut and resized to
    `image_size` with `lipjax.face.crop_and_resize`; the audio is the target clip's mel window
    of frame t (`lipjax.audio.mel_windows` at the record's fps).

    Args:
      record: a pair record (see `pair_lengths`).
      max_tokens: unused (buckets are `(1, F)`; kept for the pipeline's interface).
      max_frames: F, frames per direction; shorter clips are padded (frame_mask False).
      rng: the pipeline's per-example generator; the only source of randomness.
      training: random frames if True, evenly spaced frames otherwise.
      image_size: side S of the square face crops.
      mel_config, mel_window, center_mel_windows: the audio features (Wav2Lip's by default).
      mouth_margin: relative margin of the mouth region box (see `mouth_region_mask`).
      mel_cache: reuse mel windows across calls (keyed by the record's pair_id).

    Returns:
      With N = 2 F, directions in `DIRECTIONS` order (frames 0..F-1, then F..2F-1):
      source, target float32 `[N, S, S, 3]` in [0, 1]; mel float32 `[N, num_mels, mel_window]`;
      frame_mask bool `[N]`; frame_index int32 `[N]` (-1 = padding); direction int32 `[N]`;
      source_landmarks, target_landmarks float32 `[N, K, 2]` in crop pixels (NaN where the
      record's are: unknown); mouth_mask bool `[N, S, S]` (box around both mouths, or the lower
      half of the crop where a landmark is unknown); identity int32 `[]` when the record has one.

    Raises:
      BadRecordError: the record is malformed or its audio is unusable.
    """
    del max_tokens
    pair_lengths(record)
    count = int(max_frames)
    size = int(image_size)
    boxes = _array(record, "face_boxes")
    num_frames = boxes.shape[0]
    key = record.get("pair_id")
    key = bytes(key) if isinstance(key, (bytes, np.bytes_)) else key
    windows = {}
    try:
        for tag in ("a", "b"):
            compute = functools.partial(
                _clip_mel_windows, record, tag, num_frames, mel_config=mel_config,
                mel_window=mel_window, center=center_mel_windows)
            cache_key = (key, tag, num_frames, mel_config, mel_window, center_mel_windows)
            windows[tag] = (mel_cache.get(cache_key, compute) if mel_cache is not None and
                            key is not None else compute())
    except LipjaxError as error:  # AudioError and the like: skip the record, not the run
        raise BadRecordError(f"pair {key!r}: {error}") from error

    total = 2 * count
    num_landmarks = _array(record, "landmarks_a").shape[1]
    # Unknown (NaN) landmarks, as in real pairs (`talking_face_pairs`): the mouth region is the
    # lower half of the crop, the half Wav2Lip re-synthesises.
    lower_half = np.zeros((size, size), bool)
    lower_half[size // 2:] = True
    out = {
        "source": np.zeros((total, size, size, 3), np.float32),
        "target": np.zeros((total, size, size, 3), np.float32),
        "mel": np.zeros((total, mel_config.num_mels, mel_window), np.float32),
        "frame_mask": np.zeros(total, bool),
        "frame_index": np.full(total, -1, np.int32),
        "direction": np.repeat(np.arange(2, dtype=np.int32), count),
        "source_landmarks": np.zeros((total, num_landmarks, 2), np.float32),
        "target_landmarks": np.zeros((total, num_landmarks, 2), np.float32),
        "mouth_mask": np.zeros((total, size, size), bool),
    }
    for d, (src, tgt) in enumerate(DIRECTIONS):
        frames_src, frames_tgt = _array(record, f"frames_{src}"), _array(record, f"frames_{tgt}")
        marks_src, marks_tgt = _array(record, f"landmarks_{src}"), _array(record, f"landmarks_{tgt}")
        for j, t in enumerate(_choose_frames(num_frames, count, rng, training)):
            slot = d * count + j
            box = boxes[t]
            out["source"][slot] = _unit(crop_and_resize(frames_src[t], box, (size, size)))
            out["target"][slot] = _unit(crop_and_resize(frames_tgt[t], box, (size, size)))
            out["mel"][slot] = windows[tgt][t]
            out["frame_mask"][slot] = True
            out["frame_index"][slot] = t
            out["source_landmarks"][slot] = crop_landmarks(marks_src[t], box, size)
            out["target_landmarks"][slot] = crop_landmarks(marks_tgt[t], box, size)
            both = np.concatenate([out["source_landmarks"][slot], out["target_landmarks"][slot]])
            out["mouth_mask"][slot] = (mouth_region_mask(both, size, margin=mouth_margin)
                                       if np.isfinite(both).all() else lower_half)
    if "identity" in record:
        out["identity"] = np.asarray(record["identity"], np.int32)
    return out


def _unit(image: np.ndarray) -> np.ndarray:
    """uint8 (file I/O) -> float32 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255.0)
    return image.astype(np.float32)


def face_crop_landmark_records(source, *, image_size: int) -> list[dict[str, np.ndarray]]:
    """Every clip of a talking-face split as the model sees it: `{"frames": uint8 [T, S, S, 3]
    face crops, "landmarks": float32 [T, 20, 2] mouth landmarks in crop pixels}`, two per pair.

    The training data of a mouth-landmark regressor for LMD on generated crops
    (`lipjax.landmarks.train_landmark_regressor`).
    """
    size = int(image_size)
    records = []
    for record in source:
        boxes = _array(record, "face_boxes")
        for tag in ("a", "b"):
            frames, marks = _array(record, f"frames_{tag}"), _array(record, f"landmarks_{tag}")
            crops = np.stack([crop_and_resize(frame, box, (size, size))
                              for frame, box in zip(frames, boxes)])
            records.append({"frames": crops, "landmarks": np.stack(
                [crop_landmarks(m, box, size) for m, box in zip(marks, boxes)])})
    return records
