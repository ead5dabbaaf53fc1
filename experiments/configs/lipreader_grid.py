"""The CTC lipreader on GRID at LipNet's sizes (Assael et al., 2016), for ParaLip's durations
without audio (Liu et al., AAAI 2022, Sec. 6; the paper gives no lipreader architecture).

    lipjax data build grid --data_dir data --manual_dir /path/to/GRID
    lipjax train --config experiments/configs/lipreader_grid.py --workdir runs/lipreader_grid
    lipjax evaluate --workdir runs/lipreader_grid                # CTC, CER, WER, alignment
    lipjax data align --lipreader runs/lipreader_grid --dataset grid --data_dir data \
        --out_dir data_mas                                       # durations from MAS

LipNet: three 3-D convolutions (32, 64, 96 channels; 3x5x5, 3x5x5, 3x3x3; the first with
spatial stride 2), each with ReLU, spatial dropout 0.5 and a 1x2x2 max-pool, two bidirectional
GRU layers of 256, Adam at 1e-4. The frames are lipjax's 80x160 lip crops (LipNet: 50x100).
Sized for a GPU: a step of 16 x 75 frames is ~1 TFLOP on the CPU.
"""

import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.system = "lipjax.lipreading.LipreaderSystem"
    c.seed = 0
    c.prng_impl = "threefry2x32"

    c.data = ml_collections.ConfigDict()
    c.data.name = "grid"
    c.data.builder_config = None
    c.data.builder_overrides = {}
    c.data.data_dir = "data"
    c.data.manual_dir = None
    c.data.build_if_missing = False
    c.data.vocabulary = "grid_chars"       # lipjax.text.GRID_CHARS: the CTC labels
    c.data.fps = 25.0
    c.data.train_split = "train"
    c.data.eval_split = "test"
    c.data.buckets = [(48, 80)]            # GRID: 75 frames, <= ~40 characters with <sil>
    c.data.batch_size = 16
    c.data.eval_batch_size = 16
    c.data.prefetch = 2
    c.data.workers = None                 # reader threads; None: 1 on CPU, else CPUs (<= 4)

    c.model = ml_collections.ConfigDict()  # lipjax.lipreading.LipreaderConfig
    c.model.vocab_size = 29                # the vocabulary's symbols; id 0 is the CTC blank
    c.model.image_height = 80
    c.model.image_width = 160
    c.model.input_pool = 1
    c.model.channels = (32, 64, 96)
    c.model.kernels = ((3, 5, 5), (3, 5, 5), (3, 3, 3))
    c.model.first_stride = 2
    c.model.pool = True
    c.model.rnn = "gru"
    c.model.rnn_hidden = 256
    c.model.rnn_layers = 2
    c.model.temporal_kernel = 5            # only for rnn = "conv"
    c.model.dropout = 0.5

    c.loss = ml_collections.ConfigDict()
    c.loss.ctc = 1.0

    c.optim = ml_collections.ConfigDict()
    c.optim.generator = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, b1=0.9, b2=0.999, eps=1e-8, warmup_steps=0, decay_steps=0,
        decay_rate=0.5, clip_grad_norm=5.0))

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 50_000
    c.train.parallel = "pmap"
    c.train.num_devices = None
    c.train.log_every = 100
    c.train.eval_every = 5_000
    c.train.checkpoint_every = 5_000
    c.train.checkpoints_to_keep = 3
    c.train.max_eval_batches = None
    c.train.tensorboard = True

    c.evaluation = ml_collections.ConfigDict()
    c.evaluation.landmark_regressor = None  # unused: a lipreader reports no LMD
    return c
