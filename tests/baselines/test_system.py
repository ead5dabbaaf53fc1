"""Tests for lipjax.baselines.system: the stop-token loss vs NumPy, the configs, and one real
training step + evaluation of each AR baseline through the shared steps on two devices."""

import dataclasses
import os

import jax
import numpy as np
import pytest

from lipjax.baselines.duallip import DualLipConfig
from lipjax.baselines.transformer_t2l import TransformerT2LConfig
from lipjax.training import steps
from lipjax.baselines.system import DualLipSystem, TransformerT2LSystem, stop_token_loss
from lipjax.training.config import load_config
from lipjax.training.state import init_state
from lipjax.training.parallel import DataParallel
from lipjax.training.system import make_system

from tests._paths import CONFIGS
TINY_MODEL = dict(hidden=16, identity_dim=16, ffn_hidden=24, ffn_kernel=3, encoder_layers=1,
                  image_height=16, image_width=32, identity_channels=[4, 4, 6, 6],
                  video_decoder_channels=[6, 5, 4, 4, 4], decoder_seed_channels=8)
TINY_AR = {"transformer_t2l": dict(decoder_layers=1, decoder_ffn_hidden=24),
           "duallip": dict(prenet_dims=[8, 8], attention_rnn_units=12, decoder_rnn_units=12,
                           attention_dim=8, location_filters=3, location_kernel=3)}


def test_stop_token_loss_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5)).astype(np.float32) * 3
    lengths = np.array([5, 2, 0])
    mask = np.arange(5)[None] < lengths[:, None]
    labels = np.zeros((3, 5))
    labels[0, 4] = labels[1, 1] = 1
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    bce = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)) * np.where(labels > 0, 4.0, 1.0)
    expected = bce[mask].mean()
    np.testing.assert_allclose(stop_token_loss(logits, mask, pos_weight=4.0), expected, rtol=1e-5)
    assert float(stop_token_loss(logits, np.zeros_like(mask))) == 0.0


@pytest.mark.parametrize("name, cls, config_cls, vocab", [
    ("transformer_t2l_grid", TransformerT2LSystem, TransformerT2LConfig, 32),
    ("transformer_t2l_timit", TransformerT2LSystem, TransformerT2LConfig, 41),
    ("duallip_grid", DualLipSystem, DualLipConfig, 32),
    ("duallip_timit", DualLipSystem, DualLipConfig, 41),
])
def test_paper_configs_build_the_paper_sized_models(name, cls, config_cls, vocab):
    system = make_system(load_config(os.path.join(CONFIGS, f"{name}.py")))
    assert type(system) is cls and system.discriminator is None
    # The defaults are the paper-sized models (their counts are asserted in the model tests).
    assert system.generator.config == config_cls(vocab_size=vocab, bn_axis_name="data")
    assert system.loss_weights == {"l1": 1.0, "stop": 1.0, "ssim": 0.0, "adv": 0.0}


def tiny_config(system_name):
    config = load_config(os.path.join(CONFIGS, f"{system_name}_synthetic.py"))
    config.model.update({**TINY_MODEL, **TINY_AR[system_name]})
    config.optim.generator.warmup_steps = 0  # the first step must move the parameters
    return config


def toy_batch(system, rng, lengths=(6, 3), max_tokens=5, max_frames=6):
    batch = system.example_batch((max_tokens, max_frames), batch_size=len(lengths))
    cfg = system.generator.config
    batch["tokens"] = rng.integers(1, cfg.vocab_size, batch["tokens"].shape).astype(np.int32)
    batch["tokens"][1, 3:] = 0
    batch["token_mask"] = batch["tokens"] != 0
    batch["frame_mask"] = np.arange(max_frames)[None] < np.asarray(lengths)[:, None]
    batch["frames"] = (rng.uniform(size=batch["frames"].shape)
                       * batch["frame_mask"][..., None, None, None]).astype(np.float32)
    batch["identity"] = batch["frames"][:, 0].copy()
    batch["num_frames"] = np.asarray(lengths, np.int32)
    return batch


# Compiling a train + eval step takes about a minute per system on 2 cores: DualLip's is `slow`.
@pytest.mark.parametrize("system_name", [
    "transformer_t2l", pytest.param("duallip", marks=pytest.mark.slow)])
def test_one_training_step_and_evaluation_on_two_devices(system_name):
    if jax.device_count() < 2:
        pytest.skip("needs 2 (forced) CPU devices")
    config = tiny_config(system_name)
    system = make_system(config)
    batch = toy_batch(system, np.random.default_rng(1))
    state, _ = init_state(system, config, batch, jax.random.key(0, impl="rbg"))
    before = jax.device_get(state.generator.params)
    dp = DataParallel("pmap", devices=jax.devices()[:2], max_traces=1)
    train_step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    eval_step = dp.wrap(steps.eval_step, static_kwargs={"system": system}, donate_state=False)
    replicated = dp.replicate(state)
    new_state, metrics = train_step(replicated, dp.shard(batch), jax.random.key(1, impl="rbg"))
    metrics = dp.metrics_to_host(metrics)
    for k in ("loss/l1", "loss/stop", "loss/generator_total"):
        assert np.isfinite(metrics[k]) and metrics[k] > 0, k
    assert metrics["skipped/generator"] == 0
    np.testing.assert_allclose(metrics["loss/generator_total"],
                               metrics["loss/l1"] + metrics["loss/stop"], rtol=1e-5)
    after = jax.device_get(dp.unreplicate(new_state).generator.params)
    moved = [np.abs(a - b).max() for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(before))]
    assert max(moved) > 0

    sums = dp.metrics_to_host(eval_step(new_state.generator.variables, dp.shard(batch)))
    means = {k: v[0] / max(v[1], 1e-9) for k, v in sums.items()}
    for k in ("psnr/free_running", "ssim/free_running", "psnr/teacher_forced",
              "psnr/identity_baseline", "length_abs_error"):
        assert np.isfinite(means[k]), k
    assert 0 <= means["length_abs_error"] <= 6
    np.testing.assert_array_equal(sums["length_abs_error"][1], 2)  # one value per video
    assert sums["psnr/identity_baseline"][1] == 9                  # 6 + 3 valid frames


def test_example_hooks_are_the_lips_pipeline():
    from lipjax.data.lips import lips_example, lips_lengths

    for cls in (TransformerT2LSystem, DualLipSystem):
        assert cls.example_fn is lips_example and cls.length_fn is lips_lengths
    assert dataclasses.is_dataclass(TransformerT2LSystem)
