"""TransformerT2L on TCD-TIMIT (phoneme tokens, 29.97 fps), as experiments/configs/paralip_timit.py."""

import os
import runpy


def get_config():
    here = os.path.dirname(__file__)
    c = runpy.run_path(os.path.join(here, "transformer_t2l_grid.py"))["get_config"]()
    timit = runpy.run_path(os.path.join(here, "paralip_timit.py"))["get_config"]()
    c.data = timit.data
    c.model.vocab_size = timit.model.vocab_size
    return c
