"""train_and_evaluate end to end on the tiny synthetic corpus: resume, evaluation, generation."""

import json
import os

import jax
import numpy as np
import pytest

from lipjax.errors import InputError
from lipjax.training.loop import train_and_evaluate
from lipjax.training.evaluation import evaluate_workdir
from lipjax.training.workdir import restore_generator

from tests._tiny_configs import tiny_paralip_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """Three uninterrupted steps (the dataset is built on the way: build_if_missing)."""
    workdir = str(tmp_path_factory.mktemp("uninterrupted"))
    result = train_and_evaluate(tiny_paralip_config(data_dir), workdir, progress=False)
    return workdir, result


def _params(workdir):
    restored = restore_generator(workdir)
    return jax.device_get(restored.variables["params"]), restored.step


def test_training_writes_logs_checkpoints_and_eval(trained):
    workdir, result = trained
    assert result["final_step"] == 3
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints")))  # orbax step folders
    lines = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
    train_lines = [l for l in lines if "train/loss/l1" in l]
    assert [l["step"] for l in train_lines] == [1, 2, 3]
    for l in train_lines:
        assert np.isfinite(l["train/loss/generator_total"])
        assert l["train/skipped/generator"] == 0
        assert l["train/learning_rate/generator"] >= 0
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    ev = json.load(open(os.path.join(workdir, "eval_3.json")))
    for key in ("psnr/pred_dur", "psnr/gt_dur", "ssim/gt_dur", "psnr/identity_baseline"):
        assert np.isfinite(ev[key])


def test_resume_equals_uninterrupted(trained, data_dir, tmp_path):
    workdir, _ = trained
    resumed = str(tmp_path / "resumed")
    train_and_evaluate(tiny_paralip_config(data_dir, num_steps=1), resumed, progress=False)
    train_and_evaluate(tiny_paralip_config(data_dir, num_steps=3), resumed, progress=False)
    a, step_a = _params(workdir)
    b, step_b = _params(resumed)
    assert step_a == step_b == 3
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_evaluate_workdir_matches_training_eval(trained):
    workdir, result = trained
    again = evaluate_workdir(workdir, overrides=["train.max_eval_batches=1"], progress=False)
    assert again["step"] == 3
    for key, value in result["eval"].items():
        np.testing.assert_allclose(again[key], value, rtol=1e-5, err_msg=key)


def test_evaluation_reports_lmd_with_a_landmark_regressor(trained, tmp_path):
    from lipjax.errors import ConfigError
    from lipjax.landmarks import save_regressor
    from lipjax.landmarks.model import LandmarkRegressor, LandmarkRegressorConfig

    workdir, result = trained
    for name, config in (("lips", LandmarkRegressorConfig(channels=(8, 8, 8, 8), hidden=16)),
                         ("small", LandmarkRegressorConfig(frame_height=40, frame_width=80,
                                                           channels=(8, 8, 8, 8), hidden=16))):
        variables = LandmarkRegressor(config).init(
            jax.random.key(0), np.zeros((1,) + config.frame_shape, np.float32))
        save_regressor(tmp_path / name, variables, config)
    overrides = ["train.max_eval_batches=1", f"evaluation.landmark_regressor={tmp_path / 'lips'}"]
    again = evaluate_workdir(workdir, overrides=overrides, progress=False)
    for key in ("lmd/pred_dur", "lmd/gt_dur", "lmd/identity_baseline"):
        assert np.isfinite(again[key]) and again[key] > 0, key
    for key, value in result["eval"].items():  # the other metrics are unchanged
        np.testing.assert_allclose(again[key], value, rtol=1e-5, err_msg=key)
    with pytest.raises(ConfigError, match="frame size"):
        evaluate_workdir(workdir, progress=False, overrides=[
            f"evaluation.landmark_regressor={tmp_path / 'small'}"])


def test_generate_lips_shapes_buckets_and_errors(trained):
    from lipjax.paralip.generate import LipGenerator, generate_lips

    workdir, _ = trained
    gen = LipGenerator.from_checkpoint(workdir)
    identity = np.random.default_rng(0).integers(0, 255, (80, 160, 3), dtype=np.uint8)
    tokens = gen.tokenize("bin blue at f two now")
    durations = np.full(len(tokens), 2, np.int32)
    frames = generate_lips(gen, "bin blue at f two now", identity, durations=durations)
    assert frames.shape == (2 * len(tokens), 80, 160, 3) and frames.dtype == np.float32
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    traces = gen.traces
    gen("set red by a one soon", identity, durations=np.full(len(gen.tokenize(
        "set red by a one soon")), 2, np.int32))  # same buckets: no new compilation
    assert gen.traces == traces
    predicted = gen("place green with q nine again", identity)
    assert predicted.ndim == 4 and len(predicted) >= 1
    with pytest.raises(InputError, match="'#'"):
        gen("bin blue #1", identity)


def test_cli_lip_writes_a_video(trained, tmp_path):
    import cv2

    from lipjax.cli import main
    from lipjax.video import probe

    workdir, _ = trained
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((80, 160, 3), 128, np.uint8))
    out = tmp_path / "out.mp4"
    code = main(["lip", "--checkpoint", workdir, "--text", "bin blue", "--identity", str(face),
                 "--out", str(out), "--durations", "3,2,2,2,2,2,2,2,2,3"])
    assert code == 0
    info = probe(out)
    assert info.num_frames == 22 and abs(info.fps - 25.0) < 1e-3
    assert main(["lip", "--checkpoint", workdir, "--text", "bin blue", "--identity",
                 str(tmp_path / "missing.png"), "--out", str(out)]) == 2


def test_periodic_evaluations_compile_once(data_dir, tmp_path, monkeypatch):
    from lipjax.training import steps

    traces = []
    original = steps.eval_step

    def counting_eval_step(*args, **kwargs):
        traces.append(1)  # the Python body runs only while tracing
        return original(*args, **kwargs)

    monkeypatch.setattr(steps, "eval_step", counting_eval_step)
    config = tiny_paralip_config(data_dir, num_steps=2)
    config.train.eval_every = 1  # evaluations after step 1 and step 2
    train_and_evaluate(config, str(tmp_path / "run"), progress=False)
    assert os.path.exists(tmp_path / "run" / "eval_1.json")
    assert os.path.exists(tmp_path / "run" / "eval_2.json")
    assert len(traces) == 1  # one bucket: one compilation shared by both evaluations
