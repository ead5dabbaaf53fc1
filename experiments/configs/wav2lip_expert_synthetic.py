"""Wav2Lip's lip-sync expert on `synthetic_talking_faces`, small enough to learn on a 2-core CPU
in a few minutes, and good enough to be the sync network of LSE on that corpus.

    lipjax train --config experiments/configs/wav2lip_expert_synthetic.py \
        --workdir runs/wav2lip_expert_synthetic
    python benchmarks/expert_sync.py runs/wav2lip_expert_synthetic   # LSE and AV offsets

The paper's expert (`wav2lip_expert.py`: the published layers, strides, 96x96 BGR faces, 5
frames, 80 x 16 mel windows, cosine similarity + BCE on balanced in-sync / off-sync windows) with
these differences, all for a CPU run of minutes:
* channels divided by 16 (`model.channel_divisor`; 2 to 32 channels per block, 32-d embeddings,
  about 65k parameters instead of 16.4M);
* Adam lr 2e-3 instead of 1e-4 (the paper's rate barely moves this small network in 1000
  steps; 5e-3 was unstable); 4 pairs x 2 clips x 4 windows = 32 windows (64 labelled samples)
  per step, as the paper's 64;
* the "small" corpus (6 identities, 24 training pairs) rendered at 96 x 128 pixels: faces of
  48 pixels, resized to 96. At the corpus's own 160 x 224 a step took twice as long, most of it
  decoding frames; 600 steps.
The corpus is built automatically into data_cache/. Measured (BUILD_NOTES.md, "The expert as
the sync network"): held-out accuracy 0.92 at 600 steps; the AV offset of test clips whose audio
is shifted by k = -8 .. 8 frames comes out as k within a frame. `dck_synthetic_frozen_audio.py`
uses this expert's audio encoder.
"""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "wav2lip_expert.py"))["get_config"]()
    c.prng_impl = "rbg"
    c.data.builder_config = "small"
    c.data.builder_overrides = {"frame_height": 96, "frame_width": 128}
    c.data.data_dir = "data_cache"
    c.data.buckets = [(1, 4)]             # 4 windows of each clip of a pair
    c.data.batch_size = 4                 # 4 pairs x 2 clips x 4 windows = 32 windows / step
    c.data.eval_batch_size = 4

    c.model.channel_divisor = 16

    c.optim.generator.learning_rate = 2e-3

    c.train.num_steps = 600
    c.train.log_every = 25
    c.train.eval_every = 300
    c.train.checkpoint_every = 300
    return c
