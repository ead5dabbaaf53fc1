"""lipjax.wav2lip.model: Wav2Lip's generator and lip-sync expert (sizes, shapes, input
conventions). Equivalence with PyTorch is in tests/convert/test_wav2lip.py."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lipjax.errors import ConfigError, InputError
from lipjax.nn.discriminators import WAV2LIP_QUALITY_CONFIG
from lipjax.wav2lip import (SyncNetColor, Wav2LipConfig, Wav2LipGenerator, generator_input,
                            lower_half, sync_face_input, sync_similarity)
from lipjax.wav2lip.system import SyncNetColorSystem, Wav2LipSystem, discriminator_config

FACES = jax.ShapeDtypeStruct((2, 96, 96, 6), jnp.float32)
SYNC_FACES = jax.ShapeDtypeStruct((2, 48, 96, 15), jnp.float32)
MELS = jax.ShapeDtypeStruct((2, 80, 16), jnp.float32)


def _count(tree) -> int:
    return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


@pytest.fixture(scope="module")
def generator_template():
    return jax.eval_shape(Wav2LipGenerator().init, jax.random.key(0), FACES, MELS)


@pytest.fixture(scope="module")
def expert_template():
    return jax.eval_shape(SyncNetColor().init, jax.random.key(0), SYNC_FACES, MELS)


def _intermediate_shapes(module, template, *inputs) -> dict[str, tuple[int, ...]]:
    """`{"face_encoder/block_1": output shape, ...}` of every submodule call (abstractly)."""
    _, state = jax.eval_shape(lambda v, *x: module.apply(
        v, *x, capture_intermediates=True, mutable=["intermediates"]), template, *inputs)
    flat = jax.tree_util.tree_flatten_with_path(state["intermediates"])[0]
    shapes = {}
    for path, leaf in flat:
        keys = [str(getattr(k, "key", getattr(k, "idx", k))) for k in path]
        if "__call__" in keys:
            shapes.setdefault("/".join(keys[:keys.index("__call__")]), leaf.shape)
    return shapes


def test_parameter_counts(generator_template, expert_template):
    assert _count(generator_template["params"]) == 36_298_035     # Wav2Lip (wav2lip.pth)
    assert _count(expert_template["params"]) == 16_435_072        # SyncNet_color
    # BatchNorm running statistics are batch_stats (mean and var per channel), not params.
    assert set(generator_template) == set(expert_template) == {"params", "batch_stats"}


def test_generator_spatial_sizes(generator_template):
    shapes = _intermediate_shapes(Wav2LipGenerator(), generator_template, FACES, MELS)
    encoder = [shapes[f"face_encoder/block_{i}_{j}"][1:] for i, j in
               [(0, 0), (1, 2), (2, 3), (3, 2), (4, 2), (5, 1), (6, 1)]]
    assert encoder == [(96, 96, 16), (48, 48, 32), (24, 24, 64), (12, 12, 128), (6, 6, 256),
                       (3, 3, 512), (1, 1, 512)]
    decoder = [shapes[f"face_decoder/block_{i}_{j}"][1:] for i, j in
               [(0, 0), (1, 1), (2, 2), (3, 2), (4, 2), (5, 2), (6, 2)]]
    assert decoder == [(1, 1, 512), (3, 3, 512), (6, 6, 512), (12, 12, 384), (24, 24, 256),
                       (48, 48, 128), (96, 96, 64)]
    assert shapes["output_block_0"] == (2, 96, 96, 32)
    assert shapes[""] == (2, 96, 96, 3)


def test_expert_spatial_sizes(expert_template):
    shapes = _intermediate_shapes(SyncNetColor(), expert_template, SYNC_FACES, MELS)
    face = {i: shapes[f"face_encoder/block_{i}"][1:3] for i in (0, 1, 4, 8, 11, 14, 15, 16)}
    assert face == {0: (48, 96), 1: (46, 47), 4: (23, 24), 8: (12, 12), 11: (6, 6), 14: (3, 3),
                    15: (1, 1), 16: (1, 1)}
    audio = {i: shapes[f"audio_encoder/block_{i}"][1:3] for i in (0, 3, 6, 9, 12, 13)}
    assert audio == {0: (80, 16), 3: (27, 16), 6: (9, 6), 9: (3, 3), 12: (1, 1), 13: (1, 1)}


@pytest.mark.parametrize("faces, mels, out", [
    ((3, 96, 96, 6), (3, 80, 16), (3, 96, 96, 3)),
    ((2, 5, 96, 96, 6), (2, 5, 80, 16), (2, 5, 96, 96, 3)),        # [B, T] as in training
    ((2, 5, 96, 96, 6), (2, 5, 80, 16, 1), (2, 5, 96, 96, 3)),
])
def test_generator_accepts_any_leading_dims(generator_template, faces, mels, out):
    got = jax.eval_shape(Wav2LipGenerator().apply, generator_template,
                         jax.ShapeDtypeStruct(faces, jnp.float32),
                         jax.ShapeDtypeStruct(mels, jnp.float32))
    assert got.shape == out


def test_expert_embeddings_are_unit_vectors_per_leading_index(expert_template):
    rng = np.random.default_rng(0)
    variables = jax.tree.map(lambda s: rng.uniform(0.5, 1.0, s.shape).astype(np.float32) * 0.05,
                             expert_template)
    faces = rng.random((2, 3, 48, 96, 15)).astype(np.float32)
    mels = rng.uniform(-4, 4, (2, 3, 80, 16)).astype(np.float32)
    out = jax.jit(SyncNetColor().apply)(variables, faces, mels)
    assert out.audio.shape == out.face.shape == (2, 3, 512)
    np.testing.assert_allclose(np.linalg.norm(out.audio, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out.face, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("module, faces, mels, match", [
    (Wav2LipGenerator(), (2, 96, 96, 3), (2, 80, 16), "Wav2Lip faces must be"),
    (Wav2LipGenerator(), (2, 96, 96, 6), (3, 80, 16), "mel windows must be"),
    (Wav2LipGenerator(), (2, 96, 96, 6), (2, 80, 32), "mel windows must be"),
    (SyncNetColor(), (2, 96, 96, 15), (2, 80, 16), "SyncNet_color faces must be"),
])
def test_bad_inputs_raise(module, faces, mels, match):
    with pytest.raises(InputError, match=match):
        module.init(jax.random.key(0), jnp.zeros(faces), jnp.zeros(mels))


def test_generator_input_masks_the_lower_half_of_the_frame_only(rng):
    frames = rng.random((2, 96, 96, 3)).astype(np.float32) + 0.1
    reference = rng.random((2, 96, 96, 3)).astype(np.float32) + 0.1
    x = np.asarray(generator_input(frames, reference))
    assert x.shape == (2, 96, 96, 6)
    np.testing.assert_array_equal(x[:, :48, :, :3], frames[:, :48])      # upper half kept
    np.testing.assert_array_equal(x[:, 48:, :, :3], 0.0)                 # rows 48..95 zeroed
    np.testing.assert_array_equal(x[..., 3:], reference)                 # reference whole
    with pytest.raises(InputError, match="differ in shape"):
        generator_input(frames, reference[:1])
    with pytest.raises(InputError, match="96, 96, 3"):
        generator_input(frames[:, :64], reference[:, :64])


def test_sync_face_input_stacks_lower_halves_in_time_order(rng):
    frames = rng.random((2, 5, 96, 96, 3)).astype(np.float32)
    x = np.asarray(sync_face_input(frames))
    assert x.shape == (2, 48, 96, 15)
    for t in range(5):
        np.testing.assert_array_equal(x[..., 3 * t:3 * t + 3], frames[:, t, 48:])
    np.testing.assert_array_equal(np.asarray(lower_half(frames)), frames[..., 48:, :, :])
    with pytest.raises(InputError, match="5, 96, 96, 3"):
        sync_face_input(frames[:, :4])


def test_sync_similarity_is_cosine_similarity(rng):
    a, v = rng.normal(size=(2, 4, 512)), rng.normal(size=(2, 4, 512))
    want = np.sum(a * v, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(v, axis=-1))
    np.testing.assert_allclose(sync_similarity(a, v), want, rtol=1e-5)
    assert float(sync_similarity(np.zeros(512), np.ones(512))) == 0.0   # no NaN on zeros


def test_systems_build_the_modules_from_configs():
    config = ml_collections.ConfigDict({"model": {"bn_axis_name": "data"}})
    assert Wav2LipSystem.generator_from_config(config) == Wav2LipGenerator(
        Wav2LipConfig(bn_axis_name="data"))
    assert SyncNetColorSystem.generator_from_config(config) == SyncNetColor(
        Wav2LipConfig(bn_axis_name="data"))
    assert discriminator_config(config) == WAV2LIP_QUALITY_CONFIG
    config.discriminator = {"sigmoid": False}
    assert discriminator_config(config).sigmoid is False
    with pytest.raises(ConfigError, match="unknown Wav2LipConfig fields"):
        Wav2LipSystem.generator_from_config(ml_collections.ConfigDict({"model": {"size": 1}}))
