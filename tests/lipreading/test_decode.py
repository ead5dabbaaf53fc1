"""Greedy CTC decoding and CER / WER against plain-Python references (Levenshtein by the
textbook DP, words by str.split)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from lipjax.lipreading import decode


def levenshtein(a, b) -> int:
    """Textbook O(len(a) len(b)) edit distance with unit costs."""
    table = np.arange(len(b) + 1)
    for i, x in enumerate(a, 1):
        previous, table = table, np.empty(len(b) + 1, int)
        table[0] = i
        for j, y in enumerate(b, 1):
            table[j] = min(previous[j] + 1, table[j - 1] + 1, previous[j - 1] + (x != y))
    return int(table[-1])


def pad(rows, width):
    ids = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    return decode.Sequences(ids, np.asarray([len(r) for r in rows], np.int32))


def test_greedy_decode_merges_repeats_and_drops_blanks():
    # frames' best classes: 3 3 0 3 5 5 0 0 | padding 7 7 (masked)
    best = np.array([[3, 3, 0, 3, 5, 5, 0, 0, 7, 7]])
    logits = np.eye(8, dtype=np.float32)[best]
    mask = np.arange(10)[None] < 8
    out = decode.greedy_decode(logits, mask)
    assert int(out.lengths[0]) == 3
    np.testing.assert_array_equal(out.ids[0, :3], [3, 3, 5])
    assert not out.ids[0, 3:].any()


def test_drop_ids_keeps_the_order_of_the_rest():
    seqs = pad([[1, 4, 2, 4, 1], [1, 1]], 6)
    out = decode.drop_ids(seqs, [1])
    np.testing.assert_array_equal(out.lengths, [3, 0])
    np.testing.assert_array_equal(out.ids[0, :3], [4, 2, 4])


@pytest.mark.parametrize("seed", range(3))
def test_edit_distances_equal_the_textbook_dp(seed):
    rng = np.random.default_rng(seed)
    rows_h = [list(rng.integers(1, 4, rng.integers(0, 9))) for _ in range(16)]
    rows_r = [list(rng.integers(1, 4, rng.integers(0, 7))) for _ in range(16)]
    got = jax.jit(decode.symbol_errors)(pad(rows_h, 9), pad(rows_r, 7))
    np.testing.assert_array_equal(got, [levenshtein(h, r) for h, r in zip(rows_h, rows_r)])


def test_word_errors_equal_the_textbook_dp_on_split_words():
    alphabet = " ab"  # id 1 = space (the separator), 2 = a, 3 = b
    rng = np.random.default_rng(7)
    texts_h = ["".join(rng.choice(list(alphabet), rng.integers(0, 12))) for _ in range(32)]
    texts_r = ["".join(rng.choice(list(alphabet), rng.integers(1, 10))) for _ in range(32)]
    texts_h += [" ab  b ", "ab"]   # leading, repeated and trailing spaces: empty words
    texts_r += ["ab b", " ab "]
    encode = lambda t: [alphabet.index(c) + 1 for c in t]  # noqa: E731
    errors, words = decode.word_errors(pad([encode(t) for t in texts_h], 12),
                                       pad([encode(t) for t in texts_r], 10), separator=1)
    np.testing.assert_array_equal(errors, [levenshtein(h.split(), r.split())
                                           for h, r in zip(texts_h, texts_r)])
    np.testing.assert_array_equal(words, [len(r.split()) for r in texts_r])
