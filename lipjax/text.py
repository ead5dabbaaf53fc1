"""Token vocabularies: GRID characters and TCD-TIMIT phonemes.

ParaLip (AAAI 2022, Sec. 4.1) tokenises GRID at the character level and TCD-TIMIT at the phoneme
level. Id 0 is padding everywhere; id 1 is silence (`<sil>`), which carries the leading/trailing
silent frames so that the durations of a sentence always sum to its number of video frames.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from lipjax.errors import InputError

__all__ = [
    "PAD_ID", "SIL_ID", "PAD", "SIL", "Vocabulary", "GRID_CHARS", "PHONEMES", "TIMIT_TO_CMU",
    "GRID_WORDS", "VOCABULARIES", "get_vocabulary",
]

PAD, SIL = "<pad>", "<sil>"
PAD_ID, SIL_ID = 0, 1

# The GRID grammar (Cooke et al., 2006): command colour preposition letter digit adverb, 51 words.
GRID_WORDS: dict[str, tuple[str, ...]] = {
    "command": ("bin", "lay", "place", "set"),
    "colour": ("blue", "green", "red", "white"),
    "preposition": ("at", "by", "in", "with"),
    "letter": tuple("abcdefghijklmnopqrstuvxyz"),  # GRID has no 'w' (three syllables)
    "digit": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "adverb": ("again", "now", "please", "soon"),
}


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """A fixed token inventory; `symbols[i]` is the symbol of id i (0 = `<pad>`, 1 = `<sil>`)."""

    name: str
    symbols: tuple[str, ...]

    def __post_init__(self):
        if self.symbols[:2] != (PAD, SIL):
            raise ValueError("a vocabulary starts with '<pad>', '<sil>'")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"vocabulary {self.name!r} has duplicate symbols")

    @property
    def size(self) -> int:
        return len(self.symbols)

    @property
    def _index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols)}

    def encode_symbols(self, symbols: Sequence[str]) -> np.ndarray:
        """Symbols -> int32 ids `[S]`. Raises InputError naming every unknown symbol."""
        index = self._index
        unknown = sorted({s for s in symbols if s not in index})
        if unknown:
            shown = ", ".join(repr(s) for s in unknown)
            raise InputError(
                f"{len(unknown)} symbol(s) not in the {self.name} vocabulary: {shown}. "
                f"Allowed: {' '.join(repr(s) for s in self.symbols[2:])}."
            )
        return np.asarray([index[s] for s in symbols], dtype=np.int32)

    def decode(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """int ids -> symbols, dropping padding."""
        return [self.symbols[int(i)] for i in np.asarray(ids).reshape(-1) if int(i) != PAD_ID]


class CharVocabulary(Vocabulary):
    """Character vocabulary; `encode(text)` lower-cases and maps each character to an id."""

    def encode(self, text: str, *, add_silence: bool = False) -> np.ndarray:
        """Text -> int32 ids `[S]`; with `add_silence`, `<sil>` is added at both ends.

        Raises InputError naming every character outside the vocabulary.
        """
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"text must be a non-empty string, got {text!r}")
        chars = list(" ".join(text.lower().split()))
        if add_silence:
            chars = [SIL, *chars, SIL]
        return self.encode_symbols(chars)

    def decode_text(self, ids: Sequence[int] | np.ndarray) -> str:
        return "".join(s for s in self.decode(ids) if s != SIL)


class PhonemeVocabulary(Vocabulary):
    """Phoneme vocabulary; `encode(phones)` takes a sequence or a space-separated string."""

    def encode(self, phones: str | Sequence[str], *, add_silence: bool = False) -> np.ndarray:
        if isinstance(phones, str):
            phones = phones.split()
        phones = [p.lower() for p in phones]
        if not phones:
            raise InputError("phoneme sequence is empty")
        if add_silence:
            phones = [SIL, *phones, SIL]
        return self.encode_symbols(phones)


GRID_CHARS = CharVocabulary("GRID characters", (PAD, SIL, " ", *"abcdefghijklmnopqrstuvwxyz"))

# The 39 CMU/ARPAbet phonemes (no stress), the usual folding of TIMIT's 61 labels.
_CMU_PHONES = (
    "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t th uh uw "
    "v w y z zh"
).split()
PHONEMES = PhonemeVocabulary("TCD-TIMIT phonemes", (PAD, SIL, *_CMU_PHONES))

# TIMIT / TCD-TIMIT labels folded onto the 39 CMU phonemes; pauses -> <sil>. A stop closure
# (bcl, pcl, ...) joins its stop: for the lips a closure is part of the stop's gesture.
TIMIT_TO_CMU: dict[str, str] = {
    **{p: p for p in _CMU_PHONES},
    "ax": "ah", "ax-h": "ah", "axr": "er", "ix": "ih", "ux": "uw", "el": "l", "em": "m",
    "en": "n", "nx": "n", "eng": "ng", "hv": "hh", "dx": "d", "q": "t",
    "bcl": "b", "dcl": "d", "gcl": "g", "pcl": "p", "tcl": "t", "kcl": "k",
    **{s: SIL for s in ("h#", "pau", "epi", "sil", "sp")},
}


# Config name -> vocabulary (`config.data.vocabulary`).
VOCABULARIES: dict[str, Vocabulary] = {"grid_chars": GRID_CHARS, "phonemes": PHONEMES}


def get_vocabulary(name: str) -> Vocabulary:
    """The vocabulary a config names; InputError listing the known names otherwise."""
    if name not in VOCABULARIES:
        raise InputError(f"unknown vocabulary {name!r}; known: {', '.join(sorted(VOCABULARIES))}")
    return VOCABULARIES[name]
