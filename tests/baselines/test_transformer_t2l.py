"""Tests for lipjax.baselines.transformer_t2l: attention vs NumPy, causality, cached decoding equal to
full causal recomputation, stop-token handling, one-trace decoding, paper parameter count."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax.errors import ConfigError, InputError
from lipjax.paralip.model import to_unit_range
from lipjax.baselines.autoregressive import autoregressive_decode, previous_frames, stop_labels
from lipjax.baselines.transformer_t2l import Attention, TransformerT2L, TransformerT2LConfig
from lipjax.training.state import count_params

TINY = TransformerT2LConfig(
    vocab_size=10, hidden=16, num_heads=2, ffn_hidden=24, ffn_kernel=3, encoder_layers=1,
    decoder_layers=2, decoder_ffn_hidden=24, image_height=16, image_width=32,
    identity_channels=(4, 4, 6, 6), video_decoder_channels=(6, 5, 4, 4, 4),
    decoder_seed_channels=8, identity_dim=16, dropout=0.0, attention_dropout=0.0,
    relu_dropout=0.0)
T = 6


def key(seed=0):
    return jax.random.key(seed, impl="rbg")


@pytest.fixture(scope="module")
def setup():
    model = TransformerT2L(TINY)
    rng = np.random.default_rng(0)
    tokens = jnp.asarray([[3, 4, 5, 6, 0], [7, 2, 0, 0, 0]], jnp.int32)
    identity = jnp.asarray(rng.uniform(size=(2, 16, 32, 3)), jnp.float32)
    frames = jnp.asarray(rng.uniform(size=(2, T, 16, 32, 3)), jnp.float32)
    frame_mask = jnp.arange(T)[None] < jnp.asarray([[T], [4]])
    variables = jax.jit(lambda k: model.init(k, tokens, identity, frames, frame_mask,
                                             train=False))(key())
    return model, variables, tokens, identity, frames, frame_mask


@pytest.fixture(scope="module")
def forward(setup):
    """The teacher-forced pass, jitted once for the module (tokens and identity fixed)."""
    model, _, tokens, identity, *_ = setup
    return jax.jit(lambda v, f, m: model.apply(v, tokens, identity, f, m, train=False))


@pytest.fixture(scope="module")
def decode(setup):
    """Free-running decoding, jitted once per `use_stop_token`."""
    model, _, tokens, identity, *_ = setup
    return {use: jax.jit(lambda v, use=use: autoregressive_decode(
        model, v, tokens, identity, max_frames=T, use_stop_token=use)) for use in (True, False)}


def set_stop_bias(variables, value):
    params = jax.tree.map(lambda x: x, variables["params"])
    params["stop_head"] = {**params["stop_head"], "bias": jnp.full((1,), value, jnp.float32),
                           "kernel": jnp.zeros_like(params["stop_head"]["kernel"])}
    return {**variables, "params": params}


def test_attention_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 8)).astype(np.float32)
    memory = rng.normal(size=(2, 5, 8)).astype(np.float32)
    mask = rng.uniform(size=(2, 3, 5)) > 0.3
    mask[..., 0] = True
    attn = Attention(8, 2)
    def attend(module, x, memory, mask):
        return module(x, *module.keys_values(memory), mask, train=False)

    variables = attn.init(key(), x, memory, mask, method=attend)
    out = attn.apply(variables, x, memory, mask, method=attend)
    p = jax.tree.map(np.asarray, variables["params"])
    q = (x @ p["q_proj"]["kernel"]).reshape(2, 3, 2, 4)
    k, v = np.split(memory @ p["kv_proj"]["kernel"], 2, axis=-1)
    k, v = k.reshape(2, 5, 2, 4), v.reshape(2, 5, 2, 4)
    expected = np.zeros((2, 3, 2, 4))
    for b in range(2):
        for h in range(2):
            logits = q[b, :, h] @ k[b, :, h].T / np.sqrt(4)
            logits = np.where(mask[b], logits, -np.inf)
            w = np.exp(logits - logits.max(-1, keepdims=True))
            w /= w.sum(-1, keepdims=True)
            expected[b, :, h] = w @ v[b, :, h]
    expected = expected.reshape(2, 3, 8) @ p["out_proj"]["kernel"]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_helpers():
    frames = np.arange(2 * 3).reshape(2, 3, 1, 1, 1).astype(np.float32)
    shifted = np.asarray(previous_frames(frames))
    np.testing.assert_array_equal(shifted[:, 0], 0)
    np.testing.assert_array_equal(shifted[:, 1:], frames[:, :-1])
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(stop_labels(mask), [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])


def test_teacher_forced_shapes_masking_and_causality(setup, forward):
    model, variables, tokens, identity, frames, frame_mask = setup
    out = forward(variables, frames, frame_mask)
    chex.assert_shape(out.frames, (2, T, 16, 32, 3))
    chex.assert_shape(out.stop_logits, (2, T))
    assert np.all(np.asarray(out.frames)[1, 4:] == 0)
    assert np.all(np.abs(np.asarray(out.frames)) < 1)
    # Changing frame k (an input of frames > k only) must leave outputs 0..k untouched.
    k = 3
    changed = frames.at[:, k].set(1.0 - frames[:, k])
    again = forward(variables, changed, frame_mask)
    np.testing.assert_allclose(again.frames[:, :k + 1], out.frames[:, :k + 1], atol=1e-6)
    np.testing.assert_allclose(again.stop_logits[:, :k + 1], out.stop_logits[:, :k + 1], atol=1e-5)
    assert np.abs(np.asarray(again.frames[0, k + 1] - out.frames[0, k + 1])).max() > 1e-4


def test_rendering_selected_frames_equals_those_of_the_full_pass(setup, forward):
    model, variables, tokens, identity, frames, frame_mask = setup
    full = forward(variables, frames, frame_mask)
    indices = jnp.asarray([[5, 0, 2], [1, 5, 3]], jnp.int32)  # [1, 5] is a padding frame
    some = model.apply(variables, tokens, identity, frames, frame_mask, train=False,
                       frame_indices=indices)
    chex.assert_shape(some.frames, (2, 3, 16, 32, 3))
    np.testing.assert_allclose(some.stop_logits, full.stop_logits, atol=1e-6)
    want = np.take_along_axis(np.asarray(full.frames), np.asarray(indices)[..., None, None, None], 1)
    np.testing.assert_allclose(some.frames, want, atol=1e-5)


def test_cached_decoding_equals_full_causal_recomputation(setup, forward, decode):
    model, variables, tokens, identity, *_ = setup
    free = decode[False](variables)
    assert np.all(np.asarray(free.frame_mask))
    # Feeding the generated frames back as teacher-forcing inputs reproduces every step.
    forced = forward(variables, to_unit_range(free.frames), free.frame_mask)
    np.testing.assert_allclose(forced.frames, free.frames, atol=2e-5)
    np.testing.assert_allclose(forced.stop_logits, free.stop_logits, atol=2e-5)


@pytest.mark.parametrize("bias, use_stop, length", [(50.0, True, 1), (-50.0, True, T),
                                                    (50.0, False, T)])
def test_decoding_stops_at_stop_token_or_max_length(setup, decode, bias, use_stop, length):
    out = decode[use_stop](set_stop_bias(setup[1], bias))
    np.testing.assert_array_equal(np.sum(out.frame_mask, -1), [length, length])
    frames = np.asarray(out.frames)
    assert np.all(frames[:, length:] == 0)
    assert np.all(np.abs(frames[:, :length]).reshape(2, length, -1).max(-1) > 0)


def test_decoding_is_one_trace_without_a_python_loop(setup):
    model, variables, tokens, identity, *_ = setup

    @jax.jit
    @chex.assert_max_traces(n=1)
    def decode(v, t, i):
        return autoregressive_decode(model, v, t, i, max_frames=T)

    decode(variables, tokens, identity)
    decode(variables, tokens[::-1], identity[::-1])  # new values, same shapes: no retrace

    def program_size(max_frames):
        jaxpr = jax.make_jaxpr(lambda v, t, i: autoregressive_decode(
            model, v, t, i, max_frames=max_frames))(variables, tokens, identity)
        return len(jaxpr.jaxpr.eqns), str(jaxpr).count("while[")

    # A Python loop per frame would make the program grow with the length.
    assert program_size(3) == program_size(12)
    assert program_size(3)[1] == 1


def test_input_and_config_errors(setup):
    model, variables, tokens, identity, frames, frame_mask = setup
    with pytest.raises(InputError, match="identity"):
        model.apply(variables, tokens, identity[:, :8], frames, frame_mask, train=False)
    with pytest.raises(InputError, match="frame_mask"):
        model.apply(variables, tokens, identity, frames, frame_mask[:, :2], train=False)
    with pytest.raises(InputError, match="max_frames"):
        autoregressive_decode(model, variables, tokens, identity, max_frames=0)
    with pytest.raises(ConfigError, match="stop_threshold"):
        dataclasses.replace(TINY, stop_threshold=1.0)


def test_paper_configuration_parameter_count():
    model = TransformerT2L(TransformerT2LConfig())
    image = jnp.zeros((1, 80, 160, 3))
    shapes = jax.eval_shape(lambda: model.init(key(), jnp.ones((1, 4), jnp.int32), image,
                                               image[:, None], jnp.ones((1, 1), bool),
                                               train=False))
    n = count_params(shapes["params"])
    assert n == 37_720_881
    assert abs(n - 37.780e6) / 37.780e6 < 0.005  # ParaLip Table 5
