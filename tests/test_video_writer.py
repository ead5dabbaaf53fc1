"""Tests of lipjax.video_writer: streaming equals one-shot writing, audio muxing, and that an
interrupted or killed writer leaves nothing beside the output and no FFmpeg behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from lipjax.errors import InputError, VideoError
from lipjax.video import probe, read_video
from lipjax.video_writer import VideoWriter, write_video


def _frames(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 32, 48, 3), np.uint8)


def test_streamed_chunks_equal_one_call(tmp_path):
    frames = _frames(12)
    write_video(tmp_path / "once.mp4", frames, 25.0, crf=0)
    with VideoWriter(tmp_path / "chunks.mp4", fps=25.0, crf=0) as writer:
        for begin in range(0, 12, 5):
            writer.write(frames[begin:begin + 5])
    assert writer.frames_written == 12
    once, _ = read_video(tmp_path / "once.mp4")
    chunks, fps = read_video(tmp_path / "chunks.mp4")
    assert fps == 25.0
    np.testing.assert_array_equal(once, chunks)
    assert sorted(os.listdir(tmp_path)) == ["chunks.mp4", "once.mp4"]


def test_audio_is_muxed_and_an_audio_source_is_copied(tmp_path):
    wav = np.sin(np.arange(16000) * 0.05).astype(np.float32) * 0.3
    write_video(tmp_path / "with_audio.mp4", _frames(25), 25.0, audio=wav, sample_rate=16000)
    assert probe(tmp_path / "with_audio.mp4").has_audio
    write_video(tmp_path / "copied.mp4", _frames(10), 25.0,
                audio_source=tmp_path / "with_audio.mp4")
    info = probe(tmp_path / "copied.mp4")
    assert info.has_audio and info.num_frames == 10


def test_errors_leave_nothing(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        VideoWriter(tmp_path / "absent" / "x.mp4", fps=25.0)
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(VideoError, match="is a folder"):
        VideoWriter(tmp_path / "folder.mp4", fps=25.0)
    with pytest.raises(InputError, match="one size"):
        with VideoWriter(tmp_path / "x.mp4", fps=25.0) as writer:
            writer.write(_frames(2))
            writer.write(_frames(2)[:, :16])
    with pytest.raises(InputError, match="at least one frame"):
        with VideoWriter(tmp_path / "x.mp4", fps=25.0):
            pass
    with pytest.raises(InputError, match="NaN"):
        write_video(tmp_path / "x.mp4", np.full((2, 8, 8, 3), np.nan, np.float32), 25.0)
    assert sorted(os.listdir(tmp_path)) == ["folder.mp4"]


_ENCODE_FOREVER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from lipjax.interrupts import terminate_like_interrupt
    from lipjax.video_writer import VideoWriter

    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), np.uint8)
    with terminate_like_interrupt():
        try:
            with VideoWriter(sys.argv[1], fps=25.0) as writer:
                while True:
                    writer.write(frames)
                    print(writer._process.pid, flush=True)
                    time.sleep(0.05)
        except KeyboardInterrupt:
            sys.exit(143)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_mid_encoding_leaves_nothing(tmp_path, signum):
    out = tmp_path / "out.mp4"
    process = subprocess.Popen([sys.executable, "-c", _ENCODE_FOREVER, str(out)],
                               stdout=subprocess.PIPE, text=True)
    ffmpeg_pid = int(process.stdout.readline())
    for _ in range(3):
        process.stdout.readline()  # a few chunks are encoded
    process.send_signal(signum)
    status = process.wait(timeout=30)
    assert status == (143 if signum == signal.SIGTERM else -signal.SIGKILL)
    deadline = time.time() + 20
    while _alive(ffmpeg_pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(ffmpeg_pid)
    assert os.listdir(tmp_path) == []
