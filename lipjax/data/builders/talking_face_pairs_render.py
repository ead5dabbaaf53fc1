"""`talking_face_pairs`, the work: Wav2Lip re-syncs a real video to another audio, and the real
and the re-synced clips become pair records in the format DCK training reads
(`lipjax.data.pairs.pair_example`, the fields of `synthetic_talking_faces`).

DCK paper (Ye et al., IEEE TMM 2022, Sec. IV): V^j_i = Wav2Lip(V^0_i, A_j) has the identity and
head motion of the real video V^0_i and the lips of audio A_j; (V^0_i, V^j_i) with their audios
(A(V^0_i), A_j) is one training pair. Per (video, audio) combination:

* the video is decoded once for all of its audios (`OpenedVideo`, frames memory-mapped on disk);
  its faces are found with Wav2Lip's own conventions (`Wav2LipFaceEditor.face_boxes`: Haar
  detection, `--pads 0 10 0 0`, 5-frame forward smoothing) and snapped to whole pixels; its own
  soundtrack (16 kHz mono) is audio A. A file `<video stem>.boxes.npy` next to the video
  (`BOXES_SUFFIX`: float `[T, 4]` x0, y0, x1, y1 per frame, NaN rows for frames without a face)
  gives the boxes instead, used as they are (no detection, pads or smoothing): the crops of
  another detector, e.g. the one Wav2Lip was trained with;
* both clips last `T = min(video frames, frames the video's audio covers, frames the driving
  audio covers)` frames: nothing is looped, so the real clip and its audio stay in sync;
* Wav2Lip edits every frame with a detected face (`lipjax.lipsync.lip_sync`, its mel windows
  from the whole driving audio); frames without a detection cut the video into runs, and each run
  of at least `MIN_CLIP_FRAMES` frames is cut into near-equal clips of at most `clip_frames`
  frames (one record each), so no record holds a frame that Wav2Lip left unchanged;
* a record stores the region around the clip's faces (the union of its boxes grown by
  `REGION_MARGIN` of its size on each side, clipped to the frame) of both clips, not the whole
  frame; `face_boxes` are in region pixels;
* mouth landmarks are unknown for real faces: `landmarks_a` / `landmarks_b` are NaN, as in
  lipjax's real lip corpora without a dlib predictor. `pair_example` then takes the lower half
  of the face crop (where Wav2Lip re-synthesises) as the mouth region, and DCK's evaluation
  leaves the input baseline's exact LMD out and detects the targets' landmarks for the model's
  LMD (`lipjax.metrics.video_landmark_distance`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from lipjax.audio import load_audio
from lipjax.data.builders.talking_face_pairs_plan import MIN_CLIP_FRAMES, Combination
from lipjax.errors import InputError, LipjaxError
from lipjax.face import NUM_MOUTH_LANDMARKS, box_to_pixels, smooth_boxes
from lipjax.lipsync.faces import detect_raw_boxes, shape_boxes
from lipjax.lipsync.pipeline import lip_sync
from lipjax.lipsync.source import FaceVideo, output_frame_count

__all__ = ["REGION_MARGIN", "BOXES_SUFFIX", "Skip", "OpenedVideo", "open_video",
           "given_boxes", "load_driving_audio", "clip_ranges", "face_region",
           "render_combination", "UNREADABLE"]

REGION_MARGIN = 0.25  # of the union box's width / height, on each side
BOXES_SUFFIX = ".boxes.npy"  # per-frame face boxes stored next to a video (module docstring)
# What makes an input file count as unreadable (skipped and listed, the build goes on).
UNREADABLE = (LipjaxError, OSError)


@dataclasses.dataclass(frozen=True)
class Skip:
    """An input file that could not be used, and why."""

    path: str  # "videos/<relative path>" or "audios/<relative path>"
    reason: str


@dataclasses.dataclass
class OpenedVideo:
    """A real video, decoded once for all of its combinations.

    Attributes:
      name: its path relative to --videos.
      source: the decoded video; its T frames are cached on disk (`FaceVideo.cache`) and read a
        clip at a time (`frames`).
      fps: its frame rate.
      boxes: float32 `[T, 4]` whole-pixel face boxes (x0, y0, x1, y1); detected: bool `[T]`.
      wav: float32 `[N]`, its own soundtrack at the editor's rate.
    """

    name: str
    source: FaceVideo
    fps: float
    boxes: np.ndarray
    detected: np.ndarray
    wav: np.ndarray

    def frames(self, start: int, end: int) -> np.ndarray:
        """uint8 `[end - start, H, W, 3]`: frames `start .. end - 1`."""
        return self.source.frames_at(np.arange(start, end))

    def close(self) -> None:
        """Removes the frame cache."""
        self.source.close()


def given_boxes(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The boxes stored next to video `path` (`<stem>.boxes.npy`), or None without that file.

    Returns:
      `(boxes float [T, 4], found bool [T])`: the finite rows are faces; the rows without one
      are interpolated between their neighbours (`lipjax.face.smooth_boxes`, window 1).

    Raises:
      InputError: not a float `[T, 4]` array, or a face box with x1 <= x0 or y1 <= y0.
      NoFaceError: no row is a face.
    """
    file = path.with_suffix(BOXES_SUFFIX)
    if not file.is_file():
        return None
    try:
        boxes = np.load(file, allow_pickle=False)
    except ValueError as error:
        raise InputError(f"{file.name}: not a NumPy array file ({error})") from error
    if boxes.ndim != 2 or boxes.shape[1:] != (4,) or boxes.dtype.kind != "f":
        raise InputError(f"{file.name} must hold float boxes [T, 4] (x0, y0, x1, y1), got "
                         f"{boxes.dtype} {boxes.shape}")
    found = np.all(np.isfinite(boxes), axis=1)
    if np.any((boxes[found, 2] <= boxes[found, 0]) | (boxes[found, 3] <= boxes[found, 1])):
        raise InputError(f"{file.name} has a box with x1 <= x0 or y1 <= y0")
    return smooth_boxes(np.where(found[:, None], boxes, 0.0), found, window=1), found


