"""Bad input, table by table: every case is a specific `lipjax.errors` exception raised at the
public boundary before any work starts, and, through `lipjax.cli.main`, one line
`lipjax: error: ...` on stderr with exit status 2.

Each case names the problem (a regex on the message) and, CLI or API, leaves the folder that
holds every input, workdir and output path exactly as it was (a listing with the SHA-1 of every
file, before and after). The cases are grouped by command; their ids say what is wrong.

One tiny ParaLip workdir, one tiny DCK workdir and a handful of media files are built once for
the module. Cases that need file permissions are skipped where they are not enforced (root reads
and writes everything, so there is nothing to refuse).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import shlex
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any, Callable

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io.wavfile

import lipjax
from lipjax import audio, cli, convert, errors, face, metrics, ops, text, video
from lipjax.training.config import validate_config
from lipjax.errors import (
    AudioError,
    CheckpointError,
    ConfigError,
    ConversionError,
    InputError,
    NoFaceError,
    VideoError,
)
from tests._paths import CONFIGS

SAMPLE_RATE = 16000
FPS = 25.0


def _permissions_enforced() -> bool:
    """False for root (or anyone else who may read a file of mode 000): nothing to refuse."""
    with tempfile.NamedTemporaryFile() as probe:
        os.chmod(probe.name, 0)
        return not os.access(probe.name, os.R_OK)


AS_USER = pytest.mark.skipif(not _permissions_enforced(),
                             reason="this user (root) reads and writes every file")
NEEDS_TORCH = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch is not installed")
SYNTHETIC = os.path.join(CONFIGS, "paralip_synthetic.py")


# ---------------------------------------------------------------------------------------------
# Fixtures: one root folder with every input, the two workdirs and room for outputs


def _paralip_workdir(path: Path, data_dir: Path) -> None:
    from lipjax.training.checkpoint import Checkpointer
    from lipjax.training.state import init_state, make_rng
    from lipjax.training.system import make_system
    from tests._tiny_configs import tiny_paralip_config

    config = tiny_paralip_config(str(data_dir))
    config.data.build_if_missing = False  # `evaluate` must not build a corpus here
    system = make_system(config)
    state, _ = init_state(system, config, system.example_batch(tuple(config.data.buckets[0])),
                          make_rng(config))
    path.mkdir()
    (path / "config.json").write_text(config.to_json_best_effort(indent=2))
    checkpointer = Checkpointer(path / "checkpoints", async_save=False)
    checkpointer.save(0, state, config=config)
    checkpointer.close()


def _dck_workdir(path: Path) -> None:
    """A DCK workdir: 64x64 crops, narrow channels, a 4-block audio encoder (80 x 16 -> 1)."""
    from lipjax.training.checkpoint import Checkpointer
    from lipjax.training.config import load_config
    from lipjax.training.state import init_state, make_rng
    from lipjax.training.system import make_system

    config = load_config(os.path.join(CONFIGS, "dck_synthetic.py"))
    config.model.update(dict(image_size=64, down_channels=(8, 16, 16, 16, 16),
                             up_channels=(16, 16, 16, 8, 8), middle_channels=16,
                             audio_feature_dim=32, kernel_generator_hidden=(32,)))
    config.model.audio_blocks = ((8, 3, (3, 1), 1, False), (8, 3, (3, 3), 1, False),
                                 (16, 3, (3, 2), 1, False), (32, 3, (1, 1), 0, False))
    config.loss.adv = 0.0
    config.data.buckets = [(1, 1)]
    system = make_system(config)
    state, _ = init_state(system, config, system.example_batch((1, 1)), make_rng(config))
    path.mkdir()
    (path / "config.json").write_text(config.to_json_best_effort(indent=2))
    checkpointer = Checkpointer(path / "checkpoints", async_save=False)
    checkpointer.save(0, state, config=config)
    checkpointer.close()


def _write_png(path: Path, image: np.ndarray) -> None:
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def _wav(path: Path, samples: np.ndarray) -> None:
    scipy.io.wavfile.write(path, SAMPLE_RATE, np.asarray(samples, np.float32))


def _media(root: Path) -> None:
    """Videos, audio and images, good and bad, in `root`."""
    from lipjax.data.synthetic.talking_faces import TalkingFacesConfig, generate_pairs
    from lipjax.video import write_video

    config = TalkingFacesConfig(
        num_identities=1, train_pairs_per_identity=0, test_pairs_per_identity=1,
        test_fraction=0.3, frame_height=96, frame_width=128, min_frames=16, max_frames=16,
        num_words=2)
    pair = next(generate_pairs(config, "test"))
    frames = pair["frames_a"][:8].copy()
    frames[5:7] = 128  # no face in these two frames
    write_video(root / "face.mp4", frames, FPS, audio=pair["audio_a"])
    write_video(root / "noface.mp4", np.full((4, 96, 128, 3), 90, np.uint8), FPS)
    (root / "truncated.mp4").write_bytes((root / "face.mp4").read_bytes()[:1500])
    (root / "garbage.mp4").write_bytes(b"this is not a video" * 50)
    (root / "empty.mp4").write_bytes(b"")
    _write_png(root / "face.png", pair["frames_a"][0])
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE)
    _wav(root / "speech.wav", pair["audio_b"][:int(SAMPLE_RATE * 8 / FPS)])
    _wav(root / "tone.wav", tone)
    _wav(root / "silent.wav", np.zeros(8000))
    _wav(root / "nan.wav", np.full(8000, np.nan))
    _wav(root / "short.wav", tone[:320])  # 20 ms: less than one frame at 25 fps
    rng = np.random.default_rng(0)
    _write_png(root / "lip.png", rng.integers(0, 255, (80, 160, 3), dtype=np.uint8))
    _write_png(root / "wide.png", rng.integers(0, 255, (70, 100, 3), dtype=np.uint8))
    (root / "empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("not a config, not an image\n")
    (root / "folder").mkdir()
    (root / "folder.png").mkdir()
    (root / "empty_dir").mkdir()
    (root / "syntax.py").write_text("def get_config(:\n")
    (root / "raises.py").write_text("def get_config():\n    raise RuntimeError('boom')\n")
    (root / "no_get_config.py").write_text("x = 1\n")
    (root / "returns_int.py").write_text("def get_config():\n    return 3\n")
    (root / "garbage.pth").write_bytes(b"not a torch file" * 10)
    (root / "empty.pth").write_bytes(b"")


def _torch_files(root: Path) -> None:
    """A file with the tensor names (not the sizes) of Wav2Lip's generator, one with other
    names and one that pickles a list."""
    import torch

    from tests._layouts import read_layout

    names = [name for name, _ in read_layout("wav2lip_generator")]
    torch.save({"state_dict": {f"module.{n}": torch.zeros(1) for n in names}},
               root / "wav2lip_like.pth")
    torch.save({"a": torch.zeros(2)}, root / "other.pth")
    torch.save([1, 2, 3], root / "list.pth")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> types.SimpleNamespace:
    root = tmp_path_factory.mktemp("bad_inputs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _paralip_workdir(root / "paralip", root / "nodata")
        _dck_workdir(root / "dck")
    _media(root)
    if importlib.util.find_spec("torch") is not None:
        _torch_files(root)
    (root / "out").mkdir()
    locked = root / "locked"  # permission cases: a folder nobody may enter, a file nobody reads
    locked.mkdir()
    (root / "unreadable.mp4").write_bytes((root / "face.mp4").read_bytes())
    (root / "unreadable.png").write_bytes((root / "lip.png").read_bytes())
    os.chmod(root / "unreadable.mp4", 0)
    os.chmod(root / "unreadable.png", 0)
    os.chmod(locked, 0o555)
    return types.SimpleNamespace(root=root, paths={"root": str(root)})


@pytest.fixture(scope="module")
def lip_generator(env):
    from lipjax.paralip.generate import LipGenerator

    return LipGenerator.from_checkpoint(env.root / "paralip")


@pytest.fixture(scope="module")
def editor(env):
    from lipjax.dck.generator import TalkingFaceGenerator

    return TalkingFaceGenerator.from_checkpoint(env.root / "dck")


def _listing(root: Path) -> dict[str, str]:
    """Every path under `root`: "dir", or the SHA-1 of the file (unreadable: its size)."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_dir():
            found[key] = "dir"
        elif os.access(path, os.R_OK):
            found[key] = hashlib.sha1(path.read_bytes()).hexdigest()
        else:
            found[key] = f"{path.stat().st_size} bytes"
    return found


