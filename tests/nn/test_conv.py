"""Tests for lipjax.nn.conv against NumPy implementations of PyTorch's conv semantics."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax.nn import conv
from lipjax.nn.conv import ConvParams, conv_heads


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
    module = conv.ConvNormAct(4, kernel_size=5, stride=2, padding=2, use_norm=False, activation=None)
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
    module = conv.ConvTransposeNormAct(6, use_norm=False, activation=None)
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
    ours = conv.PhaseConvTranspose(6, 5, 2, 2, 1)
    pad = conv.conv_transpose_padding(5, 2, 1)
    theirs = nn.ConvTranspose(6, (5, 5), strides=(2, 2), padding=(pad, pad), transpose_kernel=True)
    params = ours.init(jax.random.key(0), x)
    shapes = jax.tree.map(np.shape, theirs.init(jax.random.key(0), x))
    assert jax.tree.map(np.shape, params) == shapes
    params = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32), params)
    np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), atol=1e-4)


@pytest.mark.parametrize("kernel, stride", [(4, 2), (3, 2), (5, 2), (2, 2), (1, 2), (3, 1)])
@pytest.mark.parametrize("method", ["phase", "lax"])
def test_same_conv_transpose_equals_flax_conv_transpose_same(rng, kernel, stride, method):
    """DCK's up layers: flax's parameters and init, the same outputs in either form."""
    x = rng.normal(size=(2, 5, 3, 4)).astype(np.float32)
    ours = conv.SameConvTranspose(6, kernel, stride, method=method)
    theirs = nn.ConvTranspose(6, (kernel, kernel), strides=(stride, stride), padding="SAME")
    params = ours.init(jax.random.key(0), x)
    initial = theirs.init(jax.random.key(0), x)
    assert jax.tree.map(np.shape, params) == jax.tree.map(np.shape, initial)
    np.testing.assert_array_equal(params["params"]["kernel"], initial["params"]["kernel"])
    params = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32), params)
    got = ours.apply(params, x)
    assert got.shape == (2, 5 * stride, 3 * stride, 6)
    np.testing.assert_allclose(got, theirs.apply(params, x), atol=1e-4)


def test_batch_norm_block_updates_stats_only_in_training(rng):
    x = rng.normal(loc=3.0, size=(4, 6, 6, 2)).astype(np.float32)
    module = conv.ConvNormAct(3, kernel_size=3, padding=1)
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
    module = conv.ConvNormAct(3, kernel_size=3, padding=1, activation=None)
    variables = module.init(jax.random.key(0), x, train=False)
    mask = np.array([1, 1, 0, 0], bool)[:, None, None, None]
    out_a, _ = module.apply(variables, x, train=True, mask=mask, mutable=["batch_stats"])
    out_b, _ = module.apply(variables, garbage, train=True, mask=mask, mutable=["batch_stats"])
    np.testing.assert_allclose(out_a[:2], out_b[:2], atol=1e-5)


def test_channels_first_flatten_roundtrip_and_order(rng):
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    flat = np.asarray(conv.channels_first_flatten(x))
    np.testing.assert_array_equal(flat, np.transpose(x, (0, 3, 1, 2)).reshape(2, -1))
    np.testing.assert_array_equal(conv.channels_first_unflatten(flat, shape=(3, 4, 5)), x)


def test_unknown_activation_is_rejected():
    module = conv.ConvNormAct(2, activation="swish")
    with pytest.raises(ValueError, match="unknown activation"):
        module.init(jax.random.key(0), jnp.zeros((1, 4, 4, 1)), train=False)


class _SeparateHeads(nn.Module):
    @nn.compact
    def __call__(self, x):
        return (nn.Conv(3, (3, 3), padding="SAME", name="motion")(x),
                nn.Conv(1, (3, 3), padding="SAME", name="alpha")(x))


class _FusedHeads(nn.Module):
    method: str = "auto"

    @nn.compact
    def __call__(self, x):
        heads = [ConvParams(3, 3, name="motion")(x.shape[-1]),
                 ConvParams(1, 3, name="alpha")(x.shape[-1])]
        return conv_heads(x, heads, method=self.method)


@pytest.mark.parametrize("method", ["conv", "matmul"])
def test_conv_heads_have_nn_conv_parameters_and_give_each_heads_output(rng, method):
    x = rng.standard_normal((2, 12, 10, 5)).astype(np.float32)
    key = jax.random.key(3)
    separate = _SeparateHeads().init(key, x)
    fused = _FusedHeads(method).init(key, x)
    chex.assert_trees_all_equal(separate, fused)  # same tree, same initial values
    params = jax.tree.map(lambda p: p + rng.standard_normal(p.shape).astype(np.float32), fused)
    got = jax.jit(_FusedHeads(method).apply)(params, x)
    want = _SeparateHeads().apply(params, x)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    # and against a brute-force "SAME" correlation of the motion head
    kernel, bias = params["params"]["motion"]["kernel"], params["params"]["motion"]["bias"]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    brute = np.zeros((2, 12, 10, 3), np.float32) + np.asarray(bias)
    for dy in range(3):
        for dx in range(3):
            brute += padded[:, dy:dy + 12, dx:dx + 10] @ np.asarray(kernel[dy, dx])
    np.testing.assert_allclose(got[0], brute, rtol=1e-4, atol=1e-4)


def test_conv_heads_rejects_an_unknown_method(rng):
    x = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="method must be 'auto', 'conv' or 'matmul'"):
        conv_heads(x, [(np.zeros((3, 3, 2, 1), np.float32), np.zeros(1, np.float32))],
                   method="fft")


@pytest.mark.parametrize("k", [1, 5])
def test_conv_heads_matmul_form_equals_the_convolution_for_other_kernel_sizes(rng, k):
    x = rng.standard_normal((2, 9, 7, 4)).astype(np.float32)
    heads = [(rng.standard_normal((k, k, 4, f)).astype(np.float32),
              rng.standard_normal(f).astype(np.float32)) for f in (2, 1)]
    for got, want in zip(conv_heads(x, heads, method="matmul"),
                         conv_heads(x, heads, method="conv"), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
