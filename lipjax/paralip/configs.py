"""The paper's ParaLip training configs (Liu et al., AAAI 2022, Sec. 4.1 and Tables 5-7), in the
package so that the importer (`lipjax convert paralip`) and a pip-installed lipjax have them;
`experiments/configs/paralip_grid.py` and `paralip_timit.py` return these.
"""

import ml_collections

__all__ = ["grid_config", "timit_config"]


def grid_config() -> ml_collections.ConfigDict:
    """ParaLip on GRID: the official model (35,137,713 parameters at a 32-token vocabulary),
    the paper's losses and optimiser (Sec. 4.1), 110k steps of batch 4."""
    c = ml_collections.ConfigDict()
    c.system = "lipjax.paralip.ParaLipSystem"
    c.seed = 0
    c.prng_impl = "threefry2x32"          # "rbg" compiles initialisation faster on the CPU

    c.data = ml_collections.ConfigDict()
    c.data.name = "grid"
    c.data.builder_config = None          # the builder's default
    c.data.builder_overrides = {}
    c.data.data_dir = "data"
    c.data.manual_dir = None
    c.data.build_if_missing = False       # real corpora are built explicitly (lipjax data build)
    c.data.vocabulary = "grid_chars"      # lipjax.text.VOCABULARIES
    c.data.fps = 25.0
    c.data.train_split = "train"
    c.data.eval_split = "test"
    # (max_tokens, max_frames) buckets: GRID sentences are 75 frames and <= ~40 characters.
    c.data.buckets = [(48, 80)]
    c.data.batch_size = 4                 # paper: batch 4
    c.data.eval_batch_size = 4
    c.data.prefetch = 2
    c.data.workers = None                 # reader threads; None: 1 on CPU, else CPUs (<= 4)

    # Generator: the official configuration (35,137,713 parameters at a 32-token vocabulary).
    c.model = ml_collections.ConfigDict()
    c.model.vocab_size = 32
    c.model.hidden = 256
    c.model.num_heads = 2
    c.model.ffn_hidden = 1024
    c.model.ffn_kernel = 9
    c.model.encoder_layers = 4
    c.model.decoder_layers = 4
    c.model.dropout = 0.2                 # the official rates: residual 0.2,
    c.model.relu_dropout = 0.2            # FFN (after the ReLU) 0.2,
    c.model.attention_dropout = 0.0       # attention weights 0.0
    c.model.bn_axis_name = "data"         # BatchNorm statistics over the global batch

    c.discriminator = ml_collections.ConfigDict()   # Table 7 defaults (14,113,793 parameters)
    c.discriminator.sigmoid = True        # Sec. 3.3: "a value of probability"; False: unbounded
    c.discriminator.pytorch_init = True   # False: flax's default init (see FrameDiscriminatorConfig)

    # ParaLip Sec. 3.3: L = L_rec + L_dur + L_SSIM + 5 L_adv; 0 switches a term off.
    c.loss = ml_collections.ConfigDict()
    c.loss.l1 = 1.0
    c.loss.duration = 1.0
    c.loss.ssim = 1.0
    c.loss.adv = 5.0
    c.loss.adv_start_step = 0             # > 0: reconstruction warm-up before the LSGAN term
    c.loss.duration_kind = "log_mse"      # official code; "paper" = token + sequence L1 (Eq. 4)

    c.optim = ml_collections.ConfigDict()
    # decay_steps > 0: the rate is multiplied by decay_rate every decay_steps (0 = constant).
    c.optim.generator = ml_collections.ConfigDict(dict(
        learning_rate=1e-3, b1=0.9, b2=0.98, eps=1e-9, warmup_steps=0, decay_steps=0,
        decay_rate=0.5, clip_grad_norm=1.0))
    c.optim.discriminator = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, b1=0.9, b2=0.98, eps=1e-9, warmup_steps=0, decay_steps=0,
        decay_rate=0.5, clip_grad_norm=1.0))

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 110_000           # paper: 110k iterations on GRID
    c.train.frames_per_example = None     # None = decode every frame (paper); F = F random frames
    c.train.parallel = "pmap"             # or "shard_map"
    c.train.num_devices = None            # all local devices
    c.train.log_every = 100
    c.train.eval_every = 5_000
    c.train.checkpoint_every = 5_000
    c.train.checkpoints_to_keep = 3
    c.train.max_eval_batches = None

    # LMD needs a mouth-landmark detector: a regressor folder from experiments/train_landmarks.py
    # (evaluated in-graph). None: evaluation reports PSNR and SSIM only.
    c.evaluation = ml_collections.ConfigDict()
    c.evaluation.landmark_regressor = None
    c.train.tensorboard = True
    return c


def timit_config() -> ml_collections.ConfigDict:
    """ParaLip on TCD-TIMIT: phoneme tokens, 29.97 fps, longer sentences than GRID."""
    c = grid_config()
    c.data.name = "tcd_timit"
    c.data.vocabulary = "phonemes"
    c.data.fps = 29.97
    c.data.buckets = [(48, 128), (80, 192), (112, 256)]
    c.model.vocab_size = 41                # lipjax.text.PHONEMES: <pad>, <sil>, 39 phonemes
    return c
