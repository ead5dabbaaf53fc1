"""DCK on a pre-trained audio network, as the paper trains it (Ye et al., IEEE TMM 2022,
Sec. III-A: Wav2Lip's pre-trained audio encoder is used as is, and a fully connected network on
its features infers the kernels).

The config section `pretrained_audio` of a DCK training config:

  checkpoint  "" (default): the audio encoder starts at random and is trained with the rest.
              Otherwise where its weights come from: a lipjax workdir of Wav2Lip's generator
              (`lipjax.wav2lip.Wav2LipSystem`) or of its lip-sync expert
              (`lipjax.wav2lip.SyncNetColorSystem`), trained here or written by `lipjax
              convert wav2lip` / `lipjax convert syncnet`; or a published PyTorch file
              (`wav2lip.pth`, `wav2lip_gan.pth`, `lipsync_expert.pth`; torch needed).
  freeze      True (default, the paper): the encoder keeps the checkpoint's parameters and
              BatchNorm statistics: its output is a stop-gradient, its BatchNorm runs in
              inference mode, and the optimiser leaves it out (`frozen_generator_params`).
              False: it starts from the checkpoint and is fine-tuned.

The generator's audio encoder (13 blocks, `WAV2LIP_AUDIO_BLOCKS`) and the expert's (14: one more
residual 256-channel block, `SYNCNET_AUDIO_BLOCKS`) are both `lipjax.nn.AudioEncoder`s with the
published layout (`block_<i>/{conv,norm}` = `audio_encoder.<i>.conv_block.{0,1}`), so either
loads into a DCK model whose `model.audio_blocks` is that network's table at the checkpoint's
width, `audio_encoder_blocks(network, channel_divisor)`, with `model.audio_feature_dim` its last
block's features (512 // channel_divisor). The config names the table itself (a restored DCK
workdir must not need the checkpoint); a checkpoint of another shape, or one trained on another
mel spectrogram, is a ConfigError that names the difference and the table it needs.

The DCK kernels are predicted from the encoder's raw output (`[B, D]`, after its final ReLU),
not from the expert's L2-normalised embedding.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import ml_collections

from lipjax.audio import MelConfig
from lipjax.errors import ConfigError
from lipjax.nn.audio_encoder import WAV2LIP_AUDIO_BLOCKS, AudioEncoder, ConvBlockSpec

__all__ = ["PretrainedAudio", "AUDIO_NETWORKS", "audio_encoder_blocks", "pretrained_audio_section",
           "load_pretrained_audio", "check_pretrained_audio", "with_pretrained_audio",
           "ENCODER"]

ENCODER = "audio_encoder"   # the submodule name in the DCK generator, Wav2Lip and the expert
AUDIO_NETWORKS = ("wav2lip", "syncnet_color")


def audio_encoder_blocks(network: str, channel_divisor: int = 1) -> tuple[ConvBlockSpec, ...]:
    """The audio encoder table of Wav2Lip's generator (`"wav2lip"`) or lip-sync expert
    (`"syncnet_color"`) at `channel_divisor` (`Wav2LipConfig.channel_divisor`), what
    `model.audio_blocks` must be to load that network's encoder."""
    from lipjax.wav2lip.model import SYNCNET_AUDIO_BLOCKS, Wav2LipConfig, _narrow

    tables = {"wav2lip": WAV2LIP_AUDIO_BLOCKS, "syncnet_color": SYNCNET_AUDIO_BLOCKS}
    if network not in tables:
        raise ConfigError(f"network must be one of {AUDIO_NETWORKS}, got {network!r}")
    return _narrow(tables[network], Wav2LipConfig(channel_divisor=channel_divisor))


@dataclasses.dataclass(frozen=True)
class PretrainedAudio:
    """A pre-trained audio encoder read from a checkpoint.

    Attributes:
      source: the checkpoint's path.
      network: `"wav2lip"` (the generator's encoder) or `"syncnet_color"` (the expert's).
      channel_divisor: the width of the network it came from.
      variables: `{"params": ..., "batch_stats": ...}` of its `AudioEncoder` (host arrays).
      mel: the mel spectrogram it was trained on.
    """

    source: str
    network: str
    channel_divisor: int
    variables: Mapping[str, Any]
    mel: MelConfig

    @property
    def blocks(self) -> tuple[ConvBlockSpec, ...]:
        """Its block table (`audio_encoder_blocks(network, channel_divisor)`)."""
        return audio_encoder_blocks(self.network, self.channel_divisor)


def pretrained_audio_section(config: ml_collections.ConfigDict) -> tuple[str, bool]:
    """`(checkpoint, frozen)` of a training config: frozen is True only when a checkpoint is
    named and `pretrained_audio.freeze` (default True) is set."""
    section = config.get("pretrained_audio") or {}
    unknown = set(section) - {"checkpoint", "freeze"}
    if unknown:
        raise ConfigError(f"unknown pretrained_audio fields {sorted(unknown)}; known: "
                          "['checkpoint', 'freeze']")
    checkpoint = os.fspath(section.get("checkpoint") or "")
    return checkpoint, bool(checkpoint) and bool(section.get("freeze", True))