# ---------------------------------------------------------------------------------------------
# The table


@dataclasses.dataclass(frozen=True)
class Cli:
    """`lipjax <argv>` (`{root}` is the fixture folder) must exit 2 with one line matching.

    `progress_lines`: the command may print tqdm progress lines before its error (the
    synthetic_lips builder ignores --no_progress; reported to its owner)."""

    id: str
    argv: str
    match: str
    marks: tuple = ()
    progress_lines: bool = False


@dataclasses.dataclass(frozen=True)
class Api:
    """`call(env, model)` must raise `error` with a message matching; `model` is the fixture
    `needs` names ("lip_generator", "editor"), or None."""

    id: str
    call: Callable[[Any, Any], Any]
    error: type
    match: str
    needs: str | None = None
    marks: tuple = ()


LIP = "lip --checkpoint {root}/paralip --identity {root}/lip.png"
TALK = "talk --checkpoint {root}/dck --no_progress"
TALK_OK = TALK + " --video {root}/face.mp4 --audio {root}/speech.wav"
TRAIN = "train --config " + SYNTHETIC + " --workdir {root}/out/run"
SYNC = "evaluate-sync --no_progress"

DATA_CASES = [
    Cli("unknown-dataset", "data build nope --data_dir {root}/data", "unknown dataset 'nope'"),
    Cli("data-dir-is-a-file", "data build synthetic_lips --data_dir {root}/notes.txt",
        "is a file"),
    Cli("data-dir-below-a-file", "data build synthetic_lips --data_dir {root}/notes.txt/x",
        "notes.txt' is a file"),
    Cli("unknown-builder-config", "data build synthetic_lips --data_dir {root}/data "
        "--config huge", "known configs: small, small_varied_timing, tiny"),
    Cli("override-not-an-int", "data build synthetic_lips --data_dir {root}/data --config tiny "
        "--set num_speakers=abc", "'num_speakers' is an integer"),
    Cli("override-unknown-field", "data build synthetic_lips --data_dir {root}/data --config "
        "tiny --set bogus=1", "unknown config field.*'bogus'.*settable fields"),
    Cli("override-without-value", "data build synthetic_lips --data_dir {root}/data --config "
        "tiny --set num_speakers", "an override is key=value"),
    Cli("override-yields-no-examples", "data build synthetic_lips --data_dir {root}/data "
        "--config tiny --no_progress --set num_speakers=0", "No examples were yielded",
        progress_lines=True),
    Cli("manual-corpus-without-manual-dir", "data build grid --data_dir {root}/data",
        "pass --manual_dir"),
    Cli("manual-dir-is-a-file", "data build grid --data_dir {root}/data --manual_dir "
        "{root}/notes.txt", "--manual_dir .* is a file"),
    Cli("manual-dir-is-empty", "data build grid --data_dir {root}/data --manual_dir "
        "{root}/empty_dir", "--manual_dir .* is empty"),
    Cli("manual-dir-missing", "data build grid --data_dir {root}/data --manual_dir "
        "{root}/absent", "manual_dir .* does not exist"),
    Cli("show-not-built", "data show synthetic_lips --data_dir {root}/nodata --config tiny "
        "--out {root}/out/sheet.png", "not built.*lipjax data build synthetic_lips"),
    Cli("show-zero-examples", "data show synthetic_lips --data_dir {root}/nodata --examples 0 "
        "--out {root}/out/sheet.png", r"--examples and --frames must each be in 1\.\.64"),
    Cli("show-a-billion-frames", "data show synthetic_lips --data_dir {root}/nodata --frames "
        "1000000000 --out {root}/out/sheet.png", r"must each be in 1\.\.64"),
    Cli("show-out-not-png", "data show synthetic_lips --data_dir {root}/nodata --out "
        "{root}/out/sheet.jpg", "must be a .png file"),
    Cli("show-out-is-a-folder", "data show synthetic_lips --data_dir {root}/nodata --out "
        "{root}/folder.png", "is a folder"),
    Cli("show-split-malformed", "data show synthetic_lips --data_dir {root}/nodata --split "
        "train[ --out {root}/out/sheet.png", "--split 'train\\[' is not a split"),
    Cli("show-split-selects-nothing", "data show synthetic_lips --data_dir {root}/nodata "
        "--split train[:0] --out {root}/out/sheet.png", "selects no examples"),
    Cli("show-out-folder-not-writable", "data show synthetic_lips --data_dir {root}/nodata "
        "--out {root}/locked/sheet.png", "not a writable folder", (AS_USER,)),
]

