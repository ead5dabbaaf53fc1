"""MAS durations from CTC outputs (ParaLip Sec. 6) on log-probabilities whose best alignment
is known."""

from __future__ import annotations

import jax
import numpy as np

from lipjax.lipreading import label_log_likelihood, mas_durations


def test_label_log_likelihood_is_a_softmax_over_the_label_columns():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 6, 9)).astype(np.float32)
    tokens = np.array([[4, 7, 4, 2, 0]])   # token 4 twice, one padding token
    mask = tokens > 0
    got = np.asarray(label_log_likelihood(logits, tokens, mask))[0]   # [S, T]
    columns = logits[0][:, [4, 7, 4, 2]]                              # [T, 4]
    expected = columns - np.log(np.exp(columns).sum(-1, keepdims=True))
    np.testing.assert_allclose(got[:4], expected.T, atol=1e-5)
    np.testing.assert_array_equal(got[4], 0.0)


def _logits_for(segments, vocab, frames, noise, rng):
    """Per-frame logits whose argmax over the label tokens follows `segments` (token per
    frame), plus a blank that dominates most frames as in a peaky CTC model."""
    logits = rng.normal(scale=noise, size=(frames, vocab)).astype(np.float32)
    for t, token in enumerate(segments):
        logits[t, token] += 3.0
    logits[:, 0] += 6.0   # the blank wins every frame: only the label columns are read
    return logits


def test_mas_durations_recover_a_known_alignment_with_repeats_and_padding():
    rng = np.random.default_rng(1)
    vocab = 12
    labels = [[1, 5, 3, 5, 1], [1, 8, 8, 1]]          # repeated ids in both sentences
    durations = [[3, 2, 4, 1, 2], [2, 3, 2, 4]]
    max_tokens, max_frames = 6, 14
    logits = np.zeros((2, max_frames, vocab), np.float32)
    tokens = np.zeros((2, max_tokens), np.int32)
    for b, (label, duration) in enumerate(zip(labels, durations)):
        per_frame = np.repeat(label, duration)
        logits[b, :len(per_frame)] = _logits_for(per_frame, vocab, len(per_frame), 0.3, rng)
        tokens[b, :len(label)] = label
    token_mask = tokens > 0
    frame_mask = np.arange(max_frames)[None] < np.array([[12], [11]])
    got = np.asarray(jax.jit(mas_durations)(logits, tokens, token_mask, frame_mask))
    np.testing.assert_array_equal(got[0, :5], durations[0])
    assert got[0, 5] == 0 and got[1, 4:].sum() == 0
    # Equal columns: only the sum over the repeated pair is identifiable; MAS gives each >= 1.
    assert got[1, 0] == 2 and got[1, 3] == 4 and got[1, 1] + got[1, 2] == 5
    assert min(got[1, 1], got[1, 2]) >= 1
    np.testing.assert_array_equal(got.sum(1), [12, 11])
