"""Video file I/O: decoding frames, probing, still images; writing is `lipjax.video_writer`
(`write_video` and the streaming `VideoWriter`, re-exported here).

Frames are uint8 RGB `[T, H, W, 3]` at this layer (file I/O is the one place where lipjax uses
uint8); `write_video` also accepts float frames in [0, 1], the library's public convention.
Decoding uses OpenCV (`cv2.VideoCapture`, FFmpeg backend); probing and audio tracks use the
FFmpeg binary that ships with `imageio-ffmpeg` (`lipjax.ffmpeg`).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Iterator, NamedTuple

import cv2
import numpy as np

from lipjax.errors import AudioError, InputError, VideoError
from lipjax.ffmpeg import ffmpeg_exe, run_ffmpeg
from lipjax.video_writer import VideoWriter, write_video

__all__ = [
    "VideoInfo",
    "ffmpeg_exe",
    "iter_frames",
    "read_video",
    "video_fps",
    "write_video",
    "VideoWriter",
    "probe",
    "decode_audio_track",
    "read_image",
    "check_output_video",
    "VIDEO_SUFFIXES",
]


class VideoInfo(NamedTuple):
    """What `probe` reports about a video file.

    Attributes:
      num_frames: number of video frames (counted from the stream's packets, exact).
      fps: frames per second of the video stream.
      width, height: frame size in pixels.
      has_audio: whether the container holds at least one audio stream.
    """

    num_frames: int
    fps: float
    width: int
    height: int
    has_audio: bool


def _readable_file(path: str | os.PathLike, what: str, error: type[Exception]) -> Path:
    """`path` as a Path if it names a readable, non-empty file; else `error` naming the cause
    (missing, a folder, no read permission, 0 bytes)."""
    path = Path(path)
    shown = repr(os.fspath(path))
    if path.is_dir():
        raise error(f"{what} {shown} is a folder, not a file; give the file inside it")
    if not path.is_file():
        raise error(f"{what} not found: {shown}; check the path")
    if not os.access(path, os.R_OK):
        raise error(f"cannot read {what} {shown}: permission denied; make it readable "
                    "(chmod +r) or copy it somewhere you can read")
    if path.stat().st_size == 0:
        raise error(f"{what} {shown} is empty (0 bytes); the file was not written completely")
    return path


def _existing_file(path: str | os.PathLike) -> Path:
    return _readable_file(path, "video file", VideoError)


def _open_capture(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoError(
            f"OpenCV cannot open {str(path)!r}: the file is corrupt or not a video format its "
            "FFmpeg backend decodes; re-encode it (e.g. `ffmpeg -i in -c:v libx264 out.mp4`)"
        )
    return capture


def iter_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Yields the frames of a video one at a time, as uint8 RGB `[H, W, 3]`.

    Useful for long videos that should not be held in memory at once. Raises VideoError if the
    file is missing or cannot be opened (an empty video simply yields nothing).
    """
    capture = _open_capture(_existing_file(path))
    try:
        while True:
            ok, frame_bgr = capture.read()
            if not ok:
                break
            yield cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def _capture_fps(path: Path) -> float:
    capture = _open_capture(path)
    try:
        return float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()


def video_fps(path: str | os.PathLike) -> float:
    """The frame rate a video declares.

    Raises:
      VideoError: the file is missing, unreadable or declares no valid rate.
    """
    path = _existing_file(path)
    fps = _capture_fps(path)
    if not np.isfinite(fps) or fps <= 0:
        raise VideoError(
            f"{str(path)!r} does not declare a valid frame rate (got {fps}); re-encode it with "
            "an explicit rate, e.g. `ffmpeg -i in -r 25 out.mp4`"
        )
    return fps


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decodes a whole video.

    Args:
      path: a video file OpenCV's FFmpeg backend can decode (.mp4, .mpg, .avi, ...).

    Returns:
      `(frames, fps)`: uint8 RGB frames `[T, H, W, 3]` and the stream's frame rate.

    Raises:
      VideoError: the file is missing, unreadable, has no frames or no valid frame rate.
    """
    fps = video_fps(path)
    frames = list(iter_frames(path))
    if not frames:
        raise VideoError(f"{str(path)!r} contains no decodable frames; the file may be truncated")
    return np.stack(frames), fps


_FRAME_COUNT = re.compile(r"frame=\s*(\d+)")
_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: .*")
_AUDIO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Audio: ")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Reports frame count, frame rate, size and whether an audio stream exists.

    The frame count comes from FFmpeg copying the video stream to a null sink (exact, fast: no
    decoding); the frame rate and size from OpenCV, as `read_video` sees them.
    """
    path = _existing_file(path)
    capture = _open_capture(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()
    result = run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    log = result.stderr.decode(errors="replace")
    if result.returncode != 0 or not _VIDEO_STREAM.search(log):
        raise VideoError(f"FFmpeg cannot read a video stream from {str(path)!r}")
    counts = _FRAME_COUNT.findall(log)
    num_frames = int(counts[-1]) if counts else 0
    return VideoInfo(num_frames, fps, width, height, bool(_AUDIO_STREAM.search(log)))


def decode_audio_track(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """The first audio stream of a media file at its own rate and channels:
    `(float32 [N, C] samples, sample rate)`. FFmpeg converts it to 32-bit float PCM in a
    private temporary folder (no resampling, no downmix: `lipjax.audio.load_audio` does both
    the same way for every format).

    Raises:
      AudioError: the file has no decodable audio stream.
    """
    import scipy.io.wavfile

    path = _readable_file(path, "media file", VideoError)
    with tempfile.TemporaryDirectory(prefix="lipjax-audio-") as folder:
        decoded = os.path.join(folder, "audio.wav")
        result = run_ffmpeg(["-i", str(path), "-map", "0:a:0", "-vn", "-c:a", "pcm_f32le",
                             decoded])
        if result.returncode != 0 or not os.path.isfile(decoded):
            raise AudioError(
                f"{str(path)!r} has no decodable audio stream; mux one with "
                "`lipjax.video.write_video(..., audio=...)` or pass the audio file separately")
        rate, data = scipy.io.wavfile.read(decoded)
    data = np.asarray(data, np.float32)
    return (data[:, None] if data.ndim == 1 else data), int(rate)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An RGB uint8 `[H, W, 3]` image from a PNG / JPEG file.

    Raises:
      InputError: the file is missing, a folder, unreadable, empty or not an image OpenCV can
        decode.
    """
    path = _readable_file(path, "image", InputError)
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read {os.fspath(path)!r} as an image (PNG or JPEG expected); "
                         "the file is corrupt or another format")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# Containers `write_video` produces with H.264 video and AAC (or copied) audio.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")


def check_output_video(path: str | os.PathLike, *inputs: str | os.PathLike) -> Path:
    """Checks, before any work, that a video can be written at `path` (nothing is created).

    Raises:
      VideoError: `path` is a folder, its folder is missing or not writable, or its suffix is
        not one of `VIDEO_SUFFIXES`. InputError: `path` is one of `inputs` (it would be
        overwritten).
    """
    out = Path(path)
    shown, folder = repr(os.fspath(out)), repr(os.fspath(out.parent))
    if out.is_dir():
        raise VideoError(f"cannot write {shown}: it is a folder; give a file name such as "
                         f"{os.fspath(out / 'out.mp4')!r}")
    for source in inputs:
        if Path(source).exists() and out.resolve() == Path(source).resolve():
            raise InputError(f"--out {shown} is an input file; it would be overwritten. "
                             "Write to another file")
    if not out.parent.is_dir():
        raise VideoError(f"cannot write {shown}: folder {folder} does not exist; create it first")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise VideoError(f"cannot write {shown}: folder {folder} is not writable (permission "
                         "denied); choose another folder")
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoError(f"cannot write {shown}: the video file must end in "
                         f"{' / '.join(VIDEO_SUFFIXES)} (got {out.suffix or 'no suffix'!r})")
    return out
