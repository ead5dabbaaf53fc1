"""The DCK talking face as a trainable `System` (Ye et al., IEEE TMM 2022, Sec. III).

Training pairs are two clips with the same identity and head motion but different speech; the
generator predicts clip B from (A's frames, B's audio) and clip A from (B's frames, A's audio),
both directions of every pair in every step. The model works per frame, so an example holds a
fixed number F of frames of each direction (sampled at random in training, evenly spaced in
evaluation): arrays of `2 F` frames per pair, whatever the clip length, so that every batch has
the same static shapes. The loss is the paper's `L_total = L_adv + 10 L1` (weights from
`config.loss`; LSGAN for L_adv).

Evaluation reports PSNR and SSIM of the generated target face crops, the same for the trivial
baseline that returns the input (source) crop unchanged, PSNR over the mouth region only (where
source and target differ; full-crop numbers are dominated by the unchanged rest of the face),
and the exact landmark distance of that baseline. The model's LMD needs a mouth-landmark detector
for the generated crops: with `config.evaluation.landmark_regressor` (a regressor trained on the
corpus's face crops, `face_crop_landmark_records`) evaluation adds `lmd/model` and, through the
same detector, `lmd/input_baseline_detected`.

With `config.pretrained_audio.checkpoint` the audio encoder's weights come from a Wav2Lip
generator or lip-sync expert and (with `pretrained_audio.freeze`, the paper's setting) stay
fixed: `lipjax.dck.pretrained_audio`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lipjax import losses, metrics
from lipjax.audio import MelConfig
from lipjax.data.pairs import MelCache, pair_example, pair_lengths
from lipjax.dck.model import DCKConfig, DCKGenerator
from lipjax.dck.pretrained_audio import (
    ENCODER,
    PretrainedAudio,
    check_pretrained_audio,
    load_pretrained_audio,
    pretrained_audio_section,
    with_pretrained_audio,
)
from lipjax.errors import ConfigError
from lipjax.face import NUM_MOUTH_LANDMARKS
from lipjax.nn.discriminators import DCKDiscriminator, DCKDiscriminatorConfig
from lipjax.training.system import (
    DiscriminatorInputs,
    LossTerm,
    dataclass_from_config,
    evaluation_landmark_fn,
)

__all__ = ["DCKSystem", "model_config", "discriminator_config", "mel_config"]


def model_config(config: ml_collections.ConfigDict) -> DCKConfig:
    """`config.model` -> `DCKConfig` (paper sizes for every field not given), its audio encoder
    frozen when `config.pretrained_audio` says so (`pretrained_audio_section`)."""
    if "freeze_audio_encoder" in config.model:
        raise ConfigError("model.freeze_audio_encoder follows pretrained_audio.checkpoint and "
                          "pretrained_audio.freeze; set those instead")
    _, frozen = pretrained_audio_section(config)
    return dataclasses.replace(dataclass_from_config(DCKConfig, config.model),
                               freeze_audio_encoder=frozen)


def discriminator_config(config: ml_collections.ConfigDict) -> DCKDiscriminatorConfig:
    """`config.discriminator` -> `DCKDiscriminatorConfig`."""
    return dataclass_from_config(DCKDiscriminatorConfig, config.get("discriminator", {}))


def mel_config(config: ml_collections.ConfigDict) -> MelConfig:
    """`config.data.mel` (optional) -> `MelConfig` (Wav2Lip's values by default)."""
    return dataclass_from_config(MelConfig, config.data.get("mel", {}) or {})


@dataclasses.dataclass(frozen=True, eq=False)
class DCKSystem:
    """DCK generator + patch discriminator with `L_adv + 10 L1` (weights from the config).

    Batches come from `example_fn` (a configured `pair_example`): `[B, 2F, ...]` arrays.
    """

    generator: nn.Module
    discriminator: nn.Module | None
    loss_weights: Mapping[str, float]
    example_fn: Callable[..., dict[str, np.ndarray]]
    # Traceable mouth-landmark detector for face crops (config.evaluation.landmark_regressor);
    # None: the model's LMD is not reported.
    landmark_fn: Callable[[jax.Array], jax.Array] | None = None
    adversarial_start_step: int = 0
    # The audio encoder's weights (config.pretrained_audio.checkpoint), put into the variables
    # by init_variables; None: initialised at random.
    pretrained_audio: PretrainedAudio | None = None
    length_fn = staticmethod(pair_lengths)

    @property
    def frozen_generator_params(self) -> tuple[str, ...]:
        """Generator submodules the optimiser leaves unchanged: the frozen audio encoder."""
        return (ENCODER,) if self.generator.config.freeze_audio_encoder else ()

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> DCKGenerator:
        """The DCK generator of `config.model` (what `TalkingFaceGenerator` restores)."""
        return DCKGenerator(model_config(config))

    @classmethod
    def face_editor(cls, restored: Any, **kwargs: Any) -> Any:
        """The `lipjax.lipsync.FaceEditor` of a restored DCK workdir (what `lipjax talk` runs)."""
        from lipjax.dck.generator import TalkingFaceGenerator

        return TalkingFaceGenerator.from_restored(restored, **kwargs)

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "DCKSystem":
        weights = {k: float(config.loss[k]) for k in ("l1", "adv")}
        model = model_config(config)
        disc = DCKDiscriminator(discriminator_config(config)) if weights["adv"] > 0 else None
        mel = mel_config(config)
        checkpoint, _ = pretrained_audio_section(config)
        pretrained = load_pretrained_audio(checkpoint) if checkpoint else None
        if pretrained is not None:
            check_pretrained_audio(pretrained, model.audio_blocks, mel)
        example_fn = functools.partial(
            pair_example, image_size=model.image_size, mel_config=mel,
            mel_window=int(config.data.get("mel_window", 16)),
            center_mel_windows=bool(config.data.get("center_mel_windows", False)),
            mouth_margin=float(config.data.get("mouth_margin", 0.25)),
            mel_cache=MelCache(int(config.data.get("mel_cache_size", 256))))
        return cls(generator=cls.generator_from_config(config), discriminator=disc,
                   loss_weights=weights, example_fn=example_fn,
                   adversarial_start_step=int(config.loss.get("adv_start_step", 0)),
                   landmark_fn=evaluation_landmark_fn(
                       config, (model.image_size, model.image_size, 3)),
                   pretrained_audio=pretrained)

    def example_batch(self, bucket: tuple[int, int], batch_size: int = 1) -> dict:
        """A batch of zeros with the shapes of a pipeline batch for bucket `(1, F)`."""
        _, frames_per_direction = bucket
        cfg = self.generator.config
        size = cfg.image_size
        keywords = self.example_fn.keywords
        mel_shape = (keywords["mel_config"].num_mels, keywords["mel_window"])
        n = 2 * int(frames_per_direction)
        shape = (batch_size, n)
        return {"source": np.zeros(shape + (size, size, 3), np.float32),
                "target": np.zeros(shape + (size, size, 3), np.float32),
                "mel": np.zeros(shape + mel_shape, np.float32),
                "frame_mask": np.ones(shape, bool),
                "frame_index": np.zeros(shape, np.int32),
                "direction": np.zeros(shape, np.int32),
                "source_landmarks": np.zeros(shape + (NUM_MOUTH_LANDMARKS, 2), np.float32),
                "target_landmarks": np.zeros(shape + (NUM_MOUTH_LANDMARKS, 2), np.float32),
                "mouth_mask": np.ones(shape + (size, size), bool),
                "example_mask": np.ones(batch_size, bool)}

    def init_variables(self, rng: jax.Array, batch: Mapping[str, Any]):
        g_rng, d_rng = jax.random.split(rng)
        # One frame per network suffices: the parameters do not depend on the frame count.
        source, mel = batch["source"][:1, :1], batch["mel"][:1, :1]
        gen_vars = jax.jit(lambda r: self.generator.init(r, source, mel, train=False))(g_rng)
        if self.pretrained_audio is not None:
            gen_vars = with_pretrained_audio(gen_vars, self.pretrained_audio)
        disc_vars = None
        if self.discriminator is not None:
            disc_vars = jax.jit(lambda r: self.discriminator.init(
                r, batch["target"][:1, :1], train=False))(d_rng)
        return gen_vars, disc_vars

    # --------------------------------------------------------------------------- System
    def generate(self, variables, batch, *, train, rngs):
        del rngs  # the DCK generator is deterministic (no dropout)
        if train and "batch_stats" in variables:
            out, updates = self.generator.apply(variables, batch["source"], batch["mel"],
                                                train=True, mutable=["batch_stats"])
            return out, updates["batch_stats"]
        return self.generator.apply(variables, batch["source"], batch["mel"], train=False), {}

    @staticmethod
    def _frame_mask(batch) -> jax.Array:
        return batch["frame_mask"] & batch["example_mask"][:, None]

    def reconstruction_terms(self, outputs, batch) -> dict[str, LossTerm]:
        mask = self._frame_mask(batch)
        terms = {}
        if self.loss_weights["l1"] > 0:
            terms["l1"] = LossTerm(losses.l1_loss(outputs.frame, batch["target"], mask),
                                   jnp.sum(mask))
        return terms

    def discriminator_inputs(self, outputs, batch) -> DiscriminatorInputs:
        return DiscriminatorInputs(real=batch["target"], fake=outputs.frame,
                                   mask=self._frame_mask(batch))

    def preview(self, variables, batch) -> dict[str, jax.Array]:
        """Input crops, generated crops and targets of the first pair (both directions)."""
        out, _ = self.generate(variables, batch, train=False, rngs={})
        return {"input": batch["source"][0], "generated": out.frame[0],
                "target": batch["target"][0], "mask": self._frame_mask(batch)[0]}

    def evaluate(self, variables, batch) -> dict[str, LossTerm]:
        out, _ = self.generate(variables, batch, train=False, rngs={})
        mask = self._frame_mask(batch)
        n = jnp.sum(mask)
        target = batch["target"]
        result: dict[str, LossTerm] = {}
        for name, prediction in (("model", out.frame), ("input_baseline", batch["source"])):
            result[f"psnr/{name}"] = LossTerm(metrics.psnr(prediction, target, mask), n)
            result[f"ssim/{name}"] = LossTerm(metrics.ssim(prediction, target, mask), n)
            result[f"psnr_mouth/{name}"] = LossTerm(
                metrics.masked_pixel_psnr(prediction, target, batch["mouth_mask"], mask), n)
            result[f"l1/{name}"] = LossTerm(losses.l1_loss(prediction, target, mask), n)
        # Exact for the baseline: its mouth is the source clip's, whose landmarks are known --
        # on frames where both are (real pairs store NaN: their term then counts no frame).
        known = mask & jnp.all(jnp.isfinite(batch["source_landmarks"])
                               & jnp.isfinite(batch["target_landmarks"]), axis=(-2, -1))
        result["lmd/input_baseline"] = LossTerm(metrics.landmark_distance(
            batch["source_landmarks"], batch["target_landmarks"], known), jnp.sum(known))
        if self.landmark_fn is not None:
            # Detected landmarks of the output against the target's exact ones; the baseline
            # through the same detector shows what the detector's own error contributes.
            for name, prediction in (("model", out.frame), ("input_baseline_detected",
                                                            batch["source"])):
                result[f"lmd/{name}"] = LossTerm(*metrics.video_landmark_distance(
                    self.landmark_fn, prediction, target, batch["target_landmarks"], mask))
        result["alpha_mean/model"] = LossTerm(metrics.masked_mean(out.alpha, mask), n)
        return result
