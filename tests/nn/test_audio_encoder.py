"""Tests of lipjax.nn.audio_encoder against Wav2Lip's published layout and an
independent NCHW/OIHW forward pass written with lax.conv_general_dilated."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from lipjax.errors import InputError
from lipjax.nn.audio_encoder import WAV2LIP_AUDIO_BLOCKS, AudioEncoder, ConvNormBlock
from tests._layouts import read_layout

WAV2LIP_AUDIO_PARAMS = 2_812_672


def _count(tree) -> int:
    return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


@pytest.fixture(scope="module")
def shapes():
    return jax.eval_shape(
        lambda: AudioEncoder().init(jax.random.key(0), jnp.zeros((1, 80, 16, 1))))


def _read_tsv() -> dict[str, tuple[int, ...]]:
    """The audio encoder's tensors in Wav2Lip's published generator layout (prefix removed)."""
    prefix = "audio_encoder."
    return {name[len(prefix):]: shape for name, shape in read_layout("wav2lip_generator")
            if name.startswith(prefix)}


def test_parameter_count(shapes):
    assert _count(shapes["params"]) == WAV2LIP_AUDIO_PARAMS
    # Running statistics are batch_stats, not parameters: mean + var per channel.
    assert _count(shapes["batch_stats"]) == 2 * sum(b.features for b in WAV2LIP_AUDIO_BLOCKS)


def test_reference_table_agrees(shapes):
    table = _read_tsv()
    trainable = {k: v for k, v in table.items()
                 if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert sum(math.prod(s) for s in trainable.values()) == WAV2LIP_AUDIO_PARAMS
    params = shapes["params"]
    assert len(params) == len(WAV2LIP_AUDIO_BLOCKS) == 13
    for i in range(13):
        out_c, in_c, kh, kw = table[f"{i}.conv_block.0.weight"]
        assert params[f"block_{i}"]["conv"]["kernel"].shape == (kh, kw, in_c, out_c)
        assert params[f"block_{i}"]["conv"]["bias"].shape == table[f"{i}.conv_block.0.bias"]
        assert params[f"block_{i}"]["norm"]["scale"].shape == table[f"{i}.conv_block.1.weight"]
        assert params[f"block_{i}"]["norm"]["bias"].shape == table[f"{i}.conv_block.1.bias"]


def _reference_forward(state: dict[str, jax.Array], mel_nchw: jax.Array) -> jax.Array:
    """Wav2Lip's audio encoder in PyTorch layout (NCHW input, OIHW kernels), eval-mode BatchNorm."""
    x = mel_nchw
    for i, spec in enumerate(WAV2LIP_AUDIO_BLOCKS):
        p = f"{i}.conv_block."
        y = lax.conv_general_dilated(
            x, state[p + "0.weight"], spec.stride, [(spec.padding, spec.padding)] * 2,
            dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=lax.Precision.HIGHEST)
        y = y + state[p + "0.bias"][None, :, None, None]
        inv = 1.0 / jnp.sqrt(state[p + "1.running_var"] + 1e-5)
        y = (y - state[p + "1.running_mean"][None, :, None, None]) * inv[None, :, None, None]
        y = y * state[p + "1.weight"][None, :, None, None]
        y = y + state[p + "1.bias"][None, :, None, None]
        if spec.residual:
            y = y + x
        x = jnp.maximum(y, 0)
    return x.reshape(x.shape[0], -1)


def test_matches_pytorch_layout_reference(rng):
    """Random 'checkpoint' in the TSV's layout, imported by transposing kernels OIHW -> HWIO."""
    table = _read_tsv()
    state = {}
    for name, shape in table.items():
        if name.endswith("num_batches_tracked"):
            continue
        if name.endswith("running_var"):
            state[name] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        elif name.endswith("0.weight"):
            fan_in = math.prod(shape[1:])
            state[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        else:
            state[name] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    params, stats = {}, {}
    for i in range(13):
        p = f"{i}.conv_block."
        params[f"block_{i}"] = {
            "conv": {"kernel": state[p + "0.weight"].transpose(2, 3, 1, 0),
                     "bias": state[p + "0.bias"]},
            "norm": {"scale": state[p + "1.weight"], "bias": state[p + "1.bias"]},
        }
        stats[f"block_{i}"] = {"norm": {"mean": state[p + "1.running_mean"],
                                        "var": state[p + "1.running_var"]}}
    mel = rng.uniform(-4, 4, (3, 80, 16)).astype(np.float32)
    with jax.default_matmul_precision("highest"):
        out = jax.jit(lambda v, m: AudioEncoder().apply(v, m, train=False))(
            {"params": params, "batch_stats": stats}, mel)
        expected = jax.jit(_reference_forward)(state, mel[:, None])
    assert out.shape == (3, 512)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)
    assert np.all(np.asarray(out) >= 0) and np.any(np.asarray(out) > 0)


