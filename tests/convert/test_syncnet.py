"""syncnet_python's SyncNet v2 imported into lipjax reproduces the PyTorch network.

A PyTorch SyncNet v2 written from the published layout (`tests/convert/_torch_syncnet.py`) gets
random weights and BatchNorm statistics, is saved as syncnet_v2.model is published (a plain
state dict), imported with `lipjax.convert.load_syncnet_v2` and run on the same random inputs.
Measured (CPU, float32): video embeddings max |diff| 2.1e-6 on a max |embedding| of 2.0, audio
1.7e-7 on 0.28 (both about 1e-6 of the scale).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch",
                            reason="the import tests compare with PyTorch (pip install torch)")

import jax  # noqa: E402

from lipjax.convert.syncnet import (SYNCNET_COLOR, SYNCNET_V2, convert_syncnet,  # noqa: E402
                                    load_syncnet_v2, syncnet_kind)
from lipjax.errors import ConversionError, InputError  # noqa: E402
from lipjax.syncnet.model import NUM_PARAMETERS, SyncNetV2, SyncNetV2Network  # noqa: E402
from lipjax.training.workdir import restore_generator  # noqa: E402
from tests.convert._torch_syncnet import SyncNetV2Torch, randomised, read_layout  # noqa: E402

TOLERANCE = 1e-4  # of the largest |embedding|


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """`(torch model, path of its syncnet_v2.model)`."""
    model = randomised(seed=0)
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(model.state_dict(), path)
    return model, path


def test_torch_module_has_the_published_layout():
    model = SyncNetV2Torch()
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == read_layout()
    assert sum(p.numel() for p in model.parameters()) == NUM_PARAMETERS == 13_631_616


def _max_relative(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


def test_imported_embeddings_match_pytorch(published):
    model, path = published
    config, variables = load_syncnet_v2(path)
    assert config.system == "lipjax.syncnet.SyncNetV2Network"
    rng = np.random.default_rng(1)
    video = rng.uniform(0, 255, (2, 5, 224, 224, 3)).astype(np.float32)  # BGR 0..255, NDHWC
    audio = (10 * rng.standard_normal((3, 13, 20))).astype(np.float32)  # MFCC-like scale
    with torch.no_grad():
        torch_video = model.forward_lip(torch.from_numpy(video.transpose(0, 4, 1, 2, 3).copy()))
        torch_audio = model.forward_aud(torch.from_numpy(audio[:, None]))
    module = SyncNetV2()
    ours_video = module.apply(variables, video, method="embed_video")
    ours_audio = module.apply(variables, audio, method="embed_audio")
    assert ours_video.shape == (2, 1024) and ours_audio.shape == (3, 1024)
    assert float(np.std(torch_video.numpy())) > 1e-3  # the random network is not degenerate
    assert _max_relative(np.asarray(ours_video), torch_video.numpy()) <= TOLERANCE
    assert _max_relative(np.asarray(ours_audio), torch_audio.numpy()) <= TOLERANCE


def test_convert_writes_a_restorable_workdir(published, tmp_path):
    _, path = published
    out = convert_syncnet(path, tmp_path / "syncnet_v2")
    restored = restore_generator(out)
    assert restored.system_class is SyncNetV2Network
    assert isinstance(restored.module, SyncNetV2) and restored.step == 0
    _, variables = load_syncnet_v2(path)
    flat = jax.tree_util.tree_leaves_with_path(variables)
    same = jax.tree_util.tree_leaves(jax.tree.map(
        lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))), variables,
        restored.variables))
    assert len(same) == len(flat) == 60 + 28 and all(same)
    with pytest.raises(InputError, match="already exists"):
        convert_syncnet(path, out)


def test_mismatched_files_list_every_problem(published, tmp_path):
    model, _ = published
    state = dict(model.state_dict())
    del state["netfclip.3.bias"]
    state["netcnnaud.18.weight"] = torch.zeros(512, 256, 4, 4)
    state["netcnnaud.99.weight"] = torch.zeros(3)
    path = tmp_path / "bad.model"
    torch.save(state, path)
    with pytest.raises(ConversionError) as error:
        load_syncnet_v2(path)
    message = str(error.value)
    assert "3 problems" in message
    assert "missing netfclip.3.bias" in message
    assert "wrong shape netcnnaud.18.weight: file (512, 256, 4, 4), model expects " \
           "(512, 256, 5, 4)" in message
    assert "unexpected netcnnaud.99.weight" in message


def test_the_kind_is_read_from_the_names(tmp_path):
    v2 = {name: np.zeros(1) for name, _ in read_layout()}
    color = {"face_encoder.0.conv_block.0.weight": np.zeros(1),
             "audio_encoder.0.conv_block.0.weight": np.zeros(1)}
    assert syncnet_kind(v2) == SYNCNET_V2 and syncnet_kind(color) == SYNCNET_COLOR
    with pytest.raises(ConversionError, match="not a SyncNet checkpoint"):
        syncnet_kind({"encoder.weight": np.zeros(1)})
    path = tmp_path / "lipsync_expert.pth"
    torch.save({"state_dict": {f"module.{k}": torch.zeros(1) for k in color}}, path)
    with pytest.raises(ConversionError, match="lip-sync expert"):
        load_syncnet_v2(path)


def test_a_published_file_is_a_sync_network(published):
    from lipjax.syncnet import SyncNetV2Sync, load_sync_network

    _, path = published
    network = load_sync_network(path, batch_size=2)
    assert isinstance(network, SyncNetV2Sync) and network.batch_size == 2
    _, variables = load_syncnet_v2(path)
    kernel = network.variables["params"]["video_tower"]["netcnnlip_0"]["kernel"]
    np.testing.assert_array_equal(np.asarray(kernel),
                                  variables["params"]["video_tower"]["netcnnlip_0"]["kernel"])
