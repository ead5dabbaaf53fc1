"""`lipjax data build talking_face_pairs`: real videos (the astronaut's face drifting, with a
soundtrack) re-synced by a tiny randomly initialised Wav2Lip to other audios, written as DCK pair
records. The records hold the real clip and Wav2Lip's version of it; unreadable inputs are
skipped and listed; a build killed with SIGKILL resumes to the same records, two shards built
apart and gathered equal one build, tfds's Beam path (DirectRunner) too; bad inputs exit with 2
and leave nothing; DCK trains a step on the result."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import scipy.io.wavfile

from lipjax import cli
from lipjax.audio import load_audio
from lipjax.convert.workdir import write_converted_workdir
from lipjax.data.builders import load_split
from lipjax.data.builders.talking_face_pairs import TalkingFacePairs
from lipjax.data.builders.talking_face_pairs_build import PairInputs, build_pairs, build_with_beam
from lipjax.data.builders.talking_face_pairs_plan import PairSettings, make_plan, parse_shard
from lipjax.data.builders.talking_face_pairs_state import WORK_FOLDER
from lipjax.data.pairs import pair_example, pair_lengths
from lipjax.errors import DataError, InputError
from lipjax.lipsync.editor import load_face_editor
from lipjax.training.config import load_config
from lipjax.video import read_video
from lipjax.video_writer import write_video
from lipjax.wav2lip.model import Wav2LipGenerator
from lipjax.wav2lip.system import model_config
from tests._fake_corpora import render_face_video
from tests._paths import CONFIGS

FPS, RATE, FRAMES = 25.0, 16000, 16
# 3 videos (one broken) x 2 of 5 audios (one broken, one with a video's stem): 6 combinations;
# clips of at most 10 frames, so a 16-frame combination makes 2 records.
SETTINGS = PairSettings(per_video=2, clip_frames=10, test_fraction=0.4)
BROKEN = {"videos/broken.mp4", "audios/broken.wav"}


def _speech(seconds: float, seed: int) -> np.ndarray:
    """A voiced-sounding test signal: a tone whose loudness varies at 3 Hz, plus noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * envelope * np.sin(2 * np.pi * (150 + 40 * seed) * t)
            + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> PairInputs:
    root = tmp_path_factory.mktemp("pair_inputs")
    (root / "videos").mkdir()
    (root / "audios").mkdir()
    for i in range(2):
        frames, _ = render_face_video(FRAMES, seed=i)
        write_video(root / "videos" / f"face{i}.mp4", frames, FPS,
                    audio=_speech(FRAMES / FPS, i), crf=12)
    for i in range(3):
        scipy.io.wavfile.write(root / "audios" / f"speech{i}.wav", RATE, _speech(0.8, 5 + i))
    scipy.io.wavfile.write(root / "audios" / "face0.wav", RATE, _speech(1.0, 9))  # face0's own
    rng = np.random.default_rng(0)
    for path in BROKEN:
        (root / path).write_bytes(rng.integers(0, 256, 3000, np.uint8).tobytes())
    return PairInputs(str(root / "videos"), str(root / "audios"), str(root / "w2l"))


def _random_variables(module, *args) -> dict:
    """Random variables of `module` without compiling its initialiser (tens of CPU seconds for
    Wav2Lip): kernels N(0, 1 / fan_in), biases 0, BatchNorm scale 1 with statistics (0, 1)."""
    shapes = jax.eval_shape(lambda r: module.init(r, *args, train=False), jax.random.key(0))
    rng = np.random.default_rng(0)

    def fill(path, leaf):
        name = path[-1].key
        if name == "kernel":
            fan_in = int(np.prod(leaf.shape[:-1]))
            return (rng.standard_normal(leaf.shape) / np.sqrt(fan_in)).astype(leaf.dtype)
        return (np.ones if name in ("scale", "var") else np.zeros)(leaf.shape, leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, shapes)


@pytest.fixture(scope="module")
def wav2lip(inputs) -> str:
    """A Wav2Lip generator 32 times narrower than the published one, randomly initialised, as a
    converted workdir (what `lipjax convert wav2lip` writes)."""
    config = load_config(os.path.join(CONFIGS, "wav2lip.py"))
    config.model.channel_divisor = 32
    config.loss.sync, config.loss.sync_expert = 0.0, ""
    generator = Wav2LipGenerator(model_config(config))
    variables = _random_variables(generator, np.zeros((1, 96, 96, 6), np.float32),
                                  np.zeros((1, 80, 16), np.float32))
    return os.fspath(write_converted_workdir(inputs.wav2lip, config, variables))


