"""The official ParaLip import: a PyTorch model of the release (`_torch_paralip.py`) with random
weights and BatchNorm statistics, saved as the release saves it, imported with `load_paralip`,
must give the same frames; plus the folder form, the TIMIT vocabulary, mismatch reports and
`lipjax lip` on a converted workdir."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="importing PyTorch checkpoints needs torch "
                                            "(pip install 'lipjax[torch]')")

import jax  # noqa: E402

from tests._layouts import read_layout
from lipjax.convert.paralip import convert_paralip, load_paralip  # noqa: E402
from lipjax.errors import ConversionError, InputError  # noqa: E402
from lipjax.paralip.generate import LipGenerator  # noqa: E402
from lipjax.paralip.model import ParaLip  # noqa: E402
from lipjax.paralip.system import model_config  # noqa: E402
from tests.convert._torch_paralip import OfficialParaLip  # noqa: E402

TOLERANCE = 1e-4  # max-abs difference of the frames (measured: 6e-6 to 8e-6 here)


@dataclasses.dataclass
class TrainingHParams:
    """Stands for the pickled hyperparameter object of a Lightning checkpoint (not a tensor, so
    the safe reader must replace it by an inert placeholder)."""

    arch: str = "8 8 8 8 8 8 8 8"
    hidden_size: int = 256


def published_layout() -> dict[str, tuple[int, ...]]:
    return dict(read_layout("paralip_official"))


def randomize(model: OfficialParaLip, *, seed: int, duration_bias: float) -> OfficialParaLip:
    """Random weights with unit-scale activations (so that every layer matters), random
    LayerNorm / BatchNorm affines and BatchNorm running statistics; eval mode."""
    g = torch.Generator().manual_seed(seed)

    def normal(tensor, mean: float, std: float) -> None:
        tensor.copy_(mean + std * torch.randn(tensor.shape, generator=g))

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)):
                normal(module.weight, 0.0, math.sqrt(2.0 / module.weight[0].numel()))
            elif isinstance(module, torch.nn.ConvTranspose2d):   # [in, out, k, k], stride 2
                normal(module.weight, 0.0, math.sqrt(2.0 / (module.weight.shape[0] * 25 / 4)))
            elif isinstance(module, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)):
                normal(module.weight, 1.0, 0.1)
            if isinstance(module, torch.nn.BatchNorm2d):
                normal(module.running_mean, 0.0, 0.1)
                module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=g))
                module.num_batches_tracked.fill_(32000)
            if getattr(module, "bias", None) is not None:
                normal(module.bias, 0.0, 0.1)
        for attention in (m for m in model.modules() if hasattr(m, "in_proj_weight")):
            normal(attention.in_proj_weight, 0.0, 256 ** -0.5)
        normal(model.encoder_embed_tokens.weight, 0.0, 256 ** -0.5)
        model.decoder.pos_embed_alpha.fill_(0.8)
        model.dur_predictor.linear.weight.mul_(0.5)
        model.dur_predictor.linear.bias.fill_(duration_bias)
    return model.eval()


def save_official(model: OfficialParaLip, path: Path) -> Path:
    """The release's file layout: Lightning's dict, `model.`-prefixed state dict, training
    state and a pickled non-tensor object."""
    state = {"model." + k: v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 1, "global_step": 32000, "optimizer_states": [],
                "hparams": TrainingHParams()}, path)
    return path


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    torch.manual_seed(0)
    model = randomize(OfficialParaLip(32), seed=0, duration_bias=math.log(2.5))
    folder = tmp_path_factory.mktemp("paralip_release")
    return model, save_official(model, folder / "model_ckpt_steps_32000.ckpt")


@pytest.fixture(scope="module")
def imported(official):
    _, path = official
    config, variables = load_paralip(path)
    model = ParaLip(model_config(config))
    apply = jax.jit(lambda v, t, i, d, *, max_frames: model.apply(
        v, t, i, d, max_frames=max_frames, train=False), static_argnames="max_frames")
    return config, variables, apply


# A batch with padding: 5 and 3 tokens.
TOKENS = np.array([[5, 9, 3, 17, 30], [12, 4, 21, 0, 0]], np.int64)
IDENTITY = np.random.default_rng(0).random((2, 80, 160, 3)).astype(np.float32)


def official_frames(model: OfficialParaLip, tokens: np.ndarray, identity: np.ndarray,
                    durations: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        frames, regulation = model(torch.tensor(tokens), torch.tensor(identity),
                                   None if durations is None else torch.tensor(durations))
    return frames.numpy(), regulation.numpy()


def test_the_torch_model_has_the_published_layout():
    state = OfficialParaLip(32).state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == list(published_layout().items())


def assert_same_frames(ours, frames: np.ndarray, regulation: np.ndarray) -> float:
    valid = regulation != 0
    np.testing.assert_array_equal(np.asarray(ours.frame_mask)[:, :valid.shape[1]], valid)
    got = np.asarray(ours.frames)
    difference = float(np.abs(got[:, :frames.shape[1]] - frames).max())
    assert difference <= TOLERANCE, difference
    assert np.all(got[:, frames.shape[1]:] == 0) and np.all(got[~np.asarray(ours.frame_mask)] == 0)
    # The comparison is of real images: tanh outputs spread over (-1, 1), not all saturated.
    assert frames[valid].std() > 0.2 and (np.abs(frames[valid]) > 0.99).mean() < 0.5
    return difference


def test_predicted_durations_give_the_official_frames(official, imported):
    model, _ = official
    _, variables, apply = imported
    frames, regulation = official_frames(model, TOKENS, IDENTITY)
    durations = np.stack([np.bincount(r[r > 0], minlength=6)[1:] for r in regulation])
    assert len(np.unique(durations[0])) >= 3 and len(set(durations.sum(1))) == 2
    # The official batch is padded to its longest video, so is ours (the FFN convs see padding).
    ours = apply(variables, TOKENS.astype(np.int32), IDENTITY, None, max_frames=frames.shape[1])
    np.testing.assert_array_equal(ours.durations, durations)
    assert_same_frames(ours, frames, regulation)


def test_given_durations_give_the_official_frames(official, imported):
    model, _ = official
    _, variables, apply = imported
    durations = np.array([[2, 0, 1, 3, 1], [1, 2, 2, 0, 0]], np.int64)  # a 0 frames token
    frames, regulation = official_frames(model, TOKENS, IDENTITY, durations)
    ours = apply(variables, TOKENS.astype(np.int32), IDENTITY, durations.astype(np.int32),
                 max_frames=frames.shape[1])
    np.testing.assert_array_equal(ours.durations, durations)
    assert_same_frames(ours, frames, regulation)


def test_lip_generator_equals_the_official_model_on_the_sentence_alone(official, imported):
    """`LipGenerator` pads to buckets; its frames equal the official model's on the unpadded
    sentence (read as [0, 1]: clipped, as the official code writes them)."""
    model, _ = official
    config, variables, _ = imported
    config = config.copy_and_resolve_references()
    config.data.vocabulary = "grid_chars"
    generator = LipGenerator(config, variables, token_buckets=(16,), frame_buckets=(32,))
    tokens = generator.tokenize("bin blue")                   # <sil> b i n ' ' b l u e <sil>
    frames, _ = official_frames(model, tokens[None].astype(np.int64), IDENTITY[:1])
    ours = generator("bin blue", IDENTITY[0])
    assert ours.shape == frames.shape[1:] and len(ours) >= 5
    np.testing.assert_allclose(ours, np.clip(frames[0], 0, 1), atol=TOLERANCE, rtol=0)


def test_a_folder_gives_its_largest_step(official, tmp_path):
    model, path = official
    other = randomize(OfficialParaLip(32), seed=1, duration_bias=0.0)
    save_official(other, tmp_path / "model_ckpt_steps_32000.ckpt")
    save_official(model, tmp_path / "model_ckpt_steps_9000.ckpt")   # later in name order
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    _, variables = load_paralip(tmp_path)
    np.testing.assert_array_equal(variables["params"]["encoder"]["embed_tokens"]["embedding"],
                                  other.encoder.embed_tokens.weight.detach().numpy())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no model_ckpt_steps_<N>.ckpt"):
        load_paralip(tmp_path / "empty")


PHONEMES = ["<pad>", "sh", "iy", "<EOS>", "hh", "ae", "d", "<UNK>"]   # reserved names skipped


@pytest.fixture(scope="module")
def timit_release(tmp_path_factory):
    """A TIMIT-style release: dict.txt (5 phonemes, reserved names among them) and a checkpoint
    whose embedding has 3 + 5 rows."""
    folder = tmp_path_factory.mktemp("timit_release")
    (folder / "dict.txt").write_text("\n".join(PHONEMES) + "\n", encoding="utf-8")
    model = randomize(OfficialParaLip(8), seed=2, duration_bias=math.log(2.0))
    return folder, save_official(model, folder / "model_ckpt_steps_32000.ckpt")


def test_a_timit_vocabulary_file_sets_the_token_ids_and_fps(timit_release):
    folder, path = timit_release
    config, variables = load_paralip(path, vocabulary=folder / "dict.txt")
    assert config.model.vocab_size == 8 and config.data.fps == 29.97
    assert config.data.vocabulary.symbols == ["<pad>", "<EOS>", "<UNK>", "sh", "iy", "hh", "ae", "d"]
    assert variables["params"]["encoder"]["embed_tokens"]["embedding"].shape == (8, 256)
    (folder / "phone_set.json").write_text(json.dumps(PHONEMES[1:3] + PHONEMES[4:7]))
    json_config, _ = load_paralip(path, vocabulary=folder / "phone_set.json")
    assert json_config.data.vocabulary.symbols == config.data.vocabulary.symbols
    (folder / "short.txt").write_text("sh\niy\nhh\n")
    with pytest.raises(ConversionError, match=r"8 rows.*3 reserved tokens \+ 3 = 6"):
        load_paralip(path, vocabulary=folder / "short.txt")


def test_every_mismatch_is_named_and_nothing_is_written(official, tmp_path):
    model, _ = official
    state = {"model." + k: v for k, v in model.state_dict().items()}
    del state["model.decoder.layer_norm.bias"]
    state["model.decoder.extra_head.weight"] = torch.zeros(3, 3)
    state["model.img_decoder.dconv6.bias"] = torch.zeros(4)
    path = tmp_path / "model_ckpt_steps_5.ckpt"
    torch.save({"state_dict": state, "hparams": TrainingHParams()}, path)
    out = tmp_path / "workdir"
    with pytest.raises(ConversionError) as error:
        convert_paralip(path, out)
    message = str(error.value)
    assert "3 problems" in message
    assert "missing decoder.layer_norm.bias (expected (256,))" in message
    assert "unexpected decoder.extra_head.weight (3, 3)" in message
    assert "wrong shape img_decoder.dconv6.bias: file (4,), model expects (3,)" in message
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_the_two_names_of_the_embedding_must_hold_one_tensor(official, tmp_path):
    model, _ = official
    state = {"model." + k: v.clone() for k, v in model.state_dict().items()}
    state["model.encoder_embed_tokens.weight"][3] += 1.0
    torch.save({"state_dict": state}, tmp_path / "model_ckpt_steps_1.ckpt")
    with pytest.raises(ConversionError, match="encoder_embed_tokens.weight and "
                                              "encoder.embed_tokens.weight differ"):
        load_paralip(tmp_path)


def test_lip_writes_a_29_97_fps_video_from_a_converted_timit_workdir(timit_release, tmp_path):
    import cv2

    from lipjax.cli import main
    from lipjax.training.workdir import restore_generator
    from lipjax.video import probe

    folder, _ = timit_release
    workdir = tmp_path / "paralip_timit"
    assert main(["convert", "paralip", "--torch_checkpoint", str(folder), "--out", str(workdir),
                 "--vocabulary", str(folder / "dict.txt")]) == 0
    restored = restore_generator(workdir)
    assert isinstance(restored.module, ParaLip) and restored.step == 0
    generator = LipGenerator.from_checkpoint(workdir)
    np.testing.assert_array_equal(generator.tokenize("sh iy d"), [3, 4, 7])   # nothing added
    with pytest.raises(InputError, match=r"'SH', 'ah'"):
        generator.tokenize("SH iy ah")
    face = tmp_path / "first_frame.png"
    cv2.imwrite(str(face), (IDENTITY[0] * 255).astype(np.uint8))
    out = tmp_path / "out.mp4"
    assert main(["lip", "--checkpoint", str(workdir), "--text", "sh iy d", "--identity",
                 str(face), "--out", str(out), "--durations", "2,1,2"]) == 0
    info = probe(out)
    assert info.num_frames == 5 and abs(info.fps - 29.97) < 1e-3
