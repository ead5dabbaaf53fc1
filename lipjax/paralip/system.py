"""ParaLip as a trainable `System` (ParaLip, Liu et al., AAAI 2022, Sec. 3.3 and 4).

Training uses ground-truth durations for length regulation (teacher forcing, as in FastSpeech)
and trains the duration predictor on the same durations. Loss terms and their weights come from
`config.loss` (ParaLip: L1 1, duration 1, SSIM 1, LSGAN 5); a weight of 0 switches a term off,
which gives the paper's ablations (base, +SSIM, +ADV, +SSIM+ADV) as configs.

Evaluation reports, like the paper, PSNR/SSIM (and LMD when `config.evaluation.
landmark_regressor` names a mouth-landmark regressor) with *predicted* durations (compared on the
frames that both the generated and the ground-truth video have), the same with ground-truth
durations, and the trivial baseline that repeats the identity frame.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lipjax import losses, metrics
from lipjax.data.lips import lips_example, lips_lengths
from lipjax.paralip.model import ParaLip, ParaLipConfig, ParaLipOutput, to_unit_range
from lipjax.nn.discriminators import FrameDiscriminator, FrameDiscriminatorConfig
from lipjax.training.system import (
    DiscriminatorInputs,
    LossTerm,
    dataclass_from_config,
    evaluation_landmark_fn,
)

__all__ = ["ParaLipSystem", "model_config", "discriminator_config", "frame_quality_terms",
           "lip_preview",
           "identity_baseline_terms", "image_shape", "apply_for_training",
           "rendered_frame_terms"]


def model_config(config: ml_collections.ConfigDict) -> ParaLipConfig:
    """`config.model` (a ConfigDict) -> the model's frozen dataclass config."""
    return dataclass_from_config(ParaLipConfig, config.model)


def discriminator_config(config: ml_collections.ConfigDict) -> FrameDiscriminatorConfig:
    """`config.discriminator` -> `FrameDiscriminatorConfig` (ParaLip Table 7 defaults)."""
    return dataclass_from_config(FrameDiscriminatorConfig, config.get("discriminator", {}))


class TrainOutput(NamedTuple):
    """The generator's output in training with the targets and mask of the decoded frames."""

    model: ParaLipOutput
    targets: jax.Array       # [B, F, H, W, C] ground truth of the decoded frames
    frame_mask: jax.Array    # [B, F]


def sample_valid_frames(rng: jax.Array, valid: jax.Array, count: int) -> jax.Array:
    """Indices `[B, count]` of distinct random valid frames (valid frames first; if a video has
    fewer than `count`, the rest are padding frames and come back masked)."""
    keys = jnp.where(valid, jax.random.uniform(rng, valid.shape), 2.0)
    return jnp.argsort(keys, axis=1)[:, :count].astype(jnp.int32)


def image_shape(model: Any) -> tuple[int, int, int]:
    """`(H, W, C)` of the frames a lip model (ParaLip or an AR baseline config) makes."""
    return (model.image_height, model.image_width, model.image_channels)


def rendered_frame_terms(outputs: TrainOutput, weights: Mapping[str, float]
                         ) -> dict[str, LossTerm]:
    """The per-frame image losses (`l1`, `ssim` where their weight is > 0) over the rendered
    frames of a training output, each counted by its number of valid frames."""
    frames, targets, mask = outputs.model.frames, outputs.targets, outputs.frame_mask
    n = jnp.sum(mask)
    terms = {}
    if weights["l1"] > 0:
        terms["l1"] = LossTerm(losses.l1_loss(frames, targets, mask), n)
    if weights["ssim"] > 0:
        terms["ssim"] = LossTerm(losses.ssim_loss(frames, targets, mask), n)
    return terms


def apply_for_training(generator: nn.Module, variables, args: tuple, kwargs: dict, *,
                       valid: jax.Array, targets: jax.Array,
                       frames_per_example: int | None) -> tuple[TrainOutput, Any]:
    """`generator.apply(variables, *args, **kwargs)` in training: BatchNorm statistics mutable,
    and with `frames_per_example` F only F random valid frames per video rendered (passed as
    `frame_indices`; `kwargs["rngs"]["sample"]` draws them). Returns (TrainOutput with the
    targets and mask of the rendered frames, new batch_stats or {})."""
    kwargs = dict(kwargs)
    if frames_per_example:
        indices = sample_valid_frames(kwargs["rngs"]["sample"], valid, frames_per_example)
        kwargs["frame_indices"] = indices
        valid = jnp.take_along_axis(valid, indices, axis=1)
        targets = jnp.take_along_axis(targets, indices[:, :, None, None, None], axis=1)
    if "batch_stats" in variables:
        out, updates = generator.apply(variables, *args, mutable=["batch_stats"], **kwargs)
        stats = updates["batch_stats"]
    else:
        out, stats = generator.apply(variables, *args, **kwargs), {}
    return TrainOutput(out, targets, valid), stats


