"""DCK talking face on `synthetic_talking_faces` with a pre-trained, frozen audio network, as
the paper trains it (Ye et al., IEEE TMM 2022, Sec. III-A: Wav2Lip's pre-trained audio encoder
used as is, the fully connected kernel generators trained on its features). The audio network
here is the encoder of the lip-sync expert trained on the same corpus; first make it, then DCK:

    lipjax train --config experiments/configs/wav2lip_expert_synthetic.py \
        --workdir runs/wav2lip_expert_synthetic
    lipjax train --config experiments/configs/dck_synthetic_frozen_audio.py \
        --workdir runs/dck_synthetic_frozen_audio

(`--set pretrained_audio.checkpoint=<dir>` names another expert workdir; the path is relative
to where lipjax runs.) Everything else is `dck_synthetic.py`, whose audio encoder starts at
random and trains with the rest: that config is the ablation with a trainable encoder, and the
one `make demo` and the tests train from nothing, because it needs no other run first.

The DCK audio encoder takes the expert's shape: its 14 blocks at the expert config's width
(`model.channel_divisor` 16: 2 to 32 channels, 32 features), not `dck_synthetic`'s own 4-block,
128-feature encoder; an expert of another width is a ConfigError naming the table to use.
BUILD_NOTES.md (DCK section) compares the two at 400 steps.
"""

import os
import runpy

from lipjax.dck.pretrained_audio import audio_encoder_blocks

HERE = os.path.dirname(__file__)


def get_config():
    c = runpy.run_path(os.path.join(HERE, "dck_synthetic.py"))["get_config"]()
    expert = runpy.run_path(os.path.join(HERE, "wav2lip_expert_synthetic.py"))["get_config"]()
    c.pretrained_audio.checkpoint = "runs/wav2lip_expert_synthetic"
    c.pretrained_audio.freeze = True
    c.model.audio_blocks = audio_encoder_blocks("syncnet_color", expert.model.channel_divisor)
    c.model.audio_feature_dim = c.model.audio_blocks[-1].features
    return c
