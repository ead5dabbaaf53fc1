"""Tests of lipjax.lipsync.pipeline (the lip-sync video pipeline, here with a DCK model) on short synthetic talking-face clips.

The generator is a tiny 64x64 DCK model with random (rbg-keyed) parameters: it changes the pixels
of every crop, which is all the pipeline tests need. References are brute force (frame looping,
frame counts with exact fractions) or an independent per-frame crop -> model -> paste-back.
"""

from __future__ import annotations

import fractions
import json
import math
import os

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io.wavfile
from hypothesis import given, settings
from hypothesis import strategies as st

from lipjax import cli
from lipjax.data.synthetic.talking_faces import TalkingFacesConfig, generate_pairs
from lipjax.errors import AudioError, InputError, NoFaceError, VideoError
from lipjax.face import box_to_pixels, crop_and_resize
from lipjax.nn.audio_encoder import ConvBlockSpec
from lipjax.dck.model import DCKConfig, DCKGenerator
from lipjax.dck.generator import TalkingFaceGenerator
from lipjax.dck.generator import DCK_FACE_BOXES
from lipjax.lipsync.faces import FaceBoxOptions, FaceSearch, track_faces
from lipjax.lipsync.pipeline import (MissingFacesWarning, lip_sync, output_frame_count,
                                     ping_pong_indices, talk)
from lipjax.video import probe, read_video, write_video
from tests._paths import CONFIGS

SAMPLE_RATE = 16000
FPS = 25.0
# A 4-block audio encoder with Wav2Lip's strides (80 x 16 -> 1 x 1) and narrow channels.
TINY = DCKConfig(
    image_size=64,
    down_channels=(8, 16, 16, 16, 16),
    up_channels=(16, 16, 16, 8, 8),
    middle_channels=16,
    audio_blocks=(ConvBlockSpec(8, 3, (3, 1), 1, False), ConvBlockSpec(8, 3, (3, 3), 1, False),
                  ConvBlockSpec(16, 3, (3, 2), 1, False), ConvBlockSpec(32, 3, (1, 1), 0, False)),
    audio_feature_dim=32,
    kernel_generator_hidden=(32,),
)


def _init_variables(config: DCKConfig, seed: int = 0):
    model = DCKGenerator(config)
    size = config.image_size
    return jax.jit(lambda key: model.init(
        key, jnp.zeros((1, size, size, 3)), jnp.zeros((1, 80, 16))))(
            jax.random.key(seed, impl="rbg"))


@pytest.fixture(scope="module")
def generator() -> TalkingFaceGenerator:
    return TalkingFaceGenerator(TINY, _init_variables(TINY))


@pytest.fixture(scope="module")
def pair() -> dict:
    """One astronaut pair: 20 frames of 96x128 (the Haar cascade finds the face in most)."""
    config = TalkingFacesConfig(
        num_identities=1, train_pairs_per_identity=0, test_pairs_per_identity=1,
        test_fraction=0.3, frame_height=96, frame_width=128, min_frames=20, max_frames=20,
        num_words=2)
    return next(generate_pairs(config, "test"))


@pytest.fixture(scope="module")
def files(tmp_path_factory, pair) -> dict:
    """face.mp4 (clip A with its audio; frames 5 and 6 blanked), speech.wav (clip B's audio,
    played twice: longer than the video) and a few bad inputs."""
    folder = tmp_path_factory.mktemp("talk")
    frames = pair["frames_a"].copy()
    frames[5:7] = 128  # no face in these two frames
    write_video(folder / "face.mp4", frames, FPS, audio=pair["audio_a"])
    speech = np.concatenate([pair["audio_b"], pair["audio_b"]])
    scipy.io.wavfile.write(folder / "speech.wav", SAMPLE_RATE, speech.astype(np.float32))
    scipy.io.wavfile.write(folder / "silent.wav", SAMPLE_RATE, np.zeros(8000, np.float32))
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(700) / SAMPLE_RATE).astype(np.float32)
    scipy.io.wavfile.write(folder / "short.wav", SAMPLE_RATE, tone[:320])  # 20 ms < 1 frame
    scipy.io.wavfile.write(folder / "one_frame.wav", SAMPLE_RATE, tone)  # 44 ms < one STFT
    scipy.io.wavfile.write(folder / "empty.wav", SAMPLE_RATE, np.zeros(0, np.float32))
    (folder / "garbage.mp4").write_bytes(b"this is not a video" * 50)
    (folder / "garbage.wav").write_bytes(b"RIFF nonsense" * 50)
    gradient = np.broadcast_to(np.linspace(0, 1, 128, dtype=np.float32)[None, None, :, None],
                               (10, 96, 128, 3))
    write_video(folder / "noface.mp4", gradient, FPS)
    return {"folder": folder, "video": folder / "face.mp4", "speech": folder / "speech.wav",
            "speech_samples": len(speech), "blank": (5, 6)}


