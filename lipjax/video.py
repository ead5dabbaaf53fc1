"""Video file I/O: decoding frames, writing mp4 files with an optional audio track, probing.

Frames are uint8 RGB `[T, H, W, 3]` at this layer (file I/O is the one place where lipjax uses
uint8); `write_video` also accepts float frames in [0, 1], the library's public convention.

Decoding uses OpenCV (`cv2.VideoCapture`, FFmpeg backend). Writing pipes raw RGB frames into the
FFmpeg binary that ships with `imageio-ffmpeg` and, when audio is given, muxes it in the same call,
so a lip-synced video and its driving audio end up in one mp4 (DCK talking face, `talk`). FFmpeg
is always called with an argument list (never through a shell), writes to a temporary file in the
destination folder, and the file is renamed into place only when FFmpeg succeeded.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, NamedTuple

import cv2
import numpy as np

from lipjax.errors import AudioError, InputError, VideoError

__all__ = [
    "VideoInfo",
    "ffmpeg_exe",
    "iter_frames",
    "read_video",
    "write_video",
    "probe",
    "read_audio_track",
    "read_image",
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


def ffmpeg_exe() -> str:
    """Path of the FFmpeg binary bundled with `imageio-ffmpeg`."""
    try:
        import imageio_ffmpeg  # imported here so that decoding works without it
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise VideoError(
            "writing or probing videos needs the FFmpeg binary from imageio-ffmpeg; "
            "install it with `pip install imageio-ffmpeg`"
        ) from e
    return imageio_ffmpeg.get_ffmpeg_exe()


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video file not found: {str(path)!r}; check the path")
    return path


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


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decodes a whole video.

    Args:
      path: a video file OpenCV's FFmpeg backend can decode (.mp4, .mpg, .avi, ...).

    Returns:
      `(frames, fps)`: uint8 RGB frames `[T, H, W, 3]` and the stream's frame rate.

    Raises:
      VideoError: the file is missing, unreadable, has no frames or no valid frame rate.
    """
    path = _existing_file(path)
    fps = _capture_fps(path)
    frames = list(iter_frames(path))
    if not frames:
        raise VideoError(f"{str(path)!r} contains no decodable frames; the file may be truncated")
    if not np.isfinite(fps) or fps <= 0:
        raise VideoError(
            f"{str(path)!r} does not declare a valid frame rate (got {fps}); re-encode it with "
            "an explicit rate, e.g. `ffmpeg -i in -r 25 out.mp4`"
        )
    return np.stack(frames), fps


def _frames_to_uint8(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise InputError(f"frames must be a non-empty [T, H, W, 3] RGB array, got {frames.shape}")
    if frames.dtype == np.uint8:
        return np.ascontiguousarray(frames)
    if not np.issubdtype(frames.dtype, np.floating):
        raise InputError(f"frames must be uint8 or float in [0, 1], got dtype {frames.dtype}")
    if not np.all(np.isfinite(frames)):
        raise InputError("frames contain NaN or infinite values")
    return np.ascontiguousarray(np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8))


def _run_ffmpeg(args: list[str], *, stdin_bytes: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args],
        input=stdin_bytes,
        capture_output=True,
        check=False,
    )


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    crf: int = 17,
    preset: str = "medium",
    audio_bitrate: str = "160k",
) -> Path:
    """Writes frames (and optionally a mono audio track) to an H.264 mp4 file.

    Args:
      path: destination; its folder must exist. The container follows the extension (.mp4
        recommended); the file appears only once it is complete.
      frames: `[T, H, W, 3]` RGB, uint8 or float in [0, 1] (clipped).
      fps: frame rate, > 0 (e.g. 25 for GRID, 30000/1001 for TCD-TIMIT).
      audio: optional float32 mono waveform `[N]` in [-1, 1]; encoded as AAC. Its length is kept
        as is (the caller decides whether it matches T / fps).
      sample_rate: sample rate of `audio` in Hz.
      crf: x264 constant rate factor (0 = lossless, 17 = visually lossless, 23 = x264 default).
      preset: x264 speed/size preset.
      audio_bitrate: AAC bit rate.

    Returns:
      The written path.

    Even frame sizes are encoded as yuv420p (plays everywhere); odd sizes as yuv444p, which
    keeps the exact size but is not supported by some hardware players.
    """
    path = Path(path)
    rgb = _frames_to_uint8(frames)
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive number, got {fps!r}")
    if not path.parent.is_dir():
        raise VideoError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    _, height, width, _ = rgb.shape
    pix_fmt = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
    suffix = path.suffix or ".mp4"

    tmp_paths: list[Path] = []
    try:
        fd, tmp_video = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        tmp_paths.append(Path(tmp_video))
        args = [
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-framerate", repr(float(fps)), "-i", "pipe:0",
        ]
        if audio is not None:
            waveform = np.asarray(audio, dtype=np.float32)
            if waveform.ndim != 1 or waveform.size == 0:
                raise InputError(f"audio must be a non-empty mono [N] array, got {waveform.shape}")
            if not np.all(np.isfinite(waveform)):
                raise InputError("audio contains NaN or infinite samples")
            if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
                raise InputError(f"sample_rate must be a positive int, got {sample_rate!r}")
            fd, tmp_audio = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".f32", dir=path.parent)
            os.close(fd)
            tmp_paths.append(Path(tmp_audio))
            np.clip(waveform, -1.0, 1.0).astype("<f4").tofile(tmp_audio)
            args += ["-f", "f32le", "-ar", str(int(sample_rate)), "-ac", "1", "-i", tmp_audio]
        args += [
            "-map", "0:v:0", "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)),
            "-pix_fmt", pix_fmt,
        ]
        if audio is not None:
            args += ["-map", "1:a:0", "-c:a", "aac", "-b:a", audio_bitrate]
        args += ["-movflags", "+faststart", tmp_video]
        result = _run_ffmpeg(args, stdin_bytes=rgb.tobytes())
        if result.returncode != 0:
            tail = result.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise VideoError(f"FFmpeg failed to write {str(path)!r}: " + " | ".join(tail))
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_video, 0o666 & ~umask)
        os.replace(tmp_video, path)
        tmp_paths.remove(Path(tmp_video))
    finally:
        for tmp in tmp_paths:
            tmp.unlink(missing_ok=True)
    return path


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
    result = _run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    log = result.stderr.decode(errors="replace")
    if result.returncode != 0 or not _VIDEO_STREAM.search(log):
        raise VideoError(f"FFmpeg cannot read a video stream from {str(path)!r}")
    counts = _FRAME_COUNT.findall(log)
    num_frames = int(counts[-1]) if counts else 0
    return VideoInfo(num_frames, fps, width, height, bool(_AUDIO_STREAM.search(log)))


def read_audio_track(path: str | os.PathLike, *, sample_rate: int = 16000) -> np.ndarray:
    """Decodes the first audio stream of a media file as float32 mono `[N]` at `sample_rate`.

    Raises AudioError if the file has no audio stream.
    """
    path = _existing_file(path)
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0", "-vn",
         "-ac", "1", "-ar", str(int(sample_rate)), "-f", "f32le", "pipe:1"],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise AudioError(
            f"{str(path)!r} has no decodable audio stream; mux one with "
            "`lipjax.video.write_video(..., audio=...)` or pass the audio file separately"
        )
    return np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An RGB uint8 `[H, W, 3]` image from a PNG / JPEG file.

    Raises:
      InputError: the file is missing or not an image OpenCV can decode.
    """
    if not os.path.isfile(path):
        raise InputError(f"image {os.fspath(path)} does not exist")
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read {os.fspath(path)} as an image (PNG or JPEG expected)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
