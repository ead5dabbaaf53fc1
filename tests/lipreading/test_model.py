"""The lipreader's front-end convolution, masking and config checks, and its CTC loss against
a brute-force sum over all paths."""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax.errors import ConfigError, InputError
from lipjax.lipreading import Lipreader, LipreaderConfig, ctc_loss_term, validate_lipreader_config
from lipjax.lipreading.model import conv3d_as_2d

TINY = LipreaderConfig(vocab_size=6, image_height=16, image_width=32, input_pool=2,
                       channels=(4, 4), kernels=((3, 3, 3), (3, 3, 3)), rnn_hidden=8,
                       rnn_layers=1, dropout=0.0)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv3d_as_2d_equals_a_3d_convolution(stride):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 8, 10, 3)).astype(np.float32)
    kernel = rng.normal(size=(3, 5, 3, 3, 4)).astype(np.float32)
    expected = jax.lax.conv_general_dilated(x, kernel, (1, stride, stride), "SAME",
                                           dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    got = conv3d_as_2d(x, kernel, spatial_stride=stride)
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("rnn", ["gru", "conv"])
def test_valid_outputs_do_not_depend_on_the_padding(rnn):
    rng = np.random.default_rng(1)
    model = Lipreader(dataclasses.replace(TINY, rnn=rnn))
    frames = rng.uniform(size=(1, 9, 16, 32, 3)).astype(np.float32)
    mask = np.arange(9)[None] < 6
    variables = model.init(jax.random.key(0), frames, mask)
    out = model.apply(variables, frames, mask)
    noisy = frames.copy()
    noisy[:, 6:] = rng.uniform(size=noisy[:, 6:].shape)
    longer = np.concatenate([frames, rng.uniform(size=(1, 4, 16, 32, 3))], 1).astype(np.float32)
    np.testing.assert_allclose(model.apply(variables, noisy, mask)[:, :6], out[:, :6], atol=1e-5)
    np.testing.assert_allclose(
        model.apply(variables, longer, np.arange(13)[None] < 6)[:, :6], out[:, :6], atol=1e-5)
    assert out.shape == (1, 9, 6) and out.dtype == jnp.float32


@pytest.mark.parametrize("field, value, match", [
    ("rnn", "transformer", "model.rnn"), ("dropout", 1.0, "dropout"),
    ("kernels", ((3, 3, 3),), "same length"), ("vocab_size", 1, "vocab_size"),
    ("input_pool", 32, "shrink"), ("temporal_kernel", 0, "temporal_kernel"),
])
def test_bad_configs_are_named(field, value, match):
    with pytest.raises(ConfigError, match=match):
        validate_lipreader_config(dataclasses.replace(TINY, **{field: value}))


def test_frames_of_another_size_are_an_input_error():
    with pytest.raises(InputError, match="frames must be"):
        Lipreader(TINY).init(jax.random.key(0), np.zeros((1, 4, 80, 160, 3)), np.ones((1, 4), bool))


def brute_force_ctc(log_probs: np.ndarray, label: list[int]) -> float:
    """-log of the summed probability of every frame path that collapses to `label`."""
    frames, vocab = log_probs.shape
    total = 0.0
    for path in itertools.product(range(vocab), repeat=frames):
        collapsed = [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]
        if collapsed == label:
            total += np.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return float(-np.log(total))


def _batch(logits, labels, frames):
    batch, max_frames, _ = logits.shape
    tokens = np.zeros((batch, 3), np.int32)
    for b, label in enumerate(labels):
        tokens[b, :len(label)] = label
    return {"frame_mask": np.arange(max_frames)[None] < np.asarray(frames)[:, None],
            "tokens": tokens, "token_mask": tokens > 0,
            "example_mask": np.array([True] * len(labels))}


def test_ctc_loss_of_a_hand_counted_case():
    # Uniform outputs over 4 classes, 3 frames, label "1 2": 5 of the 64 paths collapse to it
    # (1 2 _, 1 _ 2, _ 1 2, 1 1 2, 1 2 2), so the loss is log(64 / 5) over 2 tokens.
    logits = np.zeros((1, 3, 4), np.float32)
    term = ctc_loss_term(logits, _batch(logits, [[1, 2]], [3]))
    np.testing.assert_allclose(term.value, np.log(64 / 5) / 2, rtol=1e-5)
    assert int(term.count) == 2


def test_ctc_loss_equals_the_brute_force_sum_over_paths():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 5, 3)).astype(np.float32)
    labels, frames = [[1, 1], [2, 1, 2], [1]], [5, 5, 4]   # a repeat needs a blank between
    term = ctc_loss_term(logits, _batch(logits, labels, frames))
    log_probs = np.asarray(jax.nn.log_softmax(logits, -1))
    expected = sum(brute_force_ctc(log_probs[b, :frames[b]], labels[b]) for b in range(3))
    np.testing.assert_allclose(float(term.value), expected / 6, rtol=1e-4)
