"""A tiny lipreader workdir on the tiny synthetic corpus, shared by the lipreading tests."""

from __future__ import annotations

import os

from lipjax.training.config import load_config
from lipjax.training.loop import train_and_evaluate
from tests._paths import CONFIGS
from tests._tiny_configs import TINY_LIPS_OVERRIDES

TINY_LIPREADER_OVERRIDES = TINY_LIPS_OVERRIDES + [
    "model.input_pool=4", "model.channels=(4, 8)", "model.kernels=((3, 3, 3), (3, 3, 3))",
    "model.rnn_hidden=16", "model.dropout=0.0", "train.eval_every=1000",
    "train.checkpoint_every=1000", "train.tensorboard=False",
]


def tiny_lipreader_config(data_dir: str, num_steps: int = 3):
    return load_config(os.path.join(CONFIGS, "lipreader_synthetic.py"),
                       TINY_LIPREADER_OVERRIDES + [f"data.data_dir={data_dir}",
                                                   f"train.num_steps={num_steps}"])


def train_tiny_lipreader(data_dir: str, workdir: str, num_steps: int = 3) -> dict:
    return train_and_evaluate(tiny_lipreader_config(data_dir, num_steps), workdir,
                              progress=False)