def _find_faces(video: FaceVideo, path: Path, editor: Any) -> tuple[np.ndarray, np.ndarray]:
    """`(boxes [T, 4], found [T])` of every frame (given or detected); caches the frames."""
    given = given_boxes(path)
    if given is not None:
        count = len(given[0])
        video.cache(count + 1)  # one more: a longer video is an error
        if video.num_frames != count:
            frames = video.num_frames or f"more than {count}"
            raise InputError(f"{path.with_suffix(BOXES_SUFFIX).name} has {count} boxes for a "
                             f"video of {frames} frames")
        return given
    options = editor.face_boxes
    raw, found = detect_raw_boxes(video.chunks(), options)
    height, width = video.frame_size
    boxes = shape_boxes(raw, found, options, height=height, width=width)
    video.cache(len(found))
    return boxes, found


def open_video(root: str | os.PathLike, name: str, editor: Any) -> OpenedVideo:
    """Decodes video `root/name`, finds its faces (or reads them from its `.boxes.npy`) and
    loads its soundtrack.

    Raises:
      VideoError, AudioError, NoFaceError, InputError, OSError: the file (or its boxes) cannot
        serve as a real video.
    """
    path = Path(root) / name
    video = FaceVideo(path)
    try:
        wav = load_audio(path, sample_rate=editor.sample_rate)
        output_frame_count(len(wav), sample_rate=editor.sample_rate, fps=video.fps)  # >= 1
        boxes, found = _find_faces(video, path, editor)
    except BaseException:
        video.close()
        raise
    snapped = np.asarray([box_to_pixels(b) for b in boxes], np.float32)
    return OpenedVideo(name, video, video.fps, snapped, np.asarray(found, bool), wav)


def load_driving_audio(root: str | os.PathLike, name: str, editor: Any) -> np.ndarray:
    """The audio `root/name` at the editor's rate (AudioError / OSError when unreadable)."""
    return load_audio(Path(root) / name, sample_rate=editor.sample_rate)


