"""Tests for lipjax.paralip.model: parameter counts, shapes, the duration path, BatchNorm modes."""

import dataclasses
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax.errors import ConfigError, InputError
from lipjax.paralip import model as paralip
from lipjax.paralip.model import ParaLip, ParaLipConfig
from tests._layouts import read_layout


TINY = ParaLipConfig(
    vocab_size=10,
    hidden=16,
    num_heads=2,
    ffn_hidden=24,
    ffn_kernel=3,
    encoder_layers=1,
    decoder_layers=1,
    duration_channels=8,
    image_height=16,
    image_width=32,
    identity_channels=(4, 4, 6, 6),
    video_decoder_channels=(6, 5, 4, 4, 4),
    decoder_seed_channels=8,
    identity_dim=16,
)


def count(tree) -> int:
    return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def abstract_params(config: ParaLipConfig):
    model = ParaLip(config)
    tokens = jnp.ones((1, 4), jnp.int32)
    image = jnp.zeros((1, config.image_height, config.image_width, config.image_channels))
    init = lambda: model.init(jax.random.key(0), tokens, image, max_frames=6, train=False)  # noqa: E731
    return jax.eval_shape(init)


def official_layout() -> list[tuple[str, tuple[int, ...]]]:
    return read_layout("paralip_official")


def official_counts() -> dict:
    """Trainable elements per top-level module of the official checkpoint (buffers excluded)."""
    totals = {}
    for name, shape in official_layout():
        if any(s in name for s in ("running_", "num_batches_tracked", "_float_tensor")):
            continue
        # `encoder_embed_tokens` is the same tensor as `encoder.embed_tokens` (counted once).
        if name.startswith("encoder_embed_tokens"):
            continue
        top = name.split(".")[0]
        totals[top] = totals.get(top, 0) + math.prod(shape)
    return totals


@pytest.fixture(scope="module")
def paper_variables():
    return abstract_params(ParaLipConfig())


def test_paper_configuration_parameter_counts(paper_variables):
    params = paper_variables["params"]
    assert count(params) == 35_137_713
    assert count(params["duration_predictor"]) == 395_009
    assert count(params["identity_encoder"]) == 1_909_376
    assert count(params["video_decoder"]) == 9_737_007


def test_each_extra_token_adds_256_parameters(paper_variables):
    bigger = abstract_params(ParaLipConfig(vocab_size=45))
    assert count(bigger["params"]) - count(paper_variables["params"]) == 13 * 256


def test_module_totals_agree_with_official_checkpoint(paper_variables):
    params = paper_variables["params"]
    official = official_counts()
    # The two unused official heads (mel_out, spk_embed_proj) hold 86,352 and have no counterpart.
    assert official.pop("mel_out") + official.pop("spk_embed_proj") == 86_352
    mapping = {
        "encoder": "encoder",
        "decoder": "decoder",
        "dur_predictor": "duration_predictor",
        "img_encoder": "identity_encoder",
        "img_decoder": "video_decoder",
    }
    assert set(official) == set(mapping)
    for theirs, ours in mapping.items():
        assert count(params[ours]) == official[theirs], theirs
    # BatchNorm running statistics: one mean and one var per official BatchNorm channel.
    stats = sum(math.prod(shape) for name, shape in official_layout() if "running_" in name)
    assert count(paper_variables["batch_stats"]) == stats


@pytest.fixture(scope="module")
def tiny():
    model = ParaLip(TINY)
    tokens = jnp.array([[3, 4, 5, 0], [6, 7, 0, 0]], jnp.int32)
    identity = jax.random.uniform(jax.random.key(1), (2, 16, 32, 3))
    variables = model.init(jax.random.key(0), tokens, identity, max_frames=9, train=False)
    return model, variables, tokens, identity


