"""Tests of lipjax.dck.model: DCK layers vs static / per-sample lax convolutions, blending,
output shapes, ablations, parameter counts vs an analytic formula, gradients, no retracing."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from lipjax.errors import ConfigError, InputError
from lipjax.nn.audio_encoder import ConvBlockSpec
from lipjax.dck import model as dck
from lipjax.dck.model import DCKConfig, DCKGenerator, DCKLayer, blend
from lipjax.nn.discriminators import DCKDiscriminator, DCKDiscriminatorConfig

WAV2LIP_AUDIO_PARAMS = 2_812_672
# A 4-block audio encoder with Wav2Lip's strides (80 x 16 -> 1 x 1): compiles fast on CPU.
TINY_AUDIO = (
    ConvBlockSpec(8, 3, (3, 1), 1, False),
    ConvBlockSpec(8, 3, (3, 3), 1, False),
    ConvBlockSpec(16, 3, (3, 2), 1, False),
    ConvBlockSpec(32, 3, (1, 1), 0, False),
)
TINY = DCKConfig(
    image_size=64,
    down_channels=(8, 16, 16, 16, 16),
    up_channels=(16, 16, 16, 8, 8),
    middle_channels=16,
    audio_blocks=TINY_AUDIO,
    audio_feature_dim=32,
    kernel_generator_hidden=(32,),
    discriminator=DCKDiscriminatorConfig(channels=(8, 16)),
)


def _key(seed: int = 0) -> jax.Array:
    """An RBG PRNG key: initialising with it compiles ~10x faster on CPU than threefry."""
    return jax.random.key(seed, impl="rbg")


def _count(tree) -> int:
    return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def _inputs(rng, lead=(2,), size=64):
    frames = jnp.asarray(rng.uniform(0, 1, (*lead, size, size, 3)), jnp.float32)
    mel = jnp.asarray(rng.uniform(-4, 4, (*lead, 80, 16)), jnp.float32)
    return frames, mel


# ---------------------------------------------------------------------------------------------
# DCK layer


def _rows_from_kernel(kernel_oihw: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The paper's `[Cout, Cin * k * k + 1]` layout: OIHW weights of each row, then its bias."""
    cout = kernel_oihw.shape[0]
    return np.concatenate([kernel_oihw.reshape(cout, -1), bias[:, None]], axis=1)


