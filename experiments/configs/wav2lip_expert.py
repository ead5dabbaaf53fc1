"""Wav2Lip's lip-sync expert (SyncNet_color) at the paper's settings (Prajwal et al., ACM MM
2020, Sec. 3.2; its `color_syncnet_train.py` and `hparams.py`).

    lipjax train --config experiments/configs/wav2lip_expert.py --workdir runs/wav2lip_expert

From the paper / published code: the published network (16,435,072 parameters; 96x96 faces,
BGR / 255, the lower halves of 5 consecutive frames, the 80 x 16 mel window starting at the
first); cosine similarity of the unit embeddings trained with BCE against in-sync / off-sync
labels, balanced; Adam, lr 1e-4 (PyTorch's default betas); 64 labelled windows per step
(syncnet_batch_size); Wav2Lip's mel spectrogram (16 kHz, hop 200, 80 bins).

Not the paper's (choices made here):
* the corpus: LRS2 is not redistributable and has no builder here; this config uses
  `synthetic_talking_faces` rendered at 192 x 256 so that the face box (half the frame height)
  is about 96 pixels, like Wav2Lip's crops; every clip of a pair is used as a video;
* a step holds 8 pairs x 2 clips x 2 windows = 32 windows, each with its own audio (label 1)
  and the audio of a non-overlapping window of the same clip (label 0): 64 labelled samples,
  exactly balanced (Wav2Lip draws one label per window at random; its off-sync window may
  overlap);
* BatchNorm statistics over the global batch (`bn_axis_name = "data"`); 250k steps.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.system = "lipjax.wav2lip.SyncNetColorSystem"
    c.seed = 0
    c.prng_impl = "threefry2x32"          # "rbg" compiles initialisation faster on the CPU

    c.data = ml_collections.ConfigDict()
    c.data.name = "synthetic_talking_faces"
    c.data.builder_config = "small"
    c.data.builder_overrides = {"frame_height": 192, "frame_width": 256}
    c.data.data_dir = "data"
    c.data.manual_dir = None
    c.data.build_if_missing = True        # synthetic: built locally, no download
    c.data.train_split = "train"
    c.data.eval_split = "test"
    # One bucket (1, W): every example holds W windows of each of the two clips of a pair.
    c.data.buckets = [(1, 2)]
    c.data.batch_size = 8                 # pairs per step (x 2 clips x W windows x 2 labels)
    c.data.eval_batch_size = 8
    c.data.prefetch = 2
    c.data.workers = None                 # reader threads; None: 1 on CPU, else CPUs (<= 4)
    c.data.mel = {}                       # lipjax.audio.MelConfig overrides (Wav2Lip's values)
    c.data.mel_cache_size = 256           # clips whose mel windows are kept

    # lipjax.wav2lip.Wav2LipConfig: the published network.
    c.model = ml_collections.ConfigDict()
    c.model.bn_axis_name = "data"
    c.model.bn_momentum = 0.9             # PyTorch's 0.1
    c.model.bn_epsilon = 1e-5
    c.model.channel_divisor = 1

    c.loss = ml_collections.ConfigDict()
    c.loss.bce = 1.0

    c.optim = ml_collections.ConfigDict()
    c.optim.generator = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, b1=0.9, b2=0.999, eps=1e-8, warmup_steps=0, clip_grad_norm=0.0))

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 250_000
    c.train.parallel = "pmap"             # or "shard_map"
    c.train.num_devices = None            # all local devices
    c.train.log_every = 100
    c.train.eval_every = 10_000           # syncnet_eval_interval
    c.train.checkpoint_every = 10_000     # syncnet_checkpoint_interval
    c.train.checkpoints_to_keep = 3
    c.train.max_eval_batches = None
    c.train.tensorboard = True

    c.evaluation = ml_collections.ConfigDict()
    c.evaluation.landmark_regressor = None
    return c