def clip_ranges(detected: np.ndarray, clip_frames: int) -> list[tuple[int, int]]:
    """`[start, end)` frame ranges: the runs of True in `detected` of at least
    `MIN_CLIP_FRAMES` frames, each cut into `ceil(length / clip_frames)` near-equal clips."""
    flags = np.concatenate([[False], np.asarray(detected, bool), [False]])
    edges = np.flatnonzero(flags[1:] != flags[:-1])
    ranges = []
    for start, end in zip(edges[0::2], edges[1::2]):
        if end - start < MIN_CLIP_FRAMES:
            continue
        pieces = math.ceil((end - start) / clip_frames)
        cuts = np.round(np.linspace(start, end, pieces + 1)).astype(int)
        ranges.extend((int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]))
    return ranges


def face_region(boxes: np.ndarray, height: int, width: int,
                margin: float = REGION_MARGIN) -> tuple[int, int, int, int]:
    """Whole-pixel (x0, y0, x1, y1): the union of `boxes` `[T, 4]` grown by `margin` of its width
    and height on each side, clipped to the `height` x `width` frame."""
    low, high = boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)
    pad = margin * (high - low)
    x0, y0 = np.maximum(np.floor(low - pad), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(high + pad), [width, height]).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def _record(video: OpenedVideo, real: np.ndarray, synced: np.ndarray, wav_b: np.ndarray,
            combo: Combination, start: int, rate: int) -> dict:
    """One clip (frames `start ..`, `real` and `synced` `[n, H, W, 3]`) as a pair record."""
    end = start + len(real)
    height, width = real.shape[1:3]
    x0, y0, x1, y1 = face_region(video.boxes[start:end], height, width)
    first = int(round(start * rate / video.fps))
    last = min(int(round(end * rate / video.fps)), len(video.wav), len(wav_b))
    nan = np.full((end - start, NUM_MOUTH_LANDMARKS, 2), np.nan, np.float32)
    return {
        "frames_a": np.ascontiguousarray(real[:, y0:y1, x0:x1]),
        "frames_b": np.ascontiguousarray(synced[:, y0:y1, x0:x1]),
        "audio_a": video.wav[first:last].astype(np.float32),
        "audio_b": wav_b[first:last].astype(np.float32),
        "landmarks_a": nan,
        "landmarks_b": nan.copy(),
        "face_boxes": video.boxes[start:end] - np.asarray([x0, y0, x0, y0], np.float32),
        "fps": np.float32(video.fps),
        "identity": np.int32(combo.video_index),
        "pair_id": f"{combo.video}+{combo.audio}@{start}",
        "video": combo.video,
        "audio": combo.audio,
        "clip_start": np.int32(start),
        "region": np.asarray([x0, y0, x1, y1], np.int32),
    }


def render_combination(editor: Any, video: OpenedVideo, wav_b: np.ndarray, combo: Combination,
                       *, clip_frames: int, batch_size: int) -> tuple[list[dict], dict]:
    """The pair records of one (video, audio) combination (see the module docstring).

    Returns:
      `(records, stats)`: stats has `frames` (output frames Wav2Lip made), `seconds` (wall time
      of the Wav2Lip passes, compilation excluded) and `frames_without_face` (of the T usable).
    """
    rate = editor.sample_rate
    num_frames = min(len(video.detected),
                     output_frame_count(len(video.wav), sample_rate=rate, fps=video.fps),
                     output_frame_count(len(wav_b), sample_rate=rate, fps=video.fps))
    mel = editor.mel_windows(wav_b, num_frames, fps=video.fps)
    editor.compile(batch_size)
    records, frames, seconds = [], 0, 0.0
    for start, end in clip_ranges(video.detected[:num_frames], clip_frames):
        real = video.frames(start, end)
        began = time.perf_counter()
        synced, _ = lip_sync(editor, real, mel[start:end], video.boxes[start:end],
                             video.detected[start:end], batch_size=batch_size)
        seconds += time.perf_counter() - began
        frames += end - start
        records.append(_record(video, real, synced, wav_b, combo, start, rate))
    stats = {"frames": frames, "seconds": seconds,
             "frames_without_face": int(num_frames - video.detected[:num_frames].sum())}
    return records, stats
