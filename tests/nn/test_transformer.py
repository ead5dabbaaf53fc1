"""Tests for lipjax.nn.transformer against NumPy implementations of the reference formulas."""

import math

import jax
import numpy as np
import pytest

from lipjax.nn import transformer


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
    np.testing.assert_array_equal(transformer.positions_from_mask(mask), expected)


@pytest.mark.parametrize("dim", [8, 256])
def test_sinusoidal_positions_match_tensor2tensor_formula(dim):
    positions = np.array([[1, 2, 3, 0], [5, 17, 0, 0]])
    got = np.asarray(transformer.sinusoidal_positions(positions, dim=dim))
    np.testing.assert_allclose(got, np_sinusoid(positions, dim), atol=2e-5)
    assert np.all(got[0, 3] == 0) and np.all(got[1, 2:] == 0)


def test_self_attention_matches_numpy(rng):
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    module = transformer.MultiHeadSelfAttention(num_heads=2)
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
    module = transformer.FFTLayer(num_heads=heads, ffn_hidden=hidden, ffn_kernel=kernel, dropout=0.2)
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
    module = transformer.FFTLayer(num_heads=2, ffn_hidden=8, ffn_kernel=3, dropout=0.5)
    params = module.init(jax.random.key(0), x, mask, train=False)
    a = module.apply(params, x, mask, train=False)
    b = module.apply(params, x, mask, train=True, rngs={"dropout": jax.random.key(3)})
    assert not np.allclose(a, b)


def test_fft_layer_mask_padding_in_ffn_makes_padding_irrelevant(rng):
    """Official arithmetic: the FFN conv sees LayerNorm(0) = its bias on padding rows, so the
    last valid rows depend on the padding; masked, a padded sequence equals the sequence alone
    (whose conv sees SAME zero padding), with the same parameters."""
    x = rng.normal(size=(1, 4, 8)).astype(np.float32)
    padded = np.concatenate([x, np.zeros((1, 3, 8), np.float32)], axis=1)
    mask, padded_mask = np.ones((1, 4), bool), np.array([[1] * 4 + [0] * 3], bool)
    for masked in (False, True):
        module = transformer.FFTLayer(num_heads=2, ffn_hidden=12, ffn_kernel=5,
                                      mask_padding_in_ffn=masked)
        params = module.init(jax.random.key(0), x, mask, train=False)
        params = jax.tree.map(lambda a: a + 0.3 * rng.normal(size=a.shape).astype(np.float32), params)
        alone = np.asarray(module.apply(params, x, mask, train=False))
        with_padding = np.asarray(module.apply(params, padded, padded_mask, train=False))
        assert np.all(with_padding[0, 4:] == 0)
        same = np.allclose(with_padding[:, :4], alone, atol=1e-5)
        assert same == masked
        assert np.allclose(with_padding[:, :2], alone[:, :2], atol=1e-5)  # beyond the kernel's reach
