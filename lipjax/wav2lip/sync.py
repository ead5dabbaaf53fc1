"""Wav2Lip's lip-sync expert as a `lipjax.metrics.SyncNetwork`: LSE-D / LSE-C / AV offset
(`lipjax.metrics.lip_sync_error`, `lipjax evaluate-sync --syncnet`) measured with a trained
or imported `SyncNetColor` instead of SyncNet v2.

The expert's own conventions (Prajwal et al., ACM MM 2020; its `color_syncnet_train.py`):

* video: 25 fps face crops resized to 96 x 96, BGR, `pixel / 255`; window i = the lower halves
  of frames i .. i + 4 (`sync_face_input`);
* audio: 16 kHz, Wav2Lip's mel spectrogram (`lipjax.audio.mel_spectrogram`, 80 mel frames per
  second); window i = mel frames `int(80 i / 25)` .. + 16 (0.2 s: the same 5 frames);
* `min(T - 4, windows that fit in the audio)` windows;
* distance: the L2 distance of the two unit embeddings, `pairwise_distance` as for SyncNet v2,
  which is `sqrt(2 - 2 cos)`: a monotone function of the cosine similarity the expert is
  trained on, so the AV offset is the shift of highest similarity. With non-negative unit
  embeddings it lies in [0, sqrt(2)]; 1 - cos would give the same offsets and another scale.

LSE values in this space are not comparable with SyncNet v2's published numbers (another
network, another embedding); they compare videos measured with the same expert. The expert was
trained on Wav2Lip's face crops (`WAV2LIP_FACE_BOXES`: S3FD boxes padded 10 pixels below), not
syncnet_python's wider crop: `face_boxes` names them for a pipeline that cuts crops.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import jax
import numpy as np

from lipjax.audio import MelConfig, mel_spectrogram
from lipjax.errors import AudioError, InputError
from lipjax.face import crop_and_resize
from lipjax.metrics.sync import JittedSyncNetwork, SyncInputs, pairwise_distance
from lipjax.wav2lip.model import FACE_SIZE, MEL_WINDOW, SYNC_FRAMES, SyncNetColor, sync_face_input

__all__ = ["SyncNetColorSync", "expert_crops", "expert_mel_windows", "record_clip", "FPS",
           "SAMPLE_RATE"]

FPS = 25.0
SAMPLE_RATE = 16000
BATCH_SIZE = 20


def expert_crops(crops: np.ndarray) -> np.ndarray:
    """uint8 RGB face crops `[T, H, W, 3]` -> float32 BGR / 255 `[T, 96, 96, 3]` (resized with
    `lipjax.face.crop_and_resize` when needed)."""
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise InputError(f"face crops must be uint8 RGB [T, H, W, 3], got {crops.shape} of "
                         f"{crops.dtype}")
    if crops.shape[1:3] != (FACE_SIZE, FACE_SIZE):
        box = (0, 0, crops.shape[2], crops.shape[1])
        crops = np.stack([crop_and_resize(c, box, (FACE_SIZE, FACE_SIZE)) for c in crops])
    return np.ascontiguousarray(crops[..., ::-1], dtype=np.float32) / np.float32(255.0)


def record_clip(record: Mapping[str, Any], tag: str) -> tuple[np.ndarray, np.ndarray]:
    """Clip `tag` ("a" or "b") of a `synthetic_talking_faces` pair record as the expert reads
    a video: uint8 RGB 96 x 96 crops `[T, 96, 96, 3]` of the record's face boxes (cut as the
    expert's training windows are, `lipjax.data.clip_windows.face_windows`) and the clip's
    float32 audio `[N]` (16 kHz, in sync with the frames).

    Raises:
      BadRecordError: a malformed record.
    """
    from lipjax.data.clip_windows import CLIPS, clip_frame_count
    from lipjax.data.pairs import _array

    if tag not in CLIPS:
        raise InputError(f"tag must be one of {CLIPS}, got {tag!r}")
    count = clip_frame_count(record, SYNC_FRAMES)
    frames, boxes = _array(record, f"frames_{tag}"), _array(record, "face_boxes")
    crops = np.stack([crop_and_resize(frames[t], boxes[t], (FACE_SIZE, FACE_SIZE))
                      for t in range(count)])
    return crops, np.asarray(_array(record, f"audio_{tag}"), np.float32)


def expert_mel_windows(wav: np.ndarray, num_frames: int, *, fps: float = FPS,
                       mel_config: MelConfig = MelConfig()) -> np.ndarray:
    """The expert's audio windows of the first `num_frames` video frames that have one:
    frame t's is mel frames `int(mel_fps t / fps)` .. + 16, for every t whose window ends
    inside the audio.

    Returns:
      float32 `[n, 80, 16]`, n <= num_frames.

    Raises:
      AudioError: the audio is shorter than one window (0.2 s) or not a usable waveform.
    """
    mel = mel_spectrogram(wav, mel_config, min_rms=0.0)                 # [M, 80]
    starts = np.floor(mel_config.frames_per_second * np.arange(num_frames) / fps + 1e-6)
    starts = starts.astype(np.int64)
    starts = starts[starts + MEL_WINDOW <= len(mel)]
    if not len(starts):
        raise AudioError(f"the audio is too short for the lip-sync expert: {len(mel)} mel "
                         f"frames, one window needs {MEL_WINDOW} (0.2 s)")
    index = starts[:, None] + np.arange(MEL_WINDOW)[None, :]
    return np.ascontiguousarray(np.transpose(mel[index], (0, 2, 1)))


class SyncNetColorSync(JittedSyncNetwork):
    """A `SyncNetColor` with its weights as a `lipjax.metrics.SyncNetwork` (conventions: the
    module docstring). The network runs jitted on batches of exactly `batch_size` windows (the
    last one zero-padded), so a video of any length compiles once.

    Args:
      variables: `{"params", "batch_stats"}` of `module` (a trained or converted workdir's).
      module: the `SyncNetColor` they belong to (its width; default the published one).
      batch_size: windows per call (any value gives the same numbers).
    """

    fps = FPS
    sample_rate = SAMPLE_RATE
    crop_size = FACE_SIZE
    distance = staticmethod(pairwise_distance)

    network_name = "SyncNet_color"

    def __init__(self, variables: Mapping[str, Any], *, module: SyncNetColor | None = None,
                 batch_size: int = BATCH_SIZE):
        super().__init__(variables, module=module or SyncNetColor(), batch_size=batch_size)

    def towers(self, variables: Mapping[str, Any], video: jax.Array, audio: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
        """Unit embeddings `([B, D], [B, D])` of the face and mel towers."""
        out = self.module.apply(variables, sync_face_input(video), audio, train=False)
        return out.face, out.audio

    @property
    def face_boxes(self) -> Any:
        """The face crops the expert reads: Wav2Lip's (`WAV2LIP_FACE_BOXES`)."""
        from lipjax.wav2lip.generator import WAV2LIP_FACE_BOXES

        return WAV2LIP_FACE_BOXES

    @classmethod
    def from_torch_checkpoint(cls, path: str | os.PathLike, **kwargs: Any) -> "SyncNetColorSync":
        """From Wav2Lip's published `lipsync_expert.pth` (converted in memory; torch needed)."""
        from lipjax.convert.wav2lip import load_syncnet_color

        _, variables = load_syncnet_color(path)
        return cls(variables, **kwargs)

    def prepare(self, crops: np.ndarray, wav: np.ndarray) -> SyncInputs:
        """uint8 RGB crops `[T, H, W, 3]` + 16 kHz float wav `[N]` -> BGR / 255 crops, the mel
        windows and the window count `min(T - 4, audio windows)`.

        Raises:
          InputError: fewer than 5 frames. AudioError: less than 0.2 s of audio.
        """
        if len(crops) < SYNC_FRAMES:
            raise InputError(f"the video is too short for the lip-sync expert: {len(crops)} "
                             f"frames, a window needs {SYNC_FRAMES}")
        video = expert_crops(crops)
        audio = expert_mel_windows(wav, len(video) - SYNC_FRAMES + 1, fps=self.fps)
        return SyncInputs(video, audio, len(audio))

    def windows(self, inputs: SyncInputs, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 `([n, 5, 96, 96, 3] BGR / 255, [n, 80, 16] mel)` of windows `index`."""
        index = np.asarray(index, np.int64)
        frames = index[:, None] + np.arange(SYNC_FRAMES)[None, :]
        return inputs.video[frames], inputs.audio[index]
