"""The alternative convolution forms that `benchmarks/conv_kernels.py` times give the same
outputs as lipjax's transposed convolution, on small layers of both kinds it measures."""

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import conv_kernels  # noqa: E402

from lipjax.ops import conv_transpose  # noqa: E402


@pytest.mark.parametrize("layer", [
    conv_kernels.Layer("DCK-like", 2, 5, 3, 4, 4, 2, 1),          # flax SAME, k 4
    conv_kernels.Layer("ParaLip-like", 2, 3, 3, 2, 5, 2, 2, 1, 6),  # k 5, output padding 1
    conv_kernels.Layer("odd", 1, 4, 2, 3, 3, 2, 0, 1, 5),
])
def test_subpixel_and_gemm_taps_equal_the_phase_form(layer):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((layer.batch, *layer.shape, layer.cin), np.float32))
    kernel = jnp.asarray(rng.standard_normal(
        (layer.kernel, layer.kernel, layer.cout, layer.cin), np.float32))
    want = conv_transpose(x, kernel, stride=layer.stride, padding=layer.padding,
                          output_padding=layer.output_padding, method="lax")
    for form in (conv_kernels._subpixel, conv_kernels._gemm_taps):
        np.testing.assert_allclose(form(x, kernel, layer=layer), want, atol=1e-4, rtol=1e-4)


def test_im2col_equals_the_convolution():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 6, 7, 3), np.float32))
    kernel = jnp.asarray(rng.standard_normal((3, 3, 3, 5), np.float32))
    np.testing.assert_allclose(conv_kernels._im2col(x, kernel), conv_kernels._conv(x, kernel),
                               atol=1e-4, rtol=1e-4)


def test_flops_count_multiply_adds_per_input_pixel_of_a_transposed_layer():
    layer = conv_kernels.Layer("t", 2, 3, 4, 5, 4, 2, 1, 0, 6)
    assert layer.flops == 2 * 2 * 3 * 6 * 4 * 5 * 16
