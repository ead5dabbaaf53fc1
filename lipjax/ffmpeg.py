"""The FFmpeg binary that ships with `imageio-ffmpeg`, and how lipjax runs it.

FFmpeg is always called with an argument list (never through a shell). `kill_and_reap` ends a
running FFmpeg on any exit that lipjax sees (errors, Ctrl-C, SIGTERM). An encoder fed through
its stdin also ends by itself when lipjax is killed outright (SIGKILL): its input closes, it
finishes and exits, so no FFmpeg outlives lipjax for long; its files are in a private temporary
folder, never beside the output (`lipjax.video_writer`).
"""

from __future__ import annotations

import subprocess
from typing import Any

from lipjax.errors import VideoError

__all__ = ["ffmpeg_exe", "run_ffmpeg", "start_ffmpeg", "kill_and_reap"]


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


def start_ffmpeg(args: list[str], **popen_kwargs: Any) -> subprocess.Popen:
    """Starts FFmpeg in the background (stdout and stderr captured unless given)."""
    popen_kwargs.setdefault("stdout", subprocess.PIPE)
    popen_kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args],
                            **popen_kwargs)


def run_ffmpeg(args: list[str], *, stdin_bytes: bytes | None = None) -> subprocess.CompletedProcess:
    """Runs FFmpeg to completion, capturing its output; killed and reaped if interrupted."""
    process = start_ffmpeg(args, stdin=subprocess.PIPE if stdin_bytes is not None else None)
    try:
        stdout, stderr = process.communicate(stdin_bytes)
    except BaseException:
        kill_and_reap(process)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def kill_and_reap(process: subprocess.Popen) -> None:
    """Kills a running FFmpeg and waits for it, so that no zombie or orphan remains."""
    if process.poll() is None:
        process.kill()
    try:
        process.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        process.wait()
