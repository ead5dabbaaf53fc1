"""Greedy CTC decoding and the error rates of lipreading (CER, WER), jit-able with static shapes.

Greedy (best-path) decoding takes the most likely class of every frame, merges repeats and drops
the blank (Graves et al., 2006); LipNet (Assael et al., 2016) reports it next to beam search.
Error rates are Levenshtein distances divided by the reference length, summed over a corpus:
CER over the decoded symbols (GRID: characters including the spaces), WER over the words, i.e.
the runs of symbols between word separators (GRID's space), as `text.split()` makes them.

Everything works on padded `[B, N]` id arrays with their lengths, so that it runs inside the
jitted evaluation step: sequences are compacted with a cumulative sum and a scatter, and the
edit distance is one `lax.scan` over the hypothesis whose rows are vectorised with a cumulative
minimum (the insertion chain `D[i, j] = min_k (E[k] + j - k)`).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["Sequences", "greedy_decode", "drop_ids", "edit_distance", "symbol_errors",
           "word_errors"]


class Sequences(NamedTuple):
    """Padded id sequences: `ids` int32 `[B, N]` (0 after the end) and `lengths` int32 `[B]`."""

    ids: jax.Array
    lengths: jax.Array


def _compact(values: jax.Array, keep: jax.Array) -> Sequences:
    """The kept entries of each row of `[B, N]` moved to the front, in order."""
    batch, size = values.shape
    position = jnp.where(keep, jnp.cumsum(keep, axis=1) - 1, size)  # size = dropped
    rows = jnp.broadcast_to(jnp.arange(batch)[:, None], (batch, size))
    ids = jnp.zeros((batch, size), jnp.int32).at[rows, position].set(
        values.astype(jnp.int32), mode="drop")
    return Sequences(ids, jnp.sum(keep, axis=1).astype(jnp.int32))


def greedy_decode(logits: ArrayLike, frame_mask: ArrayLike, *, blank_id: int = 0) -> Sequences:
    """Best-path CTC decoding: argmax per frame, repeats merged, blanks dropped.

    Args:
      logits: float `[B, T, V]` per-frame scores (logits or log-probabilities).
      frame_mask: bool `[B, T]`, True on valid frames (a prefix of each row).
      blank_id: the CTC blank class.

    Returns:
      `Sequences` of at most T ids per row.
    """
    logits, frame_mask = jnp.asarray(logits), jnp.asarray(frame_mask, bool)
    best = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    previous = jnp.pad(best[:, :-1], ((0, 0), (1, 0)), constant_values=blank_id)
    keep = (best != blank_id) & (best != previous) & frame_mask
    return _compact(best, keep)


def drop_ids(sequences: Sequences, ids: Sequence[int]) -> Sequences:
    """`sequences` without the given ids (e.g. `<sil>`, which carries no text)."""
    valid = jnp.arange(sequences.ids.shape[1])[None] < sequences.lengths[:, None]
    keep = valid & ~jnp.isin(sequences.ids, jnp.asarray(list(ids), jnp.int32))
    return _compact(sequences.ids, keep)


def edit_distance(equal: ArrayLike, hypothesis_lengths: ArrayLike,
                  reference_lengths: ArrayLike) -> jax.Array:
    """Levenshtein distances (unit insertions, deletions, substitutions).

    Args:
      equal: bool `[B, N, M]`, whether hypothesis item n equals reference item m.
      hypothesis_lengths: int `[B]` (<= N); reference_lengths: int `[B]` (<= M).

    Returns:
      int32 `[B]`: the fewest edits that turn each hypothesis prefix into its reference prefix.
    """
    equal = jnp.asarray(equal, bool)
    batch, _, size = equal.shape
    columns = jnp.arange(size + 1, dtype=jnp.int32)
    first = jnp.broadcast_to(columns, (batch, size + 1))

    def row(previous: jax.Array, equal_row: jax.Array) -> tuple[jax.Array, jax.Array]:
        substitute = previous[:, :-1] + (~equal_row).astype(jnp.int32)
        delete = previous[:, 1:] + 1
        best = jnp.concatenate([previous[:, :1] + 1, jnp.minimum(substitute, delete)], axis=1)
        current = jax.lax.cummin(best - columns, axis=1) + columns  # then insertions
        return current, current

    _, rows = jax.lax.scan(row, first, jnp.moveaxis(equal, 1, 0))
    table = jnp.concatenate([first[None], rows], axis=0)  # [N + 1, B, M + 1]
    hypothesis_lengths = jnp.asarray(hypothesis_lengths, jnp.int32)
    reference_lengths = jnp.asarray(reference_lengths, jnp.int32)
    return table[hypothesis_lengths, jnp.arange(batch), reference_lengths]


def symbol_errors(hypothesis: Sequences, reference: Sequences) -> jax.Array:
    """Edit distance between id sequences (CER numerator at character level), int32 `[B]`."""
    equal = hypothesis.ids[:, :, None] == reference.ids[:, None, :]
    return edit_distance(equal, hypothesis.lengths, reference.lengths)


def _words(sequences: Sequences, separator: int, width: int) -> tuple[jax.Array, jax.Array]:
    """The non-empty words of each row as `[B, N, width]` symbol rows (id + 1, 0 = none) and
    the word counts `[B]` (empty words between repeated separators are skipped, like
    `str.split()`)."""
    ids, lengths = sequences
    batch, size = ids.shape
    positions = jnp.arange(size)
    valid = positions[None] < lengths[:, None]
    is_separator = valid & (ids == separator)
    word = jnp.cumsum(is_separator, axis=1)  # index of the word a symbol belongs to
    last_separator = jax.lax.cummax(jnp.where(is_separator, positions, -1), axis=1)
    in_word = positions - last_separator - 1
    letter = valid & ~is_separator
    rows = jnp.broadcast_to(jnp.arange(batch)[:, None], (batch, size))
    spelled = jnp.zeros((batch, size, width), jnp.int32).at[
        rows, jnp.where(letter, word, size), in_word].set(ids + 1, mode="drop")
    non_empty = jnp.any(spelled > 0, axis=-1)
    order = jnp.where(non_empty, jnp.cumsum(non_empty, axis=1) - 1, size)
    words = jnp.zeros_like(spelled).at[rows, order].set(spelled, mode="drop")
    return words, jnp.sum(non_empty, axis=1).astype(jnp.int32)


def word_errors(hypothesis: Sequences, reference: Sequences, *, separator: int
                ) -> tuple[jax.Array, jax.Array]:
    """Word-level edit distances and reference word counts, int32 `[B]` each (WER = sum of
    the first / sum of the second)."""
    width = max(hypothesis.ids.shape[1], reference.ids.shape[1])
    hyp_words, hyp_count = _words(hypothesis, separator, width)
    ref_words, ref_count = _words(reference, separator, width)
    equal = jnp.all(hyp_words[:, :, None, :] == ref_words[:, None, :, :], axis=-1)
    return edit_distance(equal, hyp_count, ref_count), ref_count
