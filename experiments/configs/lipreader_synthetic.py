"""The CTC lipreader on the synthetic lips corpus, small enough to train on a 2-core CPU in
minutes: `lipreader_grid.py` (LipNet) with the frames average-pooled to 40x80, convolutions
of 8, 16 and 32 channels, one bidirectional GRU layer of 128 and less dropout. The corpus is built
automatically into data_cache/. BUILD_NOTES.md ("Durations without audio") has the
measurements.

    lipjax train --config experiments/configs/lipreader_synthetic.py --workdir runs/lipreader
    lipjax evaluate --workdir runs/lipreader
    lipjax data align --lipreader runs/lipreader --dataset synthetic_lips --data_dir data_cache \
        --out_dir data_cache_mas
"""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "lipreader_grid.py"))["get_config"]()
    c.prng_impl = "rbg"
    c.data.name = "synthetic_lips"
    c.data.builder_config = "small"
    c.data.data_dir = "data_cache"
    c.data.build_if_missing = True
    c.data.buckets = [(40, 80), (48, 112)]   # as paralip_synthetic.py
    c.data.batch_size = 8
    c.data.eval_batch_size = 8

    c.model.input_pool = 2                  # 40x80: the synthetic mouth is large and smooth
    c.model.channels = (8, 16, 32)          # ~2.8 MMAC per frame (LipNet at 80x160: ~180)
    c.model.kernels = ((3, 5, 5), (3, 3, 3), (3, 3, 3))
    c.model.rnn_hidden = 128
    c.model.rnn_layers = 1
    c.model.dropout = 0.1

    c.optim.generator.learning_rate = 2e-3
    c.optim.generator.warmup_steps = 20
    c.train.num_steps = 600
    c.train.log_every = 20
    c.train.eval_every = 200
    c.train.checkpoint_every = 200
    return c