def test_shapes_and_padded_frames_are_zero(tiny):
    model, variables, tokens, identity = tiny
    durations = jnp.array([[2, 1, 3, 0], [1, 2, 0, 0]], jnp.int32)
    out = model.apply(variables, tokens, identity, durations, max_frames=9, train=False)
    chex.assert_shape(out.frames, (2, 9, 16, 32, 3))
    chex.assert_shape(out.log_durations, (2, 4))
    np.testing.assert_array_equal(out.durations, durations)
    np.testing.assert_array_equal(out.frame_mask.sum(1), [6, 3])
    frames = np.asarray(out.frames)
    assert np.all(frames[0, 6:] == 0) and np.all(frames[1, 3:] == 0)
    assert np.all(np.abs(frames[0, :6]).reshape(6, -1).max(1) > 0)
    assert np.all(np.abs(frames) < 1)
    assert not out.overflow.any()
    assert np.all(np.asarray(out.log_durations)[0, 3] == 0) and np.all(np.asarray(out.log_durations)[1, 2:] == 0)


def set_duration_bias(variables, values):
    """Zero the duration predictor's final Linear so that its output is exactly `values` (bias)."""
    params = jax.tree.map(lambda a: a, variables["params"])
    linear = dict(params["duration_predictor"]["linear"])
    linear["kernel"] = jnp.zeros_like(linear["kernel"])
    linear["bias"] = jnp.full_like(linear["bias"], values)
    params["duration_predictor"] = dict(params["duration_predictor"], linear=linear)
    return {**variables, "params": params}


@pytest.mark.parametrize(
    "d_plus_one, expected",
    [(3.0, 2), (2.5, 2), (3.5, 2), (4.2, 3), (1.2, 1)],  # 1.5 -> 2 and 2.5 -> 2 (half to even)
)
def test_predicted_duration_rounding_rule(tiny, d_plus_one, expected):
    model, variables, tokens, identity = tiny
    out = model.apply(set_duration_bias(variables, math.log(d_plus_one)), tokens, identity, max_frames=9, train=False)
    np.testing.assert_allclose(np.asarray(out.log_durations)[0, :3], math.log(d_plus_one), rtol=1e-6)
    # exp(log(1.2)) - 1 = 0.2 rounds to 0 for every token, so the all-zero rule gives 1 each.
    np.testing.assert_array_equal(out.durations, [[expected] * 3 + [0], [expected] * 2 + [0, 0]])
    np.testing.assert_array_equal(out.frame_mask.sum(1), [3 * expected, 2 * expected])


def test_durations_from_log_matches_numpy(rng):
    logs = rng.normal(size=(20, 7)).astype(np.float32) * 1.5
    mask = rng.random((20, 7)) < 0.7
    logs[3] = -5.0  # all durations round to 0 -> all valid tokens get 1
    got = np.asarray(paralip.durations_from_log(logs, mask))
    want = np.where(mask, np.maximum(np.round(np.exp(logs.astype(np.float64)) - 1), 0), 0).astype(int)
    for b in range(20):
        if want[b].sum() == 0:
            want[b] = mask[b].astype(int)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[3], mask[3].astype(int))


def test_overflow_is_reported_and_frames_truncated(tiny):
    model, variables, tokens, identity = tiny
    out = model.apply(variables, tokens, identity, jnp.array([[4, 4, 4, 0], [1, 1, 0, 0]]), max_frames=9, train=False)
    np.testing.assert_array_equal(out.overflow, [True, False])
    np.testing.assert_array_equal(out.frame_mask.sum(1), [9, 2])


def test_jit_does_not_retrace_for_new_tokens_and_durations(tiny):
    model, variables, tokens, identity = tiny

    @jax.jit
    @chex.assert_max_traces(n=1)
    def generate(tokens, durations):
        return model.apply(variables, tokens, identity, durations, max_frames=9, train=False).frames

    generate(tokens, jnp.array([[1, 2, 3, 0], [2, 2, 0, 0]], jnp.int32))
    generate(jnp.array([[9, 9, 0, 0], [1, 2, 3, 4]], jnp.int32), jnp.array([[5, 1, 0, 0], [1, 1, 1, 1]], jnp.int32))


