"""Token vocabularies: GRID characters, TCD-TIMIT phonemes, and token lists of published models.

ParaLip (AAAI 2022, Sec. 4.1) tokenises GRID at the character level and TCD-TIMIT at the phoneme
level. Id 0 is padding everywhere. In lipjax's own vocabularies (`GRID_CHARS`, `PHONEMES`) id 1 is
silence (`<sil>`), which carries the leading/trailing silent frames so that the durations of a
sentence always sum to its number of video frames; a sentence is read as `<sil> ... <sil>`.

`TokenVocabulary` is a published model's own token list (the official ParaLip release's
`dict.txt` / `phone_set.json`: `<pad>` 0, `<EOS>` 1, `<UNK>` 2, then the file's tokens in order),
whose sentences are the bare space-separated tokens. A config names a vocabulary in
`config.data.vocabulary`: a name of `VOCABULARIES`, or a token list stored in the config as
`{"kind": "tokens", "name": ..., "symbols": [<the symbol of id 0>, <of id 1>, ...]}`
(`TokenVocabulary.to_config`); `get_vocabulary` accepts both.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lipjax.errors import ConfigError, InputError

__all__ = [
    "PAD_ID", "SIL_ID", "PAD", "SIL", "Vocabulary", "GRID_CHARS", "PHONEMES", "TIMIT_TO_CMU",
    "GRID_WORDS", "VOCABULARIES", "get_vocabulary", "TokenVocabulary", "RESERVED_TOKENS",
    "TOKENS_KIND",
]

PAD, SIL = "<pad>", "<sil>"
PAD_ID, SIL_ID = 0, 1
# The reserved ids 0, 1, 2 of a TokenTextEncoder vocabulary (the official ParaLip release's).
RESERVED_TOKENS = (PAD, "<EOS>", "<UNK>")
TOKENS_KIND = "tokens"  # `config.data.vocabulary["kind"]` of a stored token list

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
    """A fixed token inventory; `symbols[i]` is the symbol of id i (0 = `<pad>`, 1 = `<sil>`).

    `encode_sentence(text)` gives the ids a model trained with the vocabulary reads for one
    sentence (here: `<sil>` at both ends).
    """

    name: str
    symbols: tuple[str, ...]

    def __post_init__(self):
        if tuple(self.symbols[:2]) != (PAD, SIL):
            raise ConfigError(f"vocabulary {self.name!r} must start with '<pad>', '<sil>', got "
                              f"{list(self.symbols[:2])}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"vocabulary {self.name!r} has duplicate symbols")

    @property
    def size(self) -> int:
        return len(self.symbols)

    @property
    def _index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols)}

    @property
    def user_symbols(self) -> tuple[str, ...]:
        """The symbols a text may contain (not padding or the reserved ones)."""
        return self.symbols[2:]

    def encode_symbols(self, symbols: Sequence[str]) -> np.ndarray:
        """Symbols -> int32 ids `[S]`. Raises InputError naming every unknown symbol."""
        index = self._index
        unknown = sorted({s for s in symbols if s not in index or s == PAD})
        if unknown:
            shown = ", ".join(repr(s) for s in unknown)
            raise InputError(
                f"{len(unknown)} symbol(s) not in the {self.name} vocabulary: {shown}. "
                f"Allowed: {' '.join(repr(s) for s in self.user_symbols)}."
            )
        return np.asarray([index[s] for s in symbols], dtype=np.int32)

    def encode_sentence(self, text: Any) -> np.ndarray:
        """The ids a model trained with this vocabulary reads for one sentence."""
        return self.encode(text, add_silence=True)  # type: ignore[attr-defined]

    def decode(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """int ids -> symbols, dropping padding. Raises InputError for an id outside the
        vocabulary (or one that is not an integer)."""
        values = np.asarray(ids).reshape(-1)
        if values.size and (not np.issubdtype(values.dtype, np.integer)
                            or values.min() < 0 or values.max() >= self.size):
            raise InputError(f"ids must be integers in 0..{self.size - 1} ({self.name}), got "
                             f"{values[:8].tolist()}{' ...' if values.size > 8 else ''}")
        return [self.symbols[int(i)] for i in values if int(i) != PAD_ID]


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
        """Phonemes (a space-separated string or a sequence of strings) -> int32 ids `[S]`.

        Raises InputError: not text, empty, or phonemes outside the vocabulary (all named)."""
        phones = _token_list(phones, self.name)
        phones = [p.lower() for p in phones]
        if not phones:
            raise InputError("phoneme sequence is empty")
        if add_silence:
            phones = [SIL, *phones, SIL]
        return self.encode_symbols(phones)


def _token_list(tokens: Any, name: str) -> list[str]:
    """A space-separated string or a sequence of strings -> the list of tokens."""
    if isinstance(tokens, str):
        return tokens.split()
    if isinstance(tokens, (bytes, Mapping)) or not isinstance(tokens, Sequence) or not all(
            isinstance(t, str) for t in tokens):
        raise InputError(f"{name} text must be a space-separated string or a list of token "
                         f"strings, got {tokens!r:.80}")
    return list(tokens)


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


@dataclasses.dataclass(frozen=True)
class TokenVocabulary(Vocabulary):
    """A published model's token list (TokenTextEncoder style): `symbols[i]` is the token of id
    i; `<pad>` (0), `<EOS>` (1) and `<UNK>` (2) are reserved, the model's tokens follow from 3.

    A sentence is its whitespace-separated tokens exactly as written (case-sensitive, nothing
    added: the official ParaLip inputs are the bare ids of an utterance's phonemes, no `<EOS>`).
    A token outside the list raises an InputError naming every unknown token. (The official code
    raises KeyError; lipjax does not substitute `<UNK>`, whose embedding row the model never
    learned from.)
    """

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(self.symbols))
        if self.symbols[:3] != RESERVED_TOKENS:
            raise InputError(f"a token vocabulary starts with {', '.join(RESERVED_TOKENS)}; "
                             f"{self.name!r} starts with {list(self.symbols[:3])}")
        bad = [s for s in self.symbols if not isinstance(s, str) or len(s.split()) != 1
               or s != s.strip()]
        if bad:
            raise InputError(f"tokens of {self.name!r} must be non-empty and without spaces "
                             f"(a sentence is split at whitespace): {bad[:5]}")
        repeated = sorted({s for s in self.symbols if self.symbols.count(s) > 1})
        if repeated:
            raise InputError(f"{self.name!r} lists these tokens more than once: {repeated}")
        if len(self.symbols) == len(RESERVED_TOKENS):
            raise InputError(f"{self.name!r} has no tokens besides the reserved ones")

    @property
    def user_symbols(self) -> tuple[str, ...]:
        return self.symbols[len(RESERVED_TOKENS):]

    def encode(self, tokens: str | Sequence[str], *, add_silence: bool = False) -> np.ndarray:
        """Space-separated tokens (or a sequence of them) -> int32 ids `[S]`.

        Raises InputError for an empty text, an unknown token (all of them named), or
        `add_silence` (these vocabularies have no silence token)."""
        if add_silence:
            raise InputError(f"the {self.name} vocabulary has no {SIL} token to add")
        tokens = _token_list(tokens, self.name)
        if not tokens:
            raise InputError(f"the text is empty; give space-separated {self.name} tokens")
        return self.encode_symbols(list(tokens))

    def encode_sentence(self, text: str | Sequence[str]) -> np.ndarray:
        """The tokens' ids alone (nothing added), as the official models read a sentence."""
        return self.encode(text)

    def to_config(self) -> dict[str, Any]:
        """The form `config.data.vocabulary` stores (and `get_vocabulary` reads)."""
        return {"kind": TOKENS_KIND, "name": self.name, "symbols": list(self.symbols)}

    @classmethod
    def from_tokens(cls, tokens: Sequence[str], name: str) -> "TokenVocabulary":
        """`<pad>`, `<EOS>`, `<UNK>`, then `tokens` in order with reserved names skipped (the
        ids `TokenTextEncoder(vocab_list=tokens)` gives)."""
        return cls(name, RESERVED_TOKENS + tuple(t for t in tokens if t not in RESERVED_TOKENS))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "TokenVocabulary":
        """The official release's `dict.txt` (one token per line, stripped) or `phone_set.json`
        (a JSON list of the same lines). Raises InputError: unreadable, a blank or a repeated
        line (each would take an id of its own that no text can name)."""
        path = Path(path)
        if not path.is_file():
            what = "it is a folder, not a file" if path.is_dir() else "it does not exist"
            raise InputError(f"cannot read the vocabulary file {os.fspath(path)!r}: {what}; "
                             "give the release's dict.txt or phone_set.json")
        try:
            text = path.read_text(encoding="utf-8")
            lines = json.loads(text) if path.suffix == ".json" else text.splitlines()
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise InputError(f"cannot read the vocabulary file {os.fspath(path)!r}: {error}") from None
        if not isinstance(lines, list) or not all(isinstance(t, str) for t in lines):
            raise InputError(f"{os.fspath(path)!r} must be a JSON list of strings")
        tokens = [t.strip() for t in lines]
        blank = [i + 1 for i, t in enumerate(tokens) if not t]
        if blank:
            raise InputError(f"{os.fspath(path)!r} has blank entries (line/item {blank[:5]}); "
                             "remove them only if the model was trained without them")
        return cls.from_tokens(tokens, f"{path.name} tokens")


# Config name -> vocabulary (`config.data.vocabulary`).
VOCABULARIES: dict[str, Vocabulary] = {"grid_chars": GRID_CHARS, "phonemes": PHONEMES}


def get_vocabulary(spec: str | Mapping[str, Any] | Any) -> Vocabulary:
    """The vocabulary `config.data.vocabulary` describes: a name of `VOCABULARIES`, or a stored
    token list `{"kind": "tokens", "name": ..., "symbols": [...]}` (a dict or ConfigDict).

    Raises:
      InputError: an unknown name. ConfigError: a malformed token list.
    """
    if isinstance(spec, str):
        if spec not in VOCABULARIES:
            raise InputError(f"unknown vocabulary {spec!r}; known: {', '.join(sorted(VOCABULARIES))}"
                             f" or a token list {{'kind': {TOKENS_KIND!r}, 'symbols': [...]}}")
        return VOCABULARIES[spec]
    fields = spec.to_dict() if hasattr(spec, "to_dict") else spec
    if not isinstance(fields, Mapping) or fields.get("kind") != TOKENS_KIND:
        raise ConfigError(f"data.vocabulary must be a vocabulary name or {{'kind': "
                          f"{TOKENS_KIND!r}, 'name': ..., 'symbols': [...]}}, got {spec!r}")
    symbols = fields.get("symbols")
    if not isinstance(symbols, (list, tuple)):
        raise ConfigError(f"data.vocabulary['symbols'] must be a list of tokens, got {symbols!r}")
    try:
        return TokenVocabulary(str(fields.get("name", "token")), tuple(symbols))
    except InputError as error:
        raise ConfigError(f"data.vocabulary: {error}") from None
