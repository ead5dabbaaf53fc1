"""`synthetic_lips`: GRID-grammar sentences rendered as 80x160 lip videos with exact timing.

A procedural stand-in for GRID (Cooke et al., 2006) as used by ParaLip (AAAI 2022): each example
is a sentence of the GRID grammar, tokenised at character level with `<sil>` at both ends, where
every token has a known duration in frames, and a 25 fps lip-region video whose mouth follows the
characters through the shared articulatory model (`lipjax.data.synthetic.mouth`). Synthetic
speakers differ in skin and lip colour, skin texture, lighting, mouth size, lip thickness and
speaking rate; the head jitters a little inside the crop. The 20 mouth landmarks of every frame
(dlib points 48-67) come with it, so landmark metrics (LMD) are exact.

Everything is deterministic from `LipsCorpusConfig.seed`: each speaker and each sentence draws from
its own `np.random.SeedSequence((seed, ...))`, so an example does not depend on how many others are
generated. `generate_examples(config)` needs no tensorflow-datasets; the tfds builder
`lipjax.data.builders.synthetic_lips.SyntheticLips` wraps it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
import scipy.ndimage
import tqdm

from lipjax.data.synthetic.mouth import (
    SOUND_CLASSES,
    MouthStyle,
    draw_mouth,
    mouth_landmarks,
    mouth_trajectory,
)
from lipjax.errors import ConfigError, InputError
from lipjax.text import GRID_CHARS, GRID_WORDS, SIL

__all__ = [
    "FRAME_HEIGHT",
    "FRAME_WIDTH",
    "FPS",
    "SPLITS",
    "BASE_FRAMES",
    "LipsCorpusConfig",
    "Speaker",
    "make_speaker",
    "grid_sentence",
    "grid_sentence_id",
    "num_grid_sentences",
    "split_sentences",
    "sample_durations",
    "render_video",
    "make_example",
    "generate_examples",
    "text_only_timing_error",
]

FRAME_HEIGHT, FRAME_WIDTH, FPS = 80, 160, 25.0  # ParaLip's GRID lip crops, 25 fps
SPLITS = ("train", "test", "test_unseen_speaker")

# Mean frames per token at speaking rate 1 by sound class (vowels carry the syllable nucleus).
BASE_FRAMES: dict[str, float] = {
    "vowel": 3.4,
    "fricative": 2.6,
    "plosive": 2.2,
    "nasal": 2.4,
    "approximant": 2.2,
    "silence": 1.0,  # the space between words; leading/trailing silence is drawn separately
}
_GRID_SLOTS = tuple(GRID_WORDS)  # command colour preposition letter digit adverb


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


def _validate(config: Any) -> None:
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


def _rng(config: Any, *key: int) -> np.random.Generator:
    """An independent generator for one part of the corpus, keyed by integers."""
    return np.random.default_rng(np.random.SeedSequence((int(config.seed), *key)))


# ------------------------------------------------------------------------------- sentences


def num_grid_sentences() -> int:
    """Number of distinct sentences of the GRID grammar (64,000)."""
    return int(np.prod([len(GRID_WORDS[slot]) for slot in _GRID_SLOTS]))


def grid_sentence(index: int) -> str:
    """The GRID sentence with index `index` in [0, `num_grid_sentences()`).

    Index 0 is "bin blue at a zero again"; the last slot (adverb) varies fastest.
    """
    if not 0 <= index < num_grid_sentences():
        raise InputError(f"sentence index must be in [0, {num_grid_sentences()}), got {index}")
    words = []
    for slot in reversed(_GRID_SLOTS):
        options = GRID_WORDS[slot]
        index, choice = divmod(index, len(options))
        words.append(options[choice])
    return " ".join(reversed(words))


def grid_sentence_id(text: str) -> str:
    """GRID's file-name code of a sentence: the first letter of each word, digits as numerals.

    "bin blue at f two now" -> "bbaf2n" (as in GRID's `bbaf2n.mpg`).
    """
    digits = GRID_WORDS["digit"]
    return "".join(str(digits.index(w)) if w in digits else w[0] for w in text.split())


def split_sentences(
    rng: np.random.Generator, *, num_train: int, num_test: int
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random train and test sentence indices for one speaker (GRID-style split)."""
    chosen = rng.choice(num_grid_sentences(), size=num_train + num_test, replace=False)
    return chosen[:num_train], chosen[num_train:]


# ------------------------------------------------------------------------------- speakers


@dataclasses.dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: appearance and speaking rate.

    Attributes:
      id: speaker index.
      style: mouth colours and lip thickness.
      skin: mean skin colour, RGB in [0, 255].
      texture_seed: seed of the speaker's skin texture (fixed across their videos).
      light_angle: direction of the lighting gradient across the crop, radians.
      light_strength: relative brightness change across the crop.
      mouth_scale: pixels per mouth unit.
      mouth_center: (x, y) rest position of the mouth centre in the crop, pixels.
      speaking_rate: > 1 speaks faster (shorter tokens).
    """

    id: int
    style: MouthStyle
    skin: tuple[float, float, float]
    texture_seed: int
    light_angle: float
    light_strength: float
    mouth_scale: float
    mouth_center: tuple[float, float]
    speaking_rate: float


def make_speaker(config: Any, speaker_id: int) -> Speaker:
    """Draw speaker `speaker_id`'s appearance and rate from the corpus seed."""
    rng = _rng(config, 0, speaker_id)
    # Skin tones along a light-to-dark axis, with a little independent hue variation.
    tone = rng.uniform(0.0, 1.0)
    skin = (1 - tone) * np.array([236.0, 196.0, 170.0]) + tone * np.array([120.0, 78.0, 56.0])
    skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0, 255)
    # Lips: darker and redder than the skin around them.
    lip = np.clip(skin * np.array([0.80, 0.52, 0.55]) * rng.uniform(0.9, 1.08, 3)
                  + np.array([18.0, 4.0, 8.0]), 0, 255)
    style = MouthStyle(
        lip=tuple(float(v) for v in lip),
        lip_shade=float(rng.uniform(0.75, 0.88)),
        lip_highlight=float(rng.uniform(0.05, 0.14)),
        crease=tuple(float(v) for v in lip * 0.5),
        interior=tuple(float(v) for v in rng.uniform([35, 10, 14], [62, 24, 30])),
        teeth=tuple(float(v) for v in rng.uniform([215, 205, 180], [245, 240, 228])),
        tongue=tuple(float(v) for v in rng.uniform([180, 82, 88], [210, 110, 118])),
        teeth_height=float(rng.uniform(0.13, 0.19)),
        upper_lip=float(rng.uniform(0.16, 0.23)),
        lower_lip=float(rng.uniform(0.21, 0.29)),
    )
    return Speaker(
        id=int(speaker_id),
        style=style,
        skin=tuple(float(v) for v in skin),
        texture_seed=int(rng.integers(2**31)),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.05, 0.2)),
        mouth_scale=float(rng.uniform(*config.mouth_scale)),
        mouth_center=(FRAME_WIDTH / 2 + float(rng.uniform(-4, 4)),
                      FRAME_HEIGHT * 0.45 + float(rng.uniform(-2, 2))),
        speaking_rate=float(rng.uniform(*config.speaking_rate)),
    )


