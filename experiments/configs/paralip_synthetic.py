"""ParaLip on the synthetic lips corpus, small enough to learn visibly on a 2-core CPU.

Same architecture as the paper, smaller: hidden 128, 2 FFT layers each side, 3x3 image kernels,
narrow image channels, 8 decoded frames per video in training, no LSGAN term (see below). The
corpus is built automatically into data_cache/. BUILD_NOTES.md has the measurements behind it.
"""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "paralip_grid.py"))["get_config"]()
    c.prng_impl = "rbg"
    c.data.name = "synthetic_lips"
    c.data.builder_config = "small"
    c.data.data_dir = "data_cache"
    c.data.build_if_missing = True
    c.data.buckets = [(40, 80), (48, 112)]
    c.data.batch_size = 4
    c.data.eval_batch_size = 4

    c.model.vocab_size = 29                # lipjax.text.GRID_CHARS
    c.model.hidden = 128
    c.model.identity_dim = 128            # the identity embedding is added to hidden features
    c.model.ffn_hidden = 256
    c.model.encoder_layers = 2
    c.model.decoder_layers = 2
    c.model.dropout = 0.1                  # residual dropout, lower than the paper's 0.2 on a CPU
    c.model.relu_dropout = 0.1             # FFN and attention dropout as in the measured runs
    c.model.attention_dropout = 0.1        # (README); the official rates are 0.2 and 0.0
    c.model.duration_channels = 128
    # The per-frame image decoder dominates the cost on a CPU (~7.6 GFLOP per 80x160 frame at
    # the paper's sizes); 3x3 kernels and narrower maps cut it ~20x, same layer structure.
    c.model.conv_kernel = 3
    c.model.identity_channels = (16, 32, 32, 32)
    c.model.video_decoder_channels = (64, 48, 32, 16, 8)
    c.model.decoder_seed_channels = 64

    c.train.frames_per_example = 8         # decode 8 random frames per video in training
    # Table 7's 14 convs at a quarter of their widths (883,841 parameters instead of 14.1M).
    c.discriminator.channels = (8, 16, 16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128)
    # No LSGAN term in this short CPU run (the paper's "+SSIM" row): from step 0 it tripled the
    # steps to reach the same L1 here. `--set loss.adv=5 --set loss.adv_start_step=N` restores it.
    c.loss.adv = 0.0
    c.optim.generator.learning_rate = 1e-3
    c.optim.generator.warmup_steps = 10
    # Predicted-duration PSNR was still rising at 1600 steps (+0.3 dB per 400; BUILD_NOTES.md).
    c.train.num_steps = 2000              # 15-30 minutes on 2 idle cores (0.45-0.9 s/step)
    c.train.log_every = 20
    c.train.eval_every = 1000
    c.train.checkpoint_every = 500
    return c


# Model fields that a baseline on this corpus shares with ParaLip: the text encoder's sizes and
# the image encoder/decoder, so that Table 1 compares the sequence models, not the image networks.
SHARED_MODEL_FIELDS = ("vocab_size", "hidden", "identity_dim", "ffn_hidden", "encoder_layers",
                       "dropout", "relu_dropout", "attention_dropout", "conv_kernel",
                       "identity_channels", "video_decoder_channels", "decoder_seed_channels")


def on_synthetic_corpus(c):
    """Moves a paper-sized baseline config `c` onto this config's corpus, training settings and
    shared model sizes (in place; returns `c`)."""
    synthetic = get_config()
    for section in ("prng_impl", "data", "train", "optim"):
        c[section] = synthetic[section]
    for field in SHARED_MODEL_FIELDS:
        c.model[field] = synthetic.model[field]
    return c