def test_spatial_sizes_and_output_shape():
    model = AudioEncoder()
    mel = jnp.zeros((2, 80, 16, 1))

    def run():
        variables = model.init(jax.random.key(0), mel)
        return model.apply(variables, mel, capture_intermediates=True)

    out, state = jax.eval_shape(run)  # shapes only: nothing is computed
    assert out.shape == (2, 512) and out.dtype == jnp.float32
    inter = state["intermediates"]
    sizes = [inter[f"block_{i}"]["__call__"][0].shape[1:] for i in range(13)]
    expected = [(80, 16, 32)] * 3 + [(27, 16, 64)] * 3 + [(9, 6, 128)] * 3 + [(3, 3, 256)] * 2
    expected += [(1, 1, 512)] * 2
    assert sizes == expected


@pytest.mark.parametrize("residual", [True, False])
def test_block_is_residual_exactly_where_specified(residual, rng):
    """A block whose conv and BatchNorm output are zero returns relu(x) if residual, else 0."""
    spec = WAV2LIP_AUDIO_BLOCKS[1]._replace(residual=residual)
    block = ConvNormBlock(spec)
    x = jnp.asarray(rng.standard_normal((2, 6, 5, 32)), jnp.float32)
    variables = block.init(jax.random.key(0, impl="rbg"), x, train=False)
    zeroed = jax.tree.map(jnp.zeros_like, variables["params"])
    out = block.apply({"params": zeroed, "batch_stats": variables["batch_stats"]}, x, train=False)
    np.testing.assert_array_equal(np.asarray(out), np.maximum(np.asarray(x), 0) if residual else 0)
    # The encoder's table: blocks 1, 2, 4, 5, 7, 8, 10 are the residual ones.
    assert [i for i, b in enumerate(WAV2LIP_AUDIO_BLOCKS) if b.residual] == [1, 2, 4, 5, 7, 8, 10]


def test_train_mode_batchnorm_with_axis_name_under_pmap(rng):
    """Train mode updates batch_stats; with axis_name='data' the per-device halves of a batch
    are normalised with the statistics of the whole batch (same output as one device)."""
    if jax.local_device_count() < 2:
        pytest.skip("needs 2 devices (XLA_FLAGS=--xla_force_host_platform_device_count=2)")
    mel = jnp.asarray(rng.uniform(-4, 4, (4, 80, 16)), jnp.float32)
    variables = jax.jit(AudioEncoder().init)(jax.random.key(0, impl="rbg"), mel)
    single, updates = jax.jit(
        lambda v, m: AudioEncoder().apply(v, m, train=True, mutable=["batch_stats"]))(
        variables, mel)
    before = variables["batch_stats"]["block_0"]["norm"]["mean"]
    assert not np.allclose(before, updates["batch_stats"]["block_0"]["norm"]["mean"])
    sharded = jax.pmap(
        lambda v, m: AudioEncoder(axis_name="data").apply(v, m, train=True,
                                                          mutable=["batch_stats"])[0],
        axis_name="data", in_axes=(None, 0))(variables, mel.reshape(2, 2, 80, 16))
    np.testing.assert_allclose(np.asarray(sharded).reshape(4, 512), single, atol=1e-4)


def test_wrong_window_size_is_an_input_error():
    with pytest.raises(InputError, match="80 mel bins x 16 frames"):
        jax.eval_shape(AudioEncoder().init, jax.random.key(0), jnp.zeros((1, 80, 32, 1)))
    with pytest.raises(InputError, match="mel windows must be"):
        jax.eval_shape(AudioEncoder().init, jax.random.key(0), jnp.zeros((80, 16)))