def test_dck_layer_with_a_shared_kernel_is_a_static_1x1_conv(rng):
    cin = cout = 8
    layer = DCKLayer(cout, kernel_size=1, hidden=(16,))
    x = jnp.asarray(rng.standard_normal((3, 5, 6, cin)), jnp.float32)
    audio = jnp.asarray(rng.standard_normal((3, 12)), jnp.float32)  # different for every sample
    params = layer.init(_key(), x, audio)["params"]
    kernel_hwio = rng.standard_normal((1, 1, cin, cout)).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    out_layer = params["kernel_generator"]["out"]
    out_layer["kernel"] = jnp.zeros_like(out_layer["kernel"])  # audio no longer matters
    out_layer["bias"] = jnp.asarray(
        _rows_from_kernel(kernel_hwio.transpose(3, 2, 0, 1), bias).reshape(-1))
    with jax.default_matmul_precision("highest"):
        got = layer.apply({"params": params}, x, audio)
        expected = lax.conv_general_dilated(
            x, kernel_hwio, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_dck_layer_matches_per_sample_convolution(kernel_size, rng):
    """Kernels from an independent NumPy MLP read in the paper's layout, convolved per sample."""
    cin, cout = 4, 5
    layer = DCKLayer(cout, kernel_size=kernel_size, hidden=(16,), init_scale=2.0)
    x = jnp.asarray(rng.standard_normal((3, 6, 7, cin)), jnp.float32)
    audio = jnp.asarray(rng.standard_normal((3, 10)), jnp.float32)
    params = layer.init(_key(1), x, audio)["params"]["kernel_generator"]
    with jax.default_matmul_precision("highest"):
        got = np.asarray(layer.apply({"params": {"kernel_generator": params}}, x, audio))
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    hidden = np.maximum(np.asarray(audio) @ p["hidden_0"]["kernel"] + p["hidden_0"]["bias"], 0)
    rows = (hidden @ p["out"]["kernel"] + p["out"]["bias"]).reshape(3, cout, -1)
    assert rows.shape[-1] == cin * kernel_size**2 + 1
    for b in range(3):
        kernel_oihw = rows[b, :, :-1].reshape(cout, cin, kernel_size, kernel_size)
        expected = lax.conv_general_dilated(
            np.asarray(x[b : b + 1], np.float64), kernel_oihw, (1, 1), "SAME",
            dimension_numbers=("NHWC", "OIHW", "NHWC"))[0] + rows[b, :, -1]
        np.testing.assert_allclose(got[b], expected, rtol=1e-4, atol=1e-4)
    # The samples really got different kernels.
    assert not np.allclose(got[0], got[1])


# ---------------------------------------------------------------------------------------------
# Blending


def test_blend_formula_and_limits(rng):
    frame = rng.uniform(0, 1, (2, 4, 5, 3)).astype(np.float32)
    motion = rng.uniform(0, 1, (2, 4, 5, 3)).astype(np.float32)
    alpha = rng.uniform(0, 1, (2, 4, 5, 1)).astype(np.float32)
    np.testing.assert_allclose(blend(frame, motion, alpha), frame * (1 - alpha) + motion * alpha,
                               rtol=1e-6)
    np.testing.assert_array_equal(blend(frame, motion, np.zeros_like(alpha)), frame)
    np.testing.assert_array_equal(blend(frame, motion, np.ones_like(alpha)), motion)
    # Per-pixel: alpha 0 keeps that pixel of the frame, alpha 1 takes the motion pixel.
    mask = (rng.uniform(size=alpha.shape) > 0.5).astype(np.float32)
    np.testing.assert_array_equal(blend(frame, motion, mask), np.where(mask > 0, motion, frame))


# ---------------------------------------------------------------------------------------------
# Generator


@pytest.fixture(scope="module")
def tiny_model():
    model = DCKGenerator(TINY)
    rng = np.random.default_rng(0)
    frames, mel = _inputs(rng, lead=(2, 2))
    variables = jax.jit(model.init)(_key(), frames, mel)
    traces = []

    @jax.jit
    def run(variables, frames, mel):
        traces.append(1)  # runs only while tracing
        return model.apply(variables, frames, mel)

    return variables, run, traces


def test_output_shapes_ranges_and_blend(tiny_model, rng):
    variables, run, _ = tiny_model
    frames, mel = _inputs(rng, lead=(2, 2))  # [B, T] leading dims
    out = run(variables, frames, mel)
    assert out.frame.shape == out.motion.shape == (2, 2, 64, 64, 3)
    assert out.alpha.shape == (2, 2, 64, 64, 1)
    for array in out:
        assert array.dtype == jnp.float32 and np.all(np.isfinite(array))
    assert np.all((out.alpha > 0) & (out.alpha < 1))
    assert np.all((out.motion >= 0) & (out.motion <= 1))
    np.testing.assert_allclose(out.frame, np.asarray(frames) * (1 - out.alpha)
                               + out.motion * out.alpha, atol=1e-6)


def test_jit_does_not_retrace_for_new_audio(tiny_model, rng):
    variables, run, traces = tiny_model
    frames, mel = _inputs(rng, lead=(2, 2))
    first = run(variables, frames, mel)
    second = run(variables, frames, jnp.asarray(rng.uniform(-4, 4, mel.shape), jnp.float32))
    third = run(variables, frames, jnp.asarray(rng.uniform(-4, 4, mel.shape), jnp.float32))
    # Every call of `run` in this module has these shapes: one trace in all.
    assert len(traces) == 1
    # New audio changes the output (the audio path is live), through the same compiled function.
    assert not np.allclose(first.frame, second.frame)
    assert not np.allclose(second.frame, third.frame)


def test_output_shapes_at_paper_size():
    model = DCKGenerator(DCKConfig())
    frames, mel = jnp.zeros((2, 256, 256, 3)), jnp.zeros((2, 80, 16))
    out = jax.eval_shape(lambda: model.apply(model.init(_key(), frames, mel),
                                             frames, mel))
    assert out.frame.shape == out.motion.shape == (2, 256, 256, 3)
    assert out.alpha.shape == (2, 256, 256, 1)


def _expected_generator_params(cfg: DCKConfig, audio_params: int) -> int:
    """Analytic count: convs k*k*cin*cout + cout, BatchNorm 2*c, Dense in*out + out."""
    k = cfg.conv_kernel_size
    total = audio_params
    cin = 3
    for i, c in enumerate(cfg.down_channels):
        total += k * k * cin * c + c + (2 * c if i > 0 else 0)
        cin = c
    m, kd = cfg.middle_channels, cfg.dck_kernel_size
    if cfg.use_dck:
        for _ in range(cfg.num_middle_layers):
            width_in = cfg.audio_feature_dim
            for width in cfg.kernel_generator_hidden:
                total += width_in * width + width
                width_in = width
            outputs = m * (m * kd * kd + 1)
            total += width_in * outputs + outputs + 2 * m
    else:
        h = cfg.bottleneck_size
        a = cfg.attention_audio_channels
        total += cfg.audio_feature_dim * a * h * h + a * h * h  # Dense -> a x h x w
        total += 9 * (m + a) + 1 + a * m + m  # attention conv, 1x1 projection
        total += cfg.num_middle_layers * (kd * kd * m * m + m + 2 * m)
    cin = m
    skips = [3, *cfg.down_channels[:-1]]
    for c in cfg.up_channels:
        total += k * k * cin * c + c + 2 * c
        cin = c + skips.pop()
    hk = cfg.head_kernel_size
    total += hk * hk * cin * 3 + 3
    if cfg.use_blending:
        total += hk * hk * cin + 1
    return total


@pytest.mark.parametrize("variant", [{}, {"use_dck": False}, {"use_blending": False}])
def test_parameter_count_at_256(variant, capsys):
    cfg = DCKConfig(**variant)
    shapes = jax.eval_shape(DCKGenerator(cfg).init, _key(),
                            jnp.zeros((1, 256, 256, 3)), jnp.zeros((1, 80, 16)))
    params = shapes["params"]
    assert _count(params["audio_encoder"]) == WAV2LIP_AUDIO_PARAMS
    assert _count(params) == _expected_generator_params(cfg, WAV2LIP_AUDIO_PARAMS)
    if cfg.use_dck:
        generator = params["unet"]["dck_0"]["kernel_generator"]["out"]
        # The paper's kernel generator output: [frames, 256, 256 * 1 * 1 + 1].
        assert generator["kernel"].shape == (512, 256 * 257)
    with capsys.disabled():
        print(f"\nDCK generator parameters at 256x256 {variant or '(full model)'}: "
              f"{_count(params):,}")


def test_without_dck_ablation_runs_and_uses_audio(rng):
    cfg = DCKConfig(**{**TINY.__dict__, "use_dck": False})
    model = DCKGenerator(cfg)
    frames, mel = _inputs(rng)
    variables = jax.jit(model.init)(_key(), frames, mel)
    assert "audio_fusion" in variables["params"]["unet"]
    assert not any(name.startswith("dck_") for name in variables["params"]["unet"])
    run = jax.jit(model.apply)
    out = run(variables, frames, mel)
    other = run(variables, frames, -mel)
    assert out.frame.shape == (2, 64, 64, 3) and out.alpha.shape == (2, 64, 64, 1)
    assert not np.allclose(out.frame, other.frame)


def test_without_blending_ablation_outputs_the_motion_image(rng):
    cfg = DCKConfig(**{**TINY.__dict__, "use_blending": False})
    model = DCKGenerator(cfg)
    frames, mel = _inputs(rng)
    variables = jax.jit(model.init)(_key(), frames, mel)
    assert "alpha_head" not in variables["params"]["unet"]
    out = jax.jit(model.apply)(variables, frames, mel)
    np.testing.assert_array_equal(out.frame, out.motion)
    np.testing.assert_array_equal(out.alpha, np.ones((2, 64, 64, 1)))


def test_gradients_reach_the_kernel_generators_and_audio_encoder(rng):
    # Two U-Net levels keep the backward pass quick to compile; the DCK middle is unchanged.
    cfg = DCKConfig(**{**TINY.__dict__, "image_size": 16, "down_channels": (8, 16),
                       "up_channels": (8, 8)})
    model = DCKGenerator(cfg)
    frames, mel = _inputs(rng, size=16)
    target = jnp.asarray(rng.uniform(0, 1, frames.shape), jnp.float32)
    variables = jax.jit(model.init)(_key(), frames, mel)

    def loss(params):
        out, _ = model.apply({"params": params, "batch_stats": variables["batch_stats"]},
                             frames, mel, train=True, mutable=["batch_stats"])
        return jnp.mean(jnp.abs(out.frame - target))

    grads = jax.jit(jax.grad(loss))(variables["params"])
    for i in range(cfg.num_middle_layers):
        generator = grads["unet"][f"dck_{i}"]["kernel_generator"]
        for layer in ("hidden_0", "out"):
            g = np.asarray(generator[layer]["kernel"])
            assert np.all(np.isfinite(g)) and np.abs(g).max() > 0, (i, layer)
    g = np.asarray(grads["audio_encoder"]["block_0"]["conv"]["kernel"])
    assert np.abs(g).max() > 0


def test_input_validation():
    model = DCKGenerator(TINY)
    with pytest.raises(InputError, match="image_size = 64"):
        jax.eval_shape(model.init, _key(), jnp.zeros((1, 32, 32, 3)),
                       jnp.zeros((1, 80, 16)))
    with pytest.raises(InputError, match="leading dims"):
        jax.eval_shape(model.init, _key(), jnp.zeros((2, 64, 64, 3)),
                       jnp.zeros((3, 80, 16)))


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"image_size": 100}, "multiple of 2 \\*\\* 5"),
        ({"up_channels": (8, 8)}, "as many up_channels"),
        ({"middle_channels": 128}, "middle_channels"),
        ({"audio_feature_dim": 256}, "audio_feature_dim"),
        ({"dynamic_conv_method": "fft"}, "dynamic_conv_method"),
    ],
)
def test_config_validation(fields, match):
    with pytest.raises(ConfigError, match=match):
        DCKConfig(**fields)


