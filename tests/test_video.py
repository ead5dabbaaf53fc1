"""Tests of lipjax.video: round trips through real files, audio muxing, probing, errors."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from lipjax import audio as audio_io
from lipjax import video
from lipjax.errors import AudioError, InputError, VideoError


def _smooth_frames(num_frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Float [T, H, W, 3] in [0, 1]: gently moving colour gradients (codec-friendly content)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = [
        np.stack([
            0.5 + 0.4 * np.sin(2 * np.pi * (xx / width + 0.02 * t)),
            0.5 + 0.4 * np.cos(2 * np.pi * (yy / height - 0.03 * t)),
            np.full_like(xx, 0.3 + 0.02 * t),
        ], axis=-1)
        for t in range(num_frames)
    ]
    return np.stack(frames).astype(np.float32)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.mark.parametrize("fps", [25.0, 30000 / 1001])
def test_write_read_round_trip(tmp_path, fps):
    frames = _smooth_frames(20)
    path = video.write_video(tmp_path / "clip.mp4", frames, fps)
    decoded, decoded_fps = video.read_video(path)
    assert decoded.shape == (20, 48, 64, 3) and decoded.dtype == np.uint8
    assert decoded_fps == pytest.approx(fps, rel=1e-3)
    reference = np.round(frames * 255).astype(np.uint8)
    assert _psnr(decoded, reference) > 30.0
    # No temporary file is left next to the output.
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4"]


def test_uint8_frames_and_odd_size(tmp_path):
    frames = np.round(_smooth_frames(8, height=33, width=45) * 255).astype(np.uint8)
    video.write_video(tmp_path / "odd.mp4", frames, 25)
    decoded, _ = video.read_video(tmp_path / "odd.mp4")
    assert decoded.shape == frames.shape
    assert _psnr(decoded, frames) > 30.0


def test_read_matches_opencv_decoder(tmp_path):
    """read_video returns RGB: compare with OpenCV's own BGR decoding of an OpenCV-written file."""
    rng = np.random.default_rng(0)
    frames = (rng.random((6, 32, 48, 3)) * 255).astype(np.uint8)
    path = str(tmp_path / "mj.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 32))
    for frame in frames:
        writer.write(frame)
    writer.release()
    capture = cv2.VideoCapture(path)
    expected = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        expected.append(frame[..., ::-1])
    decoded, fps = video.read_video(path)
    np.testing.assert_array_equal(decoded, np.stack(expected))
    assert fps == pytest.approx(10.0)
    np.testing.assert_array_equal(np.stack(list(video.iter_frames(path))), decoded)


def test_audio_is_muxed(tmp_path):
    sample_rate, seconds, tone = 16000, 1.2, 440.0
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    audio = (0.4 * np.sin(2 * np.pi * tone * t)).astype(np.float32)
    path = video.write_video(tmp_path / "talk.mp4", _smooth_frames(30), 25, audio=audio,
                             sample_rate=sample_rate)
    info = video.probe(path)
    assert info == video.VideoInfo(30, 25.0, 64, 48, True)
    track = audio_io.load_audio(path, sample_rate=sample_rate)
    assert abs(len(track) - len(audio)) <= sample_rate // 100  # within 10 ms
    spectrum = np.abs(np.fft.rfft(track[2000:-2000]))
    peak_hz = np.argmax(spectrum) * sample_rate / len(track[2000:-2000])
    assert abs(peak_hz - tone) < 5.0
    assert np.sqrt(np.mean(track[2000:-2000] ** 2)) == pytest.approx(0.4 / np.sqrt(2), rel=0.1)


def test_probe_without_audio_and_audio_error(tmp_path):
    path = video.write_video(tmp_path / "mute.mp4", _smooth_frames(7), 30)
    info = video.probe(path)
    assert (info.num_frames, info.has_audio, info.width, info.height) == (7, False, 64, 48)
    with pytest.raises(AudioError):
        video.decode_audio_track(path)


def test_errors(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        video.read_video(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 50)
    with pytest.raises(VideoError):
        video.read_video(garbage)
    with pytest.raises(VideoError):
        video.probe(garbage)
    with pytest.raises(VideoError, match="does not exist"):
        video.write_video(tmp_path / "no_dir" / "x.mp4", _smooth_frames(2), 25)
    with pytest.raises(InputError):
        video.write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8)), 25)
    with pytest.raises(InputError):
        video.write_video(tmp_path / "x.mp4", _smooth_frames(2), 0)
    with pytest.raises(InputError):
        video.write_video(tmp_path / "x.mp4", _smooth_frames(2), 25, audio=np.zeros((2, 10)))
    assert not (tmp_path / "x.mp4").exists()
    assert sorted(os.listdir(tmp_path)) == ["garbage.mp4"]