TRAIN_CASES = [
    Cli("config-missing", "train --config {root}/absent.py --workdir {root}/out/run",
        "config file .*absent.py does not exist"),
    Cli("config-is-a-folder", "train --config {root}/folder --workdir {root}/out/run",
        "is a folder; give a .py file"),
    Cli("config-not-python", "train --config {root}/speech.wav --workdir {root}/out/run",
        "is not a Python file"),
    Cli("config-syntax-error", "train --config {root}/syntax.py --workdir {root}/out/run",
        r"is not valid Python \(line 1"),
    Cli("config-raises", "train --config {root}/raises.py --workdir {root}/out/run",
        "get_config.* raised RuntimeError: boom"),
    Cli("config-without-get-config", "train --config {root}/no_get_config.py --workdir "
        "{root}/out/run", "defines no get_config"),
    Cli("get-config-returns-an-int", "train --config {root}/returns_int.py --workdir "
        "{root}/out/run", "returned a int, not an ml_collections.ConfigDict"),
    Cli("steps-not-an-int", TRAIN + " --set train.num_steps=abc",
        "'train.num_steps' is an integer"),
    Cli("steps-zero", TRAIN + " --set train.num_steps=0", "'train.num_steps' must be an "
        "integer >= 1"),
    Cli("learning-rate-nan", TRAIN + " --set optim.generator.learning_rate=nan",
        r"learning_rate' must be a finite number in \(0, 1\]"),
    Cli("unknown-section", TRAIN + " --set nope.x=1", "no section 'nope'"),
    Cli("workers-zero", TRAIN + " --set data.workers=0", "'data.workers' must be an integer "
        ">= 1 or None"),
    Cli("system-not-importable", TRAIN + " --set system=nope.Nope", "not an importable class"),
    Cli("workdir-is-a-file", "train --config " + SYNTHETIC + " --workdir {root}/notes.txt",
        "--workdir .* is a file, not a folder"),
    Cli("workdir-below-a-file", "train --config " + SYNTHETIC + " --workdir "
        "{root}/notes.txt/run", "cannot be created: .*notes.txt' is a file"),
    Cli("workdir-not-writable", "train --config " + SYNTHETIC + " --workdir {root}/locked/run",
        "not writable", (AS_USER,)),
    Cli("dataset-not-built", TRAIN + " --set data.data_dir={root}/nodata "
        "--set data.build_if_missing=false", "not built in .*nodata.*lipjax data build"),
    Cli("evaluate-workdir-missing", "evaluate --workdir {root}/absent", "does not exist; is it "
        "a lipjax workdir"),
    Cli("evaluate-folder-not-a-workdir", "evaluate --workdir {root}/folder",
        "has no config.json"),
    Cli("evaluate-unknown-override", "evaluate --workdir {root}/paralip --set nope=1",
        "unknown config field 'nope'"),
    Cli("evaluate-split-malformed", "evaluate --workdir {root}/paralip --split train[",
        "is not a split"),
    Cli("evaluate-split-a-path", "evaluate --workdir {root}/paralip --split ../../x",
        "'../../x' is not a split"),
    Cli("evaluate-override-out-of-range", "evaluate --workdir {root}/paralip --set "
        "train.max_eval_batches=0", "'train.max_eval_batches' must be an integer >= 1"),
    Cli("evaluate-dataset-not-built", "evaluate --workdir {root}/paralip --no_progress",
        "not built in .*nodata"),
]