@pytest.fixture(scope="module")
def editor(wav2lip):
    return load_face_editor(wav2lip)


@pytest.fixture(scope="module")
def reference(inputs, wav2lip, editor, tmp_path_factory) -> Path:
    """One uninterrupted, unsharded build."""
    data_dir = tmp_path_factory.mktemp("reference")
    report = build_pairs(inputs, data_dir, SETTINGS, progress=False, editor=editor)
    assert report.complete and report.rendered == 6
    return data_dir


def _digest(record: dict) -> str:
    digest = hashlib.sha1()
    for key in sorted(record):
        value = np.asarray(record[key])
        digest.update(f"{key}{value.dtype}{value.shape}".encode() + value.tobytes())
    return digest.hexdigest()


def _records(data_dir) -> dict[str, dict[bytes, str]]:
    """split -> {pair_id: digest of every field}; duplicates would fail the length check."""
    out = {}
    for split in ("train", "test"):
        records = list(load_split("talking_face_pairs", split, data_dir=data_dir))
        out[split] = {r["pair_id"]: _digest(r) for r in records}
        assert len(out[split]) == len(records), f"duplicate records in {split}"
    return out


pytestmark = pytest.mark.slow


def test_records_pair_real_clips_with_their_wav2lip_versions(inputs, reference, tmp_path):
    plan = make_plan(("broken.mp4", "face0.mp4", "face1.mp4"),
                     ("broken.wav", "face0.wav", "speech0.wav", "speech1.wav", "speech2.wav"),
                     SETTINGS)
    assert plan == make_plan(plan.videos, plan.audios, SETTINGS)  # deterministic
    assert all(c.audio != "face0.wav" for c in plan.combinations if c.video == "face0.mp4")
    good = [c for c in plan.combinations if f"videos/{c.video}" not in BROKEN
            and f"audios/{c.audio}" not in BROKEN]
    records = {s: list(load_split("talking_face_pairs", s, data_dir=reference))
               for s in ("train", "test")}
    assert sum(map(len, records.values())) == 2 * len(good) > 0
    for split, split_records in records.items():
        assert {r["video"].decode() for r in split_records} == {
            c.video for c in good if c.split == split}
    for record in records["train"] + records["test"]:
        assert pair_lengths(record) == (1, 1)
        start, (x0, y0, x1, y1) = int(record["clip_start"]), record["region"]
        count = len(record["frames_a"])
        real, fps = read_video(Path(inputs.videos) / record["video"].decode())
        assert fps == record["fps"] == FPS
        np.testing.assert_array_equal(record["frames_a"], real[start:start + count, y0:y1, x0:x1])
        # Wav2Lip changed the face box and nothing else.
        change = np.abs(record["frames_a"].astype(int) - record["frames_b"]).max(axis=-1)
        for t, box in enumerate(record["face_boxes"].astype(int)):
            inside = np.zeros(change.shape[1:], bool)
            inside[box[1]:box[3], box[0]:box[2]] = True
            assert change[t][~inside].max() == 0 and change[t][inside].mean() > 1
        first = round(start * RATE / FPS)
        own = load_audio(Path(inputs.videos) / record["video"].decode())
        other = load_audio(Path(inputs.audios) / record["audio"].decode())
        np.testing.assert_array_equal(record["audio_a"], own[first:first + len(record["audio_a"])])
        np.testing.assert_array_equal(record["audio_b"],
                                      other[first:first + len(record["audio_b"])])
        assert len(record["audio_a"]) == round(count * RATE / FPS)
        assert np.isnan(record["landmarks_a"]).all() and np.isnan(record["landmarks_b"]).all()
    # DCK's examples: the mouth region of unknown landmarks is the lower half of the crop.
    example = pair_example(records["test"][0], max_tokens=1, max_frames=2,
                           rng=np.random.default_rng(0), training=True, image_size=32)
    assert example["frame_mask"].all() and example["mouth_mask"][:, 16:].all()
    assert not example["mouth_mask"][:, :16].any()
    # Clips' face regions differ in size; a contact sheet pads them.
    assert cli.main(["data", "show", "talking_face_pairs", "--data_dir", os.fspath(reference),
                     "--split", "train", "--out", os.fspath(tmp_path / "sheet.png")]) == 0


