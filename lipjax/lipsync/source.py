"""The frames to lip-sync, read with memory that does not grow with the video's length.

`FaceVideo` decodes a video in chunks, as often as the pipeline asks (once to find the faces,
once to edit them), applying Wav2Lip's `--resize_factor`; a still image is one frame at a given
rate. When the output loops the video back and forth (the audio is longer), its frames are
decoded once more into a memory-mapped cache in a private temporary folder, so that frames can
be read in any order without holding them in RAM; the folder is removed on `close()`.

Which source frame each output frame shows (`ping_pong_indices`) and how many output frames
the audio makes (`output_frame_count`) are here too. A frame rate (a still image's, or the one a
video declares) must lie in (0, `MAX_FPS`]: anything above is a mistake or a broken container,
and would make an output of absurd length.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import cv2
import numpy as np

from lipjax.errors import AudioError, InputError, VideoError
from lipjax.lipsync.faces import FaceBoxOptions
from lipjax.video import iter_frames, read_image, video_fps

__all__ = ["FaceVideo", "IMAGE_SUFFIXES", "MAX_FPS", "MAX_BATCH_SIZE", "MISSING_FACES",
           "check_talk_options", "output_frame_count", "ping_pong_indices"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MAX_FPS = 1000.0  # frame rates above this are a mistake (or a broken container), not a video
MAX_BATCH_SIZE = 1024  # face crops per generator call (the last batch is padded to it)
MISSING_FACES = ("report", "pass", "error")  # `lipjax.lipsync.talk(..., missing_faces=...)`


def check_talk_options(batch_size: int, missing_faces: str,
                       face_boxes: FaceBoxOptions | Mapping[str, Any] | None
                       ) -> FaceBoxOptions | None:
    """`talk`'s options, checked before anything is read: the face-box options as given, or a
    mapping of fields to change in the model's defaults, validated on their own.

    Raises:
      InputError: a batch size outside 1..`MAX_BATCH_SIZE`, an unknown `missing_faces`, or
        bad face-box options."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or not (
            1 <= batch_size <= MAX_BATCH_SIZE):
        raise InputError(f"batch_size must be an integer in 1..{MAX_BATCH_SIZE}, got "
                         f"{batch_size!r}")
    if missing_faces not in MISSING_FACES:
        raise InputError(f"missing_faces must be one of {', '.join(MISSING_FACES)}, got "
                         f"{missing_faces!r}")
    if face_boxes is None or isinstance(face_boxes, FaceBoxOptions):
        return face_boxes
    try:
        return FaceBoxOptions(**dict(face_boxes))
    except TypeError:
        names = ", ".join(f.name for f in dataclasses.fields(FaceBoxOptions))
        raise InputError(f"face_boxes takes FaceBoxOptions or a mapping of its fields ({names}), "
                         f"got {face_boxes!r}") from None


def output_frame_count(num_samples: int, *, sample_rate: int, fps: float) -> int:
    """Frames of the output video: `floor(num_samples / sample_rate * fps)`.

    Raises:
      AudioError: if that is 0 (the audio is shorter than one video frame).
    """
    if sample_rate <= 0 or not (np.isfinite(fps) and fps > 0):
        raise InputError(f"sample_rate and fps must be positive, got {sample_rate}, {fps}")
    # Exact integer arithmetic where fps is integral avoids 0.999... from float rounding.
    count = (num_samples * int(fps)) // sample_rate if float(fps).is_integer() else \
        int(np.floor(num_samples / sample_rate * fps))
    if count < 1:
        raise AudioError(
            f"the audio is too short: {num_samples / sample_rate * 1000:.1f} ms is less than one "
            f"video frame at {fps:g} fps ({1000 / fps:.1f} ms); use a longer clip")
    return count


def ping_pong_indices(num_source: int, num_output: int) -> np.ndarray:
    """Source frame of every output frame when looping back and forth (or truncating).

    `0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...` (period 2n - 2; all zeros for n = 1); the first
    `num_output` entries, so a longer source is simply truncated.

    Returns:
      int64 `[num_output]` in `[0, num_source)`.
    """
    if num_source < 1 or num_output < 0:
        raise InputError(f"need num_source >= 1 and num_output >= 0, got {num_source}, "
                         f"{num_output}")
    if num_source == 1:
        return np.zeros(num_output, np.int64)
    period = 2 * num_source - 2
    phase = np.arange(num_output, dtype=np.int64) % period
    return np.where(phase < num_source, phase, period - phase)