LIP_CASES = [
    Cli("durations-not-a-number", LIP + " --text bin --out {root}/out/x.mp4 --durations a",
        r"--durations takes comma-separated whole numbers of frames, each in 0\.\.1024"),
    Cli("durations-fraction", LIP + " --text bin --out {root}/out/x.mp4 --durations "
        "2,2.5,2,2,2", r"whole numbers of frames, each in 0\.\.1024.*got '2,2.5"),
    Cli("durations-int32-wraparound", LIP + " --text bin --out {root}/out/x.mp4 --durations "
        "1099511627776", r"summing to at most 1024; got a largest value of 1099511627776"),
    Cli("durations-empty-item", LIP + " --text bin --out {root}/out/x.mp4 --durations 1,,2",
        "got '1,,2'"),
    Cli("durations-wrong-count", LIP + " --text bin --out {root}/out/x.mp4 --durations 1,2",
        "durations must be 5 whole numbers.*got shape"),
    Cli("durations-all-zero", LIP + " --text bin --out {root}/out/x.mp4 --durations 0,0,0,0,0",
        r"summing to 1\.\.1024; got .* summing to 0"),
    Cli("identity-other-aspect-ratio", "lip --checkpoint {root}/paralip --identity "
        "{root}/wide.png --text bin --out {root}/out/x.mp4",
        "100x70 .*aspect 1.43.*160x80 lip crops.*crop a 2:1 region"),
    Cli("identity-missing", "lip --checkpoint {root}/paralip --identity {root}/absent.png "
        "--text bin --out {root}/out/x.mp4", "image not found"),
    Cli("identity-is-a-folder", "lip --checkpoint {root}/paralip --identity {root}/folder.png "
        "--text bin --out {root}/out/x.mp4", "image .* is a folder"),
    Cli("identity-empty-file", "lip --checkpoint {root}/paralip --identity {root}/empty.png "
        "--text bin --out {root}/out/x.mp4", r"is empty \(0 bytes\)"),
    Cli("identity-not-an-image", "lip --checkpoint {root}/paralip --identity {root}/speech.wav "
        "--text bin --out {root}/out/x.mp4", "cannot read .* as an image"),
    Cli("identity-permission-denied", "lip --checkpoint {root}/paralip --identity "
        "{root}/unreadable.png --text bin --out {root}/out/x.mp4", "permission denied",
        (AS_USER,)),
    Cli("out-is-a-folder", LIP + " --text bin --out {root}/out", "it is a folder"),
    Cli("out-folder-missing", LIP + " --text bin --out {root}/absent/x.mp4",
        "folder .*absent' does not exist"),
    Cli("out-not-a-video-suffix", LIP + " --text bin --out {root}/out/x.txt",
        r"must end in \.mp4"),
    Cli("out-is-the-identity-image", LIP + " --text bin --out {root}/lip.png",
        "is an input file; it would be overwritten"),
    Cli("out-folder-not-writable", LIP + " --text bin --out {root}/locked/x.mp4",
        "not writable", (AS_USER,)),
    Cli("dck-workdir", "lip --checkpoint {root}/dck --identity {root}/lip.png --text bin "
        "--out {root}/out/x.mp4", "holds a DCKGenerator model.*not ParaLip"),
    Cli("checkpoint-missing", "lip --checkpoint {root}/absent --identity {root}/lip.png "
        "--text bin --out {root}/out/x.mp4", "does not exist; is it a lipjax workdir"),
    Cli("text-unknown-symbol", LIP + " --text bin? --out {root}/out/x.mp4",
        r"not in the GRID characters vocabulary: '\?'"),
    Cli("text-empty", LIP + " --text '' --out {root}/out/x.mp4", "non-empty string"),
    Cli("text-too-long", LIP + " --text " + "a" * 300 + " --out {root}/out/x.mp4",
        "302 tokens long, more than the 256"),
]

TALK_CASES = [
    Cli("paralip-workdir", "talk --checkpoint {root}/paralip --video {root}/face.mp4 --audio "
        "{root}/speech.wav --out {root}/out/x.mp4", "ParaLip model.*cannot lip-sync a video"),
    Cli("checkpoint-not-a-torch-file", "talk --checkpoint {root}/garbage.pth --video "
        "{root}/face.mp4 --audio {root}/speech.wav --out {root}/out/x.mp4",
        "as a PyTorch checkpoint: it is not one", (NEEDS_TORCH,)),
    Cli("checkpoint-missing", "talk --checkpoint {root}/absent --video {root}/face.mp4 "
        "--audio {root}/speech.wav --out {root}/out/x.mp4", "neither a workdir nor"),
    Cli("video-missing", TALK + " --video {root}/absent.mp4 --audio {root}/speech.wav --out "
        "{root}/out/x.mp4", "video file not found"),
    Cli("video-is-a-folder", TALK + " --video {root}/folder --audio {root}/speech.wav --out "
        "{root}/out/x.mp4", "is a folder, not a video"),
    Cli("video-empty-file", TALK + " --video {root}/empty.mp4 --audio {root}/speech.wav --out "
        "{root}/out/x.mp4", r"is empty \(0 bytes\)"),
    Cli("video-not-a-video", TALK + " --video {root}/garbage.mp4 --audio {root}/speech.wav "
        "--out {root}/out/x.mp4", "cannot open .*re-encode"),
    Cli("video-truncated", TALK + " --video {root}/truncated.mp4 --audio {root}/speech.wav "
        "--out {root}/out/x.mp4", "no decodable frames|cannot open"),
    Cli("video-permission-denied", TALK + " --video {root}/unreadable.mp4 --audio "
        "{root}/speech.wav --out {root}/out/x.mp4", "permission denied", (AS_USER,)),
    Cli("audio-missing", TALK + " --video {root}/face.mp4 --audio {root}/absent.wav --out "
        "{root}/out/x.mp4", "audio file not found"),
    Cli("audio-is-a-folder", TALK + " --video {root}/face.mp4 --audio {root}/folder --out "
        "{root}/out/x.mp4", "is a folder, not an audio file"),
    Cli("audio-nan", TALK + " --video {root}/face.mp4 --audio {root}/nan.wav --out "
        "{root}/out/x.mp4", "NaN or infinite samples"),
    Cli("audio-silent", TALK + " --video {root}/face.mp4 --audio {root}/silent.wav --out "
        "{root}/out/x.mp4", "is silent"),
    Cli("audio-not-audio", TALK + " --video {root}/face.mp4 --audio {root}/lip.png --out "
        "{root}/out/x.mp4", "cannot decode audio"),
    Cli("audio-shorter-than-a-frame", TALK + " --video {root}/face.mp4 --audio "
        "{root}/short.wav --out {root}/out/x.mp4", "audio is too short"),
    Cli("out-is-a-folder", TALK_OK + " --out {root}/out", "it is a folder"),
    Cli("out-folder-missing", TALK_OK + " --out {root}/absent/x.mp4", "does not exist"),
    Cli("out-not-a-video-suffix", TALK_OK + " --out {root}/out/x.wav", r"must end in \.mp4"),
    Cli("out-is-the-video", TALK_OK + " --out {root}/face.mp4", "it would be overwritten"),
    Cli("out-folder-not-writable", TALK_OK + " --out {root}/locked/x.mp4", "not writable",
        (AS_USER,)),
    Cli("batch-size-zero", TALK_OK + " --out {root}/out/x.mp4 --batch_size 0",
        r"batch_size must be an integer in 1\.\.1024, got 0"),
    Cli("batch-size-huge", TALK_OK + " --out {root}/out/x.mp4 --batch_size 100000000",
        r"in 1\.\.1024, got 100000000"),
    Cli("fps-zero", TALK + " --video {root}/face.png --audio {root}/speech.wav --out "
        "{root}/out/x.mp4 --fps 0", r"fps must be a frame rate in \(0, 1000\]"),
    Cli("fps-a-billion", TALK + " --video {root}/face.png --audio {root}/speech.wav --out "
        "{root}/out/x.mp4 --fps 1e9", r"in \(0, 1000\], got 1000000000"),
    Cli("fps-nan", TALK + " --video {root}/face.png --audio {root}/speech.wav --out "
        "{root}/out/x.mp4 --fps nan", r"in \(0, 1000\], got nan"),
    Cli("resize-factor-zero", TALK_OK + " --out {root}/out/x.mp4 --resize_factor 0",
        "resize_factor must be a positive integer"),
    Cli("resize-factor-leaves-no-pixels", TALK_OK + " --out {root}/out/x.mp4 --resize_factor "
        "1000", "leaves no pixels of a 128x96 frame"),
    Cli("box-inverted", TALK_OK + " --out {root}/out/x.mp4 --box 75 20 40 88",
        "y1 < y2 and x1 < x2"),
    Cli("box-outside-the-frame", TALK_OK + " --out {root}/out/x.mp4 --box 2000 3000 2000 3000",
        "2000 3000 2000 3000 lies outside the 128x96 frames"),
    Cli("pads-remove-the-face", TALK_OK + " --out {root}/out/x.mp4 --pads -1000 0 0 0",
        r"pads \(-1000, 0, 0, 0\).*leave no face box"),
    Cli("no-face-in-any-frame", TALK + " --video {root}/noface.mp4 --audio {root}/speech.wav "
        "--out {root}/out/x.mp4", "no face was detected in any of the 4 frames"),
]

