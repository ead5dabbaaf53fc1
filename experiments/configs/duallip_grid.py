"""DualLip's text-to-lip model (Tacotron 2-style LSTM decoder with location-sensitive attention),
the autoregressive RNN baseline of ParaLip (Liu et al., AAAI 2022, Sec. 4.2, Table 5: 41.483M
parameters), on GRID.

ParaLip's data, optimiser and shared-part sizes; Tacotron 2 decoder sizes (prenet 256-256,
1024-unit attention and decoder LSTMs, attention dim 128, location conv 32 x 31): 41,475,696
parameters at a 32-token vocabulary. Teacher-forced training with L1 + stop-token loss.

    lipjax train --config experiments/configs/duallip_grid.py --workdir runs/duallip_grid
"""

import os
import runpy

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "paralip_grid.py"))["get_config"]()
    c.system = "lipjax.baselines.DualLipSystem"
    del c.model["decoder_layers"]           # no transformer decoder
    c.model.prenet_dims = [256, 256]
    c.model.prenet_dropout = 0.5
    c.model.attention_rnn_units = 1024
    c.model.decoder_rnn_units = 1024
    c.model.attention_dim = 128
    c.model.location_filters = 32
    c.model.location_kernel = 31
    c.model.stop_threshold = 0.5

    c.loss = ml_collections.ConfigDict()
    c.loss.l1 = 1.0
    c.loss.stop = 1.0
    c.loss.stop_pos_weight = 5.0
    c.loss.ssim = 0.0
    c.loss.adv = 0.0
    return c
