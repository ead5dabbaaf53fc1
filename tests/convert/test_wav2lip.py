"""Wav2Lip's checkpoints imported into lipjax reproduce the PyTorch networks.

PyTorch versions of the generator, the quality discriminator and the lip-sync expert
(`tests/convert/_torch_wav2lip.py`) with the published state-dict layouts get random weights
and BatchNorm statistics, are saved as Wav2Lip publishes checkpoints, imported with
`lipjax.convert.wav2lip` and run on the same random inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the import tests compare with PyTorch "
                                              "(pip install torch)")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from lipjax.convert.wav2lip import (convert_wav2lip, load_syncnet_color, load_wav2lip,  # noqa: E402
                                    load_wav2lip_discriminator)
from lipjax.convert.workdir import write_converted_workdir  # noqa: E402
from lipjax.errors import ConversionError  # noqa: E402
from lipjax.nn.discriminators import (WAV2LIP_QUALITY_CONFIG, FrameDiscriminator,  # noqa: E402
                                      FrameDiscriminatorConfig)
from lipjax.training.workdir import restore_generator  # noqa: E402
from lipjax.wav2lip import (SyncNetColor, Wav2LipGenerator, generator_input,  # noqa: E402
                            lower_half, sync_face_input, sync_similarity)
from lipjax.wav2lip.system import Wav2LipSystem, discriminator_config  # noqa: E402
from tests.convert._torch_wav2lip import (TorchQualityDiscriminator,  # noqa: E402
                                          TorchSyncNetColor, TorchWav2Lip, randomise,
                                          read_layout, save_published)

TOLERANCE = 1e-4


def _mels(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Mel windows in Wav2Lip's normalised range [-4, 4]."""
    return torch.rand(*shape, generator=generator) * 8 - 4


def _max_abs(jax_out, torch_out) -> float:
    return float(np.max(np.abs(np.asarray(jax_out) - np.asarray(torch_out))))


@pytest.fixture(scope="module")
def generator_checkpoint(tmp_path_factory):
    g = torch.Generator().manual_seed(10)
    model = randomise(TorchWav2Lip(), 0, _mels(g, 4, 1, 80, 16),
                      torch.rand(4, 6, 96, 96, generator=g))
    return model, save_published(model, tmp_path_factory.mktemp("wav2lip") / "wav2lip.pth")


@pytest.fixture(scope="module")
def expert_checkpoint(tmp_path_factory):
    g = torch.Generator().manual_seed(11)
    model = randomise(TorchSyncNetColor(), 1, _mels(g, 8, 1, 80, 16),
                      torch.rand(8, 15, 48, 96, generator=g))
    return model, save_published(model, tmp_path_factory.mktemp("expert") / "lipsync_expert.pth")


@pytest.mark.parametrize("cls, layout", [(TorchWav2Lip, "wav2lip_generator"),
                                         (TorchQualityDiscriminator, "wav2lip_disc_qual"),
                                         (TorchSyncNetColor, "syncnet_color")])
def test_torch_references_have_the_published_layouts(cls, layout):
    state = cls().state_dict()
    assert [(name, tuple(t.shape)) for name, t in state.items()] == read_layout(layout)


def test_generator_matches_pytorch(generator_checkpoint):
    model, path = generator_checkpoint
    config, variables = load_wav2lip(path)
    assert config.system == "lipjax.wav2lip.Wav2LipSystem"
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(1, 2, 96, 96, 3, generator=g)          # [B, T, H, W, C], BGR / 255
    reference = torch.rand(1, 2, 96, 96, 3, generator=g)
    mels = _mels(g, 1, 2, 80, 16)
    # Wav2Lip's own input: channels [masked frame, reference], NCTHW, lower half rows zeroed.
    masked = frames.clone()
    masked[:, :, 48:] = 0
    torch_faces = torch.cat([masked, reference], dim=-1).permute(0, 4, 1, 2, 3)
    with torch.no_grad():
        want = model(mels[:, :, None], torch_faces).permute(0, 2, 3, 4, 1).numpy()
    faces = generator_input(frames.numpy(), reference.numpy())
    module = Wav2LipSystem.generator_from_config(config)
    got = jax.jit(module.apply)(variables, faces, jnp.asarray(mels.numpy()))
    assert got.shape == want.shape == (1, 2, 96, 96, 3)
    assert want.std() > 0.1                      # a comparison of input-dependent outputs
    difference = _max_abs(got, want)
    print(f"generator max abs difference {difference:.2e}")
    assert difference <= TOLERANCE


def test_quality_discriminator_matches_pytorch(tmp_path):
    g = torch.Generator().manual_seed(1)
    model = randomise(TorchQualityDiscriminator(), 2, torch.rand(4, 3, 2, 96, 96, generator=g))
    config, variables = load_wav2lip_discriminator(save_published(model, tmp_path / "disc.pth"))
    assert discriminator_config(config) == WAV2LIP_QUALITY_CONFIG
    faces = torch.rand(3, 2, 96, 96, 3, generator=g)            # [B, T, 96, 96, 3]
    with torch.no_grad():
        want = model(faces.permute(0, 4, 1, 2, 3)).numpy()      # [T * B, 1], time-major
    want = want.reshape(2, 3).T                                 # -> [B, T]
    got = FrameDiscriminator(WAV2LIP_QUALITY_CONFIG).apply(variables, lower_half(faces.numpy()))
    assert got.shape == (3, 2) and want.std() > 0.05
    difference = _max_abs(got, want)
    print(f"quality discriminator max abs difference {difference:.2e}")
    assert difference <= TOLERANCE


