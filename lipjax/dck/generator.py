"""`TalkingFaceGenerator`: a trained DCK generator with the audio front end it was trained on,
jitted for fixed-size batches of face crops (what `lipjax.lipsync.talk` runs per video).

    generator = TalkingFaceGenerator.from_checkpoint("runs/dck")
    edited = generator(face_crops, generator.mel_windows(wav, len(face_crops), fps=25.0))
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from lipjax.audio import MelConfig, check_waveform, mel_spectrogram, mel_windows
from lipjax.dck.model import DCKConfig, DCKGenerator
from lipjax.dck.system import mel_config
from lipjax.errors import ConfigError, InputError
from lipjax.training.system import system_class
from lipjax.lipsync.faces import FaceBoxOptions
from lipjax.training.workdir import RestoredGenerator, restore_generator

__all__ = ["TalkingFaceGenerator", "dck_model_config", "DCK_FACE_BOXES"]

# The Haar box ends just below the mouth: 10% more at the bottom puts the chin in the crop.
DCK_FACE_BOXES = FaceBoxOptions(padding=(0.0, 0.0, 0.0, 0.1))


def dck_model_config(config: DCKConfig | ml_collections.ConfigDict) -> DCKConfig:
    """A `DCKConfig` from itself or from a training config whose system trains a DCK model.

    A training config is turned into the model by its own system
    (`system_class(config).generator_from_config`), so the conversion lives in one place.
    """
    if isinstance(config, DCKConfig):
        return config
    if isinstance(config, ml_collections.ConfigDict) and "system" in config:
        generator = system_class(config).generator_from_config(config)
        if not isinstance(generator, DCKGenerator):
            raise ConfigError(
                f"config.system {config.system!r} does not train a DCK talking-face generator "
                f"(its generator is a {type(generator).__name__}); pass a DCK checkpoint")
        return generator.config
    raise ConfigError(
        f"expected a DCKConfig or a training ConfigDict with a `system` field, got "
        f"{type(config).__name__}")


class TalkingFaceGenerator:
    """DCK generator variables + the audio front end it was trained with, jitted for batches.

    Args:
      config: a `DCKConfig`, or the training config of a DCK run (see `dck_model_config`).
      variables: the generator's flax variables (`params` and `batch_stats`).
      mel_config: the mel spectrogram the audio encoder reads (Wav2Lip's by default).
      mel_window: mel frames per video frame (16 in Wav2Lip: 0.2 s).
      mel_center: centre each window on its frame instead of starting it there (training must
        have used the same convention; `lipjax.audio.mel_windows`).
    """

    def __init__(self, config: DCKConfig | ml_collections.ConfigDict, variables: Any, *,
                 mel_config: MelConfig | None = None, mel_window: int = 16,
                 mel_center: bool = False):
        # Inference runs outside pmap and BatchNorm uses running averages: no named axis.
        self.model_config = dataclasses.replace(dck_model_config(config), bn_axis_name=None)
        self.model = DCKGenerator(self.model_config)
        self.variables = variables
        self.mel_config = mel_config if mel_config is not None else MelConfig()
        self.mel_window = int(mel_window)
        self.mel_center = bool(mel_center)
        self.face_boxes = DCK_FACE_BOXES
        self.traces = 0  # compilations so far (a whole video compiles once per batch size)
        self._compiled: dict[int, Any] = {}

        def edit(variables: Any, frames: jax.Array, mel: jax.Array) -> tuple[jax.Array, ...]:
            self.traces += 1
            out = self.model.apply(variables, frames, mel, train=False)
            return out.frame, out.motion, out.alpha

        self._edit = jax.jit(edit)

    @classmethod
    def from_checkpoint(cls, workdir: str | os.PathLike, **kwargs: Any) -> "TalkingFaceGenerator":
        """Loads the latest checkpoint of a DCK training workdir (needs no dataset).

        The audio front end (`config.data.mel`, `mel_window`, `center_mel_windows`) is the one
        the run trained with unless given in `kwargs`.
        """
        return cls.from_restored(restore_generator(workdir), **kwargs)

    @classmethod
    def from_restored(cls, restored: RestoredGenerator, **kwargs: Any) -> "TalkingFaceGenerator":
        """From a restored DCK workdir (`lipjax.training.workdir.restore_generator`)."""
        config = restored.config
        kwargs.setdefault("mel_config", mel_config(config))
        kwargs.setdefault("mel_window", int(config.data.get("mel_window", 16)))
        kwargs.setdefault("mel_center", bool(config.data.get("center_mel_windows", False)))
        return cls(dck_model_config(config), restored.variables, **kwargs)

    @property
    def image_size(self) -> int:
        """Side of the square face crops the generator edits."""
        return self.model_config.image_size

    @property
    def sample_rate(self) -> int:
        """The audio rate of its mel spectrogram."""
        return self.mel_config.sample_rate

    def compile(self, batch_size: int) -> float:
        """Compiles the batch function for `batch_size` ahead of time; returns the seconds spent
        (0 if it was compiled before)."""
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        if batch_size in self._compiled:
            return 0.0
        size, cfg = self.image_size, self.mel_config
        start = time.perf_counter()
        self._compiled[batch_size] = self._edit.lower(
            self.variables,
            jax.ShapeDtypeStruct((batch_size, size, size, 3), jnp.float32),
            jax.ShapeDtypeStruct((batch_size, cfg.num_mels, self.mel_window), jnp.float32),
        ).compile()
        return time.perf_counter() - start

    def _run(self, crops: np.ndarray, mel: np.ndarray, batch_size: int) -> tuple[np.ndarray, ...]:
        """(frame, motion, alpha) of up to `batch_size` crops, zero-padded to `batch_size`."""
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
        """Edits up to `batch_size` face crops (zero-padded to exactly `batch_size`).

        Args:
          crops: float32 `[n, S, S, 3]` in [0, 1], n <= batch_size, S = `image_size`.
          mel: float32 `[n, num_mels, mel_window]` mel windows of the same frames.

        Returns:
          float32 `[n, S, S, 3]` in [0, 1]: the blended crops.
        """
        return self._run(crops, mel, batch_size)[0]

    def edit_layers(self, crops: np.ndarray, mel: np.ndarray, *, batch_size: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The model's motion image `[n, S, S, 3]` and blending mask `[n, S, S, 1]` (all ones
        for the without-blending ablation), for compositing at the frame's resolution."""
        _, motion, alpha = self._run(crops, mel, batch_size)
        return motion, alpha

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

    def mel_windows(self, wav: np.ndarray, num_frames: int, *, fps: float) -> np.ndarray:
        """Per-video-frame mel windows `[num_frames, num_mels, mel_window]` of a waveform at
        `mel_config.sample_rate`. A waveform shorter than one STFT window is zero-padded (it
        can still cover a video frame: 40 ms at 25 fps vs a 50 ms window)."""
        cfg = self.mel_config
        wav = check_waveform(wav, source="driving audio")
        if len(wav) < cfg.win_length:
            wav = np.pad(wav, (0, cfg.win_length - len(wav)))
        mel = mel_spectrogram(wav, cfg)
        return mel_windows(mel, num_frames, fps=fps, window=self.mel_window,
                           mel_fps=cfg.frames_per_second, center=self.mel_center)
