"""The Wav2Lip systems, as far as inference from a workdir needs them.

`lipjax.training.workdir.restore_generator` builds a workdir's generator through the class
its `config.system` names, which must have `generator_from_config` (`RESTORABLE`). The
workdirs written by `lipjax convert wav2lip` (`lipjax.convert.convert_wav2lip`) name
`Wav2LipSystem`; one holding the lip-sync expert names `SyncNetColorSystem`. These two classes
are deliberately minimal: the full training systems (losses, data, evaluation: the `System`
protocol of `lipjax.training.system`) come in a later issue.

Config sections read here:
  model          `Wav2LipConfig` fields (BatchNorm axis name, momentum, epsilon)
  discriminator  `FrameDiscriminatorConfig` fields of the visual-quality discriminator
                 (default: `WAV2LIP_QUALITY_CONFIG`, Wav2Lip's `Wav2Lip_disc_qual`)
"""

from __future__ import annotations

import dataclasses

import ml_collections

from lipjax.nn.discriminators import WAV2LIP_QUALITY_CONFIG, FrameDiscriminatorConfig
from lipjax.training.system import dataclass_from_config
from lipjax.wav2lip.model import SyncNetColor, Wav2LipConfig, Wav2LipGenerator

__all__ = ["Wav2LipSystem", "SyncNetColorSystem", "model_config", "discriminator_config"]


def model_config(config: ml_collections.ConfigDict) -> Wav2LipConfig:
    """`config.model` (missing: the defaults) -> `Wav2LipConfig`."""
    return dataclass_from_config(Wav2LipConfig, config.get("model", {}))


def discriminator_config(config: ml_collections.ConfigDict) -> FrameDiscriminatorConfig:
    """`config.discriminator` over the defaults of Wav2Lip's quality discriminator (not
    ParaLip's: a missing field keeps `WAV2LIP_QUALITY_CONFIG`'s value)."""
    fields = dataclasses.asdict(WAV2LIP_QUALITY_CONFIG)
    fields.update(config.get("discriminator", {}))
    return dataclass_from_config(FrameDiscriminatorConfig, fields)


class Wav2LipSystem:
    """Wav2Lip's generator for `restore_generator` (the training system comes later)."""

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> Wav2LipGenerator:
        """The Wav2Lip generator of `config.model`."""
        return Wav2LipGenerator(model_config(config))

    @classmethod
    def face_editor(cls, restored, **kwargs):
        """The `lipjax.lipsync.FaceEditor` of a restored Wav2Lip workdir (`lipjax talk`)."""
        from lipjax.wav2lip.generator import Wav2LipFaceEditor

        return Wav2LipFaceEditor.from_restored(restored, **kwargs)


class SyncNetColorSystem:
    """Wav2Lip's lip-sync expert for `restore_generator`: the "generator" of its workdir is the
    expert itself (`SyncNetColor`). Its training system comes later."""

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> SyncNetColor:
        """The expert of `config.model`."""
        return SyncNetColor(model_config(config))
