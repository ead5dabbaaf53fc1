# %% [markdown]
# Build GRID from your Drive in its published layout and train ParaLip's `paralip_grid` config on all local devices (TPU cores) with `shard_map`, with TensorBoard inline and resumption after a disconnect.

# %% install
__INSTALL__

# %% [markdown]
# ## Where things live
#
# Put GRID on your Google Drive as it is distributed, e.g. `MyDrive/GRID/s1/bbaf2n.mpg` with
# `MyDrive/GRID/alignments/s1/bbaf2n.align` (`s1/video/mpg_6000/*.mpg` + `s1/align/*.align` works
# too; see `lipjax/data/builders/grid.py`). The built dataset and the training workdir are kept
# on Drive as well, so a disconnected runtime loses at most the steps since the last
# checkpoint: run the notebook again from the top and the training cell resumes.
#
# With `LIPJAX_NOTEBOOK_TINY=1` (CI) the notebook makes a fake GRID of 6 clips (the astronaut
# photograph, GRID sentences) and trains a tiny model for 4 steps on the CPU's devices.

# %%
import json
import pathlib
import tempfile

import matplotlib.pyplot as plt
from IPython.display import Video, display

if TINY:
    DRIVE = pathlib.Path(tempfile.mkdtemp(prefix="lipjax_grid_"))
else:
    DRIVE = pathlib.Path("/content/drive/MyDrive" if IN_COLAB else "~/lipjax_grid").expanduser()
    if IN_COLAB:
        from google.colab import drive

        drive.mount("/content/drive")
GRID_DIR = DRIVE / "GRID"  # the downloaded corpus (read only)
DATA_DIR = DRIVE / "lipjax_data"  # the built dataset: built once, reused
WORKDIR = DRIVE / "lipjax_runs" / "paralip_grid"  # checkpoints, TensorBoard, metrics
NUM_STEPS = 4 if TINY else 110_000  # the paper's 110k steps
# Compiled programs are cached on Drive too: a resumed session skips most of the compilation.
jax.config.update("jax_compilation_cache_dir", str(DRIVE / "lipjax_jax_cache"))
print("GRID:", GRID_DIR, "| dataset:", DATA_DIR, "| workdir:", WORKDIR)

# %% [markdown]
# ## Build the dataset
#
# `lipjax data build grid` finds each face with OpenCV's Haar cascade and stores 80x160 lip
# crops with character tokens and durations from the `.align` files (ParaLip's split: 255 test
# sentences per speaker). All of GRID takes hours on Colab's two CPU cores and is done once; an
# interrupted build starts again from the beginning (nothing half-built is kept).

# %%
from lipjax import cli

if TINY:  # a fake GRID in the published layout: 2 speakers x 3 clips of 16 frames
    from tests._fake_corpora import make_fake_grid

    make_fake_grid(GRID_DIR, speakers=("s1", "s2"), videos_per_speaker=3, num_frames=16,
                   corrupt=None)
command = ["data", "build", "grid", "--data_dir", str(DATA_DIR), "--manual_dir", str(GRID_DIR)]
print("$ lipjax", " ".join(command))
assert cli.main(command) == 0, "the build failed; its message is above"

# %% [markdown]
# ## The config
#
# `experiments/configs/paralip_grid.py` is the paper's setting (the official model, batch 4,
# L1 + duration + SSIM + 5 LSGAN). Here it runs data-parallel over every local device with
# `shard_map`; the global batch is the paper's 4 rounded up to a multiple of the device count
# (8 on a TPU v2-8, whose 8 cores each take one example). Checkpoints every 1000 steps bound
# what a disconnect can lose.

# %%
n = jax.local_device_count()
batch = n * -(-4 // n)
overrides = [f"data.data_dir={DATA_DIR}", "train.parallel=shard_map",
             f"data.batch_size={batch}", f"data.eval_batch_size={batch}",
             "train.checkpoint_every=1000"]
if TINY:  # the fake clips are 16 frames of at most 30 tokens; 2 steps per session
    overrides += ["data.buckets=[(32, 16)]", "data.prefetch=0", "train.log_every=1",
                  "train.eval_every=4", "train.checkpoint_every=2", "train.max_eval_batches=1"]


def grid_config(num_steps: int):
    """paralip_grid with this notebook's settings (in tiny mode: a tiny model, no LSGAN term)."""
    config = lipjax.load_config(LIPJAX_ROOT / "experiments" / "configs" / "paralip_grid.py",
                                overrides + [f"train.num_steps={num_steps}"])
    if TINY:
        config.prng_impl = "rbg"  # compiles initialisation faster on the CPU
        config.loss.adv = 0.0
        config.train.previews = False  # no generated frames in TensorBoard
        config.model.update(dict(
            hidden=32, ffn_hidden=64, encoder_layers=1, decoder_layers=1, duration_channels=32,
            identity_dim=32, decoder_seed_channels=16, identity_channels=(8, 8, 16, 16),
            video_decoder_channels=(16, 16, 8, 8, 8)))
    return config


config = grid_config(NUM_STEPS)
print(f"{n} local devices ({jax.devices()[0].device_kind}), global batch {batch}")

# %% [markdown]
# ## TensorBoard
#
# Losses, learning rates, skipped steps, evaluation metrics and generated frames next to the
# real ones, refreshed while training runs (not started in tiny mode).

# %%
if not TINY:
    get_ipython().run_line_magic("load_ext", "tensorboard")
    get_ipython().run_line_magic("tensorboard", f"--logdir '{WORKDIR / 'tensorboard'}'")

# %% [markdown]
# ## Train
#
# Re-running this cell (after a disconnect: the whole notebook) resumes from the workdir's
# last checkpoint, at the same data position. In tiny mode a first session stops halfway
# first, as a disconnect would.

# %%
from lipjax.training.workdir import has_checkpoint

if TINY and not has_checkpoint(WORKDIR):
    lipjax.train_and_evaluate(grid_config(NUM_STEPS // 2), WORKDIR, progress=False)
print("resuming from the last checkpoint" if has_checkpoint(WORKDIR) else "starting")
result = lipjax.train_and_evaluate(config, WORKDIR, progress=not TINY)
print(f"step {result['final_step']}: test PSNR {result['eval']['psnr/pred_dur']:.2f} dB "
      f"(predicted durations), {result['eval']['psnr/gt_dur']:.2f} dB (true durations)")

# %% [markdown]
# ## Losses so far
#
# From `metrics.jsonl`, which every session (including resumed ones) appends to.

# %%
lines = [json.loads(line) for line in open(WORKDIR / "metrics.jsonl")]
train = [line for line in lines if "train/loss/l1" in line]
fig, ax = plt.subplots(figsize=(6, 3))
for key in ("train/loss/l1", "train/loss/ssim", "train/loss/duration"):
    ax.plot([line["step"] for line in train], [line[key] for line in train], ".-", label=key)
ax.set_xlabel("step")
ax.legend()
plt.show()
print("logged steps:", [line["step"] for line in train])

# %% [markdown]
# ## A test sentence
#
# The trained generator on a test clip: its text, its first frame as the identity, durations
# predicted from the text.

# %%
from lipjax.data.builders import load_source
from lipjax.video import write_video

record = load_source(config.data, config.data.eval_split)[0]
lips = lipjax.generate_lips(WORKDIR, record["text"].decode(), record["frames"][0])
write_video(WORKDIR / "sample.mp4", lips, 25.0)
print(repr(record["text"].decode()), f"{len(lips)} frames")
display(Video(str(WORKDIR / "sample.mp4"), embed=True, width=480, html_attributes="controls loop"))
