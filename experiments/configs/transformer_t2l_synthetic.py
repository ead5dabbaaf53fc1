"""TransformerT2L on the synthetic lips corpus, small enough to train on a 2-core CPU in minutes.

Same architecture as transformer_t2l_grid.py, narrower (hidden 128, 2 encoder and 2 decoder
layers), with the data, training and image-network settings of paralip_synthetic.py.
"""

import os
import runpy


def get_config():
    here = os.path.dirname(__file__)
    c = runpy.run_path(os.path.join(here, "transformer_t2l_grid.py"))["get_config"]()
    c = runpy.run_path(os.path.join(here, "paralip_synthetic.py"))["on_synthetic_corpus"](c)
    c.model.decoder_layers = 2
    c.model.decoder_ffn_hidden = 512
    return c
