"""Settings of the `synthetic_lips` corpus: frame format, splits, `LipsCorpusConfig`, seeding.

Every random draw of the corpus comes from `corpus_rng(config, *key)`, an independent generator
per part (speaker, sentence, split), so an example does not depend on how many others are made.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lipjax.data.synthetic.sentences import num_grid_sentences
from lipjax.errors import ConfigError

__all__ = [
    "FRAME_HEIGHT",
    "FRAME_WIDTH",
    "FPS",
    "SPLITS",
    "LipsCorpusConfig",
    "validate_config",
    "corpus_rng",
]

FRAME_HEIGHT, FRAME_WIDTH, FPS = 80, 160, 25.0  # ParaLip's GRID lip crops, 25 fps
SPLITS = ("train", "test", "test_unseen_speaker")


@dataclasses.dataclass
class LipsCorpusConfig:
    """Size and generation settings of the `synthetic_lips` corpus.

    Attributes:
      num_speakers: speakers in `train` and `test` (ids 0 .. num_speakers - 1).
      train_sentences: training sentences per speaker.
      test_sentences: test sentences per speaker (never among that speaker's training sentences).
      unseen_speakers: extra speakers held out entirely for `test_unseen_speaker` (0 = no split).
      unseen_sentences: sentences per unseen speaker.
      seed: the root seed; the same config gives byte-identical examples.
      speaking_rate: (low, high) range of the per-speaker speaking rate (1 = `BASE_FRAMES`).
      duration_jitter: std of the log-normal per-token duration noise.
      silence_frames: (low, high) inclusive range of the leading and trailing silence, frames.
      mouth_scale: (low, high) range of the per-speaker mouth size (pixels per mouth unit, about
        half the mouth width).
      head_jitter_px: std of the smooth head translation inside the crop, pixels.
      head_jitter_deg: std of the smooth in-plane head rotation, degrees.
      jitter_smoothness: std (frames) of the Gaussian that smooths the head motion.
      coarticulation, smoothing, target_jitter: passed to `mouth_trajectory`.
      supersample: anti-aliasing factor of the renderer.
    """

    num_speakers: int = 4
    train_sentences: int = 24
    test_sentences: int = 6
    unseen_speakers: int = 1
    unseen_sentences: int = 6
    seed: int = 0
    # Timing a text-only duration predictor can learn up to GRID-like noise: per-speaker rates
    # within +-5%, 10% per-token jitter. With (0.8, 1.25), 0.2 and (5, 12) even the ideal
    # text-only predictor is 10.2 frames off per test video (builder config `small_varied_timing`).
    speaking_rate: tuple[float, float] = (0.95, 1.05)
    duration_jitter: float = 0.1
    silence_frames: tuple[int, int] = (6, 9)
    mouth_scale: tuple[float, float] = (42.0, 50.0)
    head_jitter_px: float = 1.2
    head_jitter_deg: float = 2.0
    jitter_smoothness: float = 4.0
    coarticulation: float = 0.8
    smoothing: float = 0.6
    target_jitter: float = 0.04
    supersample: int = 3


def validate_config(config: Any) -> None:
    """Raises ConfigError naming the first bad field of a `LipsCorpusConfig`-like object."""
    counts = ("num_speakers", "train_sentences", "test_sentences", "unseen_speakers",
              "unseen_sentences")
    for field in counts:
        if int(getattr(config, field)) < 0:
            raise ConfigError(f"{field} must be >= 0, got {getattr(config, field)}")
    if config.num_speakers < 1 and config.unseen_speakers < 1:
        raise ConfigError("the corpus needs at least one speaker: set num_speakers >= 1")
    if config.train_sentences + config.test_sentences > num_grid_sentences():
        raise ConfigError(
            f"train_sentences + test_sentences = {config.train_sentences + config.test_sentences} "
            f"exceeds the {num_grid_sentences()} sentences of the GRID grammar"
        )
    for field in ("speaking_rate", "silence_frames", "mouth_scale"):
        low, high = getattr(config, field)
        if not 0 < low <= high:
            raise ConfigError(f"{field} must be a range (low, high) with 0 < low <= high")
    if config.supersample < 1:
        raise ConfigError(f"supersample must be >= 1, got {config.supersample}")


def corpus_rng(config: Any, *key: int) -> np.random.Generator:
    """An independent generator for one part of the corpus, keyed by integers.

    Keys in use: (0, speaker) appearance, (1, speaker, sentence) an example's timing and
    rendering, (2, speaker) the speaker's sentence split.
    """
    return np.random.default_rng(np.random.SeedSequence((int(config.seed), *key)))
