"""`lipjax talk` with Wav2Lip end to end: a Wav2Lip checkpoint in the published format (random
weights, our own PyTorch network), converted with `lipjax convert wav2lip` or given as the .pth
itself, lip-syncing a real photograph (scikit-image's astronaut moving over a background) to
speech spoken by espeak-ng. Pixels outside the face boxes stay as they were, and the output
lasts as long as the audio."""

from __future__ import annotations

import shutil
import subprocess

import cv2
import numpy as np
import pytest
import skimage.data

from lipjax import cli
from lipjax.audio import load_audio
from lipjax.face import box_to_pixels
from lipjax.lipsync.faces import FaceBoxOptions, track_faces
from lipjax.video import probe, read_video, write_video
from lipjax.wav2lip.generator import WAV2LIP_FACE_BOXES, wav2lip_mel_windows

torch = pytest.importorskip("torch", reason="the Wav2Lip checkpoint is made with PyTorch "
                                           "(pip install 'lipjax[torch]')")
from tests.convert._torch_wav2lip import TorchWav2Lip, randomise, save_published  # noqa: E402

pytestmark = pytest.mark.slow
FPS = 25.0


def _astronaut_video(path, frames: int = 40) -> np.ndarray:
    face = cv2.resize(skimage.data.astronaut(), (160, 160))
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), np.uint8), (0, 0), 3)
    video = []
    for t in range(frames):
        frame = background.copy()
        x, y = 70 + int(20 * np.sin(t / 6)), 40 + int(6 * np.cos(t / 9))
        frame[y:y + 160, x:x + 160] = face
        video.append(frame)
    video = np.stack(video)
    write_video(path, video, FPS, crf=12)
    return video


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng; .ci/run installs it)")
    folder = tmp_path_factory.mktemp("wav2lip_talk")
    speech = folder / "speech.wav"
    subprocess.run([espeak, "-w", str(speech), "place blue at f two now"], check=True,
                   capture_output=True)
    _astronaut_video(folder / "face.mp4")
    g = torch.Generator().manual_seed(3)
    model = randomise(TorchWav2Lip(), 0, torch.rand(2, 1, 80, 16, generator=g) * 8 - 4,
                      torch.rand(2, 6, 96, 96, generator=g))
    save_published(model, folder / "wav2lip.pth")
    return folder


def _outside_and_inside_changes(output, source, boxes):
    outside, inside = [], []
    for t, frame in enumerate(output):
        s = t if t < len(source) else (2 * len(source) - 2 - t) % (2 * len(source) - 2)
        mask = np.zeros(frame.shape[:2], bool)
        x0, y0, x1, y1 = box_to_pixels(boxes[s])
        mask[max(y0 - 4, 0):y1 + 4, max(x0 - 4, 0):x1 + 4] = True  # codec smear at the edge
        diff = np.abs(frame.astype(float) - source[s].astype(float)).mean(axis=-1)
        outside.append(diff[~mask].mean())
        inside.append(diff[mask].mean())
    return np.asarray(outside), np.asarray(inside)


@pytest.mark.parametrize("via", ["converted workdir", "pth file"])
def test_talk_with_a_wav2lip_checkpoint(inputs, tmp_path, capsys, via):
    checkpoint = inputs / "wav2lip.pth"
    if via == "converted workdir":
        assert cli.main(["convert", "wav2lip", "--torch_checkpoint", str(checkpoint),
                         "--out", str(tmp_path / "wav2lip")]) == 0
        checkpoint = tmp_path / "wav2lip"
    out = tmp_path / "synced.mp4"
    status = cli.main(["talk", "--checkpoint", str(checkpoint), "--video",
                       str(inputs / "face.mp4"), "--audio", str(inputs / "speech.wav"),
                       "--out", str(out), "--batch_size", "8", "--no_progress"])
    assert status == 0, capsys.readouterr().err
    wav = load_audio(inputs / "speech.wav")
    info = probe(out)
    assert info.num_frames == int(len(wav) / 16000 * FPS) and info.has_audio
    output, _ = read_video(out)
    source, _ = read_video(inputs / "face.mp4")
    boxes, detected = track_faces(source, WAV2LIP_FACE_BOXES)
    assert detected.mean() > 0.8, "the Haar cascade should find the astronaut"
    outside, inside = _outside_and_inside_changes(output, source, boxes)
    # The output is an H.264 re-encoding: outside the boxes it may differ from the source only
    # as much as the source re-encoded unchanged does.
    write_video(tmp_path / "reencoded.mp4", source, FPS)
    same, _ = read_video(tmp_path / "reencoded.mp4")
    (tmp_path / "reencoded.mp4").unlink()
    noise, _ = _outside_and_inside_changes(same, source, boxes)
    assert outside.max() <= 1.1 * noise.max() + 0.1
    assert inside.mean() > 5 * outside.mean()  # the random generator repainted the face
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["synced.mp4"] + (["wav2lip"] if via == "converted workdir" else []))


def test_wav2lip_options_and_a_still_image(inputs, tmp_path, capsys):
    image = tmp_path / "face.png"
    frame = read_video(inputs / "face.mp4")[0][0]
    cv2.imwrite(str(image), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    boxes, _ = track_faces(frame[None], FaceBoxOptions())
    x0, y0, x1, y1 = box_to_pixels(boxes[0])
    out = tmp_path / "still.mp4"
    status = cli.main(["talk", "--checkpoint", str(inputs / "wav2lip.pth"), "--video",
                       str(image), "--audio", str(inputs / "speech.wav"), "--out", str(out),
                       "--fps", "20", "--box", str(y0), str(y1), str(x0), str(x1),
                       "--nosmooth", "--resize_factor", "1", "--no_progress"])
    assert status == 0, capsys.readouterr().err
    info = probe(out)
    wav = load_audio(inputs / "speech.wav")
    assert abs(info.fps - 20.0) < 1e-3 and info.num_frames == int(len(wav) / 16000 * 20)
    output, _ = read_video(out)
    outside = np.ones(frame.shape[:2], bool)
    outside[max(y0 - 4, 0):y1 + 4, max(x0 - 4, 0):x1 + 4] = False
    assert np.abs(output[3].astype(float) - frame.astype(float))[outside].mean() < 1.5


def test_wav2lip_mel_windows_follow_its_inference_indexing():
    mel = np.arange(40 * 80, dtype=np.float32).reshape(40, 80)
    windows = wav2lip_mel_windows(mel, 12, fps=25.0)
    for t in range(12):
        start = int(t * 80 / 25.0)
        expected = mel[len(mel) - 16:] if start + 16 > len(mel) else mel[start:start + 16]
        np.testing.assert_array_equal(windows[t], expected.T)
