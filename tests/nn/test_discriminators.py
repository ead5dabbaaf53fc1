"""Tests for lipjax.nn.discriminators (ParaLip frame discriminator)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax.errors import ConfigError, InputError
from lipjax.nn.discriminators import FrameDiscriminator, FrameDiscriminatorConfig


def count(tree) -> int:
    return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def brute_force_count(channels, kernel, image=(80, 160, 3), stride=2, padding=1) -> int:
    """Parameters of conv(k, s, p)+bias stacks followed by a conv covering the remaining map."""
    h, w, cin = image
    total = 0
    for c in channels:
        total += cin * c * kernel * kernel + c
        h = (h + 2 * padding - kernel) // stride + 1
        w = (w + 2 * padding - kernel) // stride + 1
        cin = c
    return total + cin * h * w + 1


def abstract_params(config):
    frames = jnp.zeros((1, 2, config.image_height, config.image_width, config.image_channels))
    return jax.eval_shape(lambda: FrameDiscriminator(config).init(jax.random.key(0), frames))


def test_default_stack_parameter_count_matches_brute_force():
    config = FrameDiscriminatorConfig()
    assert config.final_kernel == (2, 5)
    params = abstract_params(config)["params"]
    assert count(params) == brute_force_count((64, 128, 256, 512, 1024), 4) == 11_156_417


@pytest.mark.xfail(strict=True, reason="no stack reproducing the paper's 14,113,793 was found")
def test_paper_table7_parameter_count():
    assert count(abstract_params(FrameDiscriminatorConfig())["params"]) == 14_113_793


def test_output_shape_per_frame_and_frames_scored_independently(rng):
    config = FrameDiscriminatorConfig(channels=(4, 8, 8), image_height=16, image_width=32)
    model = FrameDiscriminator(config)
    frames = rng.random((2, 3, 16, 32, 3)).astype(np.float32)
    params = model.init(jax.random.key(0), frames)
    scores = np.asarray(model.apply(params, frames))
    assert scores.shape == (2, 3)
    single = np.asarray(model.apply(params, frames[1, 2][None]))
    np.testing.assert_allclose(scores[1, 2], single[0], rtol=1e-5)
    changed = frames.copy()
    changed[0, 1] = 0.0
    other = np.asarray(model.apply(params, changed))
    np.testing.assert_array_equal(np.delete(other.ravel(), 1), np.delete(scores.ravel(), 1))
    assert other[0, 1] != scores[0, 1]


def test_matches_numpy_forward(rng):
    config = FrameDiscriminatorConfig(channels=(3, 4), image_height=8, image_width=8, negative_slope=0.1)
    model = FrameDiscriminator(config)
    frames = rng.random((1, 1, 8, 8, 3)).astype(np.float32)
    params = model.init(jax.random.key(0), frames)
    params = jax.tree.map(lambda a: a + 0.1 * rng.normal(size=a.shape).astype(np.float32), params)
    got = float(np.asarray(model.apply(params, frames))[0, 0])
    p = jax.tree.map(np.asarray, params["params"])
    x = frames[0, 0]
    for name in ("conv_0", "conv_1"):
        k = p[name]["kernel"]
        xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
        oh = (xp.shape[0] - 4) // 2 + 1
        out = np.zeros((oh, oh, k.shape[-1]))
        for i in range(oh):
            for j in range(oh):
                out[i, j] = np.einsum("hwc,hwco->o", xp[2 * i : 2 * i + 4, 2 * j : 2 * j + 4], k)
        out = out + p[name]["bias"]
        x = np.where(out > 0, out, 0.1 * out)
    want = np.einsum("hwc,hwc->", x, p["final"]["kernel"][..., 0]) + p["final"]["bias"][0]
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_bad_frames_and_config_raise():
    model = FrameDiscriminator(FrameDiscriminatorConfig(channels=(2,), image_height=8, image_width=8))
    with pytest.raises(InputError, match="frames must be"):
        model.init(jax.random.key(0), jnp.zeros((1, 2, 8, 9, 3)))
    with pytest.raises(ConfigError, match="shrink"):
        FrameDiscriminatorConfig(channels=(2,) * 10, image_height=8, image_width=8)
