"""GRID-grammar sentences shared by the synthetic corpora: enumeration, ids and train/test splits.

`synthetic_lips` addresses sentences by index (`grid_sentence`, `split_sentences` per speaker);
`synthetic_talking_faces` draws from text pools split by a hash of the text
(`grid_sentences`, `split_sentence_pool`).
"""

from __future__ import annotations

import itertools
import zlib
from typing import Sequence

import numpy as np

from lipjax.errors import ConfigError, InputError
from lipjax.text import GRID_WORDS

__all__ = [
    "num_grid_sentences",
    "grid_sentence",
    "grid_sentence_id",
    "split_sentences",
    "grid_sentences",
    "split_sentence_pool",
]

_GRID_SLOTS = tuple(GRID_WORDS)  # command colour preposition letter digit adverb


# ------------------------------------------------------------------------------- by index


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


# ------------------------------------------------------------------------------- by text


def grid_sentences(num_words: int = 6) -> list[str]:
    """Every GRID sentence made of the first `num_words` grammar slots, in a fixed order.

    The full grammar (6 words: command colour preposition letter digit adverb) has 64,000
    sentences; fewer words give short clips for toy datasets.
    """
    slots = list(GRID_WORDS.values())
    if not 1 <= num_words <= len(slots):
        raise ConfigError(f"num_words must be in [1, {len(slots)}], got {num_words}")
    return [" ".join(words) for words in itertools.product(*slots[:num_words])]


def split_sentence_pool(sentences: Sequence[str], *, test_fraction: float) -> tuple[list[str], list[str]]:
    """Splits sentences into (train, test) by a stable hash of the text (CRC-32).

    The split depends only on each sentence, never on the order or the seed, so test sentences
    are unseen in training for every dataset built from the same grammar.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    is_test = [(zlib.crc32(s.encode()) % 10_000) < test_fraction * 10_000 for s in sentences]
    train = [s for s, t in zip(sentences, is_test) if not t]
    test = [s for s, t in zip(sentences, is_test) if t]
    return train, test
