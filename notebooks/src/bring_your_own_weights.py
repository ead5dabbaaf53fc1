# %% [markdown]
# Convert a published Wav2Lip checkpoint to lipjax (or make a clearly labelled random one) and lip-sync your own video to your own audio, with the face boxes drawn for checking.

# %% install
__INSTALL__

# %% [markdown]
# ## Your files
#
# Set the paths below (e.g. files on a mounted Drive), or leave them empty: on Colab you are then
# asked to upload each file (cancel to skip). Without a checkpoint the notebook makes one with
# **random weights** in Wav2Lip's published layout, so that every step runs; its output is noise
# around the mouth, not lip sync. Without a video it uses scikit-image's astronaut photograph
# moving over a background; without audio it speaks a sentence with `espeak-ng` (on Colab:
# `!apt-get -qq install espeak-ng`) or, if that is missing, plays a modulated tone.

# %%
import pathlib
import tempfile

import numpy as np
from IPython.display import HTML, Video, display

CHECKPOINT = ""  # wav2lip.pth or wav2lip_gan.pth
VIDEO = ""  # a face video, or a photo (.png / .jpg)
AUDIO = ""  # speech: a .wav, .mp3, or any video with a soundtrack
if TINY:
    WORK = pathlib.Path(tempfile.mkdtemp(prefix="lipjax_byow_"))
else:
    WORK = pathlib.Path("/content/lipjax_byow" if IN_COLAB else "~/lipjax_byow").expanduser()
WORK.mkdir(parents=True, exist_ok=True)
SECONDS = 1.0 if TINY else 3.0  # length of the generated video and audio


def ask_for(what: str):
    """On Colab, asks for one file and returns its path (None when cancelled); elsewhere None."""
    if not IN_COLAB or TINY:
        return None
    from google.colab import files

    print(f"Upload {what}, or cancel to use the fallback.")
    try:
        uploaded = files.upload()
    except Exception as error:  # a cancelled upload
        print(f"no file ({error})")
        return None
    if not uploaded:
        return None
    name, data = next(iter(uploaded.items()))
    path = WORK / name
    path.write_bytes(data)
    return path


# %% [markdown]
# ## A checkpoint in Wav2Lip's published layout
#
# The random checkpoint comes from the PyTorch Wav2Lip of lipjax's tests (random weights whose
# layers are rescaled so that the output depends on the input) when the repository's `tests/`
# folder is importable, and otherwise from lipjax's own randomly initialised generator, written
# back through the importer's name table (`lipjax.convert.wav2lip.generator_tensor`).

# %% random-checkpoint
import functools
import operator


def wav2lip_state_from_lipjax(variables) -> dict:
    """The published state dict (PyTorch names and layouts) of lipjax `Wav2LipGenerator`
    variables: the importer's name and layout table, inverted."""
    import torch

    from lipjax.convert.torch_io import specs_from_template
    from lipjax.convert.wav2lip import generator_tensor

    state = {}
    for spec in specs_from_template(variables, generator_tensor):
        value = np.asarray(functools.reduce(operator.getitem, spec.path.split("/"), variables))
        torch_axes = spec.layout.torch_shape(range(value.ndim))  # the Flax axis of each one
        state[spec.torch_name] = torch.from_numpy(np.array(value.transpose(torch_axes)))
    return state


def random_wav2lip_checkpoint(path: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """Writes a Wav2Lip generator checkpoint with RANDOM weights, laid out as Wav2Lip publishes
    them (`module.`-prefixed names under "state_dict")."""
    import torch

    try:
        from tests.convert._torch_wav2lip import TorchWav2Lip, randomise, save_published
    except ImportError:  # no tests/ folder: lipjax's own random initialisation
        import jax.numpy as jnp

        from lipjax.convert.wav2lip import wav2lip_config
        from lipjax.wav2lip.system import Wav2LipSystem

        module = Wav2LipSystem.generator_from_config(wav2lip_config())
        variables = module.init(jax.random.key(seed), jnp.zeros((1, 96, 96, 6)),
                                jnp.zeros((1, 80, 16)))
        state = wav2lip_state_from_lipjax(variables)
        torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, path)
        return path
    g = torch.Generator().manual_seed(seed)
    model = randomise(TorchWav2Lip(), seed, torch.rand(2, 1, 80, 16, generator=g) * 8 - 4,
                      torch.rand(2, 6, 96, 96, generator=g))
    return save_published(model, path)


