"""The CTC lipreader on TCD-TIMIT: `lipreader_grid.py` with phoneme labels (CER is then the
phoneme error rate; there is no WER without a word separator), 29.97 fps and longer sentences.

    lipjax data build tcd_timit --data_dir data --manual_dir /path/to/TCD-TIMIT
    lipjax train --config experiments/configs/lipreader_timit.py --workdir runs/lipreader_timit
    lipjax data align --lipreader runs/lipreader_timit --dataset tcd_timit --data_dir data \
        --out_dir data_mas
"""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "lipreader_grid.py"))["get_config"]()
    c.data.name = "tcd_timit"
    c.data.vocabulary = "phonemes"
    c.data.fps = 29.97
    c.data.buckets = [(48, 128), (80, 192), (112, 256)]   # as paralip_timit.py
    c.data.batch_size = 8
    c.data.eval_batch_size = 8
    c.model.vocab_size = 41                # lipjax.text.PHONEMES: <pad> (blank), <sil>, 39
    return c