@dataclasses.dataclass(frozen=True, eq=False)
class ParaLipSystem:
    """ParaLip generator + frame discriminator with the paper's losses."""

    generator: nn.Module
    discriminator: nn.Module | None
    loss_weights: Mapping[str, float]
    duration_loss_kind: str = "log_mse"
    frames_per_example: int | None = None  # decode F random valid frames per video in training
    adversarial_start_step: int = 0
    # Traceable mouth-landmark detector for LMD (lipjax.landmarks.regressor_landmark_fn); None:
    # evaluation reports no LMD.
    landmark_fn: Callable[[jax.Array], jax.Array] | None = None

    example_fn = staticmethod(lips_example)
    length_fn = staticmethod(lips_lengths)

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "ParaLipSystem":
        weights = {k: float(config.loss[k]) for k in ("l1", "duration", "ssim", "adv")}
        disc = FrameDiscriminator(discriminator_config(config)) if weights["adv"] > 0 else None
        generator = cls.generator_from_config(config)
        return cls(generator=generator, discriminator=disc,
                   loss_weights=weights,
                   duration_loss_kind=config.loss.get("duration_kind", "log_mse"),
                   frames_per_example=config.train.get("frames_per_example"),
                   adversarial_start_step=int(config.loss.get("adv_start_step", 0)),
                   landmark_fn=evaluation_landmark_fn(config, image_shape(generator.config)))

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> ParaLip:
        """The ParaLip generator of `config.model` (what `LipGenerator` restores)."""
        return ParaLip(model_config(config))

    def example_batch(self, bucket: tuple[int, int], batch_size: int = 1) -> dict:
        """A batch of zeros with the shapes of a pipeline batch (for initialisation)."""
        max_tokens, max_frames = bucket
        cfg = self.generator.config
        image = (cfg.image_height, cfg.image_width, cfg.image_channels)
        tokens = np.zeros((batch_size, max_tokens), np.int32)
        tokens[:, 0] = 1
        durations = np.zeros((batch_size, max_tokens), np.int32)
        durations[:, 0] = 1
        return {"tokens": tokens, "token_mask": tokens != 0, "durations": durations,
                "identity": np.zeros((batch_size,) + image, np.float32),
                "frames": np.zeros((batch_size, max_frames) + image, np.float32),
                "frame_mask": np.arange(max_frames)[None].repeat(batch_size, 0) < 1,
                "example_mask": np.ones(batch_size, bool)}

    def init_variables(self, rng: jax.Array, batch: Mapping[str, Any]):
        g_rng, d_rng, drop = jax.random.split(rng, 3)
        max_frames = batch["frame_mask"].shape[1]
        gen_vars = jax.jit(lambda r: self.generator.init(
            {"params": r, "dropout": drop}, batch["tokens"], batch["identity"],
            batch["durations"], max_frames=max_frames, train=False))(g_rng)
        disc_vars = None
        if self.discriminator is not None:
            disc_vars = jax.jit(lambda r: self.discriminator.init(
                r, batch["frames"], train=False))(d_rng)
        return gen_vars, disc_vars

    # --------------------------------------------------------------------------- System
    def generate(self, variables, batch, *, train, rngs, durations="ground_truth"):
        """Returns (TrainOutput, batch_stats) in training, (ParaLipOutput, {}) otherwise."""
        durations = batch["durations"] if durations == "ground_truth" else None
        kwargs = dict(max_frames=batch["frame_mask"].shape[1], train=train, rngs=rngs)
        if not train:
            return self.generator.apply(variables, batch["tokens"], batch["identity"],
                                        durations, **kwargs), {}
        return apply_for_training(self.generator, variables,
                                  (batch["tokens"], batch["identity"], durations), kwargs,
                                  valid=self._frame_mask(batch), targets=batch["frames"],
                                  frames_per_example=self.frames_per_example)

    def _frame_mask(self, batch) -> jax.Array:
        return batch["frame_mask"] & batch["example_mask"][:, None]

    def reconstruction_terms(self, outputs: "TrainOutput", batch) -> dict[str, LossTerm]:
        w = self.loss_weights
        token_mask = batch["token_mask"] & batch["example_mask"][:, None]
        terms = rendered_frame_terms(outputs, w)
        if w["duration"] > 0:
            terms["duration"] = LossTerm(
                losses.duration_loss(outputs.model.log_durations, batch["durations"],
                                     token_mask, kind=self.duration_loss_kind),
                jnp.sum(token_mask))
        return terms

    def discriminator_inputs(self, outputs: "TrainOutput", batch) -> DiscriminatorInputs:
        """Real and generated rendered frames, both in [0, 1]: the generated ones read as at
        inference (`to_unit_range` of the tanh output), so the discriminator scores what is
        shown. Fed the raw tanh output, it separated real from fake by the values below 0 that
        no real frame has, and the LSGAN term drove the generator into tanh's saturated
        negative range, where L1 has no gradient (BUILD_NOTES.md, "Adversarial training")."""
        return DiscriminatorInputs(real=outputs.targets, fake=to_unit_range(outputs.model.frames),
                                   mask=outputs.frame_mask)

    def preview(self, variables, batch) -> dict[str, jax.Array]:
        """Generated (predicted durations) next to ground-truth frames of the first video."""
        gen, _ = self.generate(variables, batch, train=False, rngs={}, durations=None)
        return lip_preview(to_unit_range(gen.frames), batch)

    def evaluate(self, variables, batch) -> dict[str, LossTerm]:
        valid = self._frame_mask(batch)
        out: dict[str, LossTerm] = {}
        for name, durations in (("pred_dur", None), ("gt_dur", "ground_truth")):
            gen, _ = self.generate(variables, batch, train=False, rngs={}, durations=durations)
            out.update(frame_quality_terms(to_unit_range(gen.frames), batch, valid & gen.frame_mask,
                                           name=name, landmark_fn=self.landmark_fn))
            if name == "pred_dur":
                token_mask = batch["token_mask"] & batch["example_mask"][:, None]
                err = jnp.abs(gen.durations - batch["durations"]).astype(jnp.float32)
                out["duration_abs_error"] = LossTerm(metrics.masked_mean(err, token_mask),
                                                     jnp.sum(token_mask))
                length_err = jnp.abs(jnp.sum(gen.frame_mask, -1) - batch["num_frames"])
                out["length_abs_error"] = LossTerm(
                    metrics.masked_mean(length_err.astype(jnp.float32), batch["example_mask"]),
                    jnp.sum(batch["example_mask"]))
        out.update(identity_baseline_terms(batch, valid, landmark_fn=self.landmark_fn))
        return out


