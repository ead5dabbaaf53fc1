"""The frames to lip-sync, read with memory that does not grow with the video's length.

`FaceVideo` decodes a video in chunks, as often as the pipeline asks (once to find the faces,
once to edit them), applying Wav2Lip's `--resize_factor`; a still image is one frame at a given
rate. When the output loops the video back and forth (the audio is longer), its frames are
decoded once more into a memory-mapped cache in a private temporary folder, so that frames can
be read in any order without holding them in RAM; the folder is removed on `close()`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from lipjax.errors import InputError, VideoError
from lipjax.video import iter_frames, read_image, video_fps

__all__ = ["FaceVideo", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


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
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        if self.path.is_dir():
            raise VideoError(f"{os.fspath(path)!r} is a folder, not a video or image")
        self.still = self.path.suffix.lower() in IMAGE_SUFFIXES
        self.resize_factor = resize_factor
        self.fps = float(fps) if self.still else video_fps(self.path)
        self._image = self._resize(read_image(self.path)) if self.still else None
        self._cache: np.ndarray | None = None
        self._cache_folder: Path | None = None
        self.num_frames: int | None = 1 if self.still else None  # known after one pass

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        if self.resize_factor == 1:
            return frame
        height = frame.shape[0] // self.resize_factor
        width = frame.shape[1] // self.resize_factor
        if height < 1 or width < 1:
            raise InputError(f"resize_factor {self.resize_factor} leaves no pixels of a "
                             f"{frame.shape[1]}x{frame.shape[0]} frame")
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)

    def chunks(self, size: int = 32, *, limit: int | None = None) -> Iterator[np.ndarray]:
        """Frames in order, `size` at a time (uint8 RGB `[n, H, W, 3]`), at most `limit`."""
        if self.still:
            yield self._image[None]
            return
        buffer: list[np.ndarray] = []
        count = 0
        for frame in iter_frames(self.path):
            if limit is not None and count >= limit:
                break
            buffer.append(self._resize(frame))
            count += 1
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