def test_identity_encoder_downsamples_80x160_to_5x10():
    config = ParaLipConfig(identity_channels=(2, 3, 4, 5), hidden=16, num_heads=2, identity_dim=16)
    encoder = paralip.IdentityEncoder(config)
    image = jnp.zeros((2, 80, 160, 3))
    (embedding, skips), _ = jax.eval_shape(
        lambda: encoder.init_with_output(jax.random.key(0), image, train=False)
    )
    assert embedding.shape == (2, 16)
    assert [s.shape for s in skips] == [(2, 40, 80, 2), (2, 20, 40, 3), (2, 10, 20, 4), (2, 5, 10, 5)]


def test_batch_norm_statistics_update_only_in_training(tiny):
    model, variables, tokens, identity = tiny
    durations = jnp.array([[2, 1, 3, 0], [1, 2, 0, 0]], jnp.int32)
    _, frozen = model.apply(variables, tokens, identity, durations, max_frames=9, train=False, mutable=["batch_stats"])
    _, updated = model.apply(
        variables, tokens, identity, durations, max_frames=9, train=True, mutable=["batch_stats"],
        rngs={"dropout": jax.random.key(2)},
    )
    unchanged = jax.tree.map(np.array_equal, variables["batch_stats"], frozen["batch_stats"])
    assert all(jax.tree.leaves(unchanged))
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), variables["batch_stats"], updated["batch_stats"])
    assert all(jax.tree.leaves(changed))


def test_padding_frames_do_not_affect_training_statistics(tiny):
    """With masking, a longer bucket (more padding frames) gives the same batch statistics."""
    _, variables, tokens, identity = tiny
    # Without dropout the valid frames' features do not depend on the bucket size.
    model = ParaLip(dataclasses.replace(TINY, dropout=0.0, attention_dropout=0.0, relu_dropout=0.0, duration_dropout=0.0))
    durations = jnp.array([[2, 1, 3, 0], [1, 2, 0, 0]], jnp.int32)
    stats = []
    for max_frames in (6, 9):
        _, new = model.apply(
            variables, tokens, identity, durations, max_frames=max_frames, train=True,
            mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)},
        )
        stats.append(new["batch_stats"]["video_decoder"])
    close = jax.tree.map(lambda a, b: np.allclose(a, b, atol=1e-5), *stats)
    assert all(jax.tree.leaves(close))


def test_ground_truth_durations_ignore_padding_tokens(tiny):
    model, variables, tokens, identity = tiny
    out = model.apply(variables, tokens, identity, jnp.array([[1, 1, 1, 5], [1, 1, 5, 5]]), max_frames=9, train=False)
    np.testing.assert_array_equal(out.durations, [[1, 1, 1, 0], [1, 1, 0, 0]])


def test_bad_inputs_raise_input_error(tiny):
    model, variables, tokens, identity = tiny
    with pytest.raises(InputError, match="identity"):
        model.apply(variables, tokens, identity[:, :8], max_frames=9, train=False)
    with pytest.raises(InputError, match="durations"):
        model.apply(variables, tokens, identity, jnp.ones((2, 3), jnp.int32), max_frames=9, train=False)
    with pytest.raises(InputError, match="max_frames"):
        model.apply(variables, tokens, identity, max_frames=0, train=False)
    with pytest.raises(InputError, match="tokens"):
        model.apply(variables, tokens.astype(jnp.float32), identity, max_frames=9, train=False)


def test_config_accepts_lists_and_stays_hashable():
    config = ParaLipConfig(identity_channels=[16, 32, 64, 128], video_decoder_channels=[196, 128, 80, 48, 16])
    assert config == ParaLipConfig() and hash(config) == hash(ParaLipConfig())


def test_inconsistent_config_raises_config_error():
    with pytest.raises(ConfigError, match="divisible"):
        ParaLipConfig(image_height=84)
    with pytest.raises(ConfigError, match="identity_dim"):
        ParaLipConfig(identity_dim=128)