def test_table7_discriminator_is_the_same_stack_with_the_11th_padding_0(tmp_path):
    g = torch.Generator().manual_seed(2)
    model = randomise(TorchQualityDiscriminator(table7=True), 3,
                      torch.rand(8, 3, 80, 160, generator=g))
    _, variables = load_wav2lip_discriminator(save_published(model, tmp_path / "table7.pth"))
    frames = torch.rand(3, 80, 160, 3, generator=g)
    with torch.no_grad():
        want = model(frames.permute(0, 3, 1, 2)).numpy()[:, 0]
    logits = FrameDiscriminatorConfig(sigmoid=False)
    got = FrameDiscriminator(logits).apply(variables, frames.numpy())
    assert want.std() > 0.05
    difference = _max_abs(got, want)
    print(f"Table 7 discriminator max abs difference {difference:.2e}")
    assert difference <= TOLERANCE
    # The default squashes the same scores to probabilities (ParaLip Sec. 3.3).
    probabilities = FrameDiscriminator(FrameDiscriminatorConfig()).apply(variables, frames.numpy())
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-want)), atol=TOLERANCE)


def test_syncnet_color_matches_pytorch(expert_checkpoint):
    model, path = expert_checkpoint
    config, variables = load_syncnet_color(path)
    assert config.system == "lipjax.wav2lip.SyncNetColorSystem"
    g = torch.Generator().manual_seed(3)
    frames = torch.rand(3, 5, 96, 96, 3, generator=g)          # 5 consecutive faces each
    mels = _mels(g, 3, 80, 16)
    # Wav2Lip's get_sync_loss: lower halves, then frames concatenated on channels in time order.
    halves = frames.permute(0, 4, 1, 2, 3)[:, :, :, 48:]        # [B, 3, T, 48, 96]
    torch_faces = torch.cat([halves[:, :, t] for t in range(5)], dim=1)
    with torch.no_grad():
        want_audio, want_face = model(mels[:, None], torch_faces)
        want_similarity = torch.nn.functional.cosine_similarity(want_audio, want_face).numpy()
    got = SyncNetColor().apply(variables, sync_face_input(frames.numpy()), mels.numpy())
    differences = [_max_abs(got.audio, want_audio), _max_abs(got.face, want_face),
                   _max_abs(sync_similarity(got.audio, got.face), want_similarity)]
    print(f"expert max abs differences (audio, face, similarity) {differences}")
    # Different inputs give embeddings that differ by far more than the tolerance.
    assert _max_abs(want_face[0], want_face[1]) > 100 * TOLERANCE
    assert _max_abs(want_audio[0], want_audio[1]) > 100 * TOLERANCE
    assert max(differences) <= TOLERANCE


def test_converted_workdir_restores_the_generator(generator_checkpoint, tmp_path):
    _, path = generator_checkpoint
    out = convert_wav2lip(path, tmp_path / "wav2lip")
    restored = restore_generator(out)
    assert isinstance(restored.module, Wav2LipGenerator) and restored.step == 0
    assert discriminator_config(restored.config) == WAV2LIP_QUALITY_CONFIG   # via config.json
    _, variables = load_wav2lip(path)
    assert jax.tree.structure(restored.variables) == jax.tree.structure(variables)
    for got, want in zip(jax.tree.leaves(restored.variables), jax.tree.leaves(variables)):
        np.testing.assert_array_equal(np.asarray(got), want)


def test_converted_expert_restores_as_the_expert(expert_checkpoint, tmp_path):
    _, path = expert_checkpoint
    config, variables = load_syncnet_color(path)
    restored = restore_generator(write_converted_workdir(tmp_path / "expert", config, variables))
    assert isinstance(restored.module, SyncNetColor)
    np.testing.assert_array_equal(
        np.asarray(restored.variables["batch_stats"]["face_encoder"]["block_3"]["norm"]["var"]),
        variables["batch_stats"]["face_encoder"]["block_3"]["norm"]["var"])


def test_the_convert_command_takes_the_expert_as_a_syncnet(expert_checkpoint, tmp_path, capsys):
    from lipjax import cli

    _, path = expert_checkpoint
    out = tmp_path / "expert"
    assert cli.main(["convert", "syncnet", "--torch_checkpoint", str(path), "--out", str(out)]) == 0
    assert isinstance(restore_generator(out).module, SyncNetColor)
    assert cli.main(["convert", "syncnet", "--torch_checkpoint", str(path), "--out",
                     str(out)]) == 2  # an existing workdir is never overwritten
    assert "already exists" in capsys.readouterr().err


def test_mismatched_checkpoint_names_every_problem_and_writes_nothing(generator_checkpoint,
                                                                       tmp_path):
    model, _ = generator_checkpoint
    state = dict(model.state_dict())
    del state["face_decoder_blocks.3.1.conv_block.0.bias"]
    state["face_decoder_blocks.7.0.conv_block.0.weight"] = torch.zeros(64, 64, 3, 3)
    state["output_block.1.weight"] = torch.zeros(3, 32, 3, 3)
    bad = save_published(model, tmp_path / "bad.pth", state)
    with pytest.raises(ConversionError) as error:
        load_wav2lip(bad)
    message = str(error.value)
    assert "3 problems" in message
    assert "missing face_decoder_blocks.3.1.conv_block.0.bias" in message
    assert "unexpected face_decoder_blocks.7.0.conv_block.0.weight (64, 64, 3, 3)" in message
    assert "wrong shape output_block.1.weight: file (3, 32, 3, 3), model expects (3, 32, 1, 1)" \
        in message
    out = tmp_path / "out"
    with pytest.raises(ConversionError):
        convert_wav2lip(bad, out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pth"]


def test_another_models_checkpoint_is_named_as_such(expert_checkpoint):
    _, path = expert_checkpoint
    with pytest.raises(ConversionError,
                       match=r"only \d+ of the \d+ tensors of Wav2Lip's generator"):
        load_wav2lip(path)
