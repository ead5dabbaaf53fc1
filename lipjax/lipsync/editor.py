"""`FaceEditor`: what the lip-sync pipeline needs from a model, and `load_face_editor`, which
finds the right one for a checkpoint.

Two models edit faces today: the DCK talking face (`lipjax.dck.TalkingFaceGenerator`, from a
DCK workdir) and Wav2Lip (`lipjax.wav2lip.Wav2LipFaceEditor`, from a converted workdir or a
published `wav2lip.pth` / `wav2lip_gan.pth`). The pipeline hands an editor RGB face crops in
[0, 1] at its size and one audio window per frame; each editor applies its own conventions
inside (Wav2Lip: BGR, lower half masked, the frame itself as reference).

A system supports `lipjax talk` by giving its class a classmethod `face_editor(restored)` that
builds an editor from a `lipjax.training.workdir.RestoredGenerator`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lipjax.errors import ConfigError, InputError
from lipjax.lipsync.faces import FaceBoxOptions

__all__ = ["FaceEditor", "load_face_editor"]


@runtime_checkable
class FaceEditor(Protocol):
    """A jitted face-crop editor driven by audio.

    Attributes:
      image_size: side S of the square crops it edits.
      sample_rate: the audio rate its windows are computed at.
      face_boxes: the face-box options it was trained with (the pipeline's defaults).
    """

    image_size: int
    sample_rate: int
    face_boxes: FaceBoxOptions

    def mel_windows(self, wav: np.ndarray, num_frames: int, *, fps: float) -> np.ndarray:
        """One audio window per output frame, `[num_frames, ...]`."""

    def compile(self, batch_size: int) -> float:
        """Compiles for `batch_size` crops; returns the seconds spent (0 if done before)."""

    def edit_batch(self, crops: np.ndarray, mel: np.ndarray, *, batch_size: int) -> np.ndarray:
        """float32 RGB `[n, S, S, 3]` in [0, 1] (n <= batch_size) -> the edited crops."""


def load_face_editor(checkpoint: Any, **kwargs: Any) -> FaceEditor:
    """The editor for `checkpoint`: a `FaceEditor` (returned as is), a workdir whose system has
    a `face_editor` classmethod (DCK, Wav2Lip), or a Wav2Lip PyTorch file (`.pth`, converted in
    memory).

    Raises:
      InputError: no such file or folder. CheckpointError / ConversionError: unreadable.
      ConfigError: the workdir's model cannot lip-sync a video (e.g. a ParaLip workdir).
    """
    if isinstance(checkpoint, FaceEditor):
        return checkpoint
    path = Path(checkpoint)
    if path.is_file():
        from lipjax.wav2lip.generator import Wav2LipFaceEditor

        return Wav2LipFaceEditor.from_torch_checkpoint(path, **kwargs)
    if not path.is_dir():
        raise InputError(f"--checkpoint {os.fspath(path)!r} is neither a workdir nor a Wav2Lip "
                         ".pth file")
    from lipjax.training.workdir import restore_generator

    restored = restore_generator(path)
    build = getattr(restored.system_class, "face_editor", None)
    if build is None:
        raise ConfigError(
            f"{os.fspath(path)!r} holds a {type(restored.module).__name__} model "
            f"({restored.config.system}), which cannot lip-sync a video; `talk` needs a DCK or "
            "Wav2Lip workdir, or a Wav2Lip .pth file")
    return build(restored, **kwargs)
