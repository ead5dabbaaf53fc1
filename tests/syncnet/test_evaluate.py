"""End-to-end tests of the LSE metrics with SyncNet v2 (random weights: shapes, finiteness, the
number of windows), of `lipjax evaluate-sync` on short synthetic videos of a real face (the
astronaut, which the Haar cascade finds), and of their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io.wavfile

from lipjax import cli
from lipjax.convert.syncnet import syncnet_v2_config
from lipjax.convert.workdir import write_converted_workdir
from lipjax.errors import AudioError, ConfigError, InputError, NoFaceError
from lipjax.metrics import lip_sync_error
from lipjax.syncnet import (SyncNetV2Sync, evaluate_sync, load_sync_network, random_variables,
                            resample_indices, syncnet_v2_crops, syncnet_v2_mfcc,
                            syncnet_v2_window_count)
from lipjax.video import write_video
from tests._fake_corpora import render_face_video

FRAMES = 12          # 0.48 s at 25 fps: 12 - 5 = 7 windows
SAMPLES = FRAMES * 640


def _speech(num_samples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / 16000
    tone = np.sin(2 * np.pi * 180 * t) * (0.5 + 0.4 * np.sin(2 * np.pi * 4 * t))
    return (0.4 * tone + 0.01 * rng.standard_normal(num_samples)).astype(np.float32)


@pytest.fixture(scope="module")
def variables():
    return random_variables(0)


@pytest.fixture(scope="module")
def network(variables):
    return SyncNetV2Sync(variables, batch_size=8)


@pytest.fixture(scope="module")
def files(tmp_path_factory, variables):
    folder = tmp_path_factory.mktemp("evaluate_sync")
    frames, _ = render_face_video(FRAMES, seed=1)
    write_video(folder / "face.mp4", frames, 25, audio=_speech(SAMPLES))
    frames50, _ = render_face_video(2 * FRAMES, seed=2)
    write_video(folder / "face50.mp4", frames50, 50)
    scipy.io.wavfile.write(folder / "speech.wav", 16000, _speech(SAMPLES + 300, seed=3))
    scipy.io.wavfile.write(folder / "short.wav", 16000, _speech(3000))
    write_video(folder / "noface.mp4", np.full((FRAMES, 96, 128, 3), 90, np.uint8), 25)
    workdir = write_converted_workdir(folder / "syncnet_v2", syncnet_v2_config(), variables)
    return {"folder": folder, "workdir": workdir}


def test_window_count_follows_syncnet_python():
    assert syncnet_v2_window_count(12, 12 * 640) == 7
    assert syncnet_v2_window_count(100, 12 * 640 + 639) == 7   # the audio limits
    assert syncnet_v2_window_count(9, 100_000) == 4            # the video limits
    with pytest.raises(AudioError, match="too short"):
        syncnet_v2_window_count(100, 6 * 640 - 1)
    with pytest.raises(InputError, match="too short"):
        syncnet_v2_window_count(5, 100_000)


def test_network_inputs_follow_syncnet_python(network):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 224, 224, 3), dtype=np.uint8)
    np.testing.assert_array_equal(syncnet_v2_crops(rgb), rgb[..., ::-1])  # BGR, unresized
    assert syncnet_v2_crops(rgb[:, :100, :90]).shape == (8, 224, 224, 3)
    wav = _speech(8 * 640)
    inputs = network.prepare(rgb, wav)
    assert inputs.num_windows == 3 and inputs.audio.shape == (4 * 8 * 640 // 640 - 1, 13)
    video, audio = network.windows(inputs, np.array([0, 2]))
    assert video.shape == (2, 5, 224, 224, 3) and audio.shape == (2, 13, 20)
    np.testing.assert_array_equal(video[1], rgb[2:7, ..., ::-1].astype(np.float32))
    np.testing.assert_array_equal(audio[1], syncnet_v2_mfcc(wav)[8:28].T)


def test_lip_sync_error_with_random_weights(network, variables):
    crops = np.random.default_rng(1).integers(0, 256, (FRAMES, 64, 64, 3), dtype=np.uint8)
    result = lip_sync_error(crops, _speech(SAMPLES), network, fps=25)
    assert result.num_windows == FRAMES - 5
    assert result.per_offset_distances.shape == (31,)
    assert np.all(np.isfinite(result.per_offset_distances)) and result.lse_d > 0
    assert result.lse_c >= 0 and -15 <= result.offset <= 15
    # Raw variables give a default SyncNet v2 (batches of 20): the same numbers.
    again = lip_sync_error(crops, _speech(SAMPLES), variables, fps=25)
    np.testing.assert_allclose(again.per_offset_distances, result.per_offset_distances,
                               rtol=1e-5)
    with pytest.raises(InputError, match="resample"):
        lip_sync_error(crops, _speech(SAMPLES), network, fps=30)
    with pytest.raises(AudioError, match="too short"):
        lip_sync_error(crops, _speech(3000), network, fps=25)


def test_resample_indices():
    np.testing.assert_array_equal(resample_indices(5, 25, 25), np.arange(5))
    np.testing.assert_array_equal(resample_indices(10, 50, 25), [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(resample_indices(4, 20, 25), [0, 0, 1, 2, 3])
    assert len(resample_indices(300, 30000 / 1001, 25)) == 250


def test_evaluate_sync_on_a_video(files, network):
    report = evaluate_sync(files["folder"] / "face.mp4", syncnet=network)
    assert report.num_windows == FRAMES - 5 and report.frames == FRAMES
    assert report.frames_without_face == 0 and not report.resampled
    assert np.isfinite(report.lse_d) and np.isfinite(report.lse_c)
    assert len(report.per_offset_distances) == 31
    resampled = evaluate_sync(files["folder"] / "face50.mp4", syncnet=network,
                              audio_path=files["folder"] / "speech.wav")
    assert resampled.resampled and resampled.source_fps == pytest.approx(50)
    assert resampled.frames == FRAMES and resampled.num_windows == FRAMES - 5


def test_evaluate_sync_errors(files, network):
    with pytest.raises(NoFaceError):
        evaluate_sync(files["folder"] / "noface.mp4", syncnet=network,
                      audio_path=files["folder"] / "speech.wav")
    with pytest.raises(AudioError, match="too short"):
        evaluate_sync(files["folder"] / "face.mp4", syncnet=network,
                      audio_path=files["folder"] / "short.wav")
    with pytest.raises(InputError, match="neither"):
        load_sync_network(files["folder"] / "missing.model")


def test_cli_with_a_converted_workdir(files, capsys):
    video = files["folder"] / "face.mp4"
    status = cli.main(["evaluate-sync", "--video", str(video), "--syncnet",
                       str(files["workdir"]), "--json", "--no_progress"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_windows"] == FRAMES - 5 and report["video"] == str(video)
    assert np.isfinite(report["lse_d"]) and isinstance(report["offset"], int)
    status = cli.main(["evaluate-sync", "--video", str(video), "--syncnet",
                       str(files["workdir"]), "--audio", str(files["folder"] / "short.wav")])
    assert status == 2 and "too short" in capsys.readouterr().err


def test_a_workdir_of_another_network_is_refused(files, tmp_path):
    config = syncnet_v2_config()
    config.system = "tests._toy_system.ToySystem"
    workdir = write_converted_workdir(tmp_path / "toy", config, random_variables(0))
    with pytest.raises(ConfigError):
        load_sync_network(workdir)