def recorded_rates_and_epsilons(model: ParaLip, variables, tokens, identity, durations) -> dict:
    """`{module path: Dropout rate or LayerNorm epsilon}` of every one the model calls."""
    import flax.linen as nn

    seen = {}

    def record(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name == "__call__" and isinstance(module, (nn.Dropout, nn.LayerNorm)):
            value = module.rate if isinstance(module, nn.Dropout) else module.epsilon
            seen["/".join(module.path)] = value
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        model.apply(variables, tokens, identity, durations, max_frames=9, train=True,
                    mutable=["batch_stats"], rngs={"dropout": jax.random.key(0)})
    return seen


def test_official_dropout_rates_and_layer_norm_epsilons(tiny):
    model, variables, tokens, identity = tiny
    seen = recorded_rates_and_epsilons(model, variables, tokens, identity,
                                       jnp.array([[2, 1, 3, 0], [1, 2, 0, 0]], jnp.int32))
    for stack in ("encoder", "decoder"):
        assert seen[f"{stack}/Dropout_0"] == 0.2                        # on the embedded input
        layer = f"{stack}/layers_0"
        assert seen[f"{layer}/self_attn/Dropout_0"] == 0.0              # attention weights
        assert seen[f"{layer}/ffn/Dropout_0"] == 0.2                    # after the FFN's ReLU
        assert seen[f"{layer}/Dropout_0"] == seen[f"{layer}/Dropout_1"] == 0.2  # residuals
        assert seen[f"{layer}/layer_norm1"] == seen[f"{layer}/layer_norm2"] == 1e-5
    assert seen["encoder/layer_norm"] == 1e-12 and seen["decoder/layer_norm"] == 1e-5
    assert seen["duration_predictor/layer_norm_0"] == 1e-12
    assert seen["duration_predictor/Dropout_0"] == 0.5


def randomized(variables, seed: int = 0):
    """Every parameter moved off its initial value (LayerNorm biases non-zero, so padding rows
    carry information)."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: a + 0.2 * rng.normal(size=a.shape).astype(np.float32), variables)


def test_padding_changes_official_outputs_only_without_mask_padding_in_ffn(tiny):
    """Official arithmetic: the FFN convs see LayerNorm(0) = its bias on padding rows, so bucket
    padding changes the last frames; `mask_padding_in_ffn` makes any padding equal none."""
    _, variables, _, identity = tiny
    variables = randomized(variables)
    tokens, durations = jnp.array([[3, 4, 5]], jnp.int32), jnp.array([[2, 1, 2]], jnp.int32)
    padded_tokens = jnp.pad(tokens, ((0, 0), (0, 5)))
    padded_durations = jnp.pad(durations, ((0, 0), (0, 5)))
    for mask, equal in ((False, False), (True, True)):
        model = ParaLip(dataclasses.replace(TINY, mask_padding_in_ffn=mask))
        alone = model.apply(variables, tokens, identity[:1], durations, max_frames=5, train=False)
        padded = model.apply(variables, padded_tokens, identity[:1], padded_durations,
                             max_frames=12, train=False)
        difference = np.abs(np.asarray(padded.frames[:, :5]) - np.asarray(alone.frames)).max()
        assert (difference < 1e-5) == equal, (mask, difference)


def test_motion_decoder_padding_rows_carry_the_layer_norm_bias(tiny):
    """As in the official model, the motion decoder's output is not masked (padding frames are
    rendered, then zeroed)."""
    _, variables, _, _ = tiny
    variables = randomized(variables)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(1, 6, 16)), jnp.float32)
    mask = jnp.array([[True] * 4 + [False] * 2])
    x = x * mask[..., None]
    out = paralip.MotionDecoder(TINY).apply({"params": variables["params"]["decoder"]}, x, mask,
                                            train=False)
    bias = variables["params"]["decoder"]["layer_norm"]["bias"]
    np.testing.assert_allclose(np.asarray(out)[0, 4:], np.broadcast_to(bias, (2, 16)), atol=1e-5)
