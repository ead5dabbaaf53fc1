"""`lipjax.nn.fold`: a folded convolution equals the conv + inference BatchNorm block."""

import jax
import numpy as np
import pytest

from lipjax.errors import InputError
from lipjax.nn import conv
from lipjax.nn.fold import fold_batch_norm, fold_conv_norm


def _randomised(variables, rng):
    """Random weights, BatchNorm affines and running statistics (var in [0.5, 2])."""
    def draw(path, a):
        name = jax.tree_util.keystr(path)
        if "var" in name:
            return rng.uniform(0.5, 2.0, a.shape).astype(np.float32)
        return rng.normal(0.0, 0.5, a.shape).astype(np.float32)
    return jax.tree_util.tree_map_with_path(draw, variables)


@pytest.mark.parametrize("transposed", [False, True])
def test_folded_block_equals_the_unfolded_one(rng, transposed):
    x = rng.normal(size=(3, 6, 8, 5)).astype(np.float32)
    block = (conv.ConvTransposeNormAct(7, kernel_size=5, stride=2, padding=2, output_padding=1,
                                       activation=None, bn_epsilon=1e-3) if transposed else
             conv.ConvNormAct(7, kernel_size=3, stride=2, padding=1, activation=None,
                              bn_epsilon=1e-3))
    variables = _randomised(block.init(jax.random.key(0), x, train=False), rng)
    want = block.apply(variables, x, train=False)
    folded = fold_conv_norm(variables["params"], variables["batch_stats"], epsilon=1e-3,
                            transposed=transposed)
    plain = {"params": {"conv": folded}}
    got = (conv.PhaseConvTranspose(7, 5, 2, 2, 1) if transposed else
           conv.ConvNormAct(7, kernel_size=3, stride=2, padding=1, activation=None,
                            use_norm=False)).apply(
        plain if not transposed else {"params": folded}, x, **({} if transposed else
                                                              {"train": False}))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_fold_by_hand_and_without_a_conv_bias(rng):
    kernel = rng.normal(size=(1, 1, 2, 3)).astype(np.float32)
    norm = {"scale": np.array([1.0, 2.0, -1.0], np.float32),
            "bias": np.array([0.5, 0.0, 1.0], np.float32)}
    stats = {"mean": np.array([1.0, -1.0, 0.0], np.float32),
             "var": np.array([3.0, 0.0, 8.0], np.float32)}
    folded = fold_batch_norm(kernel, None, norm, stats, epsilon=1.0)
    m = np.array([0.5, 2.0, -1.0 / 3.0])
    np.testing.assert_allclose(folded["kernel"], kernel * m, rtol=1e-6)
    np.testing.assert_allclose(folded["bias"], -stats["mean"] * m + norm["bias"], rtol=1e-6)
    with pytest.raises(InputError, match="output channels"):
        fold_batch_norm(kernel, None, norm, stats, epsilon=1.0, output_axis=2)
