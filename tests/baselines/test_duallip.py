"""Tests for lipjax.baselines.duallip: location-sensitive attention vs NumPy, teacher-forced pass vs
free-running decoding, stop-token handling, paper parameter count."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax.errors import ConfigError
from lipjax.baselines.duallip import DualLip, DualLipConfig, LocationSensitiveAttention
from lipjax.paralip.model import to_unit_range
from lipjax.baselines.autoregressive import autoregressive_decode
from lipjax.training.state import count_params

TINY = DualLipConfig(
    vocab_size=10, hidden=16, num_heads=2, ffn_hidden=24, ffn_kernel=3, encoder_layers=1,
    image_height=16, image_width=32, identity_channels=(4, 4, 6, 6),
    video_decoder_channels=(6, 5, 4, 4, 4), decoder_seed_channels=8, identity_dim=16,
    prenet_dims=(8, 8), attention_rnn_units=12, decoder_rnn_units=12, attention_dim=8,
    location_filters=3, location_kernel=3, dropout=0.0, attention_dropout=0.0, relu_dropout=0.0)
T = 5


def key(seed=0):
    return jax.random.key(seed, impl="rbg")


@pytest.fixture(scope="module")
def setup():
    model = DualLip(TINY)
    rng = np.random.default_rng(0)
    tokens = jnp.asarray([[3, 4, 5, 6], [7, 2, 0, 0]], jnp.int32)
    identity = jnp.asarray(rng.uniform(size=(2, 16, 32, 3)), jnp.float32)
    frames = jnp.asarray(rng.uniform(size=(2, T, 16, 32, 3)), jnp.float32)
    frame_mask = jnp.arange(T)[None] < jnp.asarray([[T], [3]])
    variables = jax.jit(lambda k: model.init(k, tokens, identity, frames, frame_mask,
                                             train=False))(key())
    forward = jax.jit(lambda v, f, m: model.apply(v, tokens, identity, f, m, train=False))
    decode = {use: jax.jit(lambda v, use=use: autoregressive_decode(
        model, v, tokens, identity, max_frames=T, use_stop_token=use)) for use in (True, False)}
    return variables, frames, frame_mask, forward, decode


def test_location_sensitive_attention_matches_numpy():
    rng = np.random.default_rng(2)
    b, s, c, q = 2, 6, 5, 4
    query = rng.normal(size=(b, q)).astype(np.float32)
    memory = rng.normal(size=(b, s, c)).astype(np.float32)
    mask = np.array([[1] * 6, [1, 1, 1, 1, 0, 0]], bool)
    prev = rng.uniform(size=(b, s)).astype(np.float32) * mask
    cum = prev + rng.uniform(size=(b, s)).astype(np.float32) * mask
    attn = LocationSensitiveAttention(attention_dim=7, location_filters=3, location_kernel=3)

    def run(module, query, memory, mask, prev, cum):
        return module(query, memory, module.process_memory(memory), mask, prev, cum)

    variables = attn.init(key(), query, memory, mask, prev, cum, method=run)
    context, weights = attn.apply(variables, query, memory, mask, prev, cum, method=run)
    p = jax.tree.map(np.asarray, variables["params"])
    conv = p["location_conv"]["kernel"]  # [k, 2, filters]
    loc_in = np.pad(np.stack([prev, cum], -1), ((0, 0), (1, 1), (0, 0)))
    location = np.stack([np.einsum("bkc,kcf->bf", loc_in[:, j:j + 3], conv) for j in range(s)], 1)
    hidden = np.tanh((query @ p["query_layer"]["kernel"])[:, None]
                     + memory @ p["memory_layer"]["kernel"]
                     + location @ p["location_layer"]["kernel"])
    energies = np.where(mask, (hidden @ p["energy"]["kernel"])[..., 0], -np.inf)
    expected_w = np.exp(energies - energies.max(-1, keepdims=True))
    expected_w /= expected_w.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context, np.einsum("bs,bsc->bc", expected_w, memory), atol=1e-5)


def test_teacher_forced_shapes_and_causality(setup):
    variables, frames, frame_mask, forward, _ = setup
    out = forward(variables, frames, frame_mask)
    chex.assert_shape(out.frames, (2, T, 16, 32, 3))
    chex.assert_shape(out.stop_logits, (2, T))
    assert np.all(np.asarray(out.frames)[1, 3:] == 0)
    k = 2
    again = forward(variables, frames.at[:, k].set(0.5), frame_mask)
    # The recurrence has not seen frame k before step k + 1: earlier outputs are bit-identical.
    np.testing.assert_array_equal(again.frames[:, :k + 1], out.frames[:, :k + 1])
    np.testing.assert_array_equal(again.stop_logits[:, :k + 1], out.stop_logits[:, :k + 1])
    assert np.abs(np.asarray(again.stop_logits[0, k + 1] - out.stop_logits[0, k + 1])) > 0
    assert np.abs(np.asarray(again.frames[0, k + 1] - out.frames[0, k + 1])).max() > 0


def test_rendering_selected_frames_equals_those_of_the_full_pass(setup):
    variables, frames, frame_mask, forward, _ = setup
    model = DualLip(TINY)
    tokens = jnp.asarray([[3, 4, 5, 6], [7, 2, 0, 0]], jnp.int32)
    identity = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 16, 32, 3)), jnp.float32)
    full = model.apply(variables, tokens, identity, frames, frame_mask, train=False)
    indices = jnp.asarray([[2, 0], [1, 4]], jnp.int32)
    some = model.apply(variables, tokens, identity, frames, frame_mask, train=False,
                       frame_indices=indices)
    np.testing.assert_allclose(some.stop_logits, full.stop_logits, atol=1e-6)
    want = np.take_along_axis(np.asarray(full.frames), np.asarray(indices)[..., None, None, None], 1)
    np.testing.assert_allclose(some.frames, want, atol=1e-5)


def test_free_running_fed_back_reproduces_teacher_forcing(setup):
    variables, _, _, forward, decode = setup
    free = decode[False](variables)
    assert np.all(np.asarray(free.frame_mask))
    forced = forward(variables, to_unit_range(free.frames), free.frame_mask)
    np.testing.assert_allclose(forced.frames, free.frames, atol=2e-5)
    np.testing.assert_allclose(forced.stop_logits, free.stop_logits, atol=2e-5)


@pytest.mark.parametrize("bias, use_stop, length", [(50.0, True, 1), (-50.0, True, T),
                                                    (50.0, False, T)])
def test_decoding_stops_at_stop_token_or_max_length(setup, bias, use_stop, length):
    variables, *_, decode = setup
    params = jax.tree.map(lambda x: x, variables["params"])
    head = params["cell"]["stop_head"]
    params["cell"]["stop_head"] = {"kernel": jnp.zeros_like(head["kernel"]),
                                   "bias": jnp.full_like(head["bias"], bias)}
    out = decode[use_stop]({**variables, "params": params})
    np.testing.assert_array_equal(np.sum(out.frame_mask, -1), [length, length])
    assert np.all(np.asarray(out.frames)[:, length:] == 0)


def test_decoding_is_one_trace(setup):
    variables, *_ = setup
    model = DualLip(TINY)
    tokens = jnp.asarray([[3, 4, 0]], jnp.int32)

    def program_size(max_frames):
        jaxpr = jax.make_jaxpr(lambda v: autoregressive_decode(
            model, v, tokens, jnp.zeros((1, 16, 32, 3)), max_frames=max_frames))(variables)
        return len(jaxpr.jaxpr.eqns), str(jaxpr).count("while[")

    assert program_size(2) == program_size(9)
    assert program_size(2)[1] == 1


def test_config_errors():
    with pytest.raises(ConfigError, match="location_kernel"):
        dataclasses.replace(TINY, location_kernel=4)
    with pytest.raises(ConfigError, match="stop_threshold"):
        dataclasses.replace(TINY, stop_threshold=0.0)


def test_paper_configuration_parameter_count():
    model = DualLip(DualLipConfig())
    image = jnp.zeros((1, 80, 160, 3))
    shapes = jax.eval_shape(lambda: model.init(key(), jnp.ones((1, 4), jnp.int32), image,
                                               image[:, None], jnp.ones((1, 1), bool),
                                               train=False))
    n = count_params(shapes["params"])
    assert n == 41_475_696
    assert abs(n - 41.483e6) / 41.483e6 < 0.005  # ParaLip Table 5