CONVERT_CASES = [
    Cli("checkpoint-missing", "convert paralip --torch_checkpoint {root}/absent.ckpt --out "
        "{root}/out/converted", "--torch_checkpoint .* does not exist"),
    Cli("checkpoint-empty-file", "convert wav2lip --torch_checkpoint {root}/empty.pth --out "
        "{root}/out/converted", r"is empty \(0 bytes\)"),
    Cli("checkpoint-not-a-torch-file", "convert paralip --torch_checkpoint {root}/garbage.pth "
        "--out {root}/out/converted", "as a PyTorch checkpoint: it is not one", (NEEDS_TORCH,)),
    Cli("checkpoint-folder-for-wav2lip", "convert wav2lip --torch_checkpoint {root}/folder "
        "--out {root}/out/converted", "is a folder; give the .pth"),
    Cli("folder-without-paralip-checkpoint", "convert paralip --torch_checkpoint "
        "{root}/empty_dir --out {root}/out/converted", "holds no model_ckpt_steps_"),
    Cli("wav2lip-pth-as-paralip", "convert paralip --torch_checkpoint {root}/wav2lip_like.pth "
        "--out {root}/out/converted",
        "not a paralip checkpoint: .*Wav2Lip's generator.*`lipjax convert wav2lip`",
        (NEEDS_TORCH,)),
    Cli("wav2lip-pth-as-syncnet", "convert syncnet --torch_checkpoint {root}/wav2lip_like.pth "
        "--out {root}/out/converted", "not a syncnet checkpoint: .*`lipjax convert wav2lip`",
        (NEEDS_TORCH,)),
    Cli("other-tensors-as-wav2lip", "convert wav2lip --torch_checkpoint {root}/other.pth "
        "--out {root}/out/converted", "holds only 0 of the 302 tensors", (NEEDS_TORCH,)),
    Cli("other-tensors-as-paralip", "convert paralip --torch_checkpoint {root}/other.pth "
        "--out {root}/out/converted", r"does not match the official ParaLip generator \(\d+ "
        r"problems\): missing .*\(\d+ more\)", (NEEDS_TORCH,)),
    Cli("a-pickled-list", "convert paralip --torch_checkpoint {root}/list.pth --out "
        "{root}/out/converted", "holds a list, not a state dict", (NEEDS_TORCH,)),
    Cli("out-exists", "convert wav2lip --torch_checkpoint {root}/garbage.pth --out "
        "{root}/paralip", "--out .* already exists"),
    Cli("out-parent-missing", "convert wav2lip --torch_checkpoint {root}/garbage.pth --out "
        "{root}/absent/converted", "of --out does not exist"),
    Cli("out-parent-not-writable", "convert wav2lip --torch_checkpoint {root}/garbage.pth "
        "--out {root}/locked/converted", "not writable", (AS_USER,)),
    Cli("vocabulary-for-wav2lip", "convert wav2lip --torch_checkpoint {root}/garbage.pth "
        "--out {root}/out/converted --vocabulary {root}/notes.txt",
        "--vocabulary applies to `lipjax convert paralip` only"),
    Cli("vocabulary-missing", "convert paralip --torch_checkpoint {root}/garbage.pth "
        "--out {root}/out/converted --vocabulary {root}/absent.txt",
        "vocabulary file .*absent.txt': it does not exist"),
]

