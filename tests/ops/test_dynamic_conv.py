"""Tests for lipjax.ops.dynamic_conv: method agreement, static-conv and NumPy-loop references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from lipjax.errors import InputError
from lipjax.ops import dynamic_conv

HIGHEST = lax.Precision.HIGHEST


def numpy_conv(x: np.ndarray, kernel: np.ndarray, stride: tuple[int, int], pads) -> np.ndarray:
    """Direct-loop cross-correlation of one NHWC image with one HWIO kernel (float64)."""
    (top, bottom), (left, right) = pads
    padded = np.pad(x.astype(np.float64), ((top, bottom), (left, right), (0, 0)))
    kh, kw, _, cout = kernel.shape
    out_h = (padded.shape[0] - kh) // stride[0] + 1
    out_w = (padded.shape[1] - kw) // stride[1] + 1
    out = np.zeros((out_h, out_w, cout))
    for i in range(out_h):
        for j in range(out_w):
            window = padded[i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw]
            for o in range(cout):
                out[i, j, o] = (window * kernel[..., o]).sum()
    return out


def fast_methods(kernel_size: int) -> tuple[str, ...]:
    """Every method besides the "vmap" reference that applies to this kernel size."""
    return ("einsum", "patches", "taps", "auto") if kernel_size == 1 else ("patches", "taps", "auto")


CASES = [
    # (batch, height, width, cin, cout, kernel, stride, padding)
    (3, 6, 5, 4, 3, 1, 1, "SAME"),
    (2, 7, 6, 3, 5, 1, 2, "VALID"),
    (2, 5, 7, 2, 4, 1, (2, 1), ((1, 0), (0, 2))),
    (3, 6, 6, 3, 4, 3, 1, "SAME"),
    (2, 7, 8, 2, 3, 3, 2, "SAME"),
    (2, 7, 6, 3, 2, 3, 2, "VALID"),
    (1, 6, 5, 2, 3, 2, 1, "SAME"),  # even kernel: asymmetric SAME padding
    (2, 9, 7, 2, 2, 5, (2, 3), ((2, 1), (0, 2))),
]


@pytest.mark.parametrize("batch,height,width,cin,cout,k,stride,padding", CASES)
def test_methods_agree_in_values_and_gradients(batch, height, width, cin, cout, k, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, height, width, cin)).astype(np.float32)
    kernels = rng.normal(size=(batch, k, k, cin, cout)).astype(np.float32)
    bias = rng.normal(size=(batch, cout)).astype(np.float32)

    def loss(method, x, kernels, bias):
        out = dynamic_conv(
            x, kernels, bias, stride=stride, padding=padding, method=method, precision=HIGHEST
        )
        # A fixed random cotangent so every output element matters in the gradient.
        weights = jnp.asarray(np.random.default_rng(7).normal(size=out.shape), out.dtype)
        return (out * weights).sum(), out

    grad_fn = jax.jit(
        jax.value_and_grad(loss, argnums=(1, 2, 3), has_aux=True), static_argnums=0
    )
    (_, reference), reference_grads = grad_fn("vmap", x, kernels, bias)
    # "auto" only dispatches to one of the others; its values are checked in the tests below.
    for method in set(fast_methods(k)) - {"auto"}:
        (_, out), grads = grad_fn(method, x, kernels, bias)
        assert out.shape == reference.shape
        np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5, err_msg=method)
        for name, grad, reference_grad in zip(("x", "kernels", "bias"), grads, reference_grads):
            np.testing.assert_allclose(
                grad, reference_grad, rtol=1e-5, atol=1e-4, err_msg=f"{method} d/d{name}"
            )


@pytest.mark.parametrize("batch,height,width,cin,cout,k,stride,padding", CASES)
def test_shared_kernel_equals_static_conv(batch, height, width, cin, cout, k, stride, padding):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(batch, height, width, cin)).astype(np.float32)
    kernel = rng.normal(size=(k, k, cin, cout)).astype(np.float32)
    expected = lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(stride, stride) if isinstance(stride, int) else stride,
        padding=padding,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=HIGHEST,
    )
    shared = np.broadcast_to(kernel, (batch, *kernel.shape))
    for method in ("vmap", *fast_methods(k)):
        out = dynamic_conv(
            x, shared, stride=stride, padding=padding, method=method, precision=HIGHEST
        )
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5, err_msg=method)


@pytest.mark.parametrize(
    "k,stride,padding,pads",
    [
        (3, (1, 1), "SAME", ((1, 1), (1, 1))),
        (3, (2, 2), "VALID", ((0, 0), (0, 0))),
        (2, (2, 1), ((1, 0), (0, 1)), ((1, 0), (0, 1))),
        (1, (2, 2), "SAME", ((0, 0), (0, 0))),
    ],
)
def test_matches_numpy_loop(k, stride, padding, pads):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 5, 6, 2)).astype(np.float32)
    kernels = rng.normal(size=(2, k, k, 2, 3)).astype(np.float32)  # different per sample
    bias = rng.normal(size=(2, 3)).astype(np.float32)
    expected = np.stack(
        [numpy_conv(x[b], kernels[b], stride, pads) + bias[b] for b in range(2)]
    )
    for method in ("vmap", *fast_methods(k)):
        out = dynamic_conv(
            x, kernels, bias, stride=stride, padding=padding, method=method, precision=HIGHEST
        )
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5, err_msg=method)


def test_jit_and_dck_shape():
    # DCK middle layer: per-frame 1x1 kernels, 256 -> 256 (here at a small spatial size).
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 4, 4, 256)).astype(np.float32)
    kernels = (rng.normal(size=(2, 1, 1, 256, 256)) / 16).astype(np.float32)
    bias = rng.normal(size=(2, 256)).astype(np.float32)
    fn = jax.jit(dynamic_conv, static_argnames=("stride", "padding", "method", "precision"))
    out = fn(x, kernels, bias, method="auto", precision=HIGHEST)
    expected = np.einsum("bhwi,bio->bhwo", x.astype(np.float64), kernels[:, 0, 0])
    expected += bias[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "x_shape,k_shape,bias_shape,kwargs",
    [
        ((2, 4, 4), (2, 1, 1, 3, 3), None, {}),  # x not 4-D
        ((2, 4, 4, 3), (2, 1, 3, 3), None, {}),  # kernels not 5-D
        ((2, 4, 4, 3), (3, 1, 1, 3, 3), None, {}),  # batch mismatch
        ((2, 4, 4, 3), (2, 1, 1, 2, 3), None, {}),  # Cin mismatch
        ((2, 4, 4, 3), (2, 1, 1, 3, 3), (2, 4), {}),  # bias Cout mismatch
        ((2, 4, 4, 3), (2, 1, 1, 3, 3), None, {"method": "winograd"}),
        ((2, 4, 4, 3), (2, 3, 3, 3, 3), None, {"method": "einsum"}),  # einsum needs 1x1
        ((2, 4, 4, 3), (2, 1, 1, 3, 3), None, {"padding": "FULL"}),
        ((2, 4, 4, 3), (2, 1, 1, 3, 3), None, {"padding": ((1, 1),)}),
        ((2, 4, 4, 3), (2, 1, 1, 3, 3), None, {"stride": 0}),
        ((2, 2, 2, 3), (2, 3, 3, 3, 3), None, {"padding": "VALID"}),  # kernel larger than input
    ],
)
def test_bad_input_raises(x_shape, k_shape, bias_shape, kwargs):
    bias = None if bias_shape is None else np.zeros(bias_shape, np.float32)
    with pytest.raises(InputError):
        dynamic_conv(np.zeros(x_shape, np.float32), np.zeros(k_shape, np.float32), bias, **kwargs)
