"""`lipjax.paralip.fast`: the inference decoder (BatchNorm folded, skips once per video, frames
in chunks) gives `ParaLip.__call__`'s frames; `LipGenerator` compiles once per bucket."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lipjax.metrics import psnr
from lipjax.paralip import fast
from lipjax.paralip.generate import LipGenerator
from lipjax.paralip.model import ParaLip, to_unit_range
from tests.paralip.test_model import TINY

CONFIG = dataclasses.replace(TINY, mask_padding_in_ffn=True)
TOKENS = np.array([[3, 5, 7, 2, 9, 4], [6, 1, 8, 0, 0, 0]], np.int32)
DURATIONS = np.array([[2, 3, 1, 4, 2, 3], [5, 0, 6, 0, 0, 0]], np.int32)  # 15 and 11 frames


@pytest.fixture(scope="module")
def variables():
    """Random weights and BatchNorm statistics (running var in [0.5, 2]): every fold matters."""
    model = ParaLip(CONFIG)
    identity = np.zeros((2, 16, 32, 3), np.float32)
    init = jax.jit(lambda key: model.init(key, TOKENS, identity, DURATIONS, max_frames=16,
                                          train=False))(jax.random.key(0))
    rng = np.random.default_rng(0)

    def draw(path, a):
        name = jax.tree_util.keystr(path)
        if "batch_stats" in name:
            low, high = (0.5, 2.0) if "var" in name else (-0.3, 0.3)
            return rng.uniform(low, high, a.shape).astype(np.float32)
        if "norm" in name and "scale" in name:
            return rng.uniform(0.5, 1.5, a.shape).astype(np.float32)
        return (a + rng.normal(0.0, 0.1, a.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, init)


@pytest.fixture(scope="module")
def identity():
    return np.random.default_rng(1).random((2, 16, 32, 3)).astype(np.float32)


def reference(variables, identity, durations, max_frames):
    out = jax.jit(lambda v, i: ParaLip(CONFIG).apply(v, TOKENS, i, durations,
                                                     max_frames=max_frames, train=False))(
        variables, identity)
    return np.asarray(to_unit_range(out.frames)), np.asarray(out.frame_mask)


@pytest.mark.parametrize("durations, max_frames, chunk", [
    (DURATIONS, 16, 4),       # 4 chunks per video, the second video's last one all padding
    (DURATIONS, 40, 7),       # bucket padding: 6 chunks of 7, the last 3 skipped
    (None, 13, 16),           # predicted durations; one chunk, overflow truncates
])
def test_fast_decoder_gives_the_module_frames(variables, identity, durations, max_frames, chunk):
    weights = fast.fold_video_decoder(variables, CONFIG)
    want, want_mask = reference(variables, identity, durations, max_frames)
    got, mask = jax.jit(lambda v, w, i: fast.generate_frames(
        ParaLip(CONFIG), v, w, TOKENS, i, durations, max_frames=max_frames,
        chunk_frames=chunk))(variables, weights, identity)
    np.testing.assert_array_equal(mask, want_mask)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert want[want_mask].std() > 0.1  # real images, not all clipped to 0 or 1
    assert np.all(np.asarray(got)[~np.asarray(mask)] == 0)


def test_native_transposed_convolution_gives_the_same_frames(variables, identity):
    weights = fast.fold_video_decoder(variables, CONFIG)
    frames = {method: jax.jit(lambda v, w, i, method=method: fast.generate_frames(
        ParaLip(CONFIG), v, w, TOKENS, i, DURATIONS, max_frames=16, method=method)[0])(
            variables, weights, identity) for method in ("phase", "lax")}
    np.testing.assert_allclose(frames["phase"], frames["lax"], atol=1e-5, rtol=0)


def test_bfloat16_decoder_stays_close_to_float32(variables, identity):
    """bf16 is what a GPU / TPU runs (`default_compute_dtype`); emulated here on the CPU."""
    weights = fast.fold_video_decoder(variables, CONFIG)
    run = {dtype: jax.jit(lambda v, w, i, dtype=dtype: fast.generate_frames(
        ParaLip(CONFIG), v, w, TOKENS, i, DURATIONS, max_frames=16, compute_dtype=dtype))(
            variables, weights, identity) for dtype in (jnp.float32, jnp.bfloat16)}
    (f32, mask), (bf16, _) = run[jnp.float32], run[jnp.bfloat16]
    assert bf16.dtype == jnp.float32
    error = float(psnr(bf16[mask], f32[mask], data_range=1.0))
    assert 30.0 < error < 80.0  # close, and not the float32 path by mistake
    assert fast.default_compute_dtype() == (jnp.float32 if jax.default_backend() == "cpu"
                                            else jnp.bfloat16)


def test_lip_generator_compiles_once_per_bucket(variables):
    config = ml_collections.ConfigDict({
        "model": dataclasses.asdict(TINY),
        "data": {"vocabulary": "grid_chars", "fps": 25.0}})
    config.model.vocab_size = 40
    model = ParaLip(dataclasses.replace(CONFIG, vocab_size=40))
    own = jax.jit(lambda key: model.init(key, np.ones((1, 4), np.int32),
                                         np.zeros((1, 16, 32, 3), np.float32), max_frames=4,
                                         train=False))(jax.random.key(1))
    generator = LipGenerator(config, own, token_buckets=(16, 32), frame_buckets=(32, 64))
    identity = np.full((16, 32, 3), 0.5, np.float32)
    frames = generator("bin blue", identity, durations=[2] * 10)
    assert frames.shape == (20, 16, 32, 3)
    traces = generator.traces
    generator("set red", identity, durations=[3] * 9)                  # same buckets
    generator("lay white", identity)                                   # predicted: + predict
    assert generator.traces - traces <= 1
    generator("place green", identity, durations=[4] * 13)             # 52 frames: 64 bucket
    assert generator.traces - traces <= 2
    want = jax.jit(lambda v: model.apply(v, generator.tokenize("bin blue")[None],
                                         identity[None], np.full((1, 10), 2, np.int32),
                                         max_frames=20, train=False))(own)
    np.testing.assert_allclose(frames, to_unit_range(want.frames)[0], atol=1e-5, rtol=0)
