"""DualLip on the synthetic lips corpus, small enough to train on a 2-core CPU in minutes.

Same architecture as duallip_grid.py, narrower (hidden 128, 2 encoder layers, 256-unit LSTMs,
prenet 128-128), with the data, training and image-network settings of paralip_synthetic.py.
"""

import os
import runpy


def get_config():
    here = os.path.dirname(__file__)
    c = runpy.run_path(os.path.join(here, "duallip_grid.py"))["get_config"]()
    synthetic = runpy.run_path(os.path.join(here, "paralip_synthetic.py"))["get_config"]()
    c.prng_impl = synthetic.prng_impl
    c.data = synthetic.data
    c.train = synthetic.train
    c.optim = synthetic.optim
    c.model.vocab_size = synthetic.model.vocab_size
    c.model.hidden = 128
    c.model.identity_dim = 128
    c.model.ffn_hidden = 256
    c.model.encoder_layers = 2
    c.model.dropout = 0.1
    # The image path of paralip_synthetic.py (same encoder/decoder sizes, so that Table 1
    # compares the sequence models, not the image networks).
    for field in ("conv_kernel", "identity_channels", "video_decoder_channels",
                  "decoder_seed_channels"):
        c.model[field] = synthetic.model[field]
    c.model.prenet_dims = [128, 128]
    c.model.attention_rnn_units = 256
    c.model.decoder_rnn_units = 256
    return c
