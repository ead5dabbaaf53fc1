# %% [markdown]
# Train ParaLip and the DCK talking-face model on small synthetic corpora, then generate a lip video from text and lip-sync a face video to new audio.

# %% install
__INSTALL__

# %% [markdown]
# ## Settings
#
# On Colab this trains the repository's CPU-sized configs as they are
# (`experiments/configs/paralip_synthetic.py`, 2000 steps; `dck_synthetic.py`, 400 steps) on the
# `small` synthetic corpora. With `LIPJAX_NOTEBOOK_TINY=1` (CI) everything is tiny: corpora of a
# few clips, models of a few thousand parameters, 3 steps. Runs go to `RUNS`.

# %%
import pathlib
import tempfile

import numpy as np
import PIL.Image
from IPython.display import Video, display

CONFIGS = LIPJAX_ROOT / "experiments" / "configs"
if TINY:
    RUNS = pathlib.Path(tempfile.mkdtemp(prefix="lipjax_quickstart_"))
else:
    RUNS = pathlib.Path("/content/lipjax_runs" if IN_COLAB else "~/lipjax_runs").expanduser()
    RUNS = RUNS / "quickstart"
DATA_DIR = RUNS / "data"
CORPUS = "tiny" if TINY else "small"  # builder config of both synthetic corpora
COMMON = [f"data.data_dir={DATA_DIR}", f"data.builder_config={CORPUS}"]
# Tiny mode: the real architectures at a few thousand parameters, 3 steps.
TINY_LOOP = ["data.batch_size=2", "data.eval_batch_size=2", "data.prefetch=0",
             "train.num_steps=3", "train.log_every=1", "train.eval_every=3",
             "train.checkpoint_every=3", "train.max_eval_batches=1"]


def load_config(name: str, tiny_overrides: list, tiny_model: dict):
    """experiments/configs/<name>.py on this notebook's corpora (tiny mode: tiny model, 3 steps,
    no generated frames in TensorBoard)."""
    config = lipjax.load_config(CONFIGS / f"{name}.py", COMMON + (tiny_overrides if TINY else []))
    if TINY:
        config.model.update(tiny_model)
        config.train.previews = False
    return config


print("runs in", RUNS)

# %% [markdown]
# ## The synthetic corpora
#
# `synthetic_lips` (80x160 lip videos of GRID sentences with exact per-character durations) and
# `synthetic_talking_faces` (pairs of full-frame talking faces with speech) are rendered
# locally; nothing is downloaded. Both took 83 s of CPU time on a 2-core machine (Colab's CPUs
# do the same work).

# %%
from lipjax.data.builders import build_dataset, load_source

for name in ("synthetic_lips", "synthetic_talking_faces"):
    build_dataset(name, data_dir=DATA_DIR, config=CORPUS, progress=not TINY)

# %% [markdown]
# ## Train ParaLip (text to lip video)
#
# Re-running a training cell resumes from the last checkpoint in its workdir.

# %%
paralip_config = load_config("paralip_synthetic", TINY_LOOP + ["data.buckets=[(40, 112)]"], dict(
    hidden=32, ffn_hidden=64, encoder_layers=1, decoder_layers=1, duration_channels=32,
    identity_dim=32, decoder_seed_channels=16, identity_channels=(8, 8, 16, 16),
    video_decoder_channels=(16, 16, 8, 8, 8)))
paralip = lipjax.train_and_evaluate(paralip_config, RUNS / "paralip", progress=not TINY)
print(f"{paralip['final_step']} steps at {paralip['throughput_examples_per_s']:.1f} examples/s; "
      f"test PSNR {paralip['eval']['psnr/pred_dur']:.2f} dB (predicted durations) vs "
      f"{paralip['eval']['psnr/identity_baseline']:.2f} dB for repeating the identity frame")

# %% [markdown]
# ## Train DCK (audio-driven lip sync)

# %%
dck_config = load_config("dck_synthetic", TINY_LOOP + ["data.buckets=[(1, 2)]"], dict(
    image_size=32, down_channels=(4, 8, 8), up_channels=(8, 4, 4), middle_channels=8,
    num_middle_layers=1, kernel_generator_hidden=(8,), audio_feature_dim=8,
    attention_audio_channels=2, audio_blocks=((4, 3, (3, 1), 1, False), (4, 3, (3, 3), 1, False),
                                              (8, 3, (3, 2), 1, False), (8, 3, (1, 1), 0, False))))
dck = lipjax.train_and_evaluate(dck_config, RUNS / "dck", progress=not TINY)
print(f"{dck['final_step']} steps; test PSNR {dck['eval']['psnr/model']:.2f} dB vs "
      f"{dck['eval']['psnr/input_baseline']:.2f} dB for returning the input frame")

# %% [markdown]
# ## A lip video from text
#
# `LipGenerator` loads the trained generator once; `generate_lips` takes any GRID-vocabulary
# sentence and an identity lip image (here the first frame of a test video). Durations are
# predicted from the text.

# %%
from lipjax.video import write_video

generator = lipjax.LipGenerator.from_checkpoint(RUNS / "paralip")
record = load_source(paralip_config.data, paralip_config.data.eval_split)[0]
text, truth = record["text"].decode(), record["frames"]
lips = lipjax.generate_lips(generator, text, truth[0])  # float32 [T, 80, 160, 3] in [0, 1]
write_video(RUNS / "paralip.mp4", lips, generator.fps)
print(f"{text!r}: {len(lips)} frames generated ({len(truth)} in the real video)")
display(Video(str(RUNS / "paralip.mp4"), embed=True, width=480,
              html_attributes="controls loop autoplay muted"))

# %% [markdown]
# ## Lip-syncing a video to new audio
#
# A test pair of `synthetic_talking_faces` shows one face saying two sentences. `talk` finds the
# face in clip A, edits its mouth with the DCK model to follow the audio of clip B and writes
# the result with that audio.

# %%
from lipjax.video import read_video

pair = load_source(dck_config.data, dck_config.data.eval_split)[0]
fps = float(pair["fps"])
write_video(RUNS / "face.mp4", pair["frames_a"], fps)
write_video(RUNS / "speech.mp4", pair["frames_b"], fps, audio=pair["audio_b"])
editor = lipjax.TalkingFaceGenerator.from_checkpoint(RUNS / "dck")
report = lipjax.talk(editor, RUNS / "face.mp4", RUNS / "speech.mp4", RUNS / "synced.mp4",
                     progress=not TINY, missing_faces="pass")
print(report.summary())
display(Video(str(RUNS / "synced.mp4"), embed=True, width=480, html_attributes="controls loop"))

# %% [markdown]
# ## Contact sheets
#
# ParaLip: real frames (top) and generated ones (bottom) at the same times. DCK: input frames
# (top) and lip-synced ones (bottom).

# %%
from lipjax.data.contact_sheet import contact_sheet


def sheet(top, bottom, labels, columns=6):
    """Two rows of `columns` frames picked evenly from `top` and `bottom`, shown 2x."""
    picks = np.linspace(0, min(len(top), len(bottom)) - 1, columns).astype(int)
    frames = np.concatenate([np.asarray(top)[picks], np.asarray(bottom)[picks]])
    tiles = contact_sheet(frames, columns=columns, labels=[l for l in labels for _ in picks])
    image = PIL.Image.fromarray(tiles)
    return image.resize((2 * image.width, 2 * image.height), PIL.Image.NEAREST)


synced, _ = read_video(RUNS / "synced.mp4")
display(sheet(truth, (lips * 255).round().astype(np.uint8), ["truth", "ParaLip"]))
display(sheet(pair["frames_a"], synced, ["input", "DCK"]))
