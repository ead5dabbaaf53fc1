"""Tests of lipjax.syncnet.model: SyncNet v2's parameter count, its layout against the published
one (no torch needed), the derived feature-map sizes and the input checks."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import lipjax.syncnet
from lipjax.convert.syncnet import _torch_name
from lipjax.convert.torch_io import specs_from_template
from lipjax.errors import InputError
from tests._layouts import read_layout
from lipjax.syncnet.model import (AUDIO_LAYERS, NUM_BATCH_STATS, NUM_PARAMETERS, VIDEO_LAYERS,
                                  SyncNetV2, SyncNetV2Network, random_variables,
                                  variables_template)

def _published_layout() -> dict[str, tuple[int, ...]]:
    return {name: shape for name, shape in read_layout("syncnet_v2")
            if not name.endswith("num_batches_tracked")}


def _count(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


def test_parameter_count_is_the_published_one():
    template = variables_template()
    assert _count(template["params"]) == NUM_PARAMETERS == 13_631_616
    assert _count(template["batch_stats"]) == NUM_BATCH_STATS == 8_640


def test_every_tensor_maps_onto_the_published_layout():
    specs = specs_from_template(variables_template(), _torch_name)
    ours = {s.torch_name: s.layout.torch_shape(s.shape) for s in specs}
    assert ours == _published_layout()


def _sizes(layers, size: tuple[int, ...]) -> list[tuple[int, ...]]:
    """PyTorch's floor((n + 2p - k) / s) + 1 after every conv and pool."""
    sizes = []
    for layer in layers:
        size = tuple((n + 2 * p - k) // s + 1 for n, p, k, s in
                     zip(size, layer.padding, layer.kernel, layer.stride))
        if layer.pool is not None:
            kernel, stride, pad = layer.pool
            size = tuple((n + 2 * p - k) // s + 1 for n, p, k, s in zip(size, pad, kernel, stride))
        sizes.append(size)
    return sizes


def test_the_derived_sizes_reach_the_fc_layers():
    # The module docstring's table: published inputs reduce to 1 x 1 (x 1) x 512.
    assert _sizes(AUDIO_LAYERS, (13, 20)) == [(13, 20), (11, 9), (11, 9), (11, 9), (5, 4),
                                              (1, 1)]
    assert _sizes(VIDEO_LAYERS, (5, 224, 224)) == [(1, 54, 54), (1, 13, 13), (1, 13, 13),
                                                   (1, 13, 13), (1, 6, 6), (1, 1, 1)]


@pytest.fixture(scope="module")
def variables():
    return random_variables(0)


def test_embeddings_have_1024_features_and_depend_on_the_input(variables):
    module = SyncNetV2()
    rng = np.random.default_rng(0)
    video = rng.uniform(0, 255, (2, 5, 224, 224, 3)).astype(np.float32)
    audio = rng.standard_normal((3, 13, 20)).astype(np.float32)
    v = np.asarray(jax.jit(lambda x: module.apply(variables, x, method="embed_video"))(video))
    a = np.asarray(jax.jit(lambda x: module.apply(variables, x, method="embed_audio"))(audio))
    assert v.shape == (2, 1024) and a.shape == (3, 1024) and v.dtype == np.float32
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(a))
    assert not np.allclose(v[0], v[1]) and not np.allclose(a[0], a[1])


@pytest.mark.parametrize("method, shape", [
    ("embed_video", (1, 5, 112, 112, 3)), ("embed_video", (1, 3, 5, 224, 224)),
    ("embed_audio", (1, 1, 13, 20)), ("embed_audio", (1, 20, 13))])
def test_wrong_input_shapes_are_refused(variables, method, shape):
    with pytest.raises(InputError, match="SyncNet v2"):
        SyncNetV2().apply(variables, jnp.zeros(shape), method=method)


def test_restorable_class_and_lazy_exports():
    config = ml_collections.ConfigDict({"system": "lipjax.syncnet.SyncNetV2Network",
                                        "model": {"embedding_size": 1024}})
    assert SyncNetV2Network.generator_from_config(config) == SyncNetV2()
    assert lipjax.syncnet.SyncNetV2 is SyncNetV2
    assert "evaluate_sync" in dir(lipjax.syncnet)