SYNC_CASES = [
    Cli("video-missing", SYNC + " --video {root}/absent.mp4 --syncnet {root}/absent",
        "video file not found"),
    Cli("video-is-a-folder", SYNC + " --video {root}/folder --syncnet {root}/absent",
        "is a folder, not a file"),
    Cli("video-without-audio-track", SYNC + " --video {root}/noface.mp4 --syncnet "
        "{root}/absent", "no audio stream"),
    Cli("audio-missing", SYNC + " --video {root}/face.mp4 --audio {root}/absent.wav --syncnet "
        "{root}/absent", "audio file not found"),
    Cli("syncnet-missing", SYNC + " --video {root}/face.mp4 --syncnet {root}/absent",
        "--syncnet .* is neither"),
    Cli("syncnet-paralip-workdir", SYNC + " --video {root}/face.mp4 --syncnet {root}/paralip",
        "cannot measure lip sync"),
    Cli("syncnet-not-a-torch-file", SYNC + " --video {root}/face.mp4 --syncnet "
        "{root}/garbage.pth", "as a PyTorch checkpoint: it is not one", (NEEDS_TORCH,)),
]


def _images(scale: float = 1.0, dtype=np.float32) -> np.ndarray:
    return (np.random.default_rng(0).uniform(size=(2, 16, 16, 3)) * scale).astype(dtype)


def _with_nan_in_valid_frame() -> np.ndarray:
    x = _images()
    x[0, 3, 3] = np.nan
    return x


def _zero_step_config(env):
    config = lipjax.load_config(SYNTHETIC, [f"data.data_dir={env.root}/nodata",
                                            "data.build_if_missing=false"])
    config.train.num_steps = 0  # set directly, past load_config: the loop must check it
    return config


def _talk(env, editor, **kwargs):
    from lipjax.lipsync.pipeline import talk

    options = dict(progress=False)
    options.update(kwargs)
    return talk(editor, env.root / "face.mp4", env.root / "speech.wav",
                env.root / "out" / "x.mp4", **options)


LIP_GEN, EDITOR = "lip_generator", "editor"
LIPS = np.zeros((80, 160, 3), np.uint8)

