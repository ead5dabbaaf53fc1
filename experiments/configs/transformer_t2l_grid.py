"""TransformerT2L, the autoregressive transformer baseline of ParaLip (Liu et al., AAAI 2022,
Sec. 4.2, Table 5: 37.780M parameters), on GRID.

ParaLip's data, optimiser and shared-part sizes (text encoder, identity encoder, video decoder);
6 pre-LN decoder layers with a 3072-wide feed-forward: 37,720,881 parameters at a 32-token
vocabulary. Teacher-forced training with L1 + stop-token loss; free-running evaluation.

    lipjax train --config experiments/configs/transformer_t2l_grid.py --workdir runs/t2l_grid
"""

import os
import runpy

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "paralip_grid.py"))["get_config"]()
    c.system = "lipjax.baselines.TransformerT2LSystem"
    c.model.decoder_layers = 6             # autoregressive decoder layers
    c.model.decoder_ffn_hidden = 3072
    c.model.stop_threshold = 0.5

    # lipjax.baselines.system: a weight of 0 switches a term off (adv > 0 adds ParaLip's
    # frame discriminator).
    c.loss = ml_collections.ConfigDict()
    c.loss.l1 = 1.0
    c.loss.stop = 1.0
    c.loss.stop_pos_weight = 5.0           # one positive per video: weight it up
    c.loss.ssim = 0.0
    c.loss.adv = 0.0
    return c
