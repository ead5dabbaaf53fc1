"""Wav2Lip's generator at the paper's settings (Prajwal et al., ACM MM 2020, Sec. 3.3-3.4; its
`hq_wav2lip_train.py` and `hparams.py`).

    lipjax train --config experiments/configs/wav2lip_expert.py --workdir runs/wav2lip_expert
    lipjax train --config experiments/configs/wav2lip.py --workdir runs/wav2lip \
        --set loss.sync_expert=runs/wav2lip_expert

From the paper / published code: the published generator (36,298,035 parameters) and
visual-quality discriminator (`Wav2Lip_disc_qual`, sigmoid, on the lower half); per 5-frame
window the frames with their lower half masked, a reference window of the same video and the
frames' mel windows; loss (1 - s - d) L1 + s E_sync + d E_gen with s = syncnet_wt = 0.03 and
d = disc_wt = 0.07, E_sync the frozen expert's BCE against 1 on the generated window, E_gen
and the discriminator's loss BCE; Adam, lr 1e-4, betas (0.5, 0.999), for both networks; 16
windows per step (batch_size).

Not the paper's (choices made here):
* s is 0.03 from step 0: the published code starts at 0 and switches to 0.03 once the
  generator's sync loss on the evaluation set is below 0.75;
* the corpus: `synthetic_talking_faces` at 192 x 256 (face boxes of about 96 pixels) instead of
  LRS2; every clip of a pair is a video, the reference window does not overlap the target's;
* frame t's mel window starts at t, as at inference (the published training loader takes it one
  frame earlier for the generator, `i - 2` with 1-based frame names);
* BatchNorm statistics over the global batch; 200k steps.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.system = "lipjax.wav2lip.Wav2LipSystem"
    c.seed = 0
    c.prng_impl = "threefry2x32"

    c.data = ml_collections.ConfigDict()
    c.data.name = "synthetic_talking_faces"
    c.data.builder_config = "small"
    c.data.builder_overrides = {"frame_height": 192, "frame_width": 256}
    c.data.data_dir = "data"
    c.data.manual_dir = None
    c.data.build_if_missing = True
    c.data.train_split = "train"
    c.data.eval_split = "test"
    c.data.buckets = [(1, 1)]             # W = 1 window of each clip of a pair
    c.data.batch_size = 8                 # 8 pairs x 2 clips = 16 windows per step
    c.data.eval_batch_size = 8
    c.data.prefetch = 2
    c.data.workers = None                 # reader threads; None: 1 on CPU, else CPUs (<= 4)
    c.data.mel = {}
    c.data.mouth_margin = 0.25            # mouth-region PSNR box margin
    c.data.mel_cache_size = 256

    c.model = ml_collections.ConfigDict()
    c.model.bn_axis_name = "data"
    c.model.bn_momentum = 0.9
    c.model.bn_epsilon = 1e-5
    c.model.channel_divisor = 1

    c.discriminator = ml_collections.ConfigDict()   # WAV2LIP_QUALITY_CONFIG

    c.loss = ml_collections.ConfigDict()
    c.loss.sync = 0.03                    # syncnet_wt
    c.loss.adv = 0.07                     # disc_wt; L1 gets 1 - sync - adv = 0.9
    c.loss.sync_expert = "runs/wav2lip_expert"   # a SyncNetColorSystem workdir

    c.optim = ml_collections.ConfigDict()
    c.optim.generator = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, b1=0.5, b2=0.999, eps=1e-8, warmup_steps=0, clip_grad_norm=0.0))
    c.optim.discriminator = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, b1=0.5, b2=0.999, eps=1e-8, warmup_steps=0, clip_grad_norm=0.0))

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 200_000
    c.train.parallel = "pmap"
    c.train.num_devices = None
    c.train.log_every = 100
    c.train.eval_every = 3_000            # eval_interval
    c.train.checkpoint_every = 3_000      # checkpoint_interval
    c.train.checkpoints_to_keep = 3
    c.train.max_eval_batches = None
    c.train.tensorboard = True

    c.evaluation = ml_collections.ConfigDict()
    c.evaluation.landmark_regressor = None
    return c