def _skin_background(speaker: Speaker, *, margin: int) -> np.ndarray:
    """Speaker's skin, float `[H + 2m, W + 2m, 3]`: colour x multi-octave noise x light gradient."""
    rng = np.random.default_rng(speaker.texture_seed)
    height, width = FRAME_HEIGHT + 2 * margin, FRAME_WIDTH + 2 * margin
    texture = np.zeros((height, width), dtype=np.float32)
    for cell, amplitude in ((40, 0.03), (12, 0.015), (4, 0.012), (1, 0.012)):
        coarse = rng.normal(size=(height // cell + 2, width // cell + 2)).astype(np.float32)
        texture += amplitude * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = np.cos(speaker.light_angle) * (xs / width - 0.5) + np.sin(speaker.light_angle) * (
        ys / height - 0.5
    )
    light = 1.0 + speaker.light_strength * direction
    return np.asarray(speaker.skin, np.float32) * ((1.0 + texture) * light)[..., None]


# ------------------------------------------------------------------------------- timing


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


# ------------------------------------------------------------------------------- rendering


def _smooth_noise(rng: np.random.Generator, num_frames: int, *, std: float, smoothness: float,
                  dims: int) -> np.ndarray:
    """Smooth random motion `[T, dims]` with marginal std `std`."""
    noise = rng.normal(size=(num_frames + 8 * int(smoothness + 1), dims))
    if smoothness > 0:
        noise = scipy.ndimage.gaussian_filter1d(noise, smoothness, axis=0, mode="wrap")
        noise /= max(float(noise.std()), 1e-6)
    return std * noise[:num_frames]


def _fit_inside(landmarks: np.ndarray, *, margin: float) -> np.ndarray:
    """Shift (and if needed shrink) a video's landmarks `[T, 20, 2]` so all lie inside the frame."""
    low = landmarks.reshape(-1, 2).min(axis=0)
    high = landmarks.reshape(-1, 2).max(axis=0)
    frame = np.array([FRAME_WIDTH, FRAME_HEIGHT], dtype=np.float64)
    room = frame - 2 * margin
    shrink = min(1.0, float(np.min(room / np.maximum(high - low, 1e-6))))
    centre = (low + high) / 2
    landmarks = centre + (landmarks - centre) * shrink
    low, high = centre + (low - centre) * shrink, centre + (high - centre) * shrink
    shift = np.maximum(margin - low, 0.0) - np.maximum(high - (frame - margin), 0.0)
    return landmarks + shift


def render_video(
    symbols: Sequence[str],
    durations: np.ndarray,
    speaker: Speaker,
    rng: np.random.Generator,
    *,
    config: Any,
) -> dict[str, np.ndarray]:
    """Render a timed symbol sequence as one speaker's lip video.

    Returns:
      dict with `frames` uint8 `[T, 80, 160, 3]`, `landmarks` float32 `[T, 20, 2]` (x, y pixels,
      dlib 48-67 order) and `mouth` float32 `[T, 5]` mouth parameters.
    """
    params = mouth_trajectory(
        symbols, durations, coarticulation=config.coarticulation, smoothing=config.smoothing,
        target_jitter=config.target_jitter, rng=rng,
    )
    num_frames = len(params)
    shift = _smooth_noise(rng, num_frames, std=config.head_jitter_px,
                          smoothness=config.jitter_smoothness, dims=2)
    tilt = np.deg2rad(_smooth_noise(rng, num_frames, std=config.head_jitter_deg,
                                    smoothness=config.jitter_smoothness, dims=1)[:, 0])
    landmarks = np.stack([
        mouth_landmarks(
            params[t], center=(speaker.mouth_center[0] + shift[t, 0],
                               speaker.mouth_center[1] + shift[t, 1]),
            scale=speaker.mouth_scale, angle=float(tilt[t]),
            upper_lip=speaker.style.upper_lip, lower_lip=speaker.style.lower_lip,
        )
        for t in range(num_frames)
    ])
    # The spline through the landmarks bulges slightly past them; keep 2 px of skin all round.
    landmarks = _fit_inside(landmarks, margin=2.0).astype(np.float32)
    motion = landmarks[:, [0, 6]].mean(axis=1) - np.asarray(speaker.mouth_center)  # [T, 2]

    margin = 8
    skin = _skin_background(speaker, margin=margin)
    brightness = float(rng.uniform(0.95, 1.05))  # per-video exposure
    frames = np.empty((num_frames, FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8)
    for t in range(num_frames):
        # The skin moves with the head (whole-pixel shift of the larger texture).
        dx, dy = np.clip(np.round(motion[t]).astype(int), -margin, margin)
        top, left = margin - dy, margin - dx
        window = skin[top : top + FRAME_HEIGHT, left : left + FRAME_WIDTH]
        canvas = np.clip(window * brightness, 0, 255).astype(np.uint8)
        frames[t] = draw_mouth(canvas, landmarks[t], params[t], speaker.style,
                               supersample=config.supersample)
    return {"frames": frames, "landmarks": landmarks, "mouth": params}


# ------------------------------------------------------------------------------- examples


def make_example(config: Any, speaker: Speaker, sentence_index: int) -> dict[str, Any]:
    """One example: a speaker saying GRID sentence `sentence_index`.

    Returns:
      dict: `id` str, `text` str, `speaker` int32, `tokens` int32 `[S]`, `durations` int32 `[S]`
      (sum T), `frames` uint8 `[T, 80, 160, 3]`, `landmarks` float32 `[T, 20, 2]`, `mouth`
      float32 `[T, 5]`.
    """
    text = grid_sentence(int(sentence_index))
    tokens, symbols, durations, rng = _example_timing(config, speaker, sentence_index)
    video = render_video(symbols, durations, speaker, rng, config=config)
    return {
        "id": f"s{speaker.id:02d}_{grid_sentence_id(text)}",
        "text": text,
        "speaker": np.int32(speaker.id),
        "tokens": tokens.astype(np.int32),
        "durations": durations,
        **video,
    }


def _example_timing(config: Any, speaker: Speaker, sentence_index: int):
    """An example's tokens, symbols and durations, and its generator (which renders it next)."""
    tokens = GRID_CHARS.encode(grid_sentence(int(sentence_index)), add_silence=True)
    symbols = [GRID_CHARS.symbols[i] for i in tokens]
    rng = _rng(config, 1, speaker.id, int(sentence_index))
    durations = sample_durations(
        symbols, rng, speaking_rate=speaker.speaking_rate, jitter=config.duration_jitter,
        silence_frames=tuple(config.silence_frames))
    return tokens, symbols, durations, rng


def text_only_timing_error(config: Any, split: str = "test") -> dict[str, float | int]:
    """How far the best duration predictor that sees only the text is from a split's timing.

    That predictor (ParaLip's, Sec. 3.1, sees the encoded text only) at best outputs each token's
    expected duration over the corpus's speakers: the mean silence, or
    ``base_frames * mean(1 / rate) * exp(jitter^2 / 2)``, rounded. Whatever it cannot know (the
    speaker's rate, the per-token jitter, the silence lengths) is the error returned here. A
    trained model's `length_abs_error` lands near it (not strictly above: the mean is not the
    L1-optimal guess).

    Returns:
      dict: `length_abs_error` (frames per video), `token_shift` (mean |true - predicted| token
      index over the frames both videos have) and `num_videos`.
    """
    _validate(config)
    plan = _split_plan(config, split)
    speakers = {i: make_speaker(config, i) for i in {s for s, _ in plan}}
    inverse_rate = np.mean([1.0 / make_speaker(config, i).speaking_rate
                            for i in range(config.num_speakers)] or [1.0])
    length_errors, shifts = [], []
    for speaker_id, sentence_index in plan:
        _, symbols, durations, _ = _example_timing(config, speakers[speaker_id], sentence_index)
        expected = [np.mean(config.silence_frames) if y == SIL else
                    BASE_FRAMES[SOUND_CLASSES[y]] * inverse_rate
                    * np.exp(config.duration_jitter**2 / 2) for y in symbols]
        predicted = np.maximum(np.round(expected), 0).astype(np.int64)
        true_tokens = np.repeat(np.arange(len(durations)), durations)
        predicted_tokens = np.repeat(np.arange(len(predicted)), predicted)
        n = min(len(true_tokens), len(predicted_tokens))
        length_errors.append(abs(len(true_tokens) - len(predicted_tokens)))
        shifts.append(np.mean(np.abs(true_tokens[:n] - predicted_tokens[:n])))
    return {"length_abs_error": float(np.mean(length_errors)),
            "token_shift": float(np.mean(shifts)), "num_videos": len(plan)}


def _split_plan(config: Any, split: str) -> list[tuple[int, int]]:
    """(speaker id, sentence index) pairs of a split, in generation order."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose one of {SPLITS}")
    plan = []
    if split in ("train", "test"):
        for speaker_id in range(config.num_speakers):
            train, test = split_sentences(_rng(config, 2, speaker_id),
                                          num_train=config.train_sentences,
                                          num_test=config.test_sentences)
            plan += [(speaker_id, int(i)) for i in (train if split == "train" else test)]
    else:
        for speaker_id in range(config.num_speakers, config.num_speakers + config.unseen_speakers):
            chosen, _ = split_sentences(_rng(config, 2, speaker_id),
                                        num_train=config.unseen_sentences, num_test=0)
            plan += [(speaker_id, int(i)) for i in chosen]
    return plan


def generate_examples(
    config: Any, split: str = "train", *, progress: bool = True
) -> Iterator[dict[str, Any]]:
    """Yield the examples of one split (see `make_example`), deterministically.

    Args:
      config: a `LipsCorpusConfig` (or any object with its attributes, e.g. the tfds
        `SyntheticLipsConfig`).
      split: "train", "test" (each speaker's unseen sentences) or "test_unseen_speaker"
        (speakers held out entirely; empty when `config.unseen_speakers` is 0).
      progress: show a tqdm progress bar.
    """
    _validate(config)
    plan = _split_plan(config, split)
    speakers: dict[int, Speaker] = {}
    for speaker_id, sentence_index in tqdm.tqdm(plan, desc=f"synthetic_lips/{split}",
                                                disable=not progress, leave=False):
        if speaker_id not in speakers:
            speakers[speaker_id] = make_speaker(config, speaker_id)
        yield make_example(config, speakers[speaker_id], sentence_index)
