"""Tiny configs for end-to-end tests: the real architectures, a few thousand parameters."""

from __future__ import annotations

import os

from lipjax.train.commands import load_config_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_paralip_config(data_dir: str, *, adv: float = 0.0, num_steps: int = 3,
                        parallel: str = "pmap"):
    c = load_config_file(os.path.join(REPO, "experiments/configs/paralip_synthetic.py"))
    c.data.builder_config = "tiny"
    c.data.data_dir = data_dir
    c.data.buckets = [(40, 112)]
    c.data.batch_size = 2
    c.data.eval_batch_size = 2
    c.data.prefetch = 0
    c.model.update(dict(hidden=32, ffn_hidden=64, encoder_layers=1, decoder_layers=1,
                        identity_channels=(8, 8, 16, 16), video_decoder_channels=(16, 16, 8, 8, 8),
                        duration_channels=32, identity_dim=32, decoder_seed_channels=16))
    c.loss.adv = adv
    c.train.update(dict(num_steps=num_steps, log_every=1, eval_every=1000, checkpoint_every=1,
                        max_eval_batches=1, tensorboard=True, parallel=parallel))
    return c
