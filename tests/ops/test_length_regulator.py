"""Tests for lipjax.ops.length_regulator against a NumPy `np.repeat` reference."""

from __future__ import annotations

from functools import partial

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lipjax.errors import InputError
from lipjax.ops import expand, length_regulate

BATCH, TOKENS, CHANNELS = 3, 6, 2


def reference_frame_to_token(durations: np.ndarray, max_frames: int) -> np.ndarray:
    """1-based token of every frame via np.repeat, truncated / zero-padded to max_frames."""
    out = np.zeros((durations.shape[0], max_frames), np.int32)
    for b, row in enumerate(np.maximum(durations, 0)):
        tokens = np.repeat(np.arange(1, len(row) + 1), row)[:max_frames]
        out[b, : len(tokens)] = tokens
    return out


def reference_expand(x: np.ndarray, durations: np.ndarray, max_frames: int) -> np.ndarray:
    """Every token's feature row repeated durations times, truncated / zero-padded."""
    out = np.zeros((x.shape[0], max_frames, *x.shape[2:]), x.dtype)
    for b in range(x.shape[0]):
        frames = np.repeat(x[b], np.maximum(durations[b], 0), axis=0)[:max_frames]
        out[b, : len(frames)] = frames
    return out


# Jitted with a static bucket so that the hypothesis loop compiles once per max_frames.
@partial(jax.jit, static_argnums=2)
def _regulate_and_expand(durations, x, max_frames):
    regulation = length_regulate(durations, max_frames)
    return regulation, expand(x, regulation.frame_to_token)


@settings(max_examples=30, deadline=None)
@given(
    durations=hnp.arrays(np.int32, (BATCH, TOKENS), elements=st.integers(-1, 6)),
    max_frames=st.sampled_from([4, 12, 24]),
)
def test_matches_numpy_repeat(durations, max_frames):
    x = np.random.default_rng(0).normal(size=(BATCH, TOKENS, CHANNELS)).astype(np.float32)
    regulation, expanded = _regulate_and_expand(durations, x, max_frames)
    total = np.maximum(durations, 0).sum(-1)

    np.testing.assert_array_equal(
        regulation.frame_to_token, reference_frame_to_token(durations, max_frames)
    )
    expected_mask = np.arange(max_frames)[None] < total[:, None]
    np.testing.assert_array_equal(regulation.frame_mask, expected_mask)
    np.testing.assert_array_equal(regulation.total_frames, total)  # untruncated
    np.testing.assert_array_equal(regulation.overflow, total > max_frames)
    chex.assert_type(list(regulation), [np.int32, bool, np.int32, bool])
    np.testing.assert_array_equal(expanded, reference_expand(x, durations, max_frames))
    # Padding frames are exactly zero (not merely small).
    assert not np.any(np.asarray(expanded)[~np.asarray(regulation.frame_mask)])


def test_truncation_and_zero_durations_explicitly():
    durations = np.array([[2, 0, 3, 1], [0, 0, 0, 0], [5, 5, 0, 0]], np.int32)
    regulation = length_regulate(durations, 6)
    np.testing.assert_array_equal(
        regulation.frame_to_token,
        [[1, 1, 3, 3, 3, 4], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 2]],
    )
    np.testing.assert_array_equal(regulation.total_frames, [6, 0, 10])
    np.testing.assert_array_equal(regulation.overflow, [False, False, True])


def test_gradient_of_expand_sums_frame_cotangents(rng):
    durations = np.array([[2, 0, 3, 1, 0, 4], [1, 1, 1, 1, 1, 1], [6, 6, 0, 0, 0, 0]], np.int32)
    max_frames = 10
    x = rng.normal(size=(BATCH, TOKENS, CHANNELS)).astype(np.float32)
    cotangent = rng.normal(size=(BATCH, max_frames, CHANNELS)).astype(np.float32)
    frame_to_token = length_regulate(durations, max_frames).frame_to_token

    grad = jax.grad(lambda x: (expand(x, frame_to_token) * cotangent).sum())(x)

    expected = np.zeros_like(x)
    for b in range(BATCH):
        for t, token in enumerate(reference_frame_to_token(durations, max_frames)[b]):
            if token:  # padding frames contribute to no token
                expected[b, token - 1] += cotangent[b, t]
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)


def test_no_recompile_for_new_durations_in_same_bucket(rng):
    @jax.jit
    @chex.assert_max_traces(n=1)
    def regulate_and_expand(durations, x):
        return expand(x, length_regulate(durations, 16).frame_to_token)

    x = jnp.asarray(rng.normal(size=(BATCH, TOKENS, CHANNELS)), jnp.float32)
    for _ in range(4):  # a second trace would raise AssertionError
        durations = rng.integers(0, 5, size=(BATCH, TOKENS)).astype(np.int32)
        np.testing.assert_array_equal(
            regulate_and_expand(durations, x), reference_expand(np.asarray(x), durations, 16)
        )


@pytest.mark.parametrize(
    "call",
    [
        lambda: length_regulate(np.ones((2, 3, 1), np.int32), 8),
        lambda: length_regulate(np.ones((2, 3), np.int32), 0),
        lambda: length_regulate(np.ones((2, 3), np.int32), 8.0),
        lambda: expand(np.ones((2, 3, 4)), np.ones((3, 5), np.int32)),
        lambda: expand(np.ones((2,)), np.ones((2, 5), np.int32)),
    ],
)
def test_bad_input_raises(call):
    with pytest.raises(InputError):
        call()
