"""`Wav2LipFaceEditor`: Wav2Lip's generator behind the lip-sync pipeline (`lipjax talk`), with
the conventions of Wav2Lip's own `inference.py` (Prajwal et al., ACM MM 2020):

* crops are 96x96; the model sees them in OpenCV's BGR order (the pipeline works in RGB, so the
  channels are reversed on the way in and out), `pixel / 255`;
* its 6-channel input is the crop with its lower half (rows 48..95) zeroed and the crop itself
  as the reference (`lipjax.wav2lip.generator_input`);
* face boxes: Wav2Lip's `--pads 0 10 0 0` and its forward 5-frame smoothing
  (`lipjax.lipsync.faces`);
* mel windows of 16 frames start at `int(80 t / fps)`; a window that would run past the end of
  the audio is the last 16 mel frames (Wav2Lip stops at that window; lipjax's output length
  follows the audio, `floor(seconds * fps)` frames, so the last one or two frames reuse it);
* the whole crop is pasted back, its edge feathered over `paste_feather` pixels (0 is Wav2Lip's
  hard paste). Wav2Lip has no blending mask, so unlike DCK the box is resampled twice.

    editor = Wav2LipFaceEditor.from_torch_checkpoint("wav2lip_gan.pth")
    lipjax.talk(editor, "face.mp4", "speech.wav", "out.mp4")
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lipjax.audio import MelConfig
from lipjax.errors import InputError
from lipjax.lipsync.editor import JittedFaceEditor
from lipjax.lipsync.faces import FaceBoxOptions
from lipjax.training.workdir import RestoredGenerator
from lipjax.wav2lip.model import FACE_SIZE, MEL_WINDOW, Wav2LipGenerator, generator_input

__all__ = ["Wav2LipFaceEditor", "WAV2LIP_FACE_BOXES", "wav2lip_mel_windows"]

# Wav2Lip's inference defaults: --pads 0 10 0 0 (top bottom left right) and its smoothing.
WAV2LIP_FACE_BOXES = FaceBoxOptions(pads=(0, 10, 0, 0), smoothing="forward", smoothing_window=5)
DEFAULT_PASTE_FEATHER = 4  # pixels


def wav2lip_mel_windows(mel: np.ndarray, num_frames: int, *, fps: float,
                        window: int = MEL_WINDOW, mel_fps: float = 80.0) -> np.ndarray:
    """Wav2Lip's inference windows: `mel[start : start + window]` with `start = int(mel_fps t /
    fps)`, the last `window` mel frames where that would run past the end.

    Args:
      mel: `[M, num_mels]` time-major spectrogram (`lipjax.audio.mel_spectrogram`); audio
        shorter than one window (0.2 s) repeats its last mel frame to fill it.
      num_frames: video frames T.

    Returns:
      float32 `[T, num_mels, window]`.
    """
    mel = np.asarray(mel, np.float32)
    if mel.ndim != 2 or len(mel) == 0:
        raise InputError(f"need a time-major spectrogram [M, num_mels], got {mel.shape}")
    if len(mel) < window:
        mel = np.pad(mel, ((0, window - len(mel)), (0, 0)), mode="edge")
    starts = np.floor(mel_fps * np.arange(num_frames) / fps).astype(np.int64)
    starts = np.minimum(starts, len(mel) - window)
    index = starts[:, None] + np.arange(window)[None, :]
    return np.transpose(mel[index], (0, 2, 1))


class Wav2LipFaceEditor(JittedFaceEditor):
    """Wav2Lip's generator as a `lipjax.lipsync.FaceEditor` (see the module docstring).

    Args:
      variables: `Wav2LipGenerator` variables (`lipjax.convert.load_wav2lip`).
      config: the workdir's config (only `config.model`, BatchNorm settings, is read).
      paste_feather: pixels over which the pasted crop fades into the frame at the box edge.
    """

    def __init__(self, variables: Any, config: ml_collections.ConfigDict | None = None, *,
                 paste_feather: int = DEFAULT_PASTE_FEATHER):
        from lipjax.wav2lip.system import model_config

        model = model_config(config) if config is not None else None
        self.model = Wav2LipGenerator(model) if model is not None else Wav2LipGenerator()
        if paste_feather < 0:
            raise InputError(f"paste_feather must be >= 0 pixels, got {paste_feather}")
        self.paste_feather = int(paste_feather)
        super().__init__(variables, image_size=FACE_SIZE, face_boxes=WAV2LIP_FACE_BOXES,
                         mel_config=MelConfig(), mel_window=MEL_WINDOW)

    def _apply(self, variables: Any, crops: jax.Array, mel: jax.Array) -> tuple[jax.Array, ...]:
        bgr = crops[..., ::-1]
        out = self.model.apply(variables, generator_input(bgr, bgr), mel, train=False)
        return (jnp.asarray(out)[..., ::-1],)

    @classmethod
    def from_torch_checkpoint(cls, path: str | os.PathLike, **kwargs: Any
                              ) -> "Wav2LipFaceEditor":
        """From Wav2Lip's published `wav2lip.pth` / `wav2lip_gan.pth` (converted in memory)."""
        from lipjax.convert.wav2lip import load_wav2lip

        config, variables = load_wav2lip(path)
        return cls(jax.device_put(variables), config, **kwargs)

    @classmethod
    def from_restored(cls, restored: RestoredGenerator, **kwargs: Any) -> "Wav2LipFaceEditor":
        """From a converted (or trained) Wav2Lip workdir."""
        return cls(restored.variables, restored.config, **kwargs)

    def mel_windows(self, wav: np.ndarray, num_frames: int, *, fps: float) -> np.ndarray:
        """Wav2Lip's windows (`wav2lip_mel_windows`) of a 16 kHz waveform."""
        return wav2lip_mel_windows(self._mel(wav), num_frames, fps=fps, window=self.mel_window,
                                   mel_fps=self.mel_config.frames_per_second)
