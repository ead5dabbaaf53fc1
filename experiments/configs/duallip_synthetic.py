"""DualLip on the synthetic lips corpus, small enough to train on a 2-core CPU in minutes.

Same architecture as duallip_grid.py, narrower (hidden 128, 2 encoder layers, 256-unit LSTMs,
prenet 128-128), with the data, training and image-network settings of paralip_synthetic.py.
"""

import os
import runpy


def get_config():
    here = os.path.dirname(__file__)
    c = runpy.run_path(os.path.join(here, "duallip_grid.py"))["get_config"]()
    c = runpy.run_path(os.path.join(here, "paralip_synthetic.py"))["on_synthetic_corpus"](c)
    c.model.prenet_dims = [128, 128]
    c.model.attention_rnn_units = 256
    c.model.decoder_rnn_units = 256
    return c
