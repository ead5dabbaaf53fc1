"""DCK on a pre-trained, frozen audio network (lipjax.dck.pretrained_audio): the block tables
against the published layouts, loading from an expert / generator workdir and from a published
.pth (the loaded values are the checkpoint's), freezing (the encoder is bit-identical after
training steps while everything else trains; fine-tuning with freeze=False), and the
ConfigErrors for a checkpoint that does not fit."""

from __future__ import annotations

import json
import os
import re

import jax
import ml_collections
import numpy as np
import pytest

from lipjax.convert.workdir import write_converted_workdir
from lipjax.dck import system as dck
from lipjax.dck.pretrained_audio import (
    audio_encoder_blocks,
    load_pretrained_audio,
    pretrained_audio_section,
)
from lipjax.errors import ConfigError
from lipjax.nn.audio_encoder import WAV2LIP_AUDIO_BLOCKS, AudioEncoder
from lipjax.training.config import load_config
from lipjax.training.state import count_params, init_state, make_rng
from lipjax.training.system import make_system
from lipjax.training.workdir import check_resume, restore_generator
from tests._layouts import read_layout
from tests._paths import CONFIGS
from tests.dck._tiny import max_change, tiny_config, train_steps
from tests.wav2lip.test_system import tiny_config as tiny_wav2lip_config

DIVISOR = 32     # the tiny Wav2Lip networks' width (tests/wav2lip/test_system.py)


def _published_encoder(layout: str) -> dict[str, tuple[int, ...]]:
    """`{state-dict name: shape}` of the audio encoder tensors in a published layout, with the
    `audio_encoder.` prefix and BatchNorm's step counter removed."""
    return {name[len("audio_encoder."):]: shape for name, shape in read_layout(layout)
            if name.startswith("audio_encoder.") and "num_batches_tracked" not in name}


def _torch_names(blocks) -> dict[str, tuple[int, ...]]:
    """The same names and (PyTorch) shapes for an `AudioEncoder` of `blocks`."""
    variables = jax.eval_shape(AudioEncoder(blocks).init, jax.random.key(0), np.zeros((1, 80, 16)))
    out = {}
    for index in range(len(blocks)):
        params = variables["params"][f"block_{index}"]
        stats = variables["batch_stats"][f"block_{index}"]
        kh, kw, cin, cout = params["conv"]["kernel"].shape
        out.update({f"{index}.conv_block.0.weight": (cout, cin, kh, kw),
                    f"{index}.conv_block.0.bias": params["conv"]["bias"].shape,
                    f"{index}.conv_block.1.weight": params["norm"]["scale"].shape,
                    f"{index}.conv_block.1.bias": params["norm"]["bias"].shape,
                    f"{index}.conv_block.1.running_mean": stats["norm"]["mean"].shape,
                    f"{index}.conv_block.1.running_var": stats["norm"]["var"].shape})
    return out


@pytest.mark.parametrize("network,layout,count", [
    ("wav2lip", "wav2lip_generator", 2_812_672),
    ("syncnet_color", "syncnet_color", 2_812_672 + 256 * 256 * 9 + 256 + 2 * 256)])
