"""ParaLip on TCD-TIMIT (phoneme tokens, 29.97 fps; longer sentences than GRID)."""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "paralip_grid.py"))["get_config"]()
    c.data.name = "tcd_timit"
    c.data.vocabulary = "phonemes"
    c.data.fps = 29.97
    c.data.buckets = [(48, 128), (80, 192), (112, 256)]
    c.model.vocab_size = 41                # lipjax.text.PHONEMES: <pad>, <sil>, 39 phonemes
    return c
