"""Per-token durations (video frames) of a GRID symbol sequence, shared by the synthetic corpora.

`sample_durations` draws a speaker's timing of a tokenised sentence; `fit_durations` adjusts a
timing to an exact clip length (the talking-face pairs share one length).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lipjax.data.synthetic.mouth import SOUND_CLASSES
from lipjax.errors import ConfigError, InputError
from lipjax.text import SIL

__all__ = ["BASE_FRAMES", "sample_durations", "fit_durations"]

# Mean frames per token at speaking rate 1 by sound class (vowels carry the syllable nucleus).
BASE_FRAMES: dict[str, float] = {
    "vowel": 3.4,
    "fricative": 2.6,
    "plosive": 2.2,
    "nasal": 2.4,
    "approximant": 2.2,
    "silence": 1.0,  # the space between words; leading/trailing silence is drawn separately
}


def sample_durations(
    symbols: Sequence[str],
    rng: np.random.Generator,
    *,
    speaking_rate: float,
    jitter: float,
    silence_frames: tuple[int, int],
    base_frames: dict[str, float] | None = None,
) -> np.ndarray:
    """Integer frames per token.

    `<sil>` tokens get a uniform number of frames in `silence_frames`; every other token gets
    ``base_frames[class] / speaking_rate`` times log-normal noise (std `jitter`), rounded, >= 1.

    Returns:
      int32 `[S]`.
    """
    base_frames = BASE_FRAMES if base_frames is None else base_frames
    durations = np.empty(len(symbols), dtype=np.int32)
    for i, symbol in enumerate(symbols):
        if symbol == SIL:
            durations[i] = rng.integers(silence_frames[0], silence_frames[1] + 1)
        else:
            mean = base_frames[SOUND_CLASSES[symbol]] / speaking_rate
            durations[i] = max(1, int(round(mean * np.exp(rng.normal(0.0, jitter)))))
    return durations


def fit_durations(symbols: Sequence[str], durations: np.ndarray, num_frames: int) -> np.ndarray:
    """Durations changed to sum to exactly `num_frames` (the last symbol must be `<sil>`).

    Too short: the trailing silence grows. Too long: the longest tokens shrink one frame at a
    time (letters and silences keep >= 1 frame, spaces may reach 0).

    Returns:
      int32 `[S]` summing to `num_frames`.

    Raises:
      ConfigError: when even the shortest durations do not fit into `num_frames`.
    """
    durations = np.asarray(durations, dtype=np.int32).copy()
    if len(symbols) != durations.shape[0] or symbols[-1] != SIL:
        raise InputError("fit_durations needs one duration per symbol and a trailing '<sil>'")
    minimum = np.asarray([0 if s == " " else 1 for s in symbols], dtype=np.int32)
    if minimum.sum() > num_frames:
        raise ConfigError(
            f"a sentence of {len(symbols)} symbols needs >= {minimum.sum()} frames but clips have "
            f"{num_frames}; raise max_frames or lower num_words"
        )
    while durations.sum() > num_frames:
        slack = durations - minimum
        durations[int(np.argmax(slack))] -= 1  # ties: the earliest, deterministic
    durations[-1] += num_frames - durations.sum()
    return durations
