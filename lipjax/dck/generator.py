"""`TalkingFaceGenerator`: a trained DCK generator with the audio front end it was trained on,
jitted for fixed-size batches of face crops (what `lipjax.lipsync.talk` runs per video).

    generator = TalkingFaceGenerator.from_checkpoint("runs/dck")
    edited = generator(face_crops, generator.mel_windows(wav, len(face_crops), fps=25.0))
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from lipjax.audio import MelConfig
from lipjax.dck.model import DCKConfig, DCKGenerator
from lipjax.dck.system import mel_config
from lipjax.errors import ConfigError
from lipjax.training.system import system_class
from lipjax.lipsync.editor import JittedFaceEditor
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


class TalkingFaceGenerator(JittedFaceEditor):
    """DCK generator variables + the audio front end it was trained with, jitted for batches
    (a `lipjax.lipsync.FaceEditor` with a blending mask: `edit_layers`).

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
        super().__init__(variables, image_size=self.model_config.image_size,
                         face_boxes=DCK_FACE_BOXES, mel_config=mel_config,
                         mel_window=mel_window, mel_center=mel_center)

    def _apply(self, variables: Any, crops: jax.Array, mel: jax.Array) -> tuple[jax.Array, ...]:
        out = self.model.apply(variables, crops, mel, train=False)
        return out.frame, out.motion, out.alpha

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

    def edit_layers(self, crops: np.ndarray, mel: np.ndarray, *, batch_size: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The model's motion image `[n, S, S, 3]` and blending mask `[n, S, S, 1]` (all ones
        for the without-blending ablation), for compositing at the frame's resolution."""
        _, motion, alpha = self._run(crops, mel, batch_size)
        return motion, alpha
