"""Wav2Lip's lip-sync expert on `synthetic_talking_faces`, small enough to learn on a 2-core CPU.

    lipjax train --config experiments/configs/wav2lip_expert_synthetic.py --workdir runs/expert

The paper's expert (`wav2lip_expert.py`: the published layers, strides, 96x96 BGR faces, 5
frames, 80 x 16 mel windows, cosine similarity + BCE on balanced in-sync / off-sync windows) with
these differences, all for a CPU run of minutes:
* channels divided by 16 (`model.channel_divisor`; 2 to 32 channels per block, 32-d embeddings,
  about 65k parameters instead of 16.4M);
* Adam lr 2e-3 instead of 1e-4 (the paper's rate barely moves this small network in 1000
  steps); 4 pairs x 2 clips x 4 windows = 32 windows (64 labelled samples) per step, as the
  paper's 64;
* the "small" corpus (6 identities, 24 training pairs, 160x224 frames: faces of ~80 pixels,
  resized to 96); 1500 steps.
The corpus is built automatically into data_cache/. Measured on a smaller corpus (2 identities,
12 pairs, 400 steps): held-out accuracy 0.83, BCE 0.38 (BUILD_NOTES.md).
"""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "wav2lip_expert.py"))["get_config"]()
    c.prng_impl = "rbg"
    c.data.builder_config = "small"
    c.data.builder_overrides = {}
    c.data.data_dir = "data_cache"
    c.data.buckets = [(1, 4)]             # 4 windows of each clip of a pair
    c.data.batch_size = 4                 # 4 pairs x 2 clips x 4 windows = 32 windows / step
    c.data.eval_batch_size = 4

    c.model.channel_divisor = 16

    c.optim.generator.learning_rate = 2e-3

    c.train.num_steps = 1500
    c.train.log_every = 25
    c.train.eval_every = 500
    c.train.checkpoint_every = 500
    return c
