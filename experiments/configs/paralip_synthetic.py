"""ParaLip on the synthetic lips corpus, small enough to learn visibly on a 2-core CPU.

Same architecture as the paper, narrower (hidden 128, 2 FFT layers each side, half the image
channels) and trained for minutes; `lipjax data build synthetic_lips` runs automatically.
"""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "paralip_grid.py"))["get_config"]()
    c.prng_impl = "rbg"
    c.data.name = "synthetic_lips"
    c.data.builder_config = "small"
    c.data.data_dir = "data_cache"
    c.data.build_if_missing = True
    c.data.buckets = [(40, 80), (48, 112)]
    c.data.batch_size = 8
    c.data.eval_batch_size = 8

    c.model.vocab_size = 29                # lipjax.text.GRID_CHARS
    c.model.hidden = 128
    c.model.ffn_hidden = 256
    c.model.encoder_layers = 2
    c.model.decoder_layers = 2
    c.model.dropout = 0.1

    c.optim.generator.learning_rate = 1e-3
    c.optim.generator.warmup_steps = 50
    c.train.num_steps = 600
    c.train.log_every = 20
    c.train.eval_every = 300
    c.train.checkpoint_every = 300
    return c
