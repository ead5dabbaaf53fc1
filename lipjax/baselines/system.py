"""The autoregressive baselines TransformerT2L and DualLip as trainable `System`s (ParaLip,
Liu et al., AAAI 2022, Sec. 4.2 and Tables 1, 3, 5).

Training is teacher-forced (ground-truth previous frames, all frames in one pass). Loss terms
and weights come from `config.loss`: `l1` (frames), `stop` (stop-token binary cross-entropy,
positives weighted by `stop_pos_weight`), `ssim` and `adv` (LSGAN against ParaLip's frame
discriminator); a weight of 0 switches a term off. All terms are masked to the valid frames.

Evaluation decodes free-running (`autoregressive_decode`: the model's own frames are fed back
and it stops at its stop token) and reports PSNR/SSIM on the frames both the generated and the
ground-truth video have, the length error in frames, the teacher-forced PSNR, and the baseline
that repeats the identity frame.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from lipjax import metrics
from lipjax.data.lips import lips_example, lips_lengths
from lipjax.baselines.duallip import DualLip, DualLipConfig
from lipjax.paralip.model import to_unit_range
from lipjax.baselines.autoregressive import AutoregressiveOutput, autoregressive_decode, stop_labels
from lipjax.baselines.transformer_t2l import TransformerT2L, TransformerT2LConfig
from lipjax.nn.discriminators import FrameDiscriminator
from lipjax.paralip.system import (
    ParaLipSystem,
    TrainOutput,
    apply_for_training,
    discriminator_config,
    frame_quality_terms,
    identity_baseline_terms,
    image_shape,
    lip_preview,
    rendered_frame_terms,
)
from lipjax.training.system import LossTerm, dataclass_from_config, evaluation_landmark_fn

__all__ = ["AutoregressiveSystem", "TransformerT2LSystem", "DualLipSystem", "stop_token_loss",
           "LOSS_TERMS"]

PyTree = Any
LOSS_TERMS = ("l1", "stop", "ssim", "adv")


def stop_token_loss(stop_logits: jax.typing.ArrayLike, frame_mask: jax.typing.ArrayLike, *,
                    pos_weight: float = 1.0) -> jax.Array:
    """Masked mean binary cross-entropy of the stop token (target: 1 at each last valid frame).

    Args:
      stop_logits: `[B, T]` logits.
      frame_mask: bool `[B, T]` valid frames (a prefix of each row).
      pos_weight: weight of the positive (last-frame) terms, as Tacotron 2 implementations use
        against the 1-in-T class imbalance.

    Returns:
      Scalar float32; 0 if no frame is valid.
    """
    labels = stop_labels(frame_mask)
    bce = optax.sigmoid_binary_cross_entropy(jnp.asarray(stop_logits, jnp.float32),
                                             labels.astype(jnp.float32))
    bce = bce * jnp.where(labels, pos_weight, 1.0)
    return metrics.masked_mean(bce, frame_mask)


@dataclasses.dataclass(frozen=True, eq=False)
class AutoregressiveSystem:
    """A teacher-forced AR lip generator (+ optional frame discriminator); subclasses set the model.

    Attributes:
      generator: the TransformerT2L / DualLip module.
      discriminator: ParaLip's frame discriminator when `loss.adv > 0`, else None.
      loss_weights: term name (`LOSS_TERMS`) -> weight.
      stop_pos_weight: weight of the positive stop-token terms.
      frames_per_example: render (and compare) only F random valid frames per video in training.
    """

    generator: nn.Module
    discriminator: nn.Module | None
    loss_weights: Mapping[str, float]
    stop_pos_weight: float = 1.0
    frames_per_example: int | None = None  # render F random valid frames per video in training
    adversarial_start_step: int = 0
    landmark_fn: Callable[[jax.Array], jax.Array] | None = None  # LMD detector, as in ParaLip

    model_cls: ClassVar[type]
    config_cls: ClassVar[type]
    example_fn = staticmethod(lips_example)
    length_fn = staticmethod(lips_lengths)

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "AutoregressiveSystem":
        weights = {k: float(config.loss.get(k, 0.0)) for k in LOSS_TERMS}
        disc = FrameDiscriminator(discriminator_config(config)) if weights["adv"] > 0 else None
        model = cls.generator_from_config(config)
        return cls(generator=model, discriminator=disc, loss_weights=weights,
                   adversarial_start_step=int(config.loss.get("adv_start_step", 0)),
                   stop_pos_weight=float(config.loss.get("stop_pos_weight", 1.0)),
                   frames_per_example=config.train.get("frames_per_example"),
                   landmark_fn=evaluation_landmark_fn(config, image_shape(model.config)))

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> nn.Module:
        """The autoregressive generator of `config.model`."""
        return cls.model_cls(dataclass_from_config(cls.config_cls, config.model))

    # ParaLip's zero batch has every field these models read.
    example_batch = ParaLipSystem.example_batch

    def init_variables(self, rng: jax.Array, batch: Mapping[str, Any]):
        g_rng, d_rng, drop = jax.random.split(rng, 3)
        gen_vars = jax.jit(lambda r: self.generator.init(
            {"params": r, "dropout": drop}, batch["tokens"], batch["identity"], batch["frames"],
            batch["frame_mask"], train=False))(g_rng)
        disc_vars = None
        if self.discriminator is not None:
            disc_vars = jax.jit(lambda r: self.discriminator.init(
                r, batch["frames"], train=False))(d_rng)
        return gen_vars, disc_vars

    # --------------------------------------------------------------------------- System
    def generate(self, variables: PyTree, batch: Mapping[str, jax.Array], *, train: bool,
                 rngs: Mapping[str, jax.Array]):
        """Teacher-forced outputs: (TrainOutput, new BatchNorm statistics) in training, where
        `frames_per_example` random valid frames per video are rendered (the transformer / RNN
        still runs over every frame); (AutoregressiveOutput, {}) otherwise."""
        valid = self._frame_mask(batch)
        args = (batch["tokens"], batch["identity"], batch["frames"], valid)
        if not train:
            return self.generator.apply(variables, *args, train=False, rngs=rngs), {}
        return apply_for_training(self.generator, variables, args,
                                  {"train": True, "rngs": rngs}, valid=valid,
                                  targets=batch["frames"],
                                  frames_per_example=self.frames_per_example)

    def decode(self, variables: PyTree, batch: Mapping[str, jax.Array]) -> AutoregressiveOutput:
        """Free-running generation up to the batch's `max_frames` (stops at the stop token)."""
        return autoregressive_decode(self.generator, variables, batch["tokens"], batch["identity"],
                                     max_frames=batch["frame_mask"].shape[1])

    @staticmethod
    def _frame_mask(batch: Mapping[str, jax.Array]) -> jax.Array:
        return batch["frame_mask"] & batch["example_mask"][:, None]

    def reconstruction_terms(self, outputs: TrainOutput,
                             batch: Mapping[str, jax.Array]) -> dict[str, LossTerm]:
        w = self.loss_weights
        terms = rendered_frame_terms(outputs, w)
        if w["stop"] > 0:  # over every frame, rendered or not
            frame_mask = self._frame_mask(batch)
            terms["stop"] = LossTerm(
                stop_token_loss(outputs.model.stop_logits, frame_mask,
                                pos_weight=self.stop_pos_weight), jnp.sum(frame_mask))
        return terms

    # Real and fake are the rendered frames, as in ParaLip.
    discriminator_inputs = ParaLipSystem.discriminator_inputs

    def preview(self, variables: PyTree, batch: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
        """Free-running frames next to the ground truth of the first video."""
        return lip_preview(to_unit_range(self.decode(variables, batch).frames), batch)

    def evaluate(self, variables: PyTree, batch: Mapping[str, jax.Array]) -> dict[str, LossTerm]:
        target = batch["frames"]
        valid = self._frame_mask(batch)
        examples = batch["example_mask"]
        out: dict[str, LossTerm] = {}
        free = self.decode(variables, batch)
        out.update(frame_quality_terms(to_unit_range(free.frames), batch, valid & free.frame_mask,
                                       name="free_running", landmark_fn=self.landmark_fn))
        length_err = jnp.abs(jnp.sum(free.frame_mask, -1) - jnp.sum(valid, -1))
        out["length_abs_error"] = LossTerm(
            metrics.masked_mean(length_err.astype(jnp.float32), examples), jnp.sum(examples))
        forced, _ = self.generate(variables, batch, train=False, rngs={})
        out["psnr/teacher_forced"] = LossTerm(
            metrics.psnr(to_unit_range(forced.frames), target, valid), jnp.sum(valid))
        out.update(identity_baseline_terms(batch, valid, landmark_fn=self.landmark_fn))
        return out


class TransformerT2LSystem(AutoregressiveSystem):
    """TransformerT2L (autoregressive transformer) trained teacher-forced."""

    model_cls = TransformerT2L
    config_cls = TransformerT2LConfig


class DualLipSystem(AutoregressiveSystem):
    """DualLip's text-to-lip model (LSTM + location-sensitive attention) trained teacher-forced."""

    model_cls = DualLip
    config_cls = DualLipConfig
