"""The Wav2Lip systems: one training step of the expert and of the generator under pmap on 2
devices, the frozen expert (constants of the step: never updated, never checkpointed, yet its
sync loss trains the generator), the loss weights and BCE GAN chosen from the config, the
configs, and finite evaluation terms. (Resume and LSE with a trained expert:
test_sync_metric.py.)"""

from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np
import pytest

from lipjax import losses
from lipjax.convert.workdir import write_converted_workdir
from lipjax.data.pipeline import Pipeline
from lipjax.errors import ConfigError
from lipjax.training import steps
from lipjax.training.config import load_config
from lipjax.training.parallel import DataParallel
from lipjax.training.state import init_state, make_rng
from lipjax.training.system import make_system
from lipjax.training.workdir import restore_generator
from lipjax.wav2lip import SyncNetColor, SyncNetColorSystem, Wav2LipGenerator, Wav2LipSystem
from tests._fake_corpora import fake_pair_record
from tests._paths import CONFIGS

pytestmark = pytest.mark.slow
WINDOWS = 1                                    # windows per clip: 2 per pair record
TINY_DISCRIMINATOR = (2, 4, 4, 4, 4, 8, 8, 8, 8, 8, 8, 8, 8)   # 13 convs, as the published


def tiny_config(name: str, **loss) -> ml_collections.ConfigDict:
    """A config file with networks 32 times narrower and 2-pair batches."""
    c = load_config(os.path.join(CONFIGS, f"{name}.py"))
    c.prng_impl = "rbg"
    c.model.channel_divisor = 32
    c.data.update(dict(buckets=[(1, WINDOWS)], batch_size=2, eval_batch_size=2, prefetch=0))
    if "discriminator" in c:
        c.discriminator.channels = TINY_DISCRIMINATOR
    c.loss.update(loss)
    c.train.update(dict(num_steps=2, log_every=1, eval_every=1000, checkpoint_every=1000,
                        max_eval_batches=1, tensorboard=False))
    return c


@pytest.fixture(scope="module")
def expert_workdir(tmp_path_factory):
    """A (random) tiny expert as a converted workdir, what `loss.sync_expert` names."""
    config = tiny_config("wav2lip_expert")
    system = make_system(config)
    variables, _ = system.init_variables(make_rng(config), system.example_batch((1, 1)))
    return write_converted_workdir(tmp_path_factory.mktemp("w2l") / "expert", config, variables)


def _batch(system, seed: int = 0) -> dict:
    records = [fake_pair_record(num_frames=12, seed=seed + s) for s in range(2)]
    pipeline = Pipeline(records, batch_size=2, buckets=[(1, WINDOWS)],
                        example_fn=system.example_fn, length_fn=system.length_fn, seed=0,
                        prefetch=0, process_count=1, process_index=0)
    return next(pipeline)


def _one_step(config):
    system = make_system(config)
    state, _ = init_state(system, config, system.example_batch((1, WINDOWS)), make_rng(config))
    state = jax.device_get(state)  # a host copy: the step donates its input buffers
    dp = DataParallel("pmap", devices=jax.devices()[:2], max_traces=1)
    step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    new, metrics = step(dp.replicate(state), dp.shard(_batch(system)), make_rng(config))
    return system, state, jax.device_get(dp.unreplicate(new)), dp.metrics_to_host(metrics)


def _max_change(a, b) -> float:
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_one_expert_step_under_pmap():
    system, before, after, metrics = _one_step(tiny_config("wav2lip_expert"))
    assert isinstance(system.generator, SyncNetColor) and system.discriminator is None
    assert after.discriminator is None and set(metrics) == {
        "loss/bce", "loss/generator_total", "grad_norm/generator", "skipped/generator"}
    assert np.isfinite(metrics["loss/bce"]) and metrics["skipped/generator"] == 0
    assert _max_change(before.generator.params, after.generator.params) > 0
    assert _max_change(before.generator.batch_stats, after.generator.batch_stats) > 0
    evaluation = system.evaluate(after.generator.variables, _batch(system, seed=5))
    assert {"bce/in_sync", "bce/off_sync", "accuracy/all", "similarity/off_sync"} <= set(
        evaluation)
    for key, term in evaluation.items():
        assert np.isfinite(term.value) and term.count > 0, key
    assert 0 <= evaluation["accuracy/all"].value <= 1