API_CASES = [
    # config and training
    Api("load_config-overrides-a-string", lambda e, m: lipjax.load_config(
        SYNTHETIC, "train.num_steps=3"), ConfigError, "list of 'key=value' strings"),
    Api("load_config-override-not-a-string", lambda e, m: lipjax.load_config(SYNTHETIC, [3]),
        ConfigError, "list of 'key=value' strings"),
    Api("validate_config-a-dict", lambda e, m: validate_config({"system": "x"}), ConfigError,
        "ml_collections.ConfigDict"),
    Api("train_and_evaluate-zero-steps", lambda e, m: lipjax.train_and_evaluate(
        _zero_step_config(e), e.root / "out" / "run", progress=False), ConfigError,
        "'train.num_steps' must be an integer >= 1"),
    Api("restore_generator-missing", lambda e, m: lipjax.restore_generator(e.root / "absent"),
        CheckpointError, "does not exist"),
    Api("restore_generator-folder", lambda e, m: lipjax.restore_generator(e.root / "folder"),
        CheckpointError, "has no config.json"),
    # LipGenerator
    Api("LipGenerator-dck-workdir", lambda e, m: type(m).from_checkpoint(e.root / "dck"),
        ConfigError, "not ParaLip", LIP_GEN),
    Api("LipGenerator-nan-identity", lambda e, m: m("bin", np.full((80, 160, 3), np.nan,
                                                                   np.float32)),
        InputError, "NaN or infinite values; every output frame would be NaN", LIP_GEN),
    Api("LipGenerator-other-aspect-ratio", lambda e, m: m("bin", np.zeros((700, 1000, 3),
                                                                          np.uint8)),
        InputError, "1000x700 .*crop a 2:1 region", LIP_GEN),
    Api("LipGenerator-float-identity-0-255", lambda e, m: m("bin", np.full((80, 160, 3), 200.0,
                                                                           np.float32)),
        InputError, r"must be in \[0, 1\].*divide 0..255 images by 255", LIP_GEN),
    Api("LipGenerator-grayscale-identity", lambda e, m: m("bin", np.zeros((80, 160), np.uint8)),
        InputError, r"\[H, W, 3\] RGB", LIP_GEN),
    Api("LipGenerator-int16-identity", lambda e, m: m("bin", LIPS.astype(np.int16)),
        InputError, "uint8 or float", LIP_GEN),
    Api("LipGenerator-durations-int32-wraparound", lambda e, m: m(
        "bin", LIPS, durations=np.full(5, 2**32 + 1, np.int64)),
        InputError, r"each in 0\.\.1024.*4294967297", LIP_GEN),
    Api("LipGenerator-durations-fraction", lambda e, m: m(
        "bin", LIPS, durations=[2, 2.5, 2, 2, 2]), InputError, "whole numbers of frames",
        LIP_GEN),
    Api("LipGenerator-durations-nan", lambda e, m: m(
        "bin", LIPS, durations=[2, np.nan, 2, 2, 2]), InputError, "whole numbers of frames",
        LIP_GEN),
    Api("LipGenerator-durations-negative", lambda e, m: m(
        "bin", LIPS, durations=[2, -1, 2, 2, 2]), InputError, r"values in \[-1, 2\]", LIP_GEN),
    # talk
    Api("talk-missing-faces-error", lambda e, m: _talk(e, m, missing_faces="error"),
        NoFaceError, r"no face was detected in \d+ of the 8 source frames \(frames .*5, 6.*"
        "nothing was written", EDITOR),
    Api("talk-missing-faces-unknown-mode", lambda e, m: _talk(e, m, missing_faces="ignore"),
        InputError, "missing_faces must be one of report, pass, error", EDITOR),
    Api("talk-face-boxes-unknown-field", lambda e, m: _talk(e, m, face_boxes={"nope": 1}),
        InputError, "face_boxes takes FaceBoxOptions or a mapping of its fields", EDITOR),
    Api("talk-batch-size-a-bool", lambda e, m: _talk(e, m, batch_size=True),
        InputError, r"batch_size must be an integer in 1\.\.1024", EDITOR),
    Api("talk-unknown-x264-preset", lambda e, m: _talk(e, m, preset="quick"),
        InputError, "preset must be one of x264's ultrafast, .*got 'quick'", EDITOR),
    Api("talk-full-search-every-zero", lambda e, m: _talk(
        e, m, face_boxes={"full_search_every": 0}), InputError,
        "full_search_every must be an integer >= 1, got 0", EDITOR),
    Api("TalkingFaceGenerator-paralip-workdir", lambda e, m: type(m).from_checkpoint(
        e.root / "paralip"), ConfigError, "does not train a DCK talking-face generator", EDITOR),
    # media
    Api("load_audio-folder", lambda e, m: audio.load_audio(e.root / "folder"), AudioError,
        "is a folder"),
    Api("read_video-folder", lambda e, m: video.read_video(e.root / "folder"), VideoError,
        "is a folder, not a file"),
    Api("probe-empty-file", lambda e, m: video.probe(e.root / "empty.mp4"), VideoError,
        r"is empty \(0 bytes\)"),
    Api("read_image-folder", lambda e, m: video.read_image(e.root / "folder.png"), InputError,
        "is a folder"),
    Api("read_video-permission-denied", lambda e, m: video.read_video(
        e.root / "unreadable.mp4"), VideoError, "permission denied", marks=(AS_USER,)),
    # metrics
    Api("psnr-frames-in-0-255", lambda e, m: metrics.psnr(_images(255), _images(255) * 0.9),
        InputError, r"far outside \[0, 1\].*divide frames in 0\.\.255 by 255"),
    Api("ssim-frames-in-0-255", lambda e, m: metrics.ssim(_images(255), _images()),
        InputError, "divide frames in 0..255 by 255"),
    Api("psnr-frames-in-minus-1-1", lambda e, m: metrics.psnr(_images() * 2 - 1, _images()),
        InputError, r"map frames in \[-1, 1\] with \(x \+ 1\) / 2"),
    Api("psnr-uint8", lambda e, m: metrics.psnr(_images(255, np.uint8), _images()),
        InputError, "got dtype uint8.*/ 255"),
    Api("psnr-nan-in-a-valid-frame", lambda e, m: metrics.psnr(
        _with_nan_in_valid_frame(), _images(), np.array([True, False])),
        InputError, "NaN or infinite values in valid images"),
    Api("psnr-strings", lambda e, m: metrics.psnr("abc", _images()), InputError,
        "must be an array of frames"),
    Api("masked_pixel_psnr-pixel-mask-shape", lambda e, m: metrics.masked_pixel_psnr(
        _images(), _images(), np.ones((2, 15, 16), bool), np.ones(2, bool)),
        InputError, r"pixel_mask must be \[\.\.\., H, W\]"),
    Api("masked_pixel_psnr-frames-in-0-255", lambda e, m: metrics.masked_pixel_psnr(
        _images(255), _images(), np.ones((2, 16, 16), bool), np.ones(2, bool)),
        InputError, "divide frames in 0..255 by 255"),
    # ops
    Api("expand-index-past-the-sequence", lambda e, m: ops.expand(
        jnp.ones((1, 3, 2)), np.array([[1, 2, 3, 4]])), InputError,
        r"indices must lie in \[0, 3\].*from 1 to 4"),
    Api("expand-negative-index", lambda e, m: ops.expand(jnp.ones((1, 3, 2)),
                                                         np.array([[1, -1]])),
        InputError, r"must lie in \[0, 3\]"),
    Api("length_regulate-int32-overflow", lambda e, m: ops.length_regulate(
        np.array([[2**31 - 1, 5]]), 8), InputError, "must fit int32"),
    Api("length_regulate-fraction", lambda e, m: ops.length_regulate(np.array([[2.5, 1.0]]), 8),
        InputError, "whole numbers of frames"),
    # converters, text, faces
    Api("load_wav2lip-other-model", lambda e, m: convert.load_wav2lip(e.root / "other.pth"),
        ConversionError, "holds only 0 of the 302 tensors", marks=(NEEDS_TORCH,)),
    Api("load_paralip-missing", lambda e, m: convert.load_paralip(e.root / "absent.ckpt"),
        InputError, "does not exist"),
    Api("phonemes-not-text", lambda e, m: text.PHONEMES.encode(123), InputError,
        "space-separated string or a list of token strings"),
    Api("decode-id-out-of-range", lambda e, m: text.GRID_CHARS.decode([100]), InputError,
        r"integers in 0\.\.28"),
    Api("detect_face_boxes-scale-factor-1", lambda e, m: face.detect_face_boxes(
        np.zeros((1, 32, 32, 3), np.uint8), scale_factor=1.0), InputError,
        "scale_factor must be > 1"),
    Api("detect_face_boxes-float-0-255", lambda e, m: face.detect_face_boxes(
        np.full((1, 32, 32, 3), 200.0, np.float32)), InputError, "divide 0..255 frames by 255"),
    Api("crop_and_resize-huge-size", lambda e, m: face.crop_and_resize(
        np.zeros((32, 32, 3), np.uint8), (0, 0, 10, 10), (10**6, 10**6)),
        InputError, r"in 1\.\.4096"),
    Api("crop_and_resize-huge-box", lambda e, m: face.crop_and_resize(
        np.zeros((32, 32, 3), np.uint8), (0, 0, 10**7, 10**7), (8, 8)),
        InputError, "more than 4x the 32x32 frame"),
]