def test_face_boxes_stored_next_to_a_video_replace_detection(inputs, editor, tmp_path):
    """`<stem>.boxes.npy`: the given boxes (snapped) are the records' boxes, a NaN row cuts the
    video like a frame without a detection, and boxes that do not match the video skip it."""
    videos, audios = tmp_path / "videos", tmp_path / "audios"
    videos.mkdir()
    audios.mkdir()
    for name in ("face0.mp4", "face1.mp4"):
        shutil.copy(Path(inputs.videos) / name, videos / name)
    shutil.copy(Path(inputs.audios) / "speech0.wav", audios / "speech0.wav")
    x = np.arange(FRAMES, dtype=np.float64)
    boxes = np.stack([40.3 + 0.5 * x, 10.6 + 0 * x, 110.2 + 0.5 * x, 95.4 + 0 * x], axis=1)
    boxes[7] = np.nan                                   # no face in frame 7: clips 0-6, 8-15
    np.save(videos / "face0.boxes.npy", boxes)
    np.save(videos / "face1.boxes.npy", boxes[:-1])     # one box short: face1 is skipped
    settings = PairSettings(per_video=1, clip_frames=10, test_fraction=0.0)
    report = build_pairs(PairInputs(str(videos), str(audios), inputs.wav2lip), tmp_path / "d",
                         settings, progress=False, editor=editor)
    assert [s["path"] for s in report.skipped] == ["videos/face1.mp4"]
    assert "15 boxes for a video of more than 15 frames" in report.skipped[0]["reason"]
    records = list(load_split("talking_face_pairs", "train", data_dir=tmp_path / "d"))
    assert sorted((int(r["clip_start"]), len(r["frames_a"])) for r in records) == [(0, 7), (8, 8)]
    for record in records:
        start, count = int(record["clip_start"]), len(record["frames_a"])
        x0, y0 = record["region"][:2]
        expected = np.round(boxes[start:start + count]) - [x0, y0, x0, y0]
        np.testing.assert_array_equal(record["face_boxes"], expected)


def test_unreadable_inputs_are_skipped_counted_and_listed(reference, inputs, wav2lip, capsys):
    meta = TalkingFacePairs(data_dir=os.fspath(reference)).info.metadata
    assert {s["path"] for s in meta["skipped"]} == BROKEN and meta["num_skipped"] == 2
    assert meta["combinations"] == 6 and meta["output_frames"] > 0
    assert meta["settings"]["per_video"] == 2
    # Running the command again on a built dataset renders nothing and lists them again.
    assert cli.main(["data", "build", "talking_face_pairs", "--videos", inputs.videos,
                     "--audios", inputs.audios, "--wav2lip", wav2lip, "--per_video", "2",
                     "--clip_frames", "10", "--test_fraction", "0.4",
                     "--data_dir", os.fspath(reference)]) == 0
    out = capsys.readouterr().out
    assert "0 of its 6 combinations rendered now" in out and "skipped 2 unreadable" in out
    assert all(path in out for path in BROKEN)


def _cli_build(inputs, wav2lip, data_dir, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lipjax.cli", "data", "build", "talking_face_pairs",
            "--videos", inputs.videos, "--audios", inputs.audios, "--wav2lip", wav2lip,
            "--per_video", "2", "--clip_frames", "10", "--test_fraction", "0.4",
            "--data_dir", os.fspath(data_dir), "--no_progress", *extra]


