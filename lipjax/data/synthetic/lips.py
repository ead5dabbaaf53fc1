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

This module assembles examples and splits; the settings are in `lips_config`, speakers and video
rendering in `lips_video`, sentences in `sentences` and token timing in `durations`.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import tqdm

from lipjax.data.synthetic.durations import BASE_FRAMES, sample_durations
# FRAME_HEIGHT, FRAME_WIDTH and LipsCorpusConfig are re-exported: the tfds builder reads them here.
from lipjax.data.synthetic.lips_config import (
    FRAME_HEIGHT,
    FRAME_WIDTH,
    SPLITS,
    LipsCorpusConfig,
    corpus_rng,
    validate_config,
)
from lipjax.data.synthetic.lips_video import Speaker, make_speaker, render_video
from lipjax.data.synthetic.mouth import SOUND_CLASSES
from lipjax.data.synthetic.sentences import grid_sentence, grid_sentence_id, split_sentences
from lipjax.errors import InputError
from lipjax.text import GRID_CHARS, SIL

__all__ = [
    "FRAME_HEIGHT",
    "FRAME_WIDTH",
    "LipsCorpusConfig",
    "make_example",
    "generate_examples",
    "text_only_timing_error",
]


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


def _example_timing(
    config: Any, speaker: Speaker, sentence_index: int
) -> tuple[np.ndarray, list[str], np.ndarray, np.random.Generator]:
    """An example's tokens `[S]`, symbols, durations int32 `[S]` and its generator.

    The generator has drawn the durations and renders the example next.
    """
    tokens = GRID_CHARS.encode(grid_sentence(int(sentence_index)), add_silence=True)
    symbols = [GRID_CHARS.symbols[i] for i in tokens]
    rng = corpus_rng(config, 1, speaker.id, int(sentence_index))
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
    validate_config(config)
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
            train, test = split_sentences(corpus_rng(config, 2, speaker_id),
                                          num_train=config.train_sentences,
                                          num_test=config.test_sentences)
            plan += [(speaker_id, int(i)) for i in (train if split == "train" else test)]
    else:
        for speaker_id in range(config.num_speakers, config.num_speakers + config.unseen_speakers):
            chosen, _ = split_sentences(corpus_rng(config, 2, speaker_id),
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
    validate_config(config)
    plan = _split_plan(config, split)
    speakers: dict[int, Speaker] = {}
    for speaker_id, sentence_index in tqdm.tqdm(plan, desc=f"synthetic_lips/{split}",
                                                disable=not progress, leave=False):
        if speaker_id not in speakers:
            speakers[speaker_id] = make_speaker(config, speaker_id)
        yield make_example(config, speakers[speaker_id], sentence_index)