# ---------------------------------------------------------------------------------------------
# Pure helpers


def _bounce(num_source: int, num_output: int) -> list[int]:
    """Brute force: walk through the frames, reversing at either end."""
    out, position, step = [], 0, 1
    for _ in range(num_output):
        out.append(position)
        if num_source > 1:
            if not 0 <= position + step < num_source:
                step = -step
            position += step
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(0, 60))
def test_ping_pong_indices_match_a_bouncing_walk(num_source, num_output):
    got = ping_pong_indices(num_source, num_output)
    assert got.tolist() == _bounce(num_source, num_output)


def test_ping_pong_truncates_a_longer_video():
    np.testing.assert_array_equal(ping_pong_indices(10, 4), [0, 1, 2, 3])
    with pytest.raises(InputError):
        ping_pong_indices(0, 3)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 200_000), st.sampled_from([25.0, 30.0, 30000 / 1001, 24000 / 1001, 50.0]))
def test_output_frame_count_is_the_floor_of_audio_seconds_times_fps(num_samples, fps):
    exact = math.floor(fractions.Fraction(num_samples, SAMPLE_RATE) * fractions.Fraction(fps))
    if exact < 1:
        with pytest.raises(AudioError, match="too short"):
            output_frame_count(num_samples, sample_rate=SAMPLE_RATE, fps=fps)
    else:
        assert output_frame_count(num_samples, sample_rate=SAMPLE_RATE, fps=fps) == exact


