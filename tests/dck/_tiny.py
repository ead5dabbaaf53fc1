"""Tiny DCK configs and real training steps on fake pair records (shared by the DCK tests)."""

from __future__ import annotations

import os

import jax
import numpy as np

from lipjax.data.pipeline import Pipeline
from lipjax.training import steps
from lipjax.training.config import load_config
from lipjax.training.parallel import DataParallel
from lipjax.training.state import init_state, make_rng
from lipjax.training.system import make_system
from tests._fake_corpora import fake_pair_record
from tests._paths import CONFIGS

# A 4-block audio encoder with Wav2Lip's strides (80 x 16 -> 1 x 1), 8 features.
TINY_AUDIO_BLOCKS = ((4, 3, (3, 1), 1, False), (4, 3, (3, 3), 1, False),
                     (8, 3, (3, 2), 1, False), (8, 3, (1, 1), 0, False))


def tiny_config(data_dir: str = "unused", *, parallel: str = "pmap",
                name: str = "dck_synthetic"):
    """A DCK config file on the tiny corpus with a 32x32, 3-level, 1-middle-layer model."""
    c = load_config(os.path.join(CONFIGS, f"{name}.py"))
    c.data.builder_config = "tiny"
    c.data.data_dir = data_dir
    c.data.buckets = [(1, 2)]
    c.data.batch_size = 2
    c.data.eval_batch_size = 2
    c.data.prefetch = 0
    # 3 levels and one middle layer instead of 5 and 4: the same code paths, faster to compile.
    c.model.update(dict(image_size=32, down_channels=(4, 8, 8), up_channels=(8, 4, 4),
                        middle_channels=8, num_middle_layers=1, kernel_generator_hidden=(8,),
                        audio_blocks=TINY_AUDIO_BLOCKS, audio_feature_dim=8,
                        attention_audio_channels=2))
    c.discriminator.channels = (4, 8)
    c.loss.adv = 1.0  # the paper's L_adv + 10 L1, so the discriminator path runs too
    c.train.update(dict(num_steps=2, log_every=1, eval_every=1000, checkpoint_every=1000,
                        max_eval_batches=1, tensorboard=False, parallel=parallel))
    return c


def pair_batch(system, frames: int = 2, seed: int = 0) -> dict:
    """One pipeline batch of 2 fake pair records."""
    records = [fake_pair_record(seed=seed + s) for s in range(2)]
    pipeline = Pipeline(records, batch_size=2, buckets=[(1, frames)], example_fn=system.example_fn,
                        length_fn=system.length_fn, seed=0, prefetch=0, process_count=1,
                        process_index=0)
    return next(pipeline)


def train_steps(config, num_steps: int = 1):
    """`num_steps` real training steps on 2 devices (config.train.parallel) from the initial
    state. Returns (system, initial state, final state, last metrics), states on the host."""
    system = make_system(config)
    state, _ = init_state(system, config, system.example_batch((1, 2)), make_rng(config))
    state = jax.device_get(state)  # a host copy: the step donates (deletes) its input buffers
    dp = DataParallel(config.train.parallel, devices=jax.devices()[:2], max_traces=1)
    step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    current = dp.replicate(state)
    for index in range(num_steps):
        current, metrics = step(current, dp.shard(pair_batch(system, seed=2 * index)),
                                jax.random.fold_in(make_rng(config), index))
    return system, state, jax.device_get(dp.unreplicate(current)), dp.metrics_to_host(metrics)


def max_change(a, b) -> float:
    """The largest absolute difference between the leaves of two pytrees of one structure."""
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