class FaceVideo:
    """A face video (or still image) to read in chunks.

    Args:
      path: a video OpenCV/FFmpeg decodes, or a still image (suffix in `IMAGE_SUFFIXES`).
      fps: the frame rate of a still image (a video has its own).
      resize_factor: integer downscaling of every frame (1 = none).

    Raises:
      VideoError: missing or unreadable file, or no valid frame rate. InputError: bad options.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float = 25.0, resize_factor: int = 1):
        if not isinstance(resize_factor, int) or resize_factor < 1:
            raise InputError(f"resize_factor must be a positive integer, got {resize_factor!r}")
        if isinstance(fps, bool) or not (isinstance(fps, numbers.Real) and np.isfinite(fps)
                                         and 0 < fps <= MAX_FPS):
            raise InputError(f"fps must be a frame rate in (0, {MAX_FPS:g}], got {fps!r}")
        self.path = Path(path)
        if self.path.is_dir():
            raise VideoError(f"{os.fspath(path)!r} is a folder, not a video or image")
        self.still = self.path.suffix.lower() in IMAGE_SUFFIXES
        self.resize_factor = resize_factor
        self.fps = float(fps) if self.still else video_fps(self.path)
        if self.fps > MAX_FPS:
            raise VideoError(f"{os.fspath(path)!r} declares {self.fps:g} frames per second; "
                             "re-encode it with a real rate (e.g. `ffmpeg -i in -r 25 out.mp4`)")
        self._image = self._resize(read_image(self.path)) if self.still else None
        self._cache: np.ndarray | None = None
        self._cache_folder: Path | None = None
        self._frame_size: tuple[int, int] | None = None
        self.num_frames: int | None = 1 if self.still else None  # known after one pass

    @property
    def frame_size(self) -> tuple[int, int]:
        """`(height, width)` of the frames after resizing (decodes the first frame once).

        Raises:
          VideoError: the video has no decodable frame."""
        if self._frame_size is None:
            first = next(self.chunks(size=1, limit=1))
            self._frame_size = (int(first.shape[1]), int(first.shape[2]))
        return self._frame_size

    def check_frames(self, fixed_box: tuple[int, int, int, int] | None = None) -> None:
        """Decodes the first frame (the video has one, `resize_factor` leaves pixels of it) and
        checks that a fixed face box `(y1, y2, x1, x2)` (Wav2Lip's `--box`) overlaps it.

        Raises:
          VideoError: no decodable frame. InputError: resize_factor too large, or the box lies
            outside the frames."""
        height, width = self.frame_size
        if fixed_box is None:
            return
        y1, y2, x1, x2 = fixed_box
        if y2 <= 0 or x2 <= 0 or y1 >= height or x1 >= width:
            resized = f" (after resize_factor {self.resize_factor})" if self.resize_factor > 1 \
                else ""
            raise InputError(f"the fixed face box y1 y2 x1 x2 = {y1} {y2} {x1} {x2} lies outside "
                             f"the {width}x{height} frames{resized}; give pixel coordinates "
                             "inside them")

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        if self.resize_factor == 1:
            return frame
        height = frame.shape[0] // self.resize_factor
        width = frame.shape[1] // self.resize_factor
        if height < 1 or width < 1:
            raise InputError(f"resize_factor {self.resize_factor} leaves no pixels of a "
                             f"{frame.shape[1]}x{frame.shape[0]} frame")
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)

    def chunks(self, size: int = 32, *, limit: int | None = None,
               start: int = 0) -> Iterator[np.ndarray]:
        """Frames `start ..` in order, `size` at a time (uint8 RGB `[n, H, W, 3]`), up to frame
        `limit` (exclusive)."""
        if self.still:
            yield self._image[None]
            return
        buffer: list[np.ndarray] = []
        count = 0
        for frame in iter_frames(self.path):
            if limit is not None and count >= limit:
                break
            count += 1
            if count <= start:
                continue
            buffer.append(self._resize(frame))
            if len(buffer) == size:
                yield np.stack(buffer)
                buffer = []
        if buffer:
            yield np.stack(buffer)
        if count == 0:
            raise VideoError(f"{os.fspath(self.path)!r} contains no decodable frames; the file "
                             "may be truncated")
        if limit is None or count < limit:
            self.num_frames = count

    def cache(self, count: int) -> None:
        """Decodes the first `count` frames into a memory-mapped file (for reading out of
        order)."""
        if self.still or self._cache is not None:
            return
        self._cache_folder = Path(tempfile.mkdtemp(prefix="lipjax-frames-"))
        cache = None
        stored = 0
        for chunk in self.chunks(limit=count):
            if cache is None:
                cache = np.lib.format.open_memmap(self._cache_folder / "frames.npy", mode="w+",
                                                  dtype=np.uint8, shape=(count,) + chunk.shape[1:])
            cache[stored:stored + len(chunk)] = chunk
            stored += len(chunk)
        self._cache = cache[:stored]

    def frames_at(self, indices: np.ndarray) -> np.ndarray:
        """The frames at `indices` (after `cache`, or of a still image)."""
        if self.still:
            return np.repeat(self._image[None], len(indices), axis=0)
        if self._cache is None:
            raise InputError("call cache() before reading frames out of order")
        return np.asarray(self._cache[np.asarray(indices)])

    def close(self) -> None:
        """Removes the frame cache, if any."""
        self._cache = None
        if self._cache_folder is not None:
            shutil.rmtree(self._cache_folder, ignore_errors=True)
            self._cache_folder = None

    def __enter__(self) -> "FaceVideo":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