def lip_preview(generated: jax.Array, batch: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """The preview panels of the first video of a lips batch (`lipjax.training.previews`):
    generated frames `[B, T, H, W, 3]` in [0, 1] next to the ground truth, over its frames."""
    return {"generated": generated[0], "ground truth": batch["frames"][0],
            "mask": batch["frame_mask"][0]}


def frame_quality_terms(frames: jax.Array, batch: Mapping[str, jax.Array], mask: jax.Array, *,
                        name: str, landmark_fn: Callable[[jax.Array], jax.Array] | None
                        ) -> dict[str, LossTerm]:
    """`psnr/<name>`, `ssim/<name>`, `sharpness/<name>` (`metrics.sharpness_ratio`, Table 4's
    "blurry predictions"; FID needs Inception weights) and `lmd/<name>` (with a detector) of
    generated lip videos.

    Args:
      frames: float `[B, T, H, W, 3]` in [0, 1], compared with `batch["frames"]`.
      batch: a lips batch (frames, landmarks).
      mask: bool `[B, T]` frames to compare.
      name: the suffix of the metric names.
      landmark_fn: traceable mouth-landmark detector, or None for no LMD.
    """
    target = batch["frames"]
    n = jnp.sum(mask)
    out = {f"psnr/{name}": LossTerm(metrics.psnr(frames, target, mask), n),
           f"ssim/{name}": LossTerm(metrics.ssim(frames, target, mask), n),
           f"sharpness/{name}": LossTerm(metrics.sharpness_ratio(frames, target, mask), n)}
    if landmark_fn is not None:
        out[f"lmd/{name}"] = LossTerm(*metrics.video_landmark_distance(
            landmark_fn, frames, target, batch["landmarks"], mask))
    return out


def identity_baseline_terms(batch: Mapping[str, jax.Array], mask: jax.Array, *,
                            landmark_fn: Callable[[jax.Array], jax.Array] | None
                            ) -> dict[str, LossTerm]:
    """The trivial baseline "repeat the identity frame": its `frame_quality_terms`."""
    repeated = jnp.broadcast_to(batch["identity"][:, None], batch["frames"].shape)
    return frame_quality_terms(repeated, batch, mask, name="identity_baseline",
                               landmark_fn=landmark_fn)
