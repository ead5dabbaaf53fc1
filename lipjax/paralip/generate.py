"""High-level generation: `generate_lips(checkpoint, text, identity_image)` -> lip video frames.

Bucketed and jitted: token sequences are padded to the smallest of `token_buckets` and videos to
the smallest of `frame_buckets` that fits the predicted (or given) durations, so different texts
of the same bucket reuse one compiled function. Durations are predicted first (a small jitted
function of the tokens), which fixes the frame bucket before the decoder runs.

The model runs with `mask_padding_in_ffn` (same parameters): the bucket padding then changes
nothing, and a sentence's frames equal those of the official model run on that sentence alone.
The text is read as the config's vocabulary says (`lipjax.text.get_vocabulary`): lipjax's own
vocabularies add `<sil>` at both ends, as in their training data; a published model's token list
(an imported official checkpoint) takes the space-separated tokens alone.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import jax
import ml_collections
import numpy as np
from jax.typing import ArrayLike

from lipjax.errors import ConfigError, InputError
from lipjax.paralip.model import ParaLip, durations_from_log, to_unit_range
from lipjax.paralip.system import model_config
from lipjax.text import get_vocabulary
from lipjax.training.workdir import restore_generator

__all__ = ["LipGenerator", "generate_lips", "DEFAULT_TOKEN_BUCKETS", "DEFAULT_FRAME_BUCKETS"]

DEFAULT_TOKEN_BUCKETS = (16, 32, 64, 128, 256)
DEFAULT_FRAME_BUCKETS = (32, 64, 128, 256, 512, 1024)


def _smallest(buckets: Sequence[int], size: int, what: str) -> int:
    for b in sorted(buckets):
        if size <= b:
            return b
    raise InputError(f"{what} of {size} exceeds the largest bucket {max(buckets)}; pass larger "
                     f"buckets to LipGenerator or split the text")


class LipGenerator:
    """ParaLip inference with fixed buckets and one compiled function per bucket.

    Args:
      config: the training config (`config.model`, `config.data.vocabulary`, `config.data.fps`).
      variables: the generator's flax variables (`params` and `batch_stats`).
      token_buckets, frame_buckets: padded sizes the jitted functions see.
    """

    def __init__(self, config: ml_collections.ConfigDict, variables: Any, *,
                 token_buckets: Sequence[int] = DEFAULT_TOKEN_BUCKETS,
                 frame_buckets: Sequence[int] = DEFAULT_FRAME_BUCKETS):
        self.config = config
        self.model = ParaLip(dataclasses.replace(model_config(config), mask_padding_in_ffn=True))
        self.variables = variables
        self.vocabulary = get_vocabulary(config.data.get("vocabulary", "grid_chars"))
        self.fps = float(config.data.get("fps", 25.0))
        self.token_buckets = tuple(token_buckets)
        self.frame_buckets = tuple(frame_buckets)
        self.traces = 0  # compilations so far (tests check that a bucket compiles once)

        def predict(variables, tokens):
            self.traces += 1
            log_d = self.model.apply(
                variables, tokens, method=lambda m, t: m.duration_predictor(
                    m.encoder(t, train=False), t != 0, train=False))
            return durations_from_log(log_d, tokens != 0)

        def decode(variables, tokens, identity, durations, *, max_frames):
            self.traces += 1
            out = self.model.apply(variables, tokens, identity, durations,
                                   max_frames=max_frames, train=False)
            return to_unit_range(out.frames), out.frame_mask

        self._predict = jax.jit(predict)
        self._decode = jax.jit(decode, static_argnames=("max_frames",))

    @classmethod
    def from_checkpoint(cls, workdir: str | os.PathLike, **kwargs) -> "LipGenerator":
        """Loads the generator of a workdir's latest checkpoint (no dataset, discriminator or
        optimiser state is read).

        Raises:
          CheckpointError: not a workdir or no checkpoint. ConfigError: the workdir's model is
            not a ParaLip generator.
        """
        restored = restore_generator(workdir)
        if not isinstance(restored.module, ParaLip):
            raise ConfigError(
                f"{os.fspath(workdir)!r} holds a {type(restored.module).__name__} model "
                f"({restored.config.system}), not ParaLip; `lip` needs a ParaLip workdir")
        return cls(restored.config, restored.variables, **kwargs)

    def tokenize(self, text: str | Sequence[str]) -> np.ndarray:
        """Text (characters) or phonemes -> the ids the model reads (`<sil>` at both ends for
        lipjax's vocabularies, as in training; the bare tokens for a published token list).

        Raises InputError naming every symbol outside the vocabulary."""
        return self.vocabulary.encode_sentence(text)

    def prepare_identity(self, identity: ArrayLike) -> np.ndarray:
        """An identity image as float32 `[H, W, 3]` in [0, 1] at the model's size."""
        image = np.asarray(identity)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise InputError(f"identity image must be [H, W, 3] RGB, got shape {image.shape}")
        image = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else \
            image.astype(np.float32)
        if image.min() < 0 or image.max() > 1:
            raise InputError("identity image must be uint8 or float in [0, 1]")
        cfg = self.model.config
        if image.shape[:2] != (cfg.image_height, cfg.image_width):
            import cv2

            image = cv2.resize(image, (cfg.image_width, cfg.image_height),
                               interpolation=cv2.INTER_AREA)
        return image

    def predict_durations(self, tokens: np.ndarray) -> np.ndarray:
        """Predicted frames per token, `[S]` int32."""
        s_bucket = _smallest(self.token_buckets, len(tokens), "text length")
        padded = np.zeros((1, s_bucket), np.int32)
        padded[0, :len(tokens)] = tokens
        return np.asarray(self._predict(self.variables, padded))[0, :len(tokens)]

    def __call__(self, text: str | Sequence[str], identity: ArrayLike, *,
                 durations: ArrayLike | None = None) -> np.ndarray:
        """Generates float32 frames `[T, H, W, 3]` in [0, 1].

        Args:
          text: a sentence (GRID characters) or a phoneme string/list (TCD-TIMIT model).
          identity: the identity lip image, uint8 or float [0, 1], `[H, W, 3]`.
          durations: optional frames per token of `tokenize(text)` (lipjax vocabularies: the two
            `<sil>` tokens included); None = predicted.
        """
        tokens = self.tokenize(text)
        if durations is None:
            durations = self.predict_durations(tokens)
        else:
            durations = np.asarray(durations, np.int32)
            if durations.shape != tokens.shape or np.any(durations < 0):
                raise InputError(f"durations must be {len(tokens)} non-negative integers (one per "
                                 f"token of tokenize(text)), got {durations.shape}")
        total = int(durations.sum())
        if total == 0:
            raise InputError("durations sum to zero frames")
        s_bucket = _smallest(self.token_buckets, len(tokens), "text length")
        t_bucket = _smallest(self.frame_buckets, total, "video length (frames)")
        tok = np.zeros((1, s_bucket), np.int32)
        tok[0, :len(tokens)] = tokens
        dur = np.zeros((1, s_bucket), np.int32)
        dur[0, :len(tokens)] = durations
        identity = self.prepare_identity(identity)[None]
        frames, _ = self._decode(self.variables, tok, identity, dur, max_frames=t_bucket)
        return np.asarray(frames)[0, :total]


def generate_lips(checkpoint_or_generator: str | os.PathLike | LipGenerator, text: str,
                  identity_image: ArrayLike, *, durations: ArrayLike | None = None) -> np.ndarray:
    """Text + one identity lip image -> float32 lip frames `[T, 80, 160, 3]` in [0, 1].

    `checkpoint_or_generator` is a training workdir (its latest checkpoint is loaded; keep a
    `LipGenerator` around to generate many videos without reloading) or a `LipGenerator`.
    Characters outside the model's vocabulary raise an InputError that names them.
    """
    generator = (checkpoint_or_generator if isinstance(checkpoint_or_generator, LipGenerator)
                 else LipGenerator.from_checkpoint(checkpoint_or_generator))
    return generator(text, identity_image, durations=durations)