def _inside(box, shape, margin: int = 0) -> np.ndarray:
    """Pixels of the rounded box, grown by `margin` pixels on every side."""
    x0, y0, x1, y1 = np.asarray(box_to_pixels(box)) + np.array([-1, -1, 1, 1]) * margin
    mask = np.zeros(shape[:2], bool)
    mask[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = True
    return mask


def test_lip_sync_edits_only_face_boxes_of_detected_frames(generator, pair):
    frames = pair["frames_a"][:8]
    boxes, detected = track_faces(frames, DCK_FACE_BOXES)
    assert detected.sum() >= 4, "the Haar cascade should find the astronaut"
    detected = detected.copy()
    detected[2] = False  # as if the detector had missed this frame
    index = ping_pong_indices(len(frames), 13)
    rng = np.random.default_rng(1)
    mel = rng.uniform(-4, 4, (len(index), 80, 16)).astype(np.float32)
    traces = generator.traces

    out, seconds = lip_sync(generator, frames, mel, boxes, detected, frame_index=index,
                            batch_size=4)

    assert out.shape == (len(index),) + frames.shape[1:] and out.dtype == np.uint8
    assert seconds > 0
    assert generator.traces - traces <= 1  # one compilation for every (padded) batch
    model = DCKGenerator(TINY)
    changed = 0
    for t, source in enumerate(index):
        if not detected[source]:
            np.testing.assert_array_equal(out[t], frames[source])  # passed through untouched
            continue
        inside = _inside(boxes[source], frames.shape[1:])
        np.testing.assert_array_equal(out[t][~inside], frames[source][~inside])
        # Independent reference: this one frame, cropped, edited alone, its motion image and
        # mask upsampled to the box and blended with the frame's own pixels.
        crop = crop_and_resize(frames[source], boxes[source], (64, 64)).astype(np.float32) / 255
        result = model.apply(generator.variables, crop[None], mel[t][None])
        x0, y0, x1, y1 = box_to_pixels(boxes[source])
        # (area averaging when the box is smaller than the crop, else bilinear)
        how = cv2.INTER_AREA if (y1 - y0 < 64 or x1 - x0 < 64) else cv2.INTER_LINEAR
        motion = cv2.resize(np.asarray(result.motion[0]), (x1 - x0, y1 - y0), interpolation=how)
        alpha = cv2.resize(np.asarray(result.alpha[0]), (x1 - x0, y1 - y0),
                           interpolation=how)[..., None]
        region = (slice(max(y0, 0), y1), slice(max(x0, 0), x1))
        local = (slice(max(y0, 0) - y0, y1 - y0), slice(max(x0, 0) - x0, x1 - x0))
        expected = frames[source].copy()
        blended = (frames[source][region] * (1 - alpha[local]) + 255 * motion[local]
                   * alpha[local])
        expected[region] = np.round(np.clip(blended, 0, 255)).astype(np.uint8)
        diff = np.abs(out[t].astype(int) - expected.astype(int))
        assert diff.max() <= 1, "batched output differs from the per-frame reference"
        changed += np.abs(out[t][inside].astype(int) - frames[source][inside]).mean() > 2
    assert changed >= 8  # the random generator visibly changes the face pixels


def test_lip_sync_rejects_mismatched_inputs(generator, pair):
    frames = pair["frames_a"][:4]
    boxes = np.tile([[30.0, 20.0, 80.0, 70.0]], (4, 1))
    with pytest.raises(InputError, match="mel window per output frame"):
        lip_sync(generator, frames, np.zeros((3, 80, 16), np.float32), boxes, np.ones(4, bool))
    with pytest.raises(InputError, match="frame_index"):
        lip_sync(generator, frames, np.zeros((2, 80, 16), np.float32), boxes, np.ones(4, bool),
                 frame_index=np.array([0, 4]))


def test_generator_call_matches_the_model_in_any_batch_size(generator):
    rng = np.random.default_rng(2)
    crops = rng.uniform(0, 1, (5, 64, 64, 3)).astype(np.float32)
    mel = rng.uniform(-4, 4, (5, 80, 16)).astype(np.float32)
    expected = DCKGenerator(TINY).apply(generator.variables, crops, mel).frame
    for batch_size in (2, 5, 8):
        np.testing.assert_allclose(generator(crops, mel, batch_size=batch_size), expected,
                                   atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The whole pipeline


def test_talk_writes_the_audio_length_with_audio_and_untouched_background(generator, files):
    out_path = files["folder"] / "out.mp4"
    with pytest.warns(MissingFacesWarning, match="written unchanged"):  # the default "report"
        report = talk(generator, files["video"], files["speech"], out_path, batch_size=8,
                      progress=False)

    expected_frames = files["speech_samples"] * int(FPS) // SAMPLE_RATE
    info = probe(out_path)
    assert info.num_frames == report.frames_written == expected_frames
    assert info.fps == pytest.approx(FPS)
    assert info.has_audio
    assert report.looped and report.source_frames == 20 < expected_frames
    assert report.seconds == pytest.approx(expected_frames / FPS)

    source, _ = read_video(files["video"])
    output, _ = read_video(out_path)
    index = ping_pong_indices(len(source), expected_frames)
    _, found = FaceSearch(DCK_FACE_BOXES).search(source)  # the same detector, run independently
    assert not found[list(files["blank"])].any()
    assert report.frames_without_face == int((~found[index]).sum()) >= 2
    assert report.faceless_source_frames == tuple(np.flatnonzero(~found[:len(source)]))
    assert "--allow_missing_faces accepts them" in report.summary()
    boxes, _ = track_faces(source, DCK_FACE_BOXES)
    outside_err, inside_change = [], []
    for t, s in enumerate(index):
        diff = np.abs(output[t].astype(float) - source[s].astype(float))
        if not found[s]:
            outside_err.append(diff.mean())
            continue
        # H.264 blocks and 4:2:0 chroma smear the edit a few pixels past the box edges.
        outside = ~_inside(boxes[s], source.shape[1:], margin=8)
        outside_err.append(diff[outside].mean())
        inside_change.append(diff[_inside(boxes[s], source.shape[1:])].mean())
    # Re-encoding the textured background costs 1.5-2.5 grey levels on average (the decoded
    # input is compared with the decoded output); the random generator changes far more.
    assert max(outside_err) < 3.0
    assert min(inside_change) > 4 * max(outside_err)
    assert report.generator_ms_per_frame > 0 and report.pipeline_ms_per_frame > 0
    assert not [p for p in os.listdir(files["folder"]) if p.startswith(".out")]


class _Frames:
    """Stands for the VideoWriter: keeps what `stream_talk` writes, in order."""

    def __init__(self):
        self.chunks = []

    def write(self, frames):
        self.chunks.append(np.array(frames))


@pytest.mark.parametrize("smoothing, num_out", [("centred", 45), ("forward", 13)])
def test_the_threaded_stream_writes_the_frames_of_the_sequential_pipeline(generator, files,
                                                                          smoothing, num_out):
    """`talk`'s pipeline (threads, boxes handed out while detection runs, looping from the
    cache) gives exactly `lip_sync`'s frames on the whole video, and compiles nothing new."""
    from lipjax.lipsync.source import FaceVideo
    from lipjax.lipsync.stream import stream_talk

    options = FaceBoxOptions(padding=(0, 0, 0, 0.1), smoothing=smoothing,
                             pads=(0, 4, 0, 0) if smoothing == "forward" else (0, 0, 0, 0))
    source, _ = read_video(files["video"])
    source = source[:num_out]  # a longer video is truncated
    mel = np.random.default_rng(3).uniform(-4, 4, (num_out, 80, 16)).astype(np.float32)
    boxes, detected = track_faces(source, options)
    index = ping_pong_indices(len(source), num_out)
    want, _ = lip_sync(generator, source, mel, boxes, detected, frame_index=index, batch_size=4)
    traces = generator.traces
    written = _Frames()
    with FaceVideo(files["video"]) as video:
        result = stream_talk(generator, video, written, mel, options=options, num_out=num_out,
                             batch_size=4, missing_faces="pass", progress=False)
    got = np.concatenate(written.chunks)
    assert [len(c) for c in written.chunks[:-1]] == [4] * (len(written.chunks) - 1)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(result.index, index)
    np.testing.assert_allclose(result.boxes, boxes, atol=1e-4)
    assert generator.traces == traces  # the batch size was compiled by lip_sync already


@pytest.mark.parametrize("gap", [0, 28])
def test_editing_decodes_again_only_when_detection_must_run_far_ahead(generator, files, pair,
                                                                      tmp_path, gap):
    """Detection hands its decoded frames on to editing. A stretch of `gap` faceless frames
    longer than that queue holds makes editing wait for the next detection: detection then
    stops handing frames on and editing decodes the rest itself, with `lip_sync`'s frames."""
    from lipjax.lipsync.source import FaceVideo
    from lipjax.lipsync.stream import stream_talk

    frames = pair["frames_a"]
    source = np.concatenate([frames[:4], np.full((gap,) + frames.shape[1:], 128, np.uint8),
                             frames[4:12]])
    write_video(tmp_path / "gap.mp4", source, FPS)
    source, _ = read_video(tmp_path / "gap.mp4")
    num_out = len(source)
    options = FaceBoxOptions(padding=(0, 0, 0, 0.1))
    mel = np.random.default_rng(4).uniform(-4, 4, (num_out, 80, 16)).astype(np.float32)
    boxes, detected = track_faces(source, options)
    assert not detected[4:4 + gap].any() and detected[:4].any()
    want, _ = lip_sync(generator, source, mel, boxes, detected,
                       frame_index=np.arange(num_out), batch_size=4)
    written, starts = _Frames(), []
    with FaceVideo(tmp_path / "gap.mp4") as video:
        chunks = video.chunks

        def recorded(*args, start=0, **kwargs):
            if kwargs.get("size") != 1:  # not `frame_size`'s look at the first frame
                starts.append(start)
            return chunks(*args, start=start, **kwargs)

        video.chunks = recorded
        stream_talk(generator, video, written, mel, options=options, num_out=num_out,
                    batch_size=4, missing_faces="pass", progress=False)
    np.testing.assert_array_equal(np.concatenate(written.chunks), want)
    assert starts[0] == 0 and (len(starts) == 1) == (gap == 0), starts  # one decode, or two


def test_talk_truncates_a_video_longer_than_the_audio(generator, files, pair):
    short = files["folder"] / "short_speech.wav"
    scipy.io.wavfile.write(short, SAMPLE_RATE, pair["audio_b"][:8000])  # 0.5 s = 12.5 frames
    out_path = files["folder"] / "truncated.mp4"
    report = talk(generator, files["video"], short, out_path, batch_size=8, progress=False,
                  missing_faces="pass")
    assert report.frames_written == probe(out_path).num_frames == 12
    assert not report.looped and report.source_frames == 12


def test_talk_accepts_audio_of_one_frame_shorter_than_an_stft_window(generator, files):
    out_path = files["folder"] / "one_frame.mp4"
    report = talk(generator, files["video"], files["folder"] / "one_frame.wav", out_path,
                  batch_size=8, progress=False)
    assert report.frames_written == probe(out_path).num_frames == 1


def test_talk_takes_the_audio_track_of_a_video_file(generator, files, pair):
    out_path = files["folder"] / "own_audio.mp4"
    report = talk(generator, files["video"], files["video"], out_path, batch_size=8,
                  progress=False, missing_faces="pass")
    # AAC adds encoder padding; the count follows the decoded audio, within a frame or two.
    assert abs(report.frames_written - len(pair["audio_a"]) * FPS / SAMPLE_RATE) <= 2
    assert probe(out_path).has_audio


@pytest.mark.parametrize("audio, match", [
    ("silent.wav", "silent"), ("short.wav", "too short"), ("empty.wav", "empty"),
    ("garbage.wav", "cannot decode"), ("missing.wav", "not found")])
def test_talk_rejects_bad_audio(generator, files, audio, match):
    with pytest.raises(AudioError, match=match):
        talk(generator, files["video"], files["folder"] / audio, files["folder"] / "x.mp4",
             progress=False)
    assert not (files["folder"] / "x.mp4").exists()


def test_talk_rejects_bad_video_and_faceless_video(generator, files):
    folder = files["folder"]
    with pytest.raises(VideoError, match="cannot open"):
        talk(generator, folder / "garbage.mp4", files["speech"], folder / "x.mp4", progress=False)
    with pytest.raises(VideoError, match="not found"):
        talk(generator, folder / "nope.mp4", files["speech"], folder / "x.mp4", progress=False)
    with pytest.raises(VideoError, match="does not exist"):
        talk(generator, files["video"], files["speech"], folder / "no_dir" / "x.mp4",
             progress=False)
    with pytest.raises(NoFaceError, match="no face"):
        talk(generator, folder / "noface.mp4", files["speech"], folder / "x.mp4", progress=False)
    with pytest.raises(InputError, match="batch_size"):
        talk(generator, files["video"], files["speech"], folder / "x.mp4", batch_size=0)
    assert not (folder / "x.mp4").exists()


def test_talk_refuses_an_output_that_is_an_input(generator, files):
    video_bytes = files["video"].read_bytes()
    for out in (files["video"], files["speech"]):
        with pytest.raises(InputError, match="would be overwritten"):
            talk(generator, files["video"], files["speech"], out, progress=False)
    assert files["video"].read_bytes() == video_bytes


def test_talk_on_a_still_image_downscaled(generator, files, pair):
    image = files["folder"] / "still.png"
    frame = pair["frames_a"][0]
    cv2.imwrite(str(image), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    out_path = files["folder"] / "still.mp4"
    # Half size is too small for the Haar cascade's minimum face: a fixed box (Wav2Lip's --box).
    x0, y0, x1, y1 = (int(v) // 2 for v in pair["face_boxes"][0])
    report = talk(generator, image, files["speech"], out_path, batch_size=8, progress=False,
                  fps=10.0, resize_factor=2,
                  face_boxes=FaceBoxOptions(fixed_box=(y0, y1, x0, x1)))
    assert report.frames_without_face == 0
    info = probe(out_path)
    audio_seconds = report.audio_seconds
    assert report.fps == 10.0 and not report.looped
    assert info.num_frames == report.frames_written == int(audio_seconds * 10)
    assert (info.height, info.width) == (frame.shape[0] // 2, frame.shape[1] // 2)


# ---------------------------------------------------------------------------------------------
# Checkpoints and the console script


def _tiny_dck_workdir(path) -> str:
    """A DCK training workdir (config.json + one checkpoint of a freshly initialised state)."""
    from lipjax.dck.system import DCKSystem
    from lipjax.training.checkpoint import Checkpointer
    from lipjax.training.config import load_config
    from lipjax.training.state import init_state, make_rng
    from lipjax.training.system import make_system

    config = load_config(os.path.join(CONFIGS, "dck_synthetic.py"))
    fields = {f: getattr(TINY, f) for f in ("image_size", "down_channels", "up_channels",
                                            "middle_channels", "audio_feature_dim",
                                            "kernel_generator_hidden")}
    config.model.update(fields)
    config.model.audio_blocks = tuple(tuple(b) for b in TINY.audio_blocks)
    config.loss.adv = 0.0
    config.data.buckets = [(1, 1)]
    system = make_system(config)
    assert isinstance(system, DCKSystem)
    state, _ = init_state(system, config, system.example_batch((1, 1)), make_rng(config))
    workdir = os.fspath(path)
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
        f.write(config.to_json_best_effort(indent=2))
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), async_save=False)
    ckpt.save(0, state, config=config)
    ckpt.close()
    return workdir, config, state


def test_from_checkpoint_and_the_talk_command(tmp_path, files, capsys):
    workdir, config, state = _tiny_dck_workdir(tmp_path)
    restored = TalkingFaceGenerator.from_checkpoint(workdir)
    assert restored.image_size == 64
    assert restored.mel_center == bool(config.data.center_mel_windows)
    for got, want in zip(jax.tree.leaves(restored.variables),
                         jax.tree.leaves(state.generator.variables)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))

    out_path = tmp_path / "cli.mp4"
    status = cli.main(["talk", "--checkpoint", workdir, "--video", str(files["video"]),
                       "--audio", str(files["speech"]), "--out", str(out_path),
                       "--batch_size", "8", "--no_progress"])
    # face.mp4 has frames without a face: written unchanged, and exit status 3 says so.
    assert status == 3
    assert probe(out_path).num_frames == files["speech_samples"] * int(FPS) // SAMPLE_RATE
    captured = capsys.readouterr()
    assert "frames at 25 fps" in captured.out
    warning = captured.err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("lipjax: warning: ")
    assert "source frame(s) 5, 6" in warning[0] and "--allow_missing_faces" in warning[0]
    status = cli.main(["talk", "--checkpoint", workdir, "--video", str(files["video"]),
                       "--audio", str(files["speech"]), "--out", str(out_path),
                       "--batch_size", "8", "--no_progress", "--allow_missing_faces"])
    assert status == 0 and not capsys.readouterr().err
    # Errors are one line on stderr with exit status 2.
    status = cli.main(["talk", "--checkpoint", workdir, "--video", str(files["video"]),
                       "--audio", str(files["folder"] / "silent.wav"), "--out",
                       str(out_path), "--no_progress"])
    assert status == 2 and "silent" in capsys.readouterr().err
    json.loads((tmp_path / "config.json").read_text())  # the workdir stays a valid one