def test_a_build_killed_mid_way_resumes_to_the_same_records(inputs, wav2lip, reference,
                                                            tmp_path):
    data_dir = tmp_path / "data"
    done = data_dir / WORK_FOLDER / "done"
    process = subprocess.Popen(_cli_build(inputs, wav2lip, data_dir), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:  # kill it as soon as one combination with records is done
        while process.poll() is None and not any(
                b'"records": 2' in p.read_bytes() for p in done.glob("*.json")):
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL, process.stdout.read().decode()
    assert 0 < len(list(done.glob("*.json"))) < 6
    with pytest.raises(DataError, match="not built"):
        load_split("talking_face_pairs", "train", data_dir=data_dir)
    result = subprocess.run(_cli_build(inputs, wav2lip, data_dir), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "6 of 6 done in all" in result.stdout
    assert _records(data_dir) == _records(reference)


def test_two_shards_built_apart_and_gathered_equal_one_build(inputs, editor, reference,
                                                             tmp_path):
    first, second = tmp_path / "machine0", tmp_path / "machine1"
    report = build_pairs(inputs, first, SETTINGS, shard=(0, 2), progress=False, editor=editor)
    assert not report.complete and report.rendered == report.shard_combinations == 3
    report = build_pairs(inputs, second, SETTINGS, shard=(1, 2), progress=False, editor=editor)
    assert not report.complete and report.rendered == 3
    with pytest.raises(DataError, match="not built"):
        load_split("talking_face_pairs", "train", data_dir=second)
    for path in second.rglob("*"):  # gather shard 1's files into machine 0's data_dir
        if path.is_file() and path.name != "plan.json":
            target = first / path.relative_to(second)
            assert not target.exists()
            shutil.copy(path, target)
    report = build_pairs(inputs, first, SETTINGS, shard=(1, 2), progress=False, editor=editor)
    assert report.complete and report.rendered == 0
    assert _records(first) == _records(reference)


@pytest.mark.parametrize("args,message", [
    (["--videos", "{root}/nowhere"], "does not exist"),
    (["--videos", "{root}/empty"], "holds no videos"),
    (["--audios", "{root}/empty"], "holds no audios"),
    (["--wav2lip", "{root}/garbage.pth"], "cannot read"),
    (["--wav2lip", "{root}/missing.pth"], "does not exist"),
    (["--shard", "2/2"], "need 0 <= I < N"),
    (["--shard", "first"], "is not I/N"),
    (["--per_video", "0"], "--per_video must be"),
    (["--config", "tiny"], "takes no --config"),
])
def test_bad_inputs_exit_2_and_leave_nothing(inputs, wav2lip, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint" * 100)
    given = {"--videos": inputs.videos, "--audios": inputs.audios, "--wav2lip": wav2lip}
    extra = []
    for flag, value in zip(args[::2], args[1::2]):
        value = value.format(root=tmp_path)
        if flag in given:
            given[flag] = value
        else:
            extra += [flag, value]
    data_dir = tmp_path / "data"
    command = ["data", "build", "talking_face_pairs", "--data_dir", os.fspath(data_dir)]
    assert cli.main(command + [x for kv in given.items() for x in kv] + extra) == 2
    assert message in capsys.readouterr().err
    assert not data_dir.exists()


def test_a_build_with_other_options_is_refused_and_changes_nothing(inputs, wav2lip, reference,
                                                                   capsys):
    before = sorted((p, p.stat().st_mtime_ns) for p in reference.rglob("*"))
    assert cli.main(["data", "build", "talking_face_pairs", "--videos", inputs.videos,
                     "--audios", inputs.audios, "--wav2lip", wav2lip, "--per_video", "1",
                     "--data_dir", os.fspath(reference)]) == 2
    assert "with other settings" in capsys.readouterr().err
    assert sorted((p, p.stat().st_mtime_ns) for p in reference.rglob("*")) == before
    assert cli.main(["data", "build", "grid", "--videos", inputs.videos, "--data_dir",
                     os.fspath(reference)]) == 2
    with pytest.raises(InputError):
        parse_shard("1/0")


def test_beam_without_apache_beam_is_a_clear_error(inputs, wav2lip, tmp_path, capsys):
    if importlib.util.find_spec("apache_beam") is not None:
        pytest.skip("Apache Beam is installed: the Beam test below builds with it")
    assert cli.main(["data", "build", "talking_face_pairs", "--videos", inputs.videos,
                     "--audios", inputs.audios, "--wav2lip", wav2lip, "--beam",
                     "--data_dir", os.fspath(tmp_path / "data")]) == 2
    assert "pip install 'lipjax[beam]'" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_dck_trains_a_step_on_the_built_pairs(reference, tmp_path):
    from lipjax.training.loop import train_and_evaluate
    from tests.dck._tiny import tiny_config

    config = tiny_config(os.fspath(reference), parallel="pmap")
    config.data.update(dict(name="talking_face_pairs", builder_config="default",
                            builder_overrides={}, build_if_missing=False))
    config.train.num_steps = 1
    result = train_and_evaluate(config, tmp_path / "dck", progress=False)
    assert result["final_step"] == 1 and result["skipped_steps"] == 0
    metrics = result["eval"]
    assert np.isfinite(metrics["psnr/model"]) and np.isfinite(metrics["psnr_mouth/model"])
    assert "lmd/input_baseline" not in metrics  # the real pairs' landmarks are unknown


def test_beam_direct_runner_builds_the_same_records(inputs, editor, reference, tmp_path):
    pytest.importorskip("apache_beam", reason="Apache Beam is an optional extra (pip install "
                        "'lipjax[beam]'); it pins protobuf < 7, so `make test` does not install "
                        "it (BUILD_NOTES.md)")
    report = build_with_beam(inputs, tmp_path / "beam", SETTINGS, editor=editor)
    assert report.complete
    assert _records(tmp_path / "beam") == _records(reference)
    meta = TalkingFacePairs(data_dir=os.fspath(tmp_path / "beam")).info.metadata
    assert {s["path"] for s in meta["skipped"]} == BROKEN
