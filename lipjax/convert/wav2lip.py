"""Importers of Wav2Lip's published checkpoints (Prajwal et al., ACM MM 2020).

  load_wav2lip(path)                the generator: wav2lip.pth / wav2lip_gan.pth
  load_wav2lip_discriminator(path)  the visual-quality discriminator (`Wav2Lip_disc_qual`),
                                    saved by Wav2Lip's GAN training as its own checkpoint
  load_syncnet_color(path)          the lip-sync expert (`SyncNet_color`): lipsync_expert.pth
  convert_wav2lip(path, out)        the generator as a lipjax workdir (`lipjax convert wav2lip`)

The files are `torch.save({"state_dict": ..., "optimizer": ..., "global_step": ...,
"global_epoch": ...})` with every key prefixed `module.` (saved from DataParallel); they are
read with `lipjax.convert.torch_io.read_state_dict` (weights only, prefix removed, BatchNorm's
`num_batches_tracked` dropped). Tensor names map onto the lipjax modules as:

  generator    face_encoder_blocks.<i>.<j>.conv_block.{0,1}  face_encoder/block_<i>_<j>/{conv,norm}
               audio_encoder.<i>.conv_block.{0,1}           audio_encoder/block_<i>/{conv,norm}
               face_decoder_blocks.<i>.<j>.conv_block.{0,1} face_decoder/block_<i>_<j>/{conv,norm}
               output_block.0.conv_block.{0,1}              output_block_0/{conv,norm}
               output_block.1                               output_conv
  quality      face_encoder_blocks.<b>.<j>.conv_block.0     conv_<k> (k-th conv, blocks of
  discrim.                                                  1, 2, 2, 2, 2, 2, 2)
               binary_pred.0                                final
  expert       {face,audio}_encoder.<i>.conv_block.{0,1}    {face,audio}_encoder/block_<i>/...

Conv weights `[out, in, kh, kw]` become `[kh, kw, in, out]`; the decoder's ConvTranspose2d
weights (`face_decoder_blocks.<i>.0`, i >= 1) `[in, out, kh, kw]` become `[kh, kw, out, in]`;
BatchNorm `weight, bias, running_mean, running_var` become `params: scale, bias` and
`batch_stats: mean, var`. Every mismatch is reported at once (`ConversionError`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lipjax.convert.torch_io import Layout, read_state_dict, specs_from_template, to_variables
from lipjax.convert.workdir import write_converted_workdir
from lipjax.errors import ConversionError
from lipjax.nn.discriminators import WAV2LIP_QUALITY_CONFIG, FrameDiscriminator
from lipjax.wav2lip.model import (FACE_SIZE, MEL_WINDOW, NUM_MELS, SYNC_FRAMES,
                                  WAV2LIP_FACE_DECODER, ConvTransposeSpec, Wav2LipConfig)
from lipjax.wav2lip.system import (SyncNetColorSystem, Wav2LipSystem, discriminator_config)

__all__ = ["load_wav2lip", "load_wav2lip_discriminator", "load_syncnet_color",
           "convert_wav2lip", "wav2lip_config", "syncnet_color_config"]

Variables = dict[str, Any]
TensorRule = Callable[[tuple[str, ...]], tuple[str, Layout]]

# Wav2Lip_disc_qual's `face_encoder_blocks`: how many convs each block holds.
QUALITY_BLOCK_SIZES = (1, 2, 2, 2, 2, 2, 2)

# (collection, submodule, leaf) of a conv + BatchNorm block -> its PyTorch suffix and layout.
_CONV_NORM_TENSORS: Mapping[tuple[str, str, str], tuple[str, Layout]] = {
    ("params", "conv", "kernel"): ("conv_block.0.weight", Layout.CONV2D),
    ("params", "conv", "bias"): ("conv_block.0.bias", Layout.SAME),
    ("params", "norm", "scale"): ("conv_block.1.weight", Layout.SAME),
    ("params", "norm", "bias"): ("conv_block.1.bias", Layout.SAME),
    ("batch_stats", "norm", "mean"): ("conv_block.1.running_mean", Layout.SAME),
    ("batch_stats", "norm", "var"): ("conv_block.1.running_var", Layout.SAME),
}
_CONV_TENSORS: Mapping[str, tuple[str, Layout]] = {
    "kernel": ("weight", Layout.CONV2D), "bias": ("bias", Layout.SAME)}


def wav2lip_config() -> ml_collections.ConfigDict:
    """The config of an imported Wav2Lip generator (and its quality discriminator)."""
    config = ml_collections.ConfigDict()
    config.system = "lipjax.wav2lip.Wav2LipSystem"
    config.model = ml_collections.ConfigDict(dataclasses.asdict(Wav2LipConfig()))
    config.discriminator = ml_collections.ConfigDict(dataclasses.asdict(WAV2LIP_QUALITY_CONFIG))
    return config


def syncnet_color_config() -> ml_collections.ConfigDict:
    """The config of an imported lip-sync expert (its workdir's "generator" is the expert)."""
    config = ml_collections.ConfigDict()
    config.system = "lipjax.wav2lip.SyncNetColorSystem"
    config.model = ml_collections.ConfigDict(dataclasses.asdict(Wav2LipConfig()))
    return config


def _unmapped(path: tuple[str, ...]) -> ConversionError:
    return ConversionError(f"no Wav2Lip tensor corresponds to the lipjax variable "
                           f"{'/'.join(path)}")


def _conv_norm_tensor(collection: str, rest: tuple[str, ...], torch_block: str, *,
                      transposed: bool = False) -> tuple[str, Layout]:
    """The PyTorch name and layout of `(submodule, leaf)` of a Wav2Lip `Conv2d` block."""
    key = (collection,) + rest
    if key not in _CONV_NORM_TENSORS:
        raise _unmapped(key)
    suffix, layout = _CONV_NORM_TENSORS[key]
    if transposed and layout is Layout.CONV2D:
        layout = Layout.CONV_TRANSPOSE2D
    return f"{torch_block}.{suffix}", layout


def _block_indices(name: str) -> list[int]:
    """`"block_3_1"` -> `[3, 1]`."""
    return [int(part) for part in name.split("_")[1:]]


def generator_tensor(path: tuple[str, ...]) -> tuple[str, Layout]:
    """The Wav2Lip state-dict name and layout of a `Wav2LipGenerator` variable path."""
    collection, top, *rest = path
    if top == "output_conv" and collection == "params" and rest[0] in _CONV_TENSORS:
        suffix, layout = _CONV_TENSORS[rest[0]]
        return f"output_block.1.{suffix}", layout
    if top == "output_block_0":
        return _conv_norm_tensor(collection, tuple(rest), "output_block.0")
    if top == "audio_encoder":
        (index,) = _block_indices(rest[0])
        return _conv_norm_tensor(collection, tuple(rest[1:]), f"audio_encoder.{index}")
    if top in ("face_encoder", "face_decoder"):
        group, block = _block_indices(rest[0])
        transposed = top == "face_decoder" and isinstance(
            WAV2LIP_FACE_DECODER[group][block], ConvTransposeSpec)
        return _conv_norm_tensor(collection, tuple(rest[1:]),
                                 f"{top}_blocks.{group}.{block}", transposed=transposed)
    raise _unmapped(path)


def quality_discriminator_tensor(path: tuple[str, ...]) -> tuple[str, Layout]:
    """The `Wav2Lip_disc_qual` name and layout of a `FrameDiscriminator` variable path."""
    collection, module, leaf = path
    if collection != "params" or leaf not in _CONV_TENSORS:
        raise _unmapped(path)
    suffix, layout = _CONV_TENSORS[leaf]
    if module == "final":
        return f"binary_pred.0.{suffix}", layout
    if not module.startswith("conv_"):
        raise _unmapped(path)
    index = int(module[len("conv_"):])
    for block, size in enumerate(QUALITY_BLOCK_SIZES):
        if index < size:
            return f"face_encoder_blocks.{block}.{index}.conv_block.0.{suffix}", layout
        index -= size
    raise _unmapped(path)


def syncnet_color_tensor(path: tuple[str, ...]) -> tuple[str, Layout]:
    """The `SyncNet_color` name and layout of a `SyncNetColor` variable path."""
    collection, top, block, *rest = path
    if top not in ("face_encoder", "audio_encoder"):
        raise _unmapped(path)
    (index,) = _block_indices(block)
    return _conv_norm_tensor(collection, tuple(rest), f"{top}.{index}")


def _import(path: str | os.PathLike, module: nn.Module, inputs: tuple[jax.Array, ...],
            rule: TensorRule, what: str) -> Variables:
    """Reads `path` and fills the variables of `module` (shapes from `module.init(*inputs)`)."""
    state = read_state_dict(path)
    template = jax.eval_shape(module.init, jax.random.key(0), *inputs)
    specs = specs_from_template(template, rule)
    found = sum(spec.torch_name in state for spec in specs)
    if found < len(specs) / 2:     # another network: a list of every tensor would not help
        first = ", ".join(sorted(state)[:3])
        raise ConversionError(f"{os.fspath(path)!r} holds only {found} of the {len(specs)} "
                              f"tensors of {what} (its first names: {first}); is it another "
                              "model's checkpoint?")
    return to_variables(state, specs, what=what, dtype=np.float32)


def load_wav2lip(path: str | os.PathLike) -> tuple[ml_collections.ConfigDict, Variables]:
    """Wav2Lip's generator from `wav2lip.pth` / `wav2lip_gan.pth`.

    Returns:
      `(config, variables)`: `wav2lip_config()` (`config.system` =
      `"lipjax.wav2lip.Wav2LipSystem"`) and `{"params", "batch_stats"}` of `Wav2LipGenerator`.

    Raises:
      InputError: no such file, or torch is missing. ConversionError: unreadable, or the
        tensors do not match the generator (every mismatch listed).
    """
    config = wav2lip_config()
    module = Wav2LipSystem.generator_from_config(config)
    inputs = (jnp.zeros((1, FACE_SIZE, FACE_SIZE, 6)), jnp.zeros((1, NUM_MELS, MEL_WINDOW)))
    return config, _import(path, module, inputs, generator_tensor,
                           "Wav2Lip's generator (wav2lip.pth / wav2lip_gan.pth)")


def load_wav2lip_discriminator(path: str | os.PathLike
                               ) -> tuple[ml_collections.ConfigDict, Variables]:
    """Wav2Lip's visual-quality discriminator (`Wav2Lip_disc_qual`).

    It scores the lower half of a 96x96 BGR / 255 face: apply it to
    `lipjax.wav2lip.lower_half(faces)` (Wav2Lip's forward crops inside the network).

    Returns:
      `(config, variables)`: `wav2lip_config()` (its `discriminator` section is
      `WAV2LIP_QUALITY_CONFIG`) and `{"params"}` of `FrameDiscriminator(WAV2LIP_QUALITY_CONFIG)`.

    Raises:
      As `load_wav2lip`.
    """
    config = wav2lip_config()
    disc = discriminator_config(config)
    module = FrameDiscriminator(disc)
    inputs = (jnp.zeros((1, disc.image_height, disc.image_width, disc.image_channels)),)
    return config, _import(path, module, inputs, quality_discriminator_tensor,
                           "Wav2Lip's visual-quality discriminator (Wav2Lip_disc_qual)")


def load_syncnet_color(path: str | os.PathLike) -> tuple[ml_collections.ConfigDict, Variables]:
    """Wav2Lip's lip-sync expert (`SyncNet_color`) from `lipsync_expert.pth`.

    Returns:
      `(config, variables)`: `syncnet_color_config()` (`config.system` =
      `"lipjax.wav2lip.SyncNetColorSystem"`) and `{"params", "batch_stats"}` of `SyncNetColor`.

    Raises:
      As `load_wav2lip`.
    """
    config = syncnet_color_config()
    module = SyncNetColorSystem.generator_from_config(config)
    inputs = (jnp.zeros((1, FACE_SIZE // 2, FACE_SIZE, 3 * SYNC_FRAMES)),
              jnp.zeros((1, NUM_MELS, MEL_WINDOW)))
    return config, _import(path, module, inputs, syncnet_color_tensor,
                           "Wav2Lip's lip-sync expert (SyncNet_color, lipsync_expert.pth)")


def convert_wav2lip(path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Writes Wav2Lip's generator from `path` as a lipjax workdir at `out` (which must not
    exist, or be an empty folder); `restore_generator(out)` then returns a `Wav2LipGenerator`.
    Nothing is written when the checkpoint does not match.

    Raises:
      As `load_wav2lip`; InputError: `out` exists and is not empty.
    """
    config, variables = load_wav2lip(path)
    return write_converted_workdir(out, config, variables)
