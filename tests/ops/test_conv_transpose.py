"""lipjax.ops.conv_transpose against a NumPy brute force of PyTorch's definition and lax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lipjax.errors import InputError
from lipjax.nn.conv import conv_transpose_padding
from lipjax.ops import conv_transpose, conv_transpose_output_size, conv_transpose_same
from lipjax.ops.conv_transpose import resolve_method, same_padding_as_torch


def brute_force(x, w, stride, padding, output_padding):
    """y[o, co] = sum_{i, j: o = s i - p + j} x[i, ci] w[j, co, ci], per axis (PyTorch)."""
    n, h, wd, _ = x.shape
    kh, kw, cout, _ = w.shape
    oh = conv_transpose_output_size(h, kernel_size=kh, stride=stride, padding=padding,
                                    output_padding=output_padding)
    ow = conv_transpose_output_size(wd, kernel_size=kw, stride=stride, padding=padding,
                                    output_padding=output_padding)
    y = np.zeros((n, oh, ow, cout))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for b in range(kw):
                    oi, oj = stride * i - padding + a, stride * j - padding + b
                    if 0 <= oi < oh and 0 <= oj < ow:
                        y[:, oi, oj] += x[:, i, j] @ w[a, b].T
    return y


@settings(max_examples=25, deadline=None)
@given(kernel=st.integers(1, 5), stride=st.integers(1, 3), h=st.integers(1, 6),
       w=st.integers(1, 6), data=st.data())
def test_matches_pytorch_definition(kernel, stride, h, w, data):
    padding = data.draw(st.integers(0, kernel - 1))
    output_padding = data.draw(st.integers(0, stride - 1))
    if min(h, w) and conv_transpose_output_size(min(h, w), kernel_size=kernel, stride=stride,
                                                padding=padding,
                                                output_padding=output_padding) < 1:
        return
    rng = np.random.default_rng(kernel * 100 + stride * 10 + h)
    x = rng.normal(size=(2, h, w, 3)).astype(np.float32)
    k = rng.normal(size=(kernel, kernel, 4, 3)).astype(np.float32)
    got = conv_transpose(x, k, stride=stride, padding=padding, output_padding=output_padding)
    want = brute_force(x, k, stride, padding, output_padding)
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("kernel, padding", [(3, 1), (5, 2), (4, 1)])
def test_matches_lax_dilated_transpose_with_gradients(kernel, padding):
    rng = np.random.default_rng(kernel)
    x = jnp.asarray(rng.normal(size=(2, 5, 7, 6)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(kernel, kernel, 4, 6)), jnp.float32)
    pad = conv_transpose_padding(kernel, padding, 1)

    def by_lax(x, k):
        return jax.lax.conv_transpose(x, k, (2, 2), (pad, pad), transpose_kernel=True,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def by_phases(x, k):
        return conv_transpose(x, k, stride=2, padding=padding, output_padding=1)

    np.testing.assert_allclose(by_phases(x, k), by_lax(x, k), atol=1e-4)
    loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))  # noqa: E731
    grads_lax = jax.grad(loss(by_lax), argnums=(0, 1))(x, k)
    grads_phase = jax.jit(jax.grad(loss(by_phases), argnums=(0, 1)))(x, k)
    for a, b in zip(grads_phase, grads_lax):
        np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("kernel, stride, padding, output_padding",
                         [(5, 2, 2, 1), (3, 2, 1, 1), (3, 1, 0, 0), (4, 2, 1, 0), (4, 3, 2, 2)])
def test_phase_and_native_forms_are_equal(kernel, stride, padding, output_padding):
    """`method="auto"` picks one form per backend (phase on the CPU): both give the same sums."""
    rng = np.random.default_rng(kernel + 10 * stride)
    x = rng.normal(size=(3, 4, 6, 5)).astype(np.float32)
    k = rng.normal(size=(kernel, kernel, 7, 5)).astype(np.float32)
    args = dict(stride=stride, padding=padding, output_padding=output_padding)
    phase = conv_transpose(x, k, method="phase", **args)
    np.testing.assert_allclose(phase, conv_transpose(x, k, method="lax", **args), atol=1e-4)
    np.testing.assert_allclose(phase, brute_force(x, k, stride, padding, output_padding),
                               atol=1e-4)
    assert resolve_method("auto") == ("phase" if jax.default_backend() == "cpu" else "lax")
    with pytest.raises(InputError, match="method"):
        conv_transpose(x, k, method="dilated", **args)


@pytest.mark.parametrize("kernel, stride", [(4, 2), (3, 2), (5, 2), (1, 2), (2, 3), (5, 3)])
def test_same_padding_matches_lax_same(kernel, stride):
    rng = np.random.default_rng(kernel + stride)
    x = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
    k = rng.normal(size=(kernel, kernel, 3, 2)).astype(np.float32)
    want = jax.lax.conv_transpose(x, k, (stride, stride), "SAME",
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(conv_transpose_same(x, k, stride=stride, method="phase"), want,
                               atol=1e-4)
    padding, output_padding = same_padding_as_torch(kernel, stride)
    assert 0 <= padding < kernel and -1 <= output_padding < stride


def test_rejects_bad_arguments():
    x = jnp.zeros((1, 4, 4, 3))
    with pytest.raises(InputError, match="input channels"):
        conv_transpose(x, jnp.zeros((3, 3, 2, 5)), stride=2, padding=1)
    with pytest.raises(InputError, match="output_padding"):
        conv_transpose(x, jnp.zeros((3, 3, 2, 3)), stride=2, padding=1, output_padding=2)
    with pytest.raises(InputError, match="padding"):
        conv_transpose(x, jnp.zeros((3, 3, 2, 3)), stride=2, padding=3)
