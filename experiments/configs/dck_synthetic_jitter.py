"""`dck_synthetic.py` trained on face crops that are not always centred on the face.

    lipjax train --config experiments/configs/dck_synthetic_jitter.py --workdir runs/dck_jitter
    (ablations: --set model.use_dck=False, --set model.use_blending=False)

The synthetic corpus cuts every crop from the exact box of the rendered face, so the face sits
at the same place in every training crop (the mouth centre moves by about a pixel), unlike
crops from a face detector. Here the training split's boxes move per frame by up to 10% of the
box along each axis (`synthetic_talking_faces` option `crop_jitter`); the test split keeps the
exact boxes, so test metrics compare with `dck_synthetic.py`'s. This is the training set of
the DCK paper's translation experiment (Sec. V, Fig. 8: `experiments/dck_translation.py`) and
of its ablation Table I here (`experiments/dck_table1.py`).
"""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "dck_synthetic.py"))["get_config"]()
    c.data.builder_overrides = {"crop_jitter": 0.1}
    c.train.num_steps = 2000
    c.train.log_every = 20
    c.train.eval_every = 100            # learning curves (experiments/dck_table1.py)
    c.train.checkpoint_every = 100
    return c