def test_one_generator_step_under_pmap_with_the_frozen_expert(expert_workdir):
    config = tiny_config("wav2lip", sync_expert=str(expert_workdir))
    system, before, after, metrics = _one_step(config)
    assert isinstance(system.generator, Wav2LipGenerator)
    assert system.loss_weights == pytest.approx({"l1": 0.9, "sync": 0.03, "adv": 0.07})
    assert system.adversarial_losses() is losses.BCE_GAN    # sigmoid discriminator
    for key in ("loss/l1", "loss/sync", "loss/adv", "loss/discriminator"):
        assert np.isfinite(metrics[key]), key
    assert metrics["skipped/generator"] == metrics["skipped/discriminator"] == 0
    np.testing.assert_allclose(metrics["loss/generator_total"], 0.9 * metrics["loss/l1"]
                               + 0.03 * metrics["loss/sync"] + 0.07 * metrics["loss/adv"],
                               rtol=1e-5)
    assert _max_change(before.generator.params, after.generator.params) > 0
    assert _max_change(before.discriminator.params, after.discriminator.params) > 0
    # The expert is no part of the trained (and checkpointed) state, and is not updated.
    assert set(after.generator.params) == {"audio_encoder", "face_encoder", "face_decoder",
                                           "output_block_0", "output_conv"}
    saved = restore_generator(expert_workdir).variables
    assert _max_change(saved, system.expert.variables) == 0
    evaluation = system.evaluate(after.generator.variables, _batch(system, seed=5))
    for key in ("psnr/model", "ssim/model", "psnr_mouth/model", "psnr/input_baseline",
                "psnr_mouth/input_baseline", "sync_loss/model", "sync_loss/input_baseline",
                "sync_loss/target", "l1/model"):
        assert np.isfinite(evaluation[key].value) and evaluation[key].count > 0, key


def test_the_sync_loss_alone_trains_the_generator_through_the_expert(expert_workdir):
    config = tiny_config("wav2lip", sync_expert=str(expert_workdir), sync=1.0, adv=0.0)
    system, before, after, metrics = _one_step(config)
    assert system.discriminator is None and system.loss_weights["l1"] == 0
    assert set(k for k in metrics if k.startswith("loss/")) == {"loss/sync",
                                                                "loss/generator_total"}
    assert metrics["grad_norm/generator"] > 0
    assert _max_change(before.generator.params, after.generator.params) > 0
    assert _max_change(restore_generator(expert_workdir).variables, system.expert.variables) == 0


def test_configs_errors_and_the_paper_settings(expert_workdir, tmp_path):
    paper = load_config(os.path.join(CONFIGS, "wav2lip.py"))
    assert (paper.loss.sync, paper.loss.adv, paper.model.channel_divisor) == (0.03, 0.07, 1)
    assert paper.optim.generator.learning_rate == paper.optim.discriminator.learning_rate == 1e-4
    expert = load_config(os.path.join(CONFIGS, "wav2lip_expert.py"))
    assert expert.system == "lipjax.wav2lip.SyncNetColorSystem"
    assert expert.optim.generator.learning_rate == 1e-4 and expert.model.channel_divisor == 1
    for name in ("wav2lip_synthetic", "wav2lip_expert_synthetic"):
        assert load_config(os.path.join(CONFIGS, f"{name}.py")).system.startswith(
            "lipjax.wav2lip.")
    with pytest.raises(ConfigError, match="needs the lip-sync expert"):
        Wav2LipSystem.from_config(tiny_config("wav2lip", sync_expert=""))
    with pytest.raises(ConfigError, match="sum <= 1"):
        Wav2LipSystem.from_config(tiny_config("wav2lip", sync=0.5, adv=0.6))
    gen_config = tiny_config("wav2lip", sync=0.0, sync_expert="")
    gen_system = make_system(gen_config)
    variables, _ = gen_system.init_variables(make_rng(gen_config),
                                             gen_system.example_batch((1, WINDOWS)))
    generator_dir = write_converted_workdir(tmp_path / "gen", gen_config, variables)
    with pytest.raises(ConfigError, match="not Wav2Lip's expert"):
        Wav2LipSystem.from_config(tiny_config("wav2lip", sync_expert=str(generator_dir)))
    no_sync = Wav2LipSystem.from_config(tiny_config("wav2lip", sync=0.0, sync_expert=""))
    assert no_sync.expert is None and no_sync.loss_weights["l1"] == pytest.approx(0.93)
    assert SyncNetColorSystem.from_config(expert).loss_weights == {"bce": 1.0}