def test_config_accepts_lists_and_small_sizes():
    cfg = DCKConfig(image_size=96, down_channels=[8, 8, 8, 8, 16], up_channels=[8] * 5,
                    middle_channels=16)
    assert cfg.down_channels == (8, 8, 8, 8, 16) and cfg.bottleneck_size == 3
    hash(cfg)  # usable as a static flax module attribute
    # Block tables from ml_collections arrive as nested lists.
    listed = DCKConfig(audio_blocks=[[b.features, b.kernel_size, list(b.stride), b.padding,
                                      b.residual] for b in TINY_AUDIO], audio_feature_dim=32)
    assert listed.audio_blocks == TINY_AUDIO
    hash(listed)
    from_dict = DCKConfig(discriminator={"channels": [8, 16], "instance_norm": False})
    assert from_dict.discriminator == DCKDiscriminatorConfig((8, 16), instance_norm=False)
    with pytest.raises(ConfigError, match="discriminator channels"):
        DCKDiscriminatorConfig(channels=())


# ---------------------------------------------------------------------------------------------
# Discriminator


def test_discriminator_shapes_and_parameters(rng):
    # It lives in lipjax.nn.discriminators (with the ParaLip one); dck re-exports it.
    assert dck.DCKDiscriminator is DCKDiscriminator
    disc = DCKDiscriminator(TINY.discriminator)
    frames = jnp.asarray(rng.uniform(0, 1, (2, 3, 64, 64, 3)), jnp.float32)
    variables = jax.jit(disc.init)(_key(), frames)
    scores = jax.jit(lambda v, f: disc.apply(v, f, train=True))(variables, frames)
    assert scores.shape == (2, 3, 16, 16, 1) and np.all(np.isfinite(scores))
    # Frames are scored independently: scoring one frame alone gives the same scores.
    alone = disc.apply(variables, frames[1, 2:3])
    np.testing.assert_allclose(alone, scores[1, 2:3], rtol=1e-5, atol=1e-5)
    # conv_0: 4*4*3*8 + 8, conv_1: 4*4*8*16 + 16, norm_1: 2*16, score: 4*4*16 + 1.
    assert _count(variables["params"]) == (4 * 4 * 3 * 8 + 8) + (4 * 4 * 8 * 16 + 16) + 32 + (
        4 * 4 * 16 + 1)
    assert "batch_stats" not in variables