def _cli_params(group: str, cases: list[Cli]) -> list:
    return [pytest.param(c, id=f"{group}/{c.id}", marks=list(c.marks)) for c in cases]


CLI_PARAMS = (_cli_params("data", DATA_CASES) + _cli_params("train", TRAIN_CASES)
              + _cli_params("lip", LIP_CASES) + _cli_params("talk", TALK_CASES)
              + _cli_params("convert", CONVERT_CASES) + _cli_params("evaluate-sync", SYNC_CASES))


@pytest.mark.parametrize("case", CLI_PARAMS)
def test_cli_bad_input_is_one_line_exit_2_and_changes_nothing(case, env, capsys):
    argv = shlex.split(case.argv.format(**env.paths))
    before = _listing(env.root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = cli.main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    if case.progress_lines:
        lines = [line for line in lines if not re.search(r"\d+it \[|it/s\]", line)]
    assert status == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("lipjax: error: "), err
    assert _matches(case.match, lines[0])
    assert _listing(env.root) == before, "a bad input created or changed files"


def _matches(pattern: str, message: str) -> bool:
    assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    return True


@pytest.mark.parametrize("case", [pytest.param(c, id=f"api/{c.id}", marks=list(c.marks))
                                  for c in API_CASES])
def test_api_bad_input_raises_the_specific_error_and_changes_nothing(case, env, request):
    model = request.getfixturevalue(case.needs) if case.needs else None
    before = _listing(env.root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(case.error) as raised:
            case.call(env, model)
    assert isinstance(raised.value, errors.LipjaxError)
    assert _matches(case.match, str(raised.value))
    assert _listing(env.root) == before, "a bad input created or changed files"


def test_the_table_is_large_and_its_ids_are_unique():
    groups = [DATA_CASES, TRAIN_CASES, LIP_CASES, TALK_CASES, CONVERT_CASES, SYNC_CASES,
              API_CASES]
    assert sum(len(g) for g in groups) >= 60
    for group in groups:
        assert len({c.id for c in group}) == len(group)


# ---------------------------------------------------------------------------------------------
# Frames without a face: reported, exit status 3, the video still written


def test_talk_reports_frames_without_a_face_with_exit_status_3(env, capsys):
    from lipjax.lipsync.cli import EXIT_MISSING_FACES
    from lipjax.video import probe

    out = env.root / "out" / "missing_faces.mp4"
    argv = shlex.split((TALK_OK + " --out {root}/out/missing_faces.mp4").format(**env.paths))
    assert cli.main(argv) == EXIT_MISSING_FACES == 3
    captured = capsys.readouterr()
    assert probe(out).num_frames == 8  # written all the same
    assert "2 without a face" in captured.out and "--allow_missing_faces" in captured.out
    warning = [line for line in captured.err.splitlines() if line.strip()]
    assert len(warning) == 1 and warning[0].startswith("lipjax: warning: ")
    assert "no face was detected in source frame(s) 5, 6" in warning[0]
    out.unlink()
    assert cli.main(argv + ["--allow_missing_faces"]) == 0
    assert not capsys.readouterr().err.strip() and out.exists()
    out.unlink()


def test_talk_with_a_fixed_box_skips_detection(env, capsys):
    """`--box` on a video without any face: no detection, every frame edited, exit 0."""
    out = env.root / "out" / "boxed.mp4"
    argv = shlex.split((TALK + " --video {root}/noface.mp4 --audio {root}/speech.wav "
                        "--out {root}/out/boxed.mp4 --box 20 80 30 100").format(**env.paths))
    assert cli.main(argv) == 0
    assert ", 0 without a face" in capsys.readouterr().out
    out.unlink()


def test_talk_api_warns_by_default_and_passes_silently_on_request(env, editor):
    from lipjax.lipsync.pipeline import MissingFacesWarning

    with pytest.warns(MissingFacesWarning, match="5, 6"):
        report = _talk(env, editor)
    assert report.frames_without_face == 2 and report.faceless_source_frames == (5, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingFacesWarning)
        quiet = _talk(env, editor, missing_faces="pass")
    assert quiet.frames_without_face == 2 and "accepts them" not in quiet.summary()
    (env.root / "out" / "x.mp4").unlink()


def test_expand_under_jit_fills_out_of_range_rows_with_nan():
    """What the docs promise where indices cannot be checked: never a wrapped-around row."""
    x = jnp.arange(6.0).reshape(1, 3, 2)
    out = np.asarray(jax.jit(ops.expand)(x, jnp.array([[1, 4, 0, -1]])))
    np.testing.assert_array_equal(out[0, [0, 2]], [[0.0, 1.0], [0.0, 0.0]])
    assert np.isnan(out[0, [1, 3]]).all()


def test_an_identity_of_the_same_aspect_ratio_is_resized(lip_generator):
    image = np.random.default_rng(0).integers(0, 255, (160, 320, 3), dtype=np.uint8)
    prepared = lip_generator.prepare_identity(image)
    assert prepared.shape == (80, 160, 3) and prepared.dtype == np.float32
    np.testing.assert_allclose(prepared, cv2.resize(image, (160, 80), interpolation=cv2.INTER_AREA)
                               / 255.0, atol=1 / 255 + 1e-6)


def test_convert_names_the_model_of_a_wav2lip_file(env):
    pytest.importorskip("torch")
    from lipjax.convert.cli import guess_published_model

    model, command, advice = guess_published_model(env.root / "wav2lip_like.pth")
    assert "Wav2Lip's generator" in model and command == "wav2lip"
    assert guess_published_model(env.root / "other.pth") is None
    assert json.loads((env.root / "paralip" / "config.json").read_text())  # untouched workdir
