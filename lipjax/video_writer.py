"""Writing mp4 files: `VideoWriter` streams frames into FFmpeg chunk by chunk (memory does not
grow with the video's length), `write_video` writes a whole array at once.

Nothing half-written is ever visible: FFmpeg encodes into a private temporary folder (in the
system's temporary directory, mode 0700), and the finished file is copied next to the
destination under a hidden name and renamed onto it. On any error or interrupt (Ctrl-C, SIGTERM
through `lipjax.interrupts`) the FFmpeg process is killed and reaped and the temporary folder
removed. A SIGKILLed lipjax leaves nothing beside the destination (its encoder sees its input
close and exits; see `lipjax.ffmpeg`).

Even frame sizes are encoded as yuv420p (plays everywhere); odd sizes as yuv444p, which keeps
the exact size but is not supported by some hardware players.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lipjax.errors import InputError, VideoError
from lipjax.ffmpeg import kill_and_reap, run_ffmpeg, start_ffmpeg

__all__ = ["VideoWriter", "write_video", "frames_to_uint8", "X264_PRESETS",
           "check_preset"]

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow")


def check_preset(preset: str) -> None:
    """InputError unless `preset` is one of x264's speed presets."""
    if preset not in X264_PRESETS:
        raise InputError(f"preset must be one of x264's {', '.join(X264_PRESETS)}, got "
                         f"{preset!r}")


def frames_to_uint8(frames: np.ndarray) -> np.ndarray:
    """`[T, H, W, 3]` RGB uint8, or float in [0, 1] (rounded; NaN is an InputError) -> uint8."""
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


def _check_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    waveform = np.asarray(audio, dtype=np.float32)
    if waveform.ndim != 1 or waveform.size == 0:
        raise InputError(f"audio must be a non-empty mono [N] array, got {waveform.shape}")
    if not np.all(np.isfinite(waveform)):
        raise InputError("audio contains NaN or infinite samples")
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise InputError(f"sample_rate must be a positive int, got {sample_rate!r}")
    return waveform