def test_block_tables_are_the_published_encoders(network, layout, count):
    blocks = audio_encoder_blocks(network)
    assert _torch_names(blocks) == _published_encoder(layout)
    params = jax.eval_shape(AudioEncoder(blocks).init, jax.random.key(0), np.zeros((1, 80, 16)))
    assert count_params(params["params"]) == count
    # The expert's encoder is the generator's with one more residual 256-channel block.
    assert (len(blocks), blocks[-1].features) == ((13, 512) if network == "wav2lip" else (14, 512))
    narrow = audio_encoder_blocks(network, 16)
    assert [b.features for b in narrow] == [max(1, b.features // 16) for b in blocks]


@pytest.fixture(scope="module")
def expert_workdir(tmp_path_factory):
    """A random tiny SyncNet_color expert (channel_divisor 32) as a workdir."""
    config = tiny_wav2lip_config("wav2lip_expert")
    system = make_system(config)
    variables, _ = system.init_variables(make_rng(config), system.example_batch((1, 1)))
    return write_converted_workdir(tmp_path_factory.mktemp("dck_audio") / "expert", config,
                                   variables)


def _frozen_config(checkpoint, *, network="syncnet_color", freeze=True, divisor=DIVISOR):
    config = tiny_config(parallel="pmap")
    blocks = audio_encoder_blocks(network, divisor)
    config.model.audio_blocks = blocks
    config.model.audio_feature_dim = blocks[-1].features
    config.pretrained_audio.checkpoint = os.fspath(checkpoint)
    config.pretrained_audio.freeze = freeze
    return config


def _encoder(tree):
    return tree["audio_encoder"]


def _bits(tree) -> list[bytes]:
    return [np.asarray(leaf).tobytes() for leaf in jax.tree.leaves(tree)]


def test_the_synthetic_configs_name_the_option():
    trainable = load_config(os.path.join(CONFIGS, "dck_synthetic.py"))
    assert pretrained_audio_section(trainable) == ("", False)
    frozen = load_config(os.path.join(CONFIGS, "dck_synthetic_frozen_audio.py"))
    checkpoint, is_frozen = pretrained_audio_section(frozen)
    assert checkpoint == "runs/wav2lip_expert_synthetic" and is_frozen
    expert = load_config(os.path.join(CONFIGS, "wav2lip_expert_synthetic.py"))
    blocks = audio_encoder_blocks("syncnet_color", expert.model.channel_divisor)
    assert tuple(frozen.model.audio_blocks) == blocks
    assert frozen.model.audio_feature_dim == blocks[-1].features
    for name, value in frozen.items():            # everything else is dck_synthetic's
        if name not in ("model", "pretrained_audio"):
            assert value == trainable[name], name
    assert {k: v for k, v in frozen.model.items() if not k.startswith("audio_")} == {
        k: v for k, v in trainable.model.items() if not k.startswith("audio_")}
    # Its block table (tuples in tuples) reads back from config.json as the same config.
    check_resume(ml_collections.ConfigDict(json.loads(frozen.to_json_best_effort())), frozen)


@pytest.mark.slow
def test_frozen_encoder_holds_the_checkpoint_bit_for_bit_while_the_rest_trains(expert_workdir):
    saved = restore_generator(expert_workdir).variables
    system, before, after, metrics = train_steps(_frozen_config(expert_workdir), num_steps=2)
    assert system.frozen_generator_params == ("audio_encoder",)
    assert system.generator.config.freeze_audio_encoder
    assert metrics["skipped/generator"] == 0 and np.isfinite(metrics["loss/generator_total"])
    for collection in ("params", "batch_stats"):
        loaded = getattr(before.generator, collection)
        trained = getattr(after.generator, collection)
        assert _bits(_encoder(loaded)) == _bits(_encoder(saved[collection]))   # loaded exactly
        assert _bits(_encoder(trained)) == _bits(_encoder(saved[collection]))  # never changed
        assert max_change(loaded["unet"], trained["unet"]) > 0                 # the rest trains
    # The kernel generators read the frozen features and train.
    assert max_change(before.generator.params["unet"]["dck_0"],
                      after.generator.params["unet"]["dck_0"]) > 0
    # The optimiser keeps Adam's two moments for the trained parameters only (and step counts).
    trained_count = (count_params(after.generator.params)
                     - count_params(_encoder(after.generator.params)))
    state_size = sum(np.size(leaf) for leaf in jax.tree.leaves(after.generator.opt_state))
    assert 2 * trained_count <= state_size < 2 * trained_count + 8


@pytest.mark.slow
def test_freeze_false_fine_tunes_from_the_checkpoint(expert_workdir):
    saved = restore_generator(expert_workdir).variables
    system, before, after, _ = train_steps(_frozen_config(expert_workdir, freeze=False), 1)
    assert system.frozen_generator_params == () and not system.generator.config.freeze_audio_encoder
    assert _bits(_encoder(before.generator.params)) == _bits(_encoder(saved["params"]))
    assert max_change(_encoder(before.generator.params), _encoder(after.generator.params)) > 0


def test_a_wav2lip_generator_workdir_loads_its_13_block_encoder(tmp_path):
    config = tiny_wav2lip_config("wav2lip", sync=0.0, sync_expert="")
    system = make_system(config)
    variables, _ = system.init_variables(make_rng(config), system.example_batch((1, 1)))
    workdir = write_converted_workdir(tmp_path / "gen", config, variables)
    pretrained = load_pretrained_audio(workdir)
    assert (pretrained.network, pretrained.channel_divisor) == ("wav2lip", DIVISOR)
    assert len(pretrained.blocks) == len(WAV2LIP_AUDIO_BLOCKS)
    dck_config = _frozen_config(workdir, network="wav2lip")
    dck_system = make_system(dck_config)
    state, _ = init_state(dck_system, dck_config, dck_system.example_batch((1, 2)),
                          make_rng(dck_config))
    for collection in ("params", "batch_stats"):
        assert _bits(_encoder(getattr(state.generator, collection))) == _bits(
            _encoder(variables[collection]))


def test_a_published_expert_pth_loads(tmp_path):
    torch = pytest.importorskip("torch", reason="reading .pth files needs torch")
    from tests.convert._torch_wav2lip import TorchSyncNetColor, save_published

    torch.manual_seed(0)
    module = TorchSyncNetColor()
    path = save_published(module, tmp_path / "lipsync_expert.pth")
    pretrained = load_pretrained_audio(path)
    assert (pretrained.network, pretrained.channel_divisor) == ("syncnet_color", 1)
    state = module.state_dict()
    for index in (0, 11, 13):     # first, the expert's extra residual block, last
        kernel = state[f"audio_encoder.{index}.conv_block.0.weight"].numpy()
        np.testing.assert_array_equal(
            pretrained.variables["params"][f"block_{index}"]["conv"]["kernel"],
            kernel.transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(
            pretrained.variables["batch_stats"][f"block_{index}"]["norm"]["var"],
            state[f"audio_encoder.{index}.conv_block.1.running_var"].numpy())


def test_checkpoints_that_do_not_fit_are_config_errors(expert_workdir, tmp_path):
    # The DCK model's own 4-block encoder cannot hold a 14-block expert's.
    config = tiny_config()
    config.pretrained_audio.checkpoint = os.fspath(expert_workdir)
    needed = re.escape(f"audio_encoder_blocks('syncnet_color', {DIVISOR})")
    with pytest.raises(ConfigError, match=f"syncnet_color network at channel_divisor {DIVISOR}"
                                          f".*{needed}.*audio_feature_dim = 16"):
        dck.DCKSystem.from_config(config)
    # The expert at another width (a channel_divisor'ed table that is not the checkpoint's).
    with pytest.raises(ConfigError, match="params/block_0/conv/kernel: checkpoint"):
        dck.DCKSystem.from_config(_frozen_config(expert_workdir, divisor=16))
    # The generator's table for an expert's checkpoint: one block short.
    with pytest.raises(ConfigError, match=r"\(13 blocks, 16 features\): params/block_11/conv"):
        dck.DCKSystem.from_config(_frozen_config(expert_workdir, network="wav2lip"))
    other_mel = _frozen_config(expert_workdir)
    other_mel.data.mel = {"fmax": 8000.0}
    with pytest.raises(ConfigError, match="another mel spectrogram"):
        dck.DCKSystem.from_config(other_mel)
    with pytest.raises(ConfigError, match="does not exist; train the expert first"):
        dck.DCKSystem.from_config(_frozen_config(tmp_path / "missing"))
    dck_config = tiny_config()
    dck_system = make_system(dck_config)
    dck_variables, _ = dck_system.init_variables(make_rng(dck_config),
                                                 dck_system.example_batch((1, 2)))
    dck_workdir = write_converted_workdir(tmp_path / "dck", dck_config, dck_variables)
    with pytest.raises(ConfigError, match="must be Wav2Lip's generator"):
        load_pretrained_audio(dck_workdir)
    explicit = tiny_config()
    explicit.model.freeze_audio_encoder = True
    with pytest.raises(ConfigError, match="follows pretrained_audio.checkpoint"):
        dck.model_config(explicit)
