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
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from lipjax.audio import MelConfig, check_waveform, mel_spectrogram, mel_windows
from lipjax.errors import ConfigError, InputError
from lipjax.lipsync.faces import FaceBoxOptions

__all__ = ["FaceEditor", "JittedFaceEditor", "load_face_editor"]


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


class JittedFaceEditor:
    """What the DCK and Wav2Lip editors share: the audio front end, one compiled function per
    batch size, and crops / mel windows checked and zero-padded to that batch size.

    Subclasses implement `_apply(variables, crops, mel) -> tuple of [n, ...] arrays` (traced
    once per batch size) and `edit_batch` from `_run`.

    Args:
      variables: the model's flax variables.
      image_size: side of the square crops it edits.
      face_boxes: the face-box conventions it was trained with.
      mel_config: the mel spectrogram its audio encoder reads (Wav2Lip's by default).
      mel_window: mel frames per video frame (16: 0.2 s).
      mel_center: centre each window on its frame instead of starting it there.
    """

    def __init__(self, variables: Any, *, image_size: int, face_boxes: FaceBoxOptions,
                 mel_config: MelConfig | None = None, mel_window: int = 16,
                 mel_center: bool = False):
        self.variables = variables
        self.image_size = int(image_size)
        self.face_boxes = face_boxes
        self.mel_config = mel_config if mel_config is not None else MelConfig()
        self.mel_window = int(mel_window)
        self.mel_center = bool(mel_center)
        self.traces = 0  # compilations so far (a whole video compiles once per batch size)
        self._compiled: dict[int, Any] = {}

        def apply(variables: Any, crops: jax.Array, mel: jax.Array) -> tuple[jax.Array, ...]:
            self.traces += 1
            return self._apply(variables, crops, mel)

        self._jitted = jax.jit(apply)

    def _apply(self, variables: Any, crops: jax.Array, mel: jax.Array) -> tuple[jax.Array, ...]:
        raise NotImplementedError

    @property
    def sample_rate(self) -> int:
        """The audio rate of its mel spectrogram."""
        return self.mel_config.sample_rate

    def compile(self, batch_size: int) -> float:
        """Compiles for `batch_size` crops ahead of time; returns the seconds spent (0 if it
        was compiled before)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if batch_size in self._compiled:
            return 0.0
        size, cfg = self.image_size, self.mel_config
        start = time.perf_counter()
        self._compiled[batch_size] = self._jitted.lower(
            self.variables,
            jax.ShapeDtypeStruct((batch_size, size, size, 3), jnp.float32),
            jax.ShapeDtypeStruct((batch_size, cfg.num_mels, self.mel_window), jnp.float32),
        ).compile()
        return time.perf_counter() - start

    def _run(self, crops: np.ndarray, mel: np.ndarray, batch_size: int) -> tuple[np.ndarray, ...]:
        """`_apply`'s outputs for up to `batch_size` crops, zero-padded to `batch_size`."""
        crops = np.asarray(crops, np.float32)
        mel = np.asarray(mel, np.float32)
        size, count = self.image_size, len(crops)
        want_mel = (self.mel_config.num_mels, self.mel_window)
        if crops.shape[1:] != (size, size, 3) or mel.shape != (count, *want_mel):
            raise InputError(
                f"need crops [n, {size}, {size}, 3] and mel [n, {want_mel[0]}, {want_mel[1]}], "
                f"got {crops.shape} and {mel.shape}")
        if not 1 <= count <= batch_size:
            raise InputError(f"need 1 <= n <= batch_size = {batch_size} crops, got {count}")
        if not (np.all(np.isfinite(crops)) and np.all(np.isfinite(mel))):
            raise InputError("face crops and mel windows must be finite (no NaN or inf)")
        self.compile(batch_size)
        pad = batch_size - count
        if pad:
            crops = np.concatenate([crops, np.zeros((pad, *crops.shape[1:]), np.float32)])
            mel = np.concatenate([mel, np.zeros((pad, *mel.shape[1:]), np.float32)])
        outputs = self._compiled[batch_size](self.variables, crops, mel)
        return tuple(np.asarray(x)[:count] for x in outputs)

    def edit_batch(self, crops: np.ndarray, mel: np.ndarray, *, batch_size: int) -> np.ndarray:
        """float32 RGB `[n, S, S, 3]` in [0, 1] (n <= batch_size) -> the edited crops."""
        return self._run(crops, mel, batch_size)[0]

    def __call__(self, crops: np.ndarray, mel: np.ndarray, *, batch_size: int = 16,
                 progress: bool = False) -> np.ndarray:
        """Edits any number of face crops, `batch_size` at a time: `[N, S, S, 3]` -> same."""
        crops = np.asarray(crops, np.float32)
        if len(crops) != len(mel):
            raise InputError(f"{len(crops)} crops but {len(mel)} mel windows")
        parts = []
        for begin in tqdm(range(0, len(crops), batch_size), desc="generate", disable=not progress):
            stop = begin + batch_size
            parts.append(self.edit_batch(crops[begin:stop], mel[begin:stop], batch_size=batch_size))
        return np.concatenate(parts) if parts else np.zeros_like(crops)

    def _mel(self, wav: np.ndarray) -> np.ndarray:
        cfg = self.mel_config
        wav = check_waveform(wav, source="driving audio")
        if len(wav) < cfg.win_length:  # one STFT window (50 ms) can still cover a video frame
            wav = np.pad(wav, (0, cfg.win_length - len(wav)))
        return mel_spectrogram(wav, cfg)

    def mel_windows(self, wav: np.ndarray, num_frames: int, *, fps: float) -> np.ndarray:
        """Per-video-frame mel windows `[num_frames, num_mels, mel_window]` of a waveform at
        `sample_rate` (`lipjax.audio.mel_windows`: windows past the end repeat the last frame)."""
        return mel_windows(self._mel(wav), num_frames, fps=fps, window=self.mel_window,
                           mel_fps=self.mel_config.frames_per_second, center=self.mel_center)


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
