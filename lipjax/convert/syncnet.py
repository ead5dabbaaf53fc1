"""Importing the published lip-sync networks: syncnet_python's SyncNet v2 (`syncnet_v2.model`,
the LSE-C / LSE-D network) and, through `lipjax.convert.wav2lip`, Wav2Lip's expert.

`syncnet_v2.model` is a plain state dict of `SyncNetModel.S(num_layers_in_fc_layers=1024)` with
no key prefix: 13,631,616 parameters in 60 weight / bias tensors, 14 BatchNorm layers with their
running statistics (8,640 numbers) and `num_batches_tracked` counters (ignored). Every tensor maps
onto `lipjax.syncnet.SyncNetV2` by name (`netcnnaud.4.weight` -> `audio_tower/netcnnaud_4/
kernel`): Conv2d weights `[out, in, kh, kw]` -> `[kh, kw, in, out]`, Conv3d `[out, in, kt, kh,
kw]` -> `[kt, kh, kw, in, out]`, Linear `[out, in]` -> `[in, out]`, BatchNorm `weight` ->
`scale`, `running_mean / running_var` -> `batch_stats mean / var`.

Wav2Lip's `lipsync_expert.pth` (its `SyncNet_color`) has `face_encoder.*` / `audio_encoder.*`
tensors instead; `convert_syncnet` reads the kind from the names and writes either.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import ml_collections
import numpy as np

from lipjax.convert.torch_io import Layout, read_state_dict, specs_from_template, to_variables
from lipjax.errors import ConversionError
from lipjax.syncnet.model import variables_template

__all__ = ["SYNCNET_V2", "SYNCNET_COLOR", "syncnet_kind", "syncnet_v2_config",
           "syncnet_v2_variables", "load_syncnet_v2", "convert_syncnet"]

SYNCNET_V2 = "syncnet_v2"          # syncnet_python's SyncNetModel.S (syncnet_v2.model)
SYNCNET_COLOR = "syncnet_color"    # Wav2Lip's SyncNet_color (lipsync_expert.pth)
_V2_PREFIXES = ("netcnnaud.", "netfcaud.", "netcnnlip.", "netfclip.")
_COLOR_PREFIXES = ("face_encoder.", "audio_encoder.")
_KERNEL_LAYOUT = {"netcnnaud": Layout.CONV2D, "netcnnlip": Layout.CONV3D,
                  "netfcaud": Layout.LINEAR, "netfclip": Layout.LINEAR}


def syncnet_kind(state: Mapping[str, Any]) -> str:
    """`SYNCNET_V2` or `SYNCNET_COLOR`, from the tensor names of a state dict.

    Raises:
      ConversionError: the names are neither network's.
    """
    names = list(state)
    if names and all(name.startswith(_V2_PREFIXES) for name in names):
        return SYNCNET_V2
    if names and all(name.startswith(_COLOR_PREFIXES) for name in names):
        return SYNCNET_COLOR
    shown = ", ".join(sorted(names)[:6]) + (", ..." if len(names) > 6 else "")
    raise ConversionError(f"not a SyncNet checkpoint: SyncNet v2 (syncnet_v2.model) has only "
                          f"netcnnaud / netfcaud / netcnnlip / netfclip tensors, Wav2Lip's "
                          f"lipsync_expert.pth only face_encoder / audio_encoder ones; this file "
                          f"has {shown}")


def _torch_name(path: tuple[str, ...]) -> tuple[str, Layout]:
    """Flax path (`("params", "audio_tower", "netcnnaud_0", "kernel")`) -> state-dict name."""
    collection, _tower, layer, leaf = path
    prefix, index = layer.rsplit("_", 1)
    name = f"{prefix}.{index}"
    if collection == "batch_stats":
        return f"{name}.running_{leaf}", Layout.SAME         # mean, var
    if leaf == "kernel":
        return f"{name}.weight", _KERNEL_LAYOUT[prefix]
    return f"{name}.{'weight' if leaf == 'scale' else leaf}", Layout.SAME


def syncnet_v2_config() -> ml_collections.ConfigDict:
    """The config of a converted SyncNet v2 workdir (no training fields: it is not trained)."""
    return ml_collections.ConfigDict({
        "system": "lipjax.syncnet.SyncNetV2Network",
        "model": {"embedding_size": 1024},
        "source": {"kind": SYNCNET_V2, "published_as": "syncnet_v2.model (joonson/syncnet_python)"},
    })


def syncnet_v2_variables(state: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Flax variables of `lipjax.syncnet.SyncNetV2` from a SyncNet v2 state dict (float32).

    Raises:
      ConversionError: listing every missing, unexpected or wrongly shaped tensor.
    """
    specs = specs_from_template(variables_template(), _torch_name)
    return to_variables(state, specs, what="SyncNet v2 (syncnet_python SyncNetModel.S, 1024-d)")


def load_syncnet_v2(path: str | os.PathLike) -> tuple[ml_collections.ConfigDict, dict]:
    """Reads `syncnet_v2.model` (torch needed) as `(config, variables)` for `SyncNetV2`.

    Raises:
      InputError: no such file, or torch missing. ConversionError: unreadable, not SyncNet v2
        (Wav2Lip's lipsync_expert.pth is named as such), or tensors that do not match.
    """
    state = read_state_dict(path)
    if syncnet_kind(state) == SYNCNET_COLOR:
        raise ConversionError(f"{os.fspath(path)!r} is Wav2Lip's lip-sync expert "
                              "(lipsync_expert.pth, SyncNet_color), not SyncNet v2; convert it "
                              "with convert_syncnet or load_syncnet_color")
    return syncnet_v2_config(), syncnet_v2_variables(state)


def convert_syncnet(path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Converts `syncnet_v2.model` or Wav2Lip's `lipsync_expert.pth` (the kind is read from the
    tensor names) into a lipjax workdir at `out` (`lipjax convert syncnet`).

    Returns:
      `out`, holding config.json (`config.system` names the network's class) and the variables
      at step 0; nothing is written when the file does not match.

    Raises:
      InputError: `out` exists and is not empty; no such file. ConversionError: see the loaders.
    """
    from lipjax.convert.workdir import write_converted_workdir  # orbax: loaded only here

    state = read_state_dict(path)
    if syncnet_kind(state) == SYNCNET_COLOR:
        from lipjax.convert.wav2lip import load_syncnet_color

        config, variables = load_syncnet_color(path)
    else:
        config, variables = syncnet_v2_config(), syncnet_v2_variables(state)
    return write_converted_workdir(out, config, variables)
