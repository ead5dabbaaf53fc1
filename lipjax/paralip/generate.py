"""High-level generation: `generate_lips(checkpoint, text, identity_image)` -> lip video frames.

Bucketed and jitted: token sequences are padded to the smallest of `token_buckets` and videos to
the smallest of `frame_buckets` that fits the predicted (or given) durations, so different texts
of the same bucket reuse one compiled function. Durations are predicted first (a small jitted
function of the tokens), which fixes the frame bucket before the decoder runs.

Frames are decoded by `lipjax.paralip.fast` (BatchNorm folded, identity skips convolved once
per video, frames in chunks, all-padding chunks skipped): the same frames as `ParaLip.__call__`
to float rounding, in less time (BUILD_NOTES.md, "Performance", has the measurements).

The model runs with `mask_padding_in_ffn` (same parameters): the bucket padding then changes
nothing, and a sentence's frames equal those of the official model run on that sentence alone.
The text is read as the config's vocabulary says (`lipjax.text.get_vocabulary`): lipjax's own
vocabularies add `<sil>` at both ends, as in their training data; a published model's token list
(an imported official checkpoint) takes the space-separated tokens alone.

Inputs are checked before anything runs (`check_identity`, `check_durations`): the identity
image must be RGB, uint8 or float in [0, 1], finite, and have the model's aspect ratio (2:1,
width to height, for 160x80 lip crops); an image of that aspect ratio but another size is
resized (area averaging when shrinking), one of another aspect ratio is refused, since squashing
it would distort the lips: crop it first. Durations are whole numbers of frames per token, each
and their sum at most the largest frame bucket (1024 by default), never cast with a silent
int32 wrap-around.
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
from lipjax.paralip import fast
from lipjax.paralip.model import ParaLip, durations_from_log
from lipjax.paralip.system import model_config
from lipjax.text import get_vocabulary
from lipjax.training.system import RESTORABLE, system_class
from lipjax.training.workdir import read_config, restore_generator

__all__ = ["LipGenerator", "generate_lips", "DEFAULT_TOKEN_BUCKETS", "DEFAULT_FRAME_BUCKETS",
           "check_identity", "check_durations", "paralip_config", "ASPECT_TOLERANCE"]

DEFAULT_TOKEN_BUCKETS = (16, 32, 64, 128, 256)
DEFAULT_FRAME_BUCKETS = (32, 64, 128, 256, 512, 1024)
# Relative difference of width / height from the model's that still counts as the same shape.
ASPECT_TOLERANCE = 0.02


def _smallest(buckets: Sequence[int], size: int, what: str) -> int:
    for b in sorted(buckets):
        if size <= b:
            return b
    raise InputError(f"{what} of {size} exceeds the largest bucket {max(buckets)}; pass larger "
                     f"buckets to LipGenerator or split the text")


def check_identity(identity: ArrayLike, height: int, width: int) -> np.ndarray:
    """An identity lip image as float32 `[height, width, 3]` in [0, 1].

    uint8 images are divided by 255; float images must already be in [0, 1]. An image of the
    model's aspect ratio (within `ASPECT_TOLERANCE`) but another size is resized; any other
    aspect ratio is refused (crop the lips instead of stretching them).

    Raises:
      InputError: not a non-empty `[H, W, 3]` array, another dtype, NaN / inf, values outside
        [0, 1], or another aspect ratio.
    """
    image = np.asarray(identity)
    if image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        raise InputError(f"identity image must be a non-empty [H, W, 3] RGB array, got shape "
                         f"{image.shape}")
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    elif np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
        if not np.all(np.isfinite(image)):
            raise InputError("identity image contains NaN or infinite values; every output "
                             "frame would be NaN. Pass a real image")
        if image.min() < 0 or image.max() > 1:
            raise InputError(f"a float identity image must be in [0, 1], got values in "
                             f"[{image.min():.4g}, {image.max():.4g}]; divide 0..255 images by "
                             "255 or pass them as uint8")
    else:
        raise InputError(f"identity image must be uint8 or float in [0, 1], got dtype "
                         f"{image.dtype}")
    return _resize_keeping_aspect(image, height, width)


def _resize_keeping_aspect(image: np.ndarray, height: int, width: int) -> np.ndarray:
    got_h, got_w = image.shape[:2]
    if (got_h, got_w) == (height, width):
        return image
    want, got = width / height, got_w / got_h
    if abs(got - want) > ASPECT_TOLERANCE * want:
        raise InputError(
            f"identity image is {got_w}x{got_h} (width x height, aspect {got:.2f}), but the "
            f"model reads {width}x{height} lip crops (aspect {want:.2f}); crop a {want:g}:1 "
            "region centred on the lips (e.g. lipjax.face.lip_box_from_face) instead of "
            "letting it be squashed")
    import cv2

    shrink = got_h > height or got_w > width
    return cv2.resize(image, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def check_durations(durations: ArrayLike, num_tokens: int, max_frames: int) -> np.ndarray:
    """Frames per token as int32 `[num_tokens]`, each in `[0, max_frames]`, summing to
    `1..max_frames`.

    Raises:
      InputError: another length, not whole numbers, out of range, or summing to 0.
    """
    values = np.asarray(durations)
    rule = (f"durations must be {num_tokens} whole numbers of frames (one per token of "
            f"tokenize(text), the <sil> tokens at both ends included for lipjax vocabularies), "
            f"each in 0..{max_frames} and summing to 1..{max_frames}")
    if values.shape != (num_tokens,):
        raise InputError(f"{rule}; got shape {values.shape}")
    numeric = np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)
    if not numeric or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise InputError(f"{rule}; got {_shown(values)}")
    wide = values.astype(np.float64)
    if wide.min() < 0 or wide.max() > max_frames or not 1 <= wide.sum() <= max_frames:
        raise InputError(f"{rule}; got values in [{wide.min():.0f}, {wide.max():.0f}] summing "
                         f"to {wide.sum():.0f}")
    return values.astype(np.int32)


def _shown(values: np.ndarray) -> str:
    items = ", ".join(str(v) for v in values.reshape(-1)[:6])
    return f"[{items}{', ...' if values.size > 6 else ''}] (dtype {values.dtype})"


def paralip_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
    """The config of a ParaLip workdir, read and checked without loading any weights.

    Raises:
      CheckpointError: not a workdir. ConfigError: the workdir's model is not ParaLip.
    """
    config = read_config(workdir)
    module = system_class(config, require=RESTORABLE).generator_from_config(config)
    if not isinstance(module, ParaLip):
        raise ConfigError(
            f"{os.fspath(workdir)!r} holds a {type(module).__name__} model ({config.system}), "
            "not ParaLip; `lip` needs a ParaLip workdir (a DCK or Wav2Lip one goes to `talk`)")
    return config


class LipGenerator:
    """ParaLip inference with fixed buckets and one compiled function per bucket.

    Args:
      config: the training config (`config.model`, `config.data.vocabulary`, `config.data.fps`).
      variables: the generator's flax variables (`params` and `batch_stats`).
      token_buckets, frame_buckets: padded sizes the jitted functions see.
      chunk_frames: frames decoded together (`lipjax.paralip.fast`).
      compute_dtype: the video decoder's precision; None = `fast.default_compute_dtype()`
        (float32 on the CPU, bfloat16 on a GPU / TPU).
    """

    def __init__(self, config: ml_collections.ConfigDict, variables: Any, *,
                 token_buckets: Sequence[int] = DEFAULT_TOKEN_BUCKETS,
                 frame_buckets: Sequence[int] = DEFAULT_FRAME_BUCKETS,
                 chunk_frames: int = fast.DEFAULT_CHUNK_FRAMES, compute_dtype: Any = None):
        self.config = config
        self.model = ParaLip(dataclasses.replace(model_config(config), mask_padding_in_ffn=True))
        self.variables = variables
        self.decoder_weights = jax.jit(fast.fold_video_decoder, static_argnums=1)(
            variables, self.model.config)
        dtype = fast.default_compute_dtype() if compute_dtype is None else compute_dtype
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

        def decode(variables, weights, tokens, identity, durations, *, max_frames):
            self.traces += 1
            return fast.generate_frames(self.model, variables, weights, tokens, identity,
                                        durations, max_frames=max_frames,
                                        chunk_frames=chunk_frames, compute_dtype=dtype)

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
        paralip_config(workdir)  # the model's kind, before any weights are read
        restored = restore_generator(workdir)
        return cls(restored.config, restored.variables, **kwargs)

    def tokenize(self, text: str | Sequence[str]) -> np.ndarray:
        """Text (characters) or phonemes -> the ids the model reads (`<sil>` at both ends for
        lipjax's vocabularies, as in training; the bare tokens for a published token list).

        Raises InputError naming every symbol outside the vocabulary."""
        return self.vocabulary.encode_sentence(text)

    def prepare_identity(self, identity: ArrayLike) -> np.ndarray:
        """An identity image as float32 `[H, W, 3]` in [0, 1] at the model's size
        (`check_identity`)."""
        cfg = self.model.config
        return check_identity(identity, cfg.image_height, cfg.image_width)

    def check_durations(self, durations: ArrayLike, tokens: np.ndarray) -> np.ndarray:
        """`durations` for `tokens` as int32, checked (`check_durations`) against the largest
        frame bucket."""
        return check_durations(durations, len(tokens), max(self.frame_buckets))

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
          identity: the identity lip image, uint8 or float [0, 1], `[H, W, 3]`, of the model's
            aspect ratio (`check_identity`).
          durations: optional frames per token of `tokenize(text)` (lipjax vocabularies: the two
            `<sil>` tokens included), checked by `check_durations`; None = predicted.

        Raises:
          InputError: unknown symbols, a bad identity image or bad durations (before the
            model runs).
        """
        tokens = self.tokenize(text)
        s_bucket = _smallest(self.token_buckets, len(tokens), "text length")
        identity = self.prepare_identity(identity)[None]  # checked before anything runs
        if durations is None:
            durations = self.predict_durations(tokens)
            if int(durations.sum()) == 0:
                raise InputError("the model predicts zero frames for this text; pass durations")
        else:
            durations = self.check_durations(durations, tokens)
        total = int(durations.sum())
        t_bucket = _smallest(self.frame_buckets, total, "video length (frames)")
        tok = np.zeros((1, s_bucket), np.int32)
        tok[0, :len(tokens)] = tokens
        dur = np.zeros((1, s_bucket), np.int32)
        dur[0, :len(tokens)] = durations
        frames, _ = self._decode(self.variables, self.decoder_weights, tok, identity, dur,
                                 max_frames=t_bucket)
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
