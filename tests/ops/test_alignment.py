"""Tests for lipjax.ops.alignment against brute-force enumeration and a plain-Python DP."""

from __future__ import annotations

import itertools

import chex
import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lipjax.errors import InputError
from lipjax.ops import durations_from_alignment, monotonic_alignment_search


def brute_force_best(log_likelihood: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Max total log-likelihood over all monotonic paths of a [S, T] matrix, and the argmax paths.

    A monotonic path is a split of the T frames into S non-empty consecutive runs, i.e. a choice
    of S - 1 cut points among the T - 1 gaps between frames.
    """
    num_tokens, num_frames = log_likelihood.shape
    best, paths = -np.inf, []
    for cuts in itertools.combinations(range(1, num_frames), num_tokens - 1):
        bounds = (0, *cuts, num_frames)
        alignment = np.zeros((num_tokens, num_frames), np.int32)
        for token in range(num_tokens):
            alignment[token, bounds[token] : bounds[token + 1]] = 1
        score = float((alignment * log_likelihood).sum())
        if score > best + 1e-9:
            best, paths = score, [alignment]
        elif abs(score - best) <= 1e-9:
            paths.append(alignment)
    return best, paths


def python_dp(log_likelihood: np.ndarray, num_tokens: int, num_frames: int) -> np.ndarray:
    """Textbook Viterbi with explicit loops over the valid [num_tokens, num_frames] block."""
    value = np.full((num_tokens, num_frames), -np.inf)
    for t in range(num_frames):
        for s in range(min(t + 1, num_tokens)):
            if t == 0:
                value[s, t] = log_likelihood[s, t]
                continue
            stay = value[s, t - 1]
            advance = value[s - 1, t - 1] if s > 0 else -np.inf
            value[s, t] = log_likelihood[s, t] + max(stay, advance)
    alignment = np.zeros(log_likelihood.shape, np.int32)
    s = num_tokens - 1
    for t in range(num_frames - 1, -1, -1):
        alignment[s, t] = 1
        if t > 0 and s > 0 and value[s - 1, t - 1] > value[s, t - 1]:
            s -= 1
    return alignment


def assert_valid_monotonic(alignment: np.ndarray, num_tokens: int, num_frames: int) -> None:
    """Checks the structural guarantees of the docstring for one sequence."""
    valid = alignment[:num_tokens, :num_frames]
    assert alignment.sum() == valid.sum(), "mass outside the valid block"
    np.testing.assert_array_equal(valid.sum(0), 1)  # each frame -> exactly one token
    assert (valid.sum(1) >= 1).all()  # each token >= 1 frame
    tokens = valid.argmax(0)
    assert tokens[0] == 0 and tokens[-1] == num_tokens - 1
    assert set(np.diff(tokens).tolist()) <= {0, 1}


BUCKET_TOKENS, BUCKET_FRAMES = 4, 8
_jitted_search = jax.jit(monotonic_alignment_search)


@settings(max_examples=30, deadline=None)
@given(
    num_tokens=st.integers(1, 4),
    extra_frames=st.integers(0, 4),
    seed=st.integers(0, 2**31 - 1),
    integer_scores=st.booleans(),
)
def test_matches_brute_force(num_tokens, extra_frames, seed, integer_scores):
    num_frames = num_tokens + extra_frames
    rng = np.random.default_rng(seed)
    if integer_scores:  # small integers make ties (several optimal paths) likely
        log_likelihood = rng.integers(-3, 1, size=(1, num_tokens, num_frames)).astype(np.float32)
    else:
        log_likelihood = rng.normal(size=(1, num_tokens, num_frames)).astype(np.float32)
    # Padded into one fixed bucket (jitted once) with garbage on the padding.
    padded = np.full((1, BUCKET_TOKENS, BUCKET_FRAMES), 9.0, np.float32)
    padded[:, :num_tokens, :num_frames] = log_likelihood
    token_mask = np.arange(BUCKET_TOKENS)[None] < num_tokens
    frame_mask = np.arange(BUCKET_FRAMES)[None] < num_frames
    alignment = np.asarray(_jitted_search(padded, token_mask, frame_mask))[0]
    best, best_paths = brute_force_best(log_likelihood[0].astype(np.float64))
    assert_valid_monotonic(alignment, num_tokens, num_frames)
    alignment = alignment[:num_tokens, :num_frames]
    np.testing.assert_allclose((alignment * log_likelihood[0]).sum(), best, rtol=1e-5, atol=1e-5)
    if len(best_paths) == 1:
        np.testing.assert_array_equal(alignment, best_paths[0])


def test_matches_python_dp_with_padding(rng):
    batch, max_tokens, max_frames = 6, 9, 30
    num_tokens = rng.integers(1, max_tokens + 1, size=batch)
    num_frames = np.array([rng.integers(n, max_frames + 1) for n in num_tokens])
    num_frames[0], num_tokens[0] = max_frames, max_tokens  # one sequence without padding
    token_mask = np.arange(max_tokens)[None] < num_tokens[:, None]
    frame_mask = np.arange(max_frames)[None] < num_frames[:, None]
    log_likelihood = rng.normal(size=(batch, max_tokens, max_frames)).astype(np.float32)
    # Garbage on padding must not matter.
    log_likelihood = np.where(token_mask[:, :, None] & frame_mask[:, None, :], log_likelihood, 50.0)

    alignment = np.asarray(_jitted_search(log_likelihood, token_mask, frame_mask))
    chex.assert_type(alignment, np.int32)
    for b in range(batch):
        expected = python_dp(log_likelihood[b].astype(np.float64), num_tokens[b], num_frames[b])
        np.testing.assert_array_equal(alignment[b], expected, err_msg=f"sequence {b}")
        assert_valid_monotonic(alignment[b], num_tokens[b], num_frames[b])

    durations = np.asarray(durations_from_alignment(alignment))
    chex.assert_type(durations, np.int32)
    np.testing.assert_array_equal(durations, alignment.sum(-1))
    np.testing.assert_array_equal(durations.sum(-1), num_frames)
    np.testing.assert_array_equal(durations > 0, token_mask)


def test_obvious_alignment_is_recovered():
    # Token s is very likely exactly on frames of a known duration pattern.
    durations = np.array([[2, 1, 3, 2, 0]])
    frame_to_token = np.repeat(np.arange(4), durations[0, :4])
    log_likelihood = np.full((1, 5, 10), -10.0, np.float32)
    log_likelihood[0, frame_to_token, np.arange(8)] = 0.0
    token_mask = np.array([[True] * 4 + [False]])
    frame_mask = np.arange(10)[None] < 8
    alignment = monotonic_alignment_search(log_likelihood, token_mask, frame_mask)
    np.testing.assert_array_equal(durations_from_alignment(alignment), durations)


def test_fewer_frames_than_tokens_falls_back_to_diagonal():
    alignment = np.asarray(
        monotonic_alignment_search(
            np.zeros((1, 4, 5), np.float32),
            np.ones((1, 4), bool),
            np.arange(5)[None] < 2,
        )
    )[0]
    expected = np.zeros((4, 5), np.int32)
    expected[0, 0] = expected[1, 1] = 1
    np.testing.assert_array_equal(alignment, expected)


def test_no_gradient_and_single_trace():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def total_score(log_likelihood, token_mask, frame_mask):
        alignment = monotonic_alignment_search(log_likelihood, token_mask, frame_mask)
        return (alignment * log_likelihood).sum()

    rng = np.random.default_rng(1)
    for n_frames in (5, 7):  # new lengths in the same bucket reuse the compiled function
        ll = rng.normal(size=(2, 3, 8)).astype(np.float32)
        masks = (np.ones((2, 3), bool), np.tile(np.arange(8) < n_frames, (2, 1)))
        grad = jax.grad(total_score)(ll, *masks)
        alignment = monotonic_alignment_search(ll, *masks)
        # The alignment itself is constant: the gradient is the alignment (a selection of L).
        np.testing.assert_array_equal(grad, np.asarray(alignment, np.float32))


@pytest.mark.parametrize(
    "shapes",
    [((2, 3), (2, 3), (2, 4)), ((2, 3, 4), (2, 4), (2, 4)), ((2, 3, 4), (2, 3), (1, 4))],
)
def test_bad_shapes_raise(shapes):
    ll_shape, token_shape, frame_shape = shapes
    with pytest.raises(InputError):
        monotonic_alignment_search(
            np.zeros(ll_shape, np.float32), np.ones(token_shape, bool), np.ones(frame_shape, bool)
        )
