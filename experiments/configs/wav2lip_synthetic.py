"""Wav2Lip's generator on `synthetic_talking_faces`, small enough to train on a 2-core CPU.

    lipjax train --config experiments/configs/wav2lip_expert_synthetic.py \
        --workdir runs/wav2lip_expert_synthetic
    lipjax train --config experiments/configs/wav2lip_synthetic.py --workdir runs/wav2lip_synthetic

The paper's generator (`wav2lip.py`: the published blocks, 96x96 BGR faces with the lower half
masked next to a reference window, L1 + the frozen expert's sync loss + the BCE quality GAN at
Wav2Lip's weights 0.03 / 0.07) with these differences, all for a CPU run of minutes:
* channels divided by 16 (`model.channel_divisor`), the discriminator's too;
* Adam lr 1e-3 for the generator instead of 1e-4 (a narrow network at the paper's rate barely
  moves in a few thousand steps), 1e-4 for the discriminator as published;
* the "small" corpus, the expert trained by `wav2lip_expert_synthetic.py` (its workdir is
  `loss.sync_expert`); 4 pairs x 2 clips x 2 windows = 16 windows per step, as the paper's 16.
"""

import os
import runpy

from lipjax.nn.discriminators import TABLE7_CHANNELS


def get_config():
    here = os.path.dirname(__file__)
    c = runpy.run_path(os.path.join(here, "wav2lip.py"))["get_config"]()
    expert = runpy.run_path(os.path.join(here, "wav2lip_expert_synthetic.py"))["get_config"]()
    c.prng_impl = "rbg"
    # The expert's corpus: the generator and its expert see the same faces.
    c.data.builder_config = expert.data.builder_config
    c.data.builder_overrides = dict(expert.data.builder_overrides)
    c.data.data_dir = expert.data.data_dir
    c.data.buckets = [(1, 2)]             # 2 windows of each clip of a pair
    c.data.batch_size = 4                 # 4 pairs x 2 clips x 2 windows = 16 windows / step
    c.data.eval_batch_size = 4

    c.model.channel_divisor = 16
    c.discriminator.channels = tuple(max(1, ch // 16) for ch in TABLE7_CHANNELS)

    c.loss.sync_expert = "runs/wav2lip_expert_synthetic"
    c.optim.generator.learning_rate = 1e-3

    c.train.num_steps = 1500
    c.train.log_every = 25
    c.train.eval_every = 500
    c.train.checkpoint_every = 500
    return c
