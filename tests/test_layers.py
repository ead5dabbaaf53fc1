"""Tests for lipjax.models.layers against NumPy implementations of the reference formulas."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax.models import layers


def np_sinusoid(positions: np.ndarray, dim: int) -> np.ndarray:
    half = dim // 2
    freqs = np.exp(-np.arange(half) * math.log(10000.0) / (half - 1))
    out = np.zeros(positions.shape + (dim,))
    for idx in np.ndindex(positions.shape):
        p = positions[idx]
        if p != 0:
            out[idx] = np.concatenate([np.sin(p * freqs), np.cos(p * freqs)])
    return out


def np_layer_norm(x, scale, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


def np_conv1d_same(x, kernel, bias):
    """x [L, Cin], kernel [k, Cin, Cout] (flax layout)."""
    k = kernel.shape[0]
    pad = (k - 1) // 2
    xp = np.pad(x, ((pad, k - 1 - pad), (0, 0)))
    return np.stack([np.einsum("kc,kco->o", xp[t : t + k], kernel) for t in range(x.shape[0])]) + bias


def np_attention(x, mask, in_proj, out_proj, heads):
    length, width = x.shape
    hd = width // heads
    qkv = x @ in_proj
    q, k, v = qkv[:, :width], qkv[:, width : 2 * width], qkv[:, 2 * width :]
    outs = []
    for h in range(heads):
        sl = slice(h * hd, (h + 1) * hd)
        logits = (q[:, sl] * hd**-0.5) @ k[:, sl].T
        logits = np.where(mask[None, :], logits, -np.inf)
        w = np.exp(logits - logits.max(-1, keepdims=True))
        w = w / w.sum(-1, keepdims=True)
        outs.append(w @ v[:, sl])
    return np.concatenate(outs, -1) @ out_proj


def test_positions_from_mask_counts_valid_entries_from_one():
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 0]], bool)
    expected = np.array([[1, 2, 3, 0, 0], [1, 0, 2, 3, 0]])
    np.testing.assert_array_equal(layers.positions_from_mask(mask), expected)


@pytest.mark.parametrize("dim", [8, 256])
def test_sinusoidal_positions_match_tensor2tensor_formula(dim):
    positions = np.array([[1, 2, 3, 0], [5, 17, 0, 0]])
    got = np.asarray(layers.sinusoidal_positions(positions, dim=dim))
    np.testing.assert_allclose(got, np_sinusoid(positions, dim), atol=2e-5)
    assert np.all(got[0, 3] == 0) and np.all(got[1, 2:] == 0)


def test_self_attention_matches_numpy(rng):
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    module = layers.MultiHeadSelfAttention(num_heads=2)
    params = module.init(jax.random.key(0), x, mask, train=False)
    got = np.asarray(module.apply(params, x, mask, train=False))
    p = params["params"]
    for b in range(2):
        want = np_attention(x[b], mask[b], np.asarray(p["in_proj"]["kernel"]), np.asarray(p["out_proj"]["kernel"]), 2)
        np.testing.assert_allclose(got[b], want, atol=1e-5)
    assert p["in_proj"]["kernel"].shape == (8, 24) and "bias" not in p["in_proj"]


def test_fft_layer_matches_numpy_reference(rng):
    width, heads, hidden, kernel = 8, 2, 12, 3
    x = rng.normal(size=(2, 6, width)).astype(np.float32)
    mask = np.array([[1] * 6, [1, 1, 1, 1, 0, 0]], bool)
    x = x * mask[..., None]
    module = layers.FFTLayer(num_heads=heads, ffn_hidden=hidden, ffn_kernel=kernel, dropout=0.2)
    params = module.init(jax.random.key(1), x, mask, train=False)
    # Randomise LayerNorm and biases so that every parameter matters.
    params = jax.tree.map(lambda a: a + 0.1 * rng.normal(size=a.shape).astype(np.float32), params)
    got = np.asarray(module.apply(params, x, mask, train=False))
    p = jax.tree.map(np.asarray, params["params"])
    for b in range(2):
        h = np_layer_norm(x[b], p["layer_norm1"]["scale"], p["layer_norm1"]["bias"], 1e-5)
        h = np_attention(h, mask[b], p["self_attn"]["in_proj"]["kernel"], p["self_attn"]["out_proj"]["kernel"], heads)
        y = (x[b] + h) * mask[b][:, None]
        h = np_layer_norm(y, p["layer_norm2"]["scale"], p["layer_norm2"]["bias"], 1e-5)
        h = np_conv1d_same(h, p["ffn"]["ffn_1"]["kernel"], p["ffn"]["ffn_1"]["bias"]) * kernel**-0.5
        h = np.maximum(h, 0) @ p["ffn"]["ffn_2"]["kernel"] + p["ffn"]["ffn_2"]["bias"]
        want = (y + h) * mask[b][:, None]
        np.testing.assert_allclose(got[b], want, atol=1e-4)
    assert np.all(got[1, 4:] == 0)


def test_fft_layer_dropout_only_in_training(rng):
    x = rng.normal(size=(1, 4, 8)).astype(np.float32)
    mask = np.ones((1, 4), bool)
    module = layers.FFTLayer(num_heads=2, ffn_hidden=8, ffn_kernel=3, dropout=0.5)
    params = module.init(jax.random.key(0), x, mask, train=False)
    a = module.apply(params, x, mask, train=False)
    b = module.apply(params, x, mask, train=True, rngs={"dropout": jax.random.key(3)})
    assert not np.allclose(a, b)


def np_conv2d(x, kernel, bias, stride, pad):
    """x [H, W, Cin], kernel [kh, kw, Cin, Cout]: PyTorch Conv2d semantics."""
    kh, kw = kernel.shape[:2]
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    oh = (xp.shape[0] - kh) // stride + 1
    ow = (xp.shape[1] - kw) // stride + 1
    out = np.zeros((oh, ow, kernel.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = xp[i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[i, j] = np.einsum("hwc,hwco->o", patch, kernel)
    return out + bias


def np_conv_transpose2d(x, weight, bias, stride, pad, output_pad):
    """PyTorch ConvTranspose2d by scatter-add. x [H, W, Cin]; weight [Cin, Cout, kh, kw] (torch)."""
    cin, cout, kh, kw = weight.shape
    h, w = x.shape[:2]
    full = np.zeros(((h - 1) * stride + kh + output_pad, (w - 1) * stride + kw + output_pad, cout))
    for i in range(h):
        for j in range(w):
            full[i * stride : i * stride + kh, j * stride : j * stride + kw] += np.einsum(
                "c,cohw->hwo", x[i, j], weight
            )
    oh = (h - 1) * stride - 2 * pad + kh + output_pad
    ow = (w - 1) * stride - 2 * pad + kw + output_pad
    return full[pad : pad + oh, pad : pad + ow] + bias


def test_conv_norm_act_conv_matches_pytorch_semantics(rng):
    x = rng.normal(size=(2, 8, 12, 3)).astype(np.float32)
    module = layers.ConvNormAct(4, kernel_size=5, stride=2, padding=2, use_norm=False, activation=None)
    params = module.init(jax.random.key(0), x, train=False)
    got = np.asarray(module.apply(params, x, train=False))
    p = jax.tree.map(np.asarray, params["params"]["conv"])
    p["bias"] = rng.normal(size=4)
    got = np.asarray(module.apply({"params": {"conv": p}}, x, train=False))
    assert got.shape == (2, 4, 6, 4)
    for b in range(2):
        np.testing.assert_allclose(got[b], np_conv2d(x[b], p["kernel"], p["bias"], 2, 2), atol=1e-4)


def test_conv_transpose_doubles_and_matches_pytorch_semantics(rng):
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    module = layers.ConvTransposeNormAct(6, use_norm=False, activation=None)
    params = module.init(jax.random.key(0), x, train=False)
    p = jax.tree.map(np.asarray, params["params"]["conv"])
    p["bias"] = rng.normal(size=6).astype(np.float32)
    got = np.asarray(module.apply({"params": {"conv": p}}, x, train=False))
    assert got.shape == (2, 6, 8, 6)
    torch_weight = np.transpose(p["kernel"], (3, 2, 0, 1))  # flax [kh, kw, O, I] -> torch [I, O, kh, kw]
    for b in range(2):
        np.testing.assert_allclose(got[b], np_conv_transpose2d(x[b], torch_weight, p["bias"], 2, 2, 1), atol=1e-4)


def test_phase_conv_transpose_has_flax_conv_transpose_parameters_and_outputs(rng):
    x = rng.normal(size=(2, 5, 3, 4)).astype(np.float32)
    ours = layers.PhaseConvTranspose(6, 5, 2, 2, 1)
    pad = layers.conv_transpose_padding(5, 2, 1)
    theirs = nn.ConvTranspose(6, (5, 5), strides=(2, 2), padding=(pad, pad), transpose_kernel=True)
    params = ours.init(jax.random.key(0), x)
    shapes = jax.tree.map(np.shape, theirs.init(jax.random.key(0), x))
    assert jax.tree.map(np.shape, params) == shapes
    params = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32), params)
    np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), atol=1e-4)


def test_batch_norm_block_updates_stats_only_in_training(rng):
    x = rng.normal(loc=3.0, size=(4, 6, 6, 2)).astype(np.float32)
    module = layers.ConvNormAct(3, kernel_size=3, padding=1)
    variables = module.init(jax.random.key(0), x, train=False)
    _, frozen = module.apply(variables, x, train=False, mutable=["batch_stats"])
    _, updated = module.apply(variables, x, train=True, mutable=["batch_stats"])
    same = jax.tree.map(np.array_equal, variables["batch_stats"], frozen["batch_stats"])
    assert all(jax.tree.leaves(same))
    assert not np.allclose(variables["batch_stats"]["norm"]["mean"], updated["batch_stats"]["norm"]["mean"])


def test_batch_norm_mask_excludes_rows_from_statistics(rng):
    x = rng.normal(size=(4, 5, 5, 2)).astype(np.float32)
    garbage = x.copy()
    garbage[2:] = 100.0
    module = layers.ConvNormAct(3, kernel_size=3, padding=1, activation=None)
    variables = module.init(jax.random.key(0), x, train=False)
    mask = np.array([1, 1, 0, 0], bool)[:, None, None, None]
    out_a, _ = module.apply(variables, x, train=True, mask=mask, mutable=["batch_stats"])
    out_b, _ = module.apply(variables, garbage, train=True, mask=mask, mutable=["batch_stats"])
    np.testing.assert_allclose(out_a[:2], out_b[:2], atol=1e-5)


def test_channels_first_flatten_roundtrip_and_order(rng):
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    flat = np.asarray(layers.channels_first_flatten(x))
    np.testing.assert_array_equal(flat, np.transpose(x, (0, 3, 1, 2)).reshape(2, -1))
    np.testing.assert_array_equal(layers.channels_first_unflatten(flat, shape=(3, 4, 5)), x)


def test_unknown_activation_is_rejected():
    module = layers.ConvNormAct(2, activation="swish")
    with pytest.raises(ValueError, match="unknown activation"):
        module.init(jax.random.key(0), jnp.zeros((1, 4, 4, 1)), train=False)