# %% [markdown]
# ## Convert it
#
# `lipjax convert wav2lip --torch_checkpoint FILE --out DIR` does the same from a shell. A
# ParaLip release checkpoint converts the same way
# (`lipjax convert paralip --torch_checkpoint model_ckpt_steps_N.ckpt --out DIR --vocabulary
# dict.txt`, then `lipjax lip --checkpoint DIR ...`); see the README.

# %%
import shutil

from lipjax.convert.wav2lip import convert_wav2lip
from lipjax.lipsync import load_face_editor

checkpoint = pathlib.Path(CHECKPOINT) if CHECKPOINT else ask_for("wav2lip.pth / wav2lip_gan.pth")
RANDOM_WEIGHTS = checkpoint is None
if RANDOM_WEIGHTS:
    checkpoint = random_wav2lip_checkpoint(WORK / "RANDOM_WEIGHTS_wav2lip.pth")
shutil.rmtree(WORK / "wav2lip", ignore_errors=True)  # a re-run converts afresh
workdir = convert_wav2lip(checkpoint, WORK / "wav2lip")
editor = load_face_editor(workdir)
LABEL = "RANDOM WEIGHTS (no checkpoint given): the output shows the plumbing, not lip sync" \
    if RANDOM_WEIGHTS else f"weights from {checkpoint.name}"
display(HTML(f"<b style='color:{'#c00' if RANDOM_WEIGHTS else '#070'}'>{LABEL}</b>"))
print(f"converted {checkpoint} -> {workdir}")

# %% [markdown]
# ## The video and the audio

# %%
import subprocess

from scipy.io import wavfile

from lipjax.video import write_video

video = pathlib.Path(VIDEO) if VIDEO else ask_for("a face video or photo")
if video is None:
    from tests._fake_corpora import render_face_video  # the astronaut drifting over a background

    frames, _ = render_face_video(int(25 * SECONDS), frame_hw=(240, 320), side=160)
    video = write_video(WORK / "astronaut.mp4", frames, 25.0)
audio = pathlib.Path(AUDIO) if AUDIO else ask_for("speech (wav, mp3 or a video with sound)")
if audio is None and shutil.which("espeak-ng"):
    audio = WORK / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(audio), "bin blue at f two now"], check=True)
elif audio is None:  # a 150 Hz tone opening and closing 4 times a second
    t = np.arange(int(16000 * SECONDS)) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 150 * t) * (0.5 - 0.5 * np.cos(2 * np.pi * 4 * t))
    audio = WORK / "tone.wav"
    wavfile.write(audio, 16000, (tone * 32767).astype(np.int16))
print("video:", video, "| audio:", audio)

# %% [markdown]
# ## Check the face boxes
#
# The boxes `talk` will edit, found by `lipjax.lipsync.track_faces` with the model's own options
# (Wav2Lip's `--pads 0 10 0 0` and 5-frame smoothing): green where the detector found the face,
# orange where the box was interpolated. Fix a bad box with `face_boxes={"pads": (...)}` or a
# fixed box (`FaceBoxOptions(fixed_box=(y1, y2, x1, x2))`) in `talk` below.

# %%
import cv2
import PIL.Image

from lipjax.data.contact_sheet import contact_sheet
from lipjax.face import box_to_pixels
from lipjax.lipsync import track_faces
from lipjax.lipsync.source import FaceVideo

with FaceVideo(video) as source:
    first = next(source.chunks(100, limit=100))  # the first 4 s at 25 fps
boxes, detected = track_faces(first, editor.face_boxes)
picks = np.linspace(0, len(first) - 1, min(6, len(first))).astype(int)
drawn = []
for i in picks:
    frame = np.ascontiguousarray(first[i])
    x0, y0, x1, y1 = box_to_pixels(boxes[i])
    cv2.rectangle(frame, (x0, y0), (x1 - 1, y1 - 1), (0, 220, 0) if detected[i] else (255, 140, 0),
                  max(2, frame.shape[1] // 200))
    drawn.append(cv2.resize(frame, (320, 320 * frame.shape[0] // frame.shape[1])))
print(f"face detected in {detected.mean():.0%} of the first {len(first)} frames")
display(PIL.Image.fromarray(contact_sheet(np.stack(drawn), columns=3,
                                          labels=[f"frame {i}" for i in picks])))

# %% [markdown]
# ## Lip-sync
#
# The output lasts as long as the audio (a shorter video is played back and forth); pixels
# outside the face boxes are unchanged.

# %%
report = lipjax.talk(editor, video, audio, WORK / "synced.mp4", progress=not TINY)
print(report.summary())
display(HTML(f"<b>{LABEL}</b>"))
display(Video(str(WORK / "synced.mp4"), embed=True, width=480, html_attributes="controls"))