class VideoWriter:
    """Streams RGB frames into an H.264 mp4 with an optional audio track.

        with VideoWriter("out.mp4", fps=25.0, audio=wav, sample_rate=16000) as writer:
            for chunk in chunks:
                writer.write(chunk)          # [n, H, W, 3] uint8 or float in [0, 1]

    The file appears at `path` when the block ends without an error; otherwise nothing does.

    Args:
      path: destination; its folder must exist and be writable. The container follows the
        extension (.mp4 recommended).
      fps: frame rate, > 0 (e.g. 25 for GRID, 30000/1001 for TCD-TIMIT).
      audio: optional float32 mono waveform `[N]` in [-1, 1], encoded as AAC (its length is
        kept: the caller decides whether it matches the frames).
      sample_rate: sample rate of `audio` in Hz.
      audio_source: alternatively, a media file whose first audio stream is muxed unchanged
        (copied when the container takes its codec, else re-encoded as AAC at its own rate and
        channels).
      crf, preset: x264 quality and speed.
      audio_bitrate: AAC bit rate when encoding.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float, audio: np.ndarray | None = None,
                 sample_rate: int = 16000, audio_source: str | os.PathLike | None = None,
                 crf: int = 17, preset: str = "medium", audio_bitrate: str = "160k"):
        self.path = Path(path)
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be a positive number, got {fps!r}")
        if not self.path.parent.is_dir():
            raise VideoError(f"cannot write {str(self.path)!r}: folder "
                             f"{str(self.path.parent)!r} does not exist")
        if not os.access(self.path.parent, os.W_OK):
            raise VideoError(f"cannot write {str(self.path)!r}: folder "
                             f"{str(self.path.parent)!r} is not writable")
        if self.path.is_dir():
            raise VideoError(f"cannot write {str(self.path)!r}: it is a folder")
        if audio is not None and audio_source is not None:
            raise InputError("give audio or audio_source, not both")
        check_preset(preset)
        self.fps, self.crf, self.preset, self.audio_bitrate = float(fps), crf, preset, \
            audio_bitrate
        self._audio = None if audio is None else _check_audio(audio, sample_rate)
        self._sample_rate = int(sample_rate)
        self._audio_source = None if audio_source is None else Path(audio_source)
        self._folder: Path | None = None
        self._process: subprocess.Popen | None = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0

    # ------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "VideoWriter":
        self._folder = Path(tempfile.mkdtemp(prefix="lipjax-video-"))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            if self._process is not None:
                kill_and_reap(self._process)
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)

    def write(self, frames: np.ndarray) -> None:
        """Appends frames `[n, H, W, 3]` (every chunk of one size)."""
        if self._folder is None:
            raise InputError("use VideoWriter in a `with` block")
        rgb = frames_to_uint8(frames)
        size = rgb.shape[1:3]
        if self._process is None:
            self._size = size
            self._process = self._start_encoder(*size)
        elif size != self._size:
            raise InputError(f"all frames of a video must have one size: {self._size} then {size}")
        try:
            self._process.stdin.write(rgb.tobytes())
        except BrokenPipeError:
            self._fail("FFmpeg stopped while encoding")
        self.frames_written += len(rgb)

    # ------------------------------------------------------------------------------ FFmpeg
    def _start_encoder(self, height: int, width: int) -> subprocess.Popen:
        pix_fmt = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
        args = ["-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                "-s", f"{width}x{height}", "-framerate", repr(self.fps), "-i", "pipe:0",
                "-c:v", "libx264", "-preset", self.preset, "-crf", str(int(self.crf)),
                "-pix_fmt", pix_fmt, str(self._folder / f"video{self.path.suffix or '.mp4'}")]
        # FFmpeg's messages go to a file: a pipe nobody reads would fill and stall it.
        with open(self._folder / "ffmpeg.log", "wb") as log:
            return start_ffmpeg(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=log)

    def _log_tail(self) -> str:
        log = self._folder / "ffmpeg.log"
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        return " | ".join(lines[-5:])

    def _fail(self, what: str) -> None:
        kill_and_reap(self._process)
        raise VideoError(f"{what} {str(self.path)!r}: {self._log_tail()}")

    def _finish(self) -> None:
        if self._process is None:
            raise InputError("no frames were written; a video needs at least one frame")
        self._process.stdin.close()
        self._process.wait()
        if self._process.returncode != 0:
            raise VideoError(f"FFmpeg failed to write {str(self.path)!r}: {self._log_tail()}")
        encoded = self._folder / f"video{self.path.suffix or '.mp4'}"
        final = self._mux(encoded) if (self._audio is not None or self._audio_source) else encoded
        self._publish(final)

    def _mux(self, video: Path) -> Path:
        out = self._folder / f"muxed{self.path.suffix or '.mp4'}"
        if self._audio is not None:
            raw = self._folder / "audio.f32"
            np.clip(self._audio, -1.0, 1.0).astype("<f4").tofile(raw)
            inputs = ["-f", "f32le", "-ar", str(self._sample_rate), "-ac", "1", "-i", str(raw)]
            audio_codec = ["-c:a", "aac", "-b:a", self.audio_bitrate]
        else:
            inputs = ["-i", str(self._audio_source)]
            audio_codec = ["-c:a", "copy"]
        args = ["-i", str(video), *inputs, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                *audio_codec, "-movflags", "+faststart", str(out)]
        result = run_ffmpeg(args)
        if result.returncode != 0 and self._audio_source is not None:  # codec not allowed here
            args[args.index("copy", args.index("-c:a"))] = "aac"
            result = run_ffmpeg(args[:-1] + ["-b:a", self.audio_bitrate, str(out)])
        if result.returncode != 0:
            tail = result.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise VideoError(f"FFmpeg failed to mux the audio into {str(self.path)!r}: "
                             + " | ".join(tail))
        return out

    def _publish(self, encoded: Path) -> None:
        """Copies the finished file beside the destination under a hidden name, then renames."""
        handle, hidden = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part",
                                          dir=self.path.parent)
        os.close(handle)
        try:
            shutil.copyfile(encoded, hidden)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(hidden, 0o666 & ~umask)  # mkstemp makes it private; a video is for sharing
            os.replace(hidden, self.path)
        except BaseException:
            Path(hidden).unlink(missing_ok=True)
            raise


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, *,
                audio: np.ndarray | None = None, sample_rate: int = 16000,
                audio_source: str | os.PathLike | None = None, crf: int = 17,
                preset: str = "medium", audio_bitrate: str = "160k") -> Path:
    """Writes frames `[T, H, W, 3]` (uint8, or float in [0, 1], clipped) and optionally audio to
    an H.264 mp4 (see `VideoWriter` for the arguments). Returns the written path."""
    rgb = frames_to_uint8(frames)
    with VideoWriter(path, fps=fps, audio=audio, sample_rate=sample_rate,
                     audio_source=audio_source, crf=crf, preset=preset,
                     audio_bitrate=audio_bitrate) as writer:
        writer.write(rgb)
    return Path(path)
