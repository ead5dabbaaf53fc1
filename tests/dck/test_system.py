"""Tests of lipjax.dck.system: training steps under both parallel wrappers, the ablation configs,
and train_and_evaluate on the tiny synthetic corpus."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from lipjax.dck import system as dck
from lipjax.training.config import load_config
from lipjax.training.loop import train_and_evaluate
from lipjax.training.state import init_state, make_rng
from lipjax.training.workdir import restore_generator
from lipjax.training.system import make_system

from tests.dck._tiny import max_change, pair_batch, tiny_config, train_steps
from tests._paths import CONFIGS


# pmap here, shard_map in the train_and_evaluate test: one real step under each wrapper.
@pytest.mark.slow
def test_one_training_step_under_pmap():
    config = tiny_config(parallel="pmap")
    # The transform's crops follow the model's image size.
    system, before, after, metrics = train_steps(config)
    for key in ("loss/l1", "loss/adv", "loss/discriminator", "loss/generator_total"):
        assert np.isfinite(metrics[key]), key
    assert metrics["skipped/generator"] == 0 and metrics["skipped/discriminator"] == 0
    np.testing.assert_allclose(metrics["loss/generator_total"],
                               10 * metrics["loss/l1"] + metrics["loss/adv"], rtol=1e-5)
    assert max_change(before.generator.params, after.generator.params) > 0
    assert max_change(before.discriminator.params, after.discriminator.params) > 0
    # The kernel generators (the audio path) are trained too.
    gen = after.generator.params["unet"]
    assert max_change(before.generator.params["unet"]["dck_0"], gen["dck_0"]) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name,absent,present", [
    ("dck_synthetic_no_dck", "dck_0", "audio_fusion"),
    ("dck_synthetic_no_blend", "alpha_head", "motion_head"),
])
def test_ablation_configs_build_and_step(name, absent, present):
    config = tiny_config(parallel="pmap", name=name)
    system, before, after, metrics = train_steps(config)
    unet = after.generator.params["unet"]
    assert absent not in unet and present in unet
    assert np.isfinite(metrics["loss/generator_total"])
    assert max_change(before.generator.params, after.generator.params) > 0
    if name.endswith("no_blend"):  # the output is the motion image itself
        batch = pair_batch(system)
        out, _ = system.generate(after.generator.variables, batch, train=False, rngs={})
        np.testing.assert_array_equal(out.frame, out.motion)


def test_paper_config_has_the_paper_sizes():
    config = load_config(os.path.join(CONFIGS, "dck_paper.py"))
    model = dck.model_config(config)
    assert model.image_size == 256 and model.middle_channels == 256
    assert len(model.down_channels) == len(model.up_channels) == 5
    assert model.num_middle_layers == 4 and model.dck_kernel_size == 1
    assert config.loss.l1 == 10 and config.loss.adv == 1
    assert config.system == "lipjax.dck.DCKSystem"


def test_synthetic_config_trains_without_a_discriminator():
    config = load_config(os.path.join(CONFIGS, "dck_synthetic.py"))
    assert config.loss.l1 == 10 and config.loss.adv == 0
    assert dck.DCKSystem.from_config(config).discriminator is None


@pytest.mark.slow
def test_train_and_evaluate_on_tiny_synthetic_corpus(tmp_path):
    config = tiny_config(str(tmp_path / "data"), parallel="shard_map")
    result = train_and_evaluate(config, str(tmp_path / "work"), progress=False)
    assert result["final_step"] == 2
    ev = result["eval"]
    for key in ("psnr/model", "ssim/model", "psnr/input_baseline", "ssim/input_baseline",
                "psnr_mouth/model", "psnr_mouth/input_baseline", "lmd/input_baseline"):
        assert np.isfinite(ev[key]), key
    # The baseline's crops are real frames: SSIM well above chance, PSNR in a sane range.
    assert 0.3 < ev["ssim/input_baseline"] <= 1.0 and 10 < ev["psnr/input_baseline"] < 100
    assert ev["lmd/input_baseline"] >= 0
    lines = [json.loads(l) for l in open(tmp_path / "work" / "metrics.jsonl")]
    train_lines = [l for l in lines if "train/loss/l1" in l]
    assert [l["step"] for l in train_lines] == [1, 2]
    assert all(np.isfinite(l["train/loss/generator_total"]) for l in train_lines)
    # The shard_map steps changed the parameters (initial ones: the loop's key split).
    trained = restore_generator(str(tmp_path / "work"))
    system = make_system(config)
    init_rng, _ = jax.random.split(make_rng(config))
    initial, _ = init_state(system, config, system.example_batch((1, 2)), init_rng)
    assert max_change(initial.generator.params, trained.variables["params"]) > 0
    # LMD of the model through a (random) face-crop landmark regressor named in the config.
    from lipjax.landmarks import save_regressor
    from lipjax.landmarks.model import LandmarkRegressor, LandmarkRegressorConfig
    from lipjax.training.evaluation import evaluate_workdir

    size = system.generator.config.image_size
    reg = LandmarkRegressorConfig(frame_height=size, frame_width=size, channels=(8, 8, 8, 8),
                                  hidden=16)
    save_regressor(tmp_path / "reg", LandmarkRegressor(reg).init(
        jax.random.key(0), np.zeros((1, size, size, 3), np.float32)), reg)
    again = evaluate_workdir(str(tmp_path / "work"), progress=False,
                             overrides=[f"evaluation.landmark_regressor={tmp_path / 'reg'}"])
    assert np.isfinite(again["lmd/model"]) and np.isfinite(again["lmd/input_baseline_detected"])
    np.testing.assert_allclose(again["psnr/model"], ev["psnr/model"], rtol=1e-5)
