"""SyncNet v2 as a `lipjax.metrics.SyncNetwork` (what `lip_sync_error` measures with), and
`load_sync_network`, which finds the network for a checkpoint file or a workdir.

SyncNet v2's conventions, as syncnet_python's `SyncNetInstance.evaluate` applies them:

* video: 25 fps face crops resized to 224 x 224, BGR (as `cv2.imread` reads them), float
  0..255; window i = frames i .. i + 4.
* audio: 16 kHz mono read from a 16-bit PCM wav by `scipy.io.wavfile`, so the samples are
  integers: the float waveform is scaled by 32768, rounded and clipped to int16 first (this
  matters: the MFCC's c0 is a log energy). `python_speech_features.mfcc(audio, 16000)`
  (`lipjax.audio.mfcc`), 100 frames per second; window i = MFCC frames 4 i .. 4 i + 19,
  `[13, 20]`.
* `min(len(frames), floor(len(audio) / 640)) - 5` windows (640 samples = one video frame at
  25 fps), embedded 20 at a time; the distance is `pairwise_distance` (L2, eps 1e-6).

Not reproduced: syncnet_python re-encodes the crops (an avi, then JPEG frames via FFmpeg), which
changes pixels slightly; lipjax feeds the decoded crops directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np

from lipjax.errors import AudioError, ConfigError, InputError
from lipjax.face import crop_and_resize
from lipjax.metrics.sync import JittedSyncNetwork, SyncInputs, SyncNetwork, pairwise_distance
from lipjax.syncnet.model import AUDIO_SHAPE, VIDEO_SHAPE, SyncNetV2

__all__ = ["SyncNetV2Sync", "load_sync_network", "syncnet_v2_crops", "syncnet_v2_mfcc",
           "syncnet_v2_window_count", "FPS", "SAMPLE_RATE", "BATCH_SIZE"]

FPS = 25.0
SAMPLE_RATE = 16000
BATCH_SIZE = 20
SAMPLES_PER_FRAME = 640             # 16000 / 25
FRAMES_PER_WINDOW = VIDEO_SHAPE[0]  # 5
MFCC_PER_WINDOW = AUDIO_SHAPE[1]    # 20
MFCC_PER_FRAME = 4                  # 100 MFCC frames / s over 25 video frames / s
CROP_SIZE = VIDEO_SHAPE[1]          # 224


def syncnet_v2_crops(crops: np.ndarray) -> np.ndarray:
    """uint8 RGB face crops `[T, H, W, 3]` -> uint8 BGR `[T, 224, 224, 3]` (resized with
    `lipjax.face.crop_and_resize` if needed: area when shrinking, bilinear when growing)."""
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise InputError(f"face crops must be uint8 RGB [T, H, W, 3], got {crops.shape} of "
                         f"{crops.dtype}")
    if crops.shape[1:3] != (CROP_SIZE, CROP_SIZE):
        box = (0, 0, crops.shape[2], crops.shape[1])
        crops = np.stack([crop_and_resize(c, box, (CROP_SIZE, CROP_SIZE)) for c in crops])
    return np.ascontiguousarray(crops[..., ::-1])


def syncnet_v2_mfcc(wav: np.ndarray) -> np.ndarray:
    """16 kHz float waveform `[N]` in [-1, 1] -> MFCC `[M, 13]` of its 16-bit samples, as
    syncnet_python computes them from its wav file."""
    from lipjax.mfcc import mfcc

    samples = np.clip(np.round(np.asarray(wav, np.float64) * 32768.0), -32768, 32767)
    return mfcc(samples.astype(np.int16), sample_rate=SAMPLE_RATE)


def syncnet_v2_window_count(num_frames: int, num_samples: int) -> int:
    """`min(num_frames, num_samples // 640) - 5`, the windows syncnet_python measures.

    Raises:
      AudioError: the audio covers fewer than 6 video frames (3840 samples, 0.24 s).
      InputError: fewer than 6 video frames.
    """
    needed = FRAMES_PER_WINDOW + 1
    if num_samples // SAMPLES_PER_FRAME < needed:
        raise AudioError(f"the audio is too short for SyncNet v2: {num_samples} samples "
                         f"({num_samples / SAMPLE_RATE:.3f} s); it needs at least "
                         f"{needed * SAMPLES_PER_FRAME} ({needed} video frames at 25 fps)")
    if num_frames < needed:
        raise InputError(f"the video is too short for SyncNet v2: {num_frames} frames; it needs "
                         f"at least {needed} at 25 fps")
    return min(num_frames, num_samples // SAMPLES_PER_FRAME) - FRAMES_PER_WINDOW


class SyncNetV2Sync(JittedSyncNetwork):
    """SyncNet v2 with its weights, as a `lipjax.metrics.SyncNetwork` (conventions: see the
    module docstring). Both towers run jitted on batches of exactly `batch_size` windows (the
    last one zero-padded), so a video of any length compiles once.

    Args:
      variables: `{"params", "batch_stats"}` of `SyncNetV2` (e.g. `load_syncnet_v2(path)[1]`).
      module: the `SyncNetV2` they belong to (default `SyncNetV2()`).
      batch_size: windows per call (20 as syncnet_python; any value gives the same numbers).
    """

    fps = FPS
    sample_rate = SAMPLE_RATE
    crop_size = CROP_SIZE
    distance = staticmethod(pairwise_distance)

    network_name = "SyncNet v2"

    def __init__(self, variables: Mapping[str, Any], *, module: SyncNetV2 | None = None,
                 batch_size: int = BATCH_SIZE):
        super().__init__(variables, module=module or SyncNetV2(), batch_size=batch_size)

    def towers(self, variables: Mapping[str, Any], video: jax.Array, audio: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
        """`([B, 1024], [B, 1024])`, not normalised (SyncNet v2's `forward_lip`/`forward_aud`)."""
        return self.module.apply(variables, video, audio)

    @classmethod
    def from_torch_checkpoint(cls, path: str | os.PathLike, **kwargs: Any) -> "SyncNetV2Sync":
        """From a published `syncnet_v2.model` file, converted in memory (torch needed)."""
        from lipjax.convert.syncnet import load_syncnet_v2

        return cls(load_syncnet_v2(path)[1], **kwargs)

    def prepare(self, crops: np.ndarray, wav: np.ndarray) -> SyncInputs:
        """uint8 RGB crops `[T, H, W, 3]` + 16 kHz float wav `[N]` -> BGR 224 crops, MFCC and
        the window count (errors: `syncnet_v2_window_count`)."""
        count = syncnet_v2_window_count(len(crops), len(wav))
        return SyncInputs(syncnet_v2_crops(crops), syncnet_v2_mfcc(wav), count)

    def windows(self, inputs: SyncInputs, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 `([n, 5, 224, 224, 3] BGR 0..255, [n, 13, 20] MFCC)` of frames `index`."""
        index = np.asarray(index, np.int64)
        frames = index[:, None] + np.arange(FRAMES_PER_WINDOW)[None, :]
        mfcc = MFCC_PER_FRAME * index[:, None] + np.arange(MFCC_PER_WINDOW)[None, :]
        video = inputs.video[frames].astype(np.float32)
        return video, np.ascontiguousarray(np.transpose(inputs.audio[mfcc], (0, 2, 1)))


def load_sync_network(checkpoint: Any, **kwargs: Any) -> SyncNetwork:
    """The sync network of `checkpoint`: a `SyncNetwork` (returned as is), a published file
    (`syncnet_v2.model`, or Wav2Lip's `lipsync_expert.pth`; the kind is read from its tensor
    names, converted in memory), or a workdir whose system class has a `sync_network`
    classmethod (a converted SyncNet v2 workdir; a trained or converted Wav2Lip expert).

    Raises:
      InputError: no such file or folder. ConversionError: the file is not a sync network.
      CheckpointError: not a workdir. ConfigError: the workdir's network cannot measure sync.
    """
    if isinstance(checkpoint, SyncNetwork):
        return checkpoint
    path = Path(checkpoint)
    if path.is_file():
        return _published_network(path, **kwargs)
    if not path.is_dir():
        raise InputError(f"--syncnet {os.fspath(path)!r} is neither a syncnet_v2.model / "
                         "lipsync_expert.pth file nor a converted or trained workdir")
    from lipjax.training.workdir import restore_generator

    return _restored_network(restore_generator(path), os.fspath(path), **kwargs)


def _restored_network(restored: Any, where: str, **kwargs: Any) -> SyncNetwork:
    """The network of a `RestoredGenerator`, built by its system class's `sync_network`."""
    build = getattr(restored.system_class, "sync_network", None)
    if build is None:
        raise ConfigError(f"{where!r} holds a {type(restored.module).__name__} "
                          f"({restored.config.system}), which cannot measure lip sync; use a "
                          "SyncNet v2 or Wav2Lip expert workdir, syncnet_v2.model or "
                          "lipsync_expert.pth")
    return build(restored, **kwargs)


def _published_network(path: Path, **kwargs: Any) -> SyncNetwork:
    """SyncNet v2 from `syncnet_v2.model`; any other published sync network (Wav2Lip's
    lipsync_expert.pth) through the `sync_network` hook of the class its converted config
    names, as its converted workdir would be."""
    from lipjax.convert.syncnet import SYNCNET_V2, syncnet_kind, syncnet_v2_variables
    from lipjax.convert.torch_io import read_state_dict

    state = read_state_dict(path)
    if syncnet_kind(state) == SYNCNET_V2:
        return SyncNetV2Sync(syncnet_v2_variables(state), **kwargs)
    from lipjax.convert.wav2lip import load_syncnet_color
    from lipjax.training.system import RESTORABLE, system_class
    from lipjax.training.workdir import RestoredGenerator

    config, variables = load_syncnet_color(path)
    cls = system_class(config, require=RESTORABLE)
    restored = RestoredGenerator(config=config, system_class=cls,
                                 module=cls.generator_from_config(config),
                                 variables=jax.device_put(variables), step=0)
    return _restored_network(restored, os.fspath(path), **kwargs)
