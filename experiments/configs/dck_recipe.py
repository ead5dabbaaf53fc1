"""DCK trained as the paper trains it (Ye et al., IEEE TMM 2022, Sec. III-IV): on the pairs that
a trained Wav2Lip made (`talking_face_pairs`), with the pre-trained audio network frozen. Stage 4
of the recipe; the whole chain is one command:

    python experiments/dck_recipe.py --out runs/dck_recipe        # or: make recipe

which trains the lip-sync expert (`wav2lip_expert_synthetic.py`) into runs/dck_recipe/expert,
Wav2Lip (`wav2lip_synthetic.py`) into runs/dck_recipe/wav2lip, builds the pairs into
runs/dck_recipe/pairs and then trains this config. By hand, after those stages:

    lipjax train --config experiments/configs/dck_recipe.py --workdir runs/dck_recipe/dck

Everything else is `dck_synthetic_frozen_audio.py` (the expert's 14-block audio encoder at its
width, frozen; 64x64 crops; 10 L1, no L_adv in this short CPU run). The recipe script passes
other folders with `--set data.data_dir=... --set pretrained_audio.checkpoint=...` when `--out`
is not runs/dck_recipe (paths are relative to where lipjax runs).
"""

import os
import runpy

HERE = os.path.dirname(__file__)


def get_config():
    c = runpy.run_path(os.path.join(HERE, "dck_synthetic_frozen_audio.py"))["get_config"]()
    c.data.name = "talking_face_pairs"
    c.data.builder_config = "default"
    c.data.builder_overrides = {}
    c.data.build_if_missing = False       # built by `lipjax data build talking_face_pairs`
    c.data.data_dir = "runs/dck_recipe/pairs"
    # Wav2Lip drew frame t's lips from the mel window starting at t (and the frozen expert's
    # encoder was trained on those windows): not dck_synthetic's centred windows.
    c.data.center_mel_windows = False
    c.pretrained_audio.checkpoint = "runs/dck_recipe/expert"
    return c
