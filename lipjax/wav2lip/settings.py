"""The config sections the Wav2Lip systems read, as typed values.

  model          `Wav2LipConfig` fields (BatchNorm axis name, momentum, epsilon, width)
  discriminator  `FrameDiscriminatorConfig` fields of the visual-quality discriminator
                 (default: `WAV2LIP_QUALITY_CONFIG`, Wav2Lip's `Wav2Lip_disc_qual`)
  data.mel       `lipjax.audio.MelConfig` overrides (default: Wav2Lip's hparams)
  data.mouth_margin, data.mel_cache_size  the mouth-region box, the per-clip mel cache
  loss           the expert: `bce`; the generator: `sync` (Wav2Lip's syncnet_wt), `adv`
                 (disc_wt), `sync_expert` (the expert's workdir); L1 gets 1 - sync - adv
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections

from lipjax.audio import MelConfig
from lipjax.data.pairs import MelCache
from lipjax.errors import ConfigError
from lipjax.nn.discriminators import WAV2LIP_QUALITY_CONFIG, FrameDiscriminatorConfig
from lipjax.training.system import dataclass_from_config
from lipjax.wav2lip.model import Wav2LipConfig

__all__ = ["model_config", "discriminator_config", "mel_config", "mel_cache", "data_section",
           "wav2lip_loss_weights"]


def model_config(config: ml_collections.ConfigDict) -> Wav2LipConfig:
    """`config.model` (missing: the defaults) -> `Wav2LipConfig`."""
    return dataclass_from_config(Wav2LipConfig, config.get("model", {}))


def discriminator_config(config: ml_collections.ConfigDict) -> FrameDiscriminatorConfig:
    """`config.discriminator` over the defaults of Wav2Lip's quality discriminator (not
    ParaLip's: a missing field keeps `WAV2LIP_QUALITY_CONFIG`'s value)."""
    fields = dataclasses.asdict(WAV2LIP_QUALITY_CONFIG)
    fields.update(config.get("discriminator", {}))
    return dataclass_from_config(FrameDiscriminatorConfig, fields)


def data_section(config: ml_collections.ConfigDict) -> Any:
    """`config.data`, or an empty section (a converted workdir has none)."""
    return config.get("data") or ml_collections.ConfigDict()


def mel_config(config: ml_collections.ConfigDict) -> MelConfig:
    """`config.data.mel` (optional) -> `MelConfig` (Wav2Lip's values by default)."""
    return dataclass_from_config(MelConfig, data_section(config).get("mel", {}) or {})


def mel_cache(config: ml_collections.ConfigDict) -> MelCache:
    """The per-clip mel-window cache of `config.data.mel_cache_size` clips (256)."""
    return MelCache(int(data_section(config).get("mel_cache_size", 256)))


def wav2lip_loss_weights(config: ml_collections.ConfigDict) -> dict[str, float]:
    """Wav2Lip's generator loss `(1 - s - d) L1 + s E_sync + d E_gen` (Sec. 3.4):
    `{"l1": 1 - s - d, "sync": s, "adv": d}` with s = `config.loss.sync` (syncnet_wt, 0.03)
    and d = `config.loss.adv` (disc_wt, 0.07).

    Raises:
      ConfigError: a negative weight, or s + d > 1.
    """
    sync, adv = float(config.loss.get("sync", 0.0)), float(config.loss.get("adv", 0.0))
    if sync < 0 or adv < 0 or sync + adv > 1:
        raise ConfigError(f"loss.sync and loss.adv must be >= 0 with a sum <= 1 (L1 gets "
                          f"1 - sync - adv), got {sync} and {adv}")
    return {"l1": 1.0 - sync - adv, "sync": sync, "adv": adv}
