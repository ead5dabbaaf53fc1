"""DCK talking face at the paper's settings (Ye et al., IEEE TMM 2022, Sec. III-IV).

    lipjax train --config experiments/configs/dck_paper.py --workdir runs/dck_paper

From the paper: 256x256 face crops; a U-Net with 5 down-sampling, 4 middle (DCK, kernel size
1, 256 -> 256 channels, one fully connected kernel generator each) and 5 up-sampling layers;
Wav2Lip's audio encoder on 80 x 16 mel windows; attention-mask blending; L_total = L_adv
(LSGAN) + 10 L1; training pairs share identity and head motion but not speech, and both
directions of a pair are trained.

Not in the paper (choices made here, see lipjax/dck/model.py for the architecture ones):
* the corpus: the paper's LRW-derived pairs are not public; this config uses
  `synthetic_talking_faces` rendered at 512 x 704 so that the face box (half the frame height)
  is about 256 pixels, like the paper's crops;
* optimiser, learning rates, batch size and number of steps: Adam (b1 0.5, b2 0.999; the usual
  pix2pix GAN setting), 1e-4 for both networks, 8 pairs x 2 directions x 4 frames per step,
  200k steps;
* discriminator sizes: a PatchGAN (64, 128, 256, 512 channels, InstanceNorm);
* mel windows start at the video frame, as in Wav2Lip (center_mel_windows False);
* the audio encoder: the paper uses Wav2Lip's pre-trained one, frozen; here it is trained
  from a random start unless `--set pretrained_audio.checkpoint=<wav2lip.pth or a Wav2Lip
  workdir>` names those weights (lipjax.dck.pretrained_audio; nothing is downloaded).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.system = "lipjax.dck.DCKSystem"
    c.seed = 0
    c.prng_impl = "threefry2x32"          # "rbg" compiles initialisation faster on the CPU

    c.data = ml_collections.ConfigDict()
    c.data.name = "synthetic_talking_faces"
    c.data.builder_config = "small"
    c.data.builder_overrides = {"frame_height": 512, "frame_width": 704}
    c.data.data_dir = "data"
    c.data.manual_dir = None
    c.data.build_if_missing = True        # synthetic: built locally, no download
    c.data.train_split = "train"
    c.data.eval_split = "test"
    # One bucket (1, F): every example holds F frames of each direction of a pair.
    c.data.buckets = [(1, 4)]
    c.data.batch_size = 8                 # pairs per step (x 2 directions x F frames)
    c.data.eval_batch_size = 8
    c.data.prefetch = 2
    c.data.workers = None                 # reader threads; None: 1 on CPU, else CPUs (<= 4)
    c.data.mel = {}                       # lipjax.audio.MelConfig overrides (Wav2Lip's values)
    c.data.mel_window = 16                # mel frames per video frame (0.2 s)
    c.data.center_mel_windows = False     # Wav2Lip: the window starts at the frame
    c.data.mouth_margin = 0.25            # mouth-region metric box margin
    c.data.mel_cache_size = 256           # clips whose mel windows are kept

    # lipjax.dck.model.DCKConfig; the defaults are the paper's sizes.
    c.model = ml_collections.ConfigDict()
    c.model.image_size = 256
    c.model.down_channels = (64, 128, 256, 256, 256)
    c.model.up_channels = (256, 256, 128, 64, 32)
    c.model.num_middle_layers = 4
    c.model.middle_channels = 256
    c.model.dck_kernel_size = 1
    c.model.use_dck = True
    c.model.use_blending = True
    c.model.bn_axis_name = "data"         # BatchNorm statistics over the global batch

    # The paper's audio network is Wav2Lip's, pre-trained and frozen (Sec. III-A): set
    # `pretrained_audio.checkpoint` to wav2lip.pth (or a Wav2Lip / expert workdir) to train as
    # the paper does; "" trains the encoder from a random start (lipjax.dck.pretrained_audio).
    c.pretrained_audio = ml_collections.ConfigDict()
    c.pretrained_audio.checkpoint = ""
    c.pretrained_audio.freeze = True

    c.discriminator = ml_collections.ConfigDict()   # DCKDiscriminatorConfig defaults

    # L_total = L_adv + 10 L1 (Sec. III-D); 0 switches a term off.
    c.loss = ml_collections.ConfigDict()
    c.loss.l1 = 10.0
    c.loss.adv = 1.0

    c.optim = ml_collections.ConfigDict()
    c.optim.generator = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, b1=0.5, b2=0.999, eps=1e-8, warmup_steps=0, clip_grad_norm=0.0))
    c.optim.discriminator = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, b1=0.5, b2=0.999, eps=1e-8, warmup_steps=0, clip_grad_norm=0.0))

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 200_000
    c.train.parallel = "pmap"             # or "shard_map"
    c.train.num_devices = None            # all local devices
    c.train.log_every = 100
    c.train.eval_every = 5_000
    c.train.checkpoint_every = 5_000
    c.train.checkpoints_to_keep = 3
    c.train.max_eval_batches = None

    # The model's LMD needs a mouth-landmark detector for generated face crops: a folder from
    # `experiments/train_landmarks.py --corpus=synthetic_talking_faces --crop_size=<image_size>`.
    c.evaluation = ml_collections.ConfigDict()
    c.evaluation.landmark_regressor = None
    c.train.tensorboard = True
    return c
