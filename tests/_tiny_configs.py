"""Tiny configs and workdirs for end-to-end tests: the real architectures, a few thousand
parameters, the `tiny` synthetic corpus."""

from __future__ import annotations

import os

from lipjax.training.checkpoint import Checkpointer
from lipjax.training.config import load_config
from lipjax.training.state import init_state, make_rng
from lipjax.training.system import make_system
from tests._paths import CONFIGS

# Data and loop settings that put any lips config on the tiny corpus with small batches.
TINY_LIPS_OVERRIDES = [
    "data.builder_config=tiny", "data.buckets=[(40, 112)]", "data.batch_size=2",
    "data.eval_batch_size=2", "data.prefetch=0", "train.log_every=1",
    "train.max_eval_batches=1",
]


def tiny_paralip_config(data_dir: str, *, adv: float = 0.0, num_steps: int = 3,
                        parallel: str = "pmap"):
    c = load_config(os.path.join(CONFIGS, "paralip_synthetic.py"),
                    TINY_LIPS_OVERRIDES + [f"data.data_dir={data_dir}"])
    c.model.update(dict(hidden=32, ffn_hidden=64, encoder_layers=1, decoder_layers=1,
                        identity_channels=(8, 8, 16, 16), video_decoder_channels=(16, 16, 8, 8, 8),
                        duration_channels=32, identity_dim=32, decoder_seed_channels=16))
    c.loss.adv = adv
    c.train.update(dict(num_steps=num_steps, log_every=1, eval_every=1000, checkpoint_every=1,
                        max_eval_batches=1, tensorboard=True, parallel=parallel))
    return c


def old_style_paralip_workdir(path) -> tuple[str, object]:
    """A tiny ParaLip workdir as lipjax 0.1 wrote it: `config.json` naming the system "paralip"
    and without an `evaluation` section, and an orbax checkpoint (step 7) of the whole
    TrainState (generator, discriminator, both optimiser states) with the config in its meta.

    Returns (workdir, the saved state)."""
    config = tiny_paralip_config("unused", adv=5.0)  # adversarial: a discriminator is saved too
    config.system = "paralip"
    del config["evaluation"]
    system = make_system(config)
    state, _ = init_state(system, config, system.example_batch(tuple(config.data.buckets[0])),
                          make_rng(config))
    workdir = os.fspath(path)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
        f.write(config.to_json_best_effort(indent=2))
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), async_save=False)
    checkpointer.save(7, state, pipeline_state={}, config=config)
    checkpointer.close()
    return workdir, state