def _from_workdir(path: str) -> tuple[str, int, Mapping[str, Any], MelConfig]:
    from lipjax.training.workdir import restore_generator
    from lipjax.wav2lip.model import SyncNetColor, Wav2LipGenerator
    from lipjax.wav2lip.settings import mel_config

    restored = restore_generator(path)
    kinds = {SyncNetColor: "syncnet_color", Wav2LipGenerator: "wav2lip"}
    network = kinds.get(type(restored.module))
    if network is None:
        raise ConfigError(
            f"pretrained_audio.checkpoint {path!r} is a workdir of {restored.config.system}, "
            f"whose generator is a {type(restored.module).__name__}; it must be Wav2Lip's "
            "generator (lipjax.wav2lip.Wav2LipSystem) or its lip-sync expert "
            "(lipjax.wav2lip.SyncNetColorSystem)")
    return (network, restored.module.config.channel_divisor, restored.variables,
            mel_config(restored.config))


def _from_torch(path: str) -> tuple[str, int, Mapping[str, Any], MelConfig]:
    from lipjax.convert.torch_io import read_state_dict
    from lipjax.convert.wav2lip import load_syncnet_color, load_wav2lip

    generator = any(name.startswith("face_decoder_blocks.") for name in read_state_dict(path))
    _, variables = (load_wav2lip if generator else load_syncnet_color)(path)
    return ("wav2lip" if generator else "syncnet_color"), 1, variables, MelConfig()


def load_pretrained_audio(path: str | os.PathLike) -> PretrainedAudio:
    """The audio encoder of a Wav2Lip generator or SyncNet_color expert (a lipjax workdir or a
    published `.pth`; module docstring).

    Raises:
      ConfigError: no such path, or a workdir of another network.
      CheckpointError: a workdir without a checkpoint. ConversionError: a `.pth` that is
        neither Wav2Lip's generator nor its expert. InputError: torch is missing.
    """
    path = os.fspath(path)
    if not Path(path).exists():
        raise ConfigError(
            f"pretrained_audio.checkpoint {path!r} does not exist; train the expert first "
            "(lipjax train --config experiments/configs/wav2lip_expert_synthetic.py --workdir "
            f"{path}), give a Wav2Lip / lipsync_expert .pth, or set pretrained_audio.checkpoint="
            "'' to train the audio encoder from scratch")
    network, divisor, variables, mel = (_from_workdir if Path(path).is_dir()
                                        else _from_torch)(path)
    encoder = {c: jax.device_get(variables[c][ENCODER]) for c in ("params", "batch_stats")}
    return PretrainedAudio(path, network, int(divisor), encoder, mel)


def _leaf_shapes(tree: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep="/")
    return {name: tuple(leaf.shape) for name, leaf in flat.items()}


def check_pretrained_audio(pretrained: PretrainedAudio, blocks: tuple[ConvBlockSpec, ...],
                           mel: MelConfig) -> None:
    """Raises a ConfigError unless `pretrained` fits a DCK audio encoder of `blocks` reading
    mel spectrograms of `mel`: the first differing tensors are named with the table to use."""
    template = jax.eval_shape(AudioEncoder(tuple(blocks)).init, jax.random.key(0),
                              jnp.zeros((1, 80, 16)))
    expected = {f"{c}/{k}": v for c in ("params", "batch_stats")
                for k, v in _leaf_shapes(template[c]).items()}
    found = {f"{c}/{k}": v for c in ("params", "batch_stats")
             for k, v in _leaf_shapes(pretrained.variables[c]).items()}
    if expected != found:
        names = list(expected) + [n for n in found if n not in expected]   # model order
        diffs = [f"{n}: checkpoint {found.get(n, 'missing')}, model {expected.get(n, 'missing')}"
                 for n in names if expected.get(n) != found.get(n)]
        need = pretrained.blocks
        raise ConfigError(
            f"pretrained_audio.checkpoint {pretrained.source!r} holds the audio encoder of a "
            f"{pretrained.network} network at channel_divisor {pretrained.channel_divisor} "
            f"({len(need)} blocks, {need[-1].features} features), which does not fit "
            f"model.audio_blocks ({len(blocks)} blocks, {blocks[-1].features if blocks else 0} "
            f"features): {'; '.join(diffs[:4])}{'; ...' if len(diffs) > 4 else ''}. Set "
            f"model.audio_blocks = lipjax.dck.audio_encoder_blocks({pretrained.network!r}, "
            f"{pretrained.channel_divisor}) and model.audio_feature_dim = {need[-1].features}")
    if pretrained.mel != mel:
        raise ConfigError(
            f"pretrained_audio.checkpoint {pretrained.source!r} was trained on another mel "
            f"spectrogram ({pretrained.mel}) than data.mel gives ({mel}); set data.mel to its "
            "values")


def with_pretrained_audio(variables: Mapping[str, Any], pretrained: PretrainedAudio
                          ) -> dict[str, Any]:
    """Generator variables with the `audio_encoder` parameters and BatchNorm statistics
    replaced by the checkpoint's (the other variables unchanged)."""
    out = {c: dict(flax.core.unfreeze(v)) for c, v in variables.items()}
    for collection in ("params", "batch_stats"):
        out[collection][ENCODER] = jax.tree.map(jnp.asarray, pretrained.variables[collection])
    return out
