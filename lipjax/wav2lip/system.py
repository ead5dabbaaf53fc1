"""Wav2Lip's generator as a trainable `System` (Prajwal et al., ACM MM 2020, Sec. 3.3-3.4; its
`hq_wav2lip_train.py`).

Per window of 5 consecutive frames (`lipjax.wav2lip.data.wav2lip_example`) the generator sees
each frame with its lower half masked next to a reference frame from another window of the same
clip (`generator_input`) and the frame's mel window, and reconstructs the frame. The loss is

    (1 - s - d) L1 + s E_sync + d E_gen

* L1: the mean absolute error of the generated 96x96 faces;
* E_sync: the frozen expert's BCE of its similarity (lower halves of the 5 generated frames,
  the mel window of the first one) against 1. The expert is a trained `SyncNetColorSystem`
  workdir named by `config.loss.sync_expert`, restored with `restore_generator` when the
  system is built: its variables are constants of the step (never trained, never checkpointed
  with the generator);
* E_gen: the visual-quality discriminator (`FrameDiscriminator(WAV2LIP_QUALITY_CONFIG)`,
  sigmoid) on the lower halves, BCE (`adversarial_losses`: `lipjax.losses.BCE_GAN`); the
  discriminator minimises BCE(D(real), 1) + BCE(D(fake), 0).

Wav2Lip's weights: s = syncnet_wt = 0.03, d = disc_wt = 0.07 (`config.loss.sync`,
`config.loss.adv`). The published code starts s at 0 and sets it to 0.03 once the *generator's*
sync loss on the evaluation set is below 0.75; the configs here use 0.03 from step 0.

Evaluation: PSNR, SSIM, mouth-region PSNR (the box of `lipjax.data.pairs.mouth_region_mask`)
and L1 of the generated windows against the targets, the same for the input baseline (the
reference frames the generator sees, returned unchanged), and the expert's sync loss on the
generated windows, on the reference frames and on the real target frames.

Config sections read here: see `lipjax.wav2lip.settings` (model, discriminator, data.mel,
data.mouth_margin, data.mel_cache_size, loss.sync, loss.adv, loss.sync_expert).
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
from lipjax.data.pairs import pair_lengths
from lipjax.errors import ConfigError
from lipjax.nn.discriminators import FrameDiscriminator
from lipjax.training.system import DiscriminatorInputs, LossTerm
from lipjax.wav2lip.data import wav2lip_example, wav2lip_example_shapes
from lipjax.wav2lip.expert_system import SyncNetColorSystem, expert_similarity
from lipjax.wav2lip.model import SyncNetColor, Wav2LipGenerator, generator_input, lower_half
from lipjax.wav2lip.settings import (data_section, discriminator_config, mel_cache, mel_config,
                                     model_config, wav2lip_loss_weights)

__all__ = ["Wav2LipSystem", "SyncNetColorSystem", "FrozenExpert", "load_expert",
           "model_config", "discriminator_config"]


@dataclasses.dataclass(frozen=True, eq=False)
class FrozenExpert:
    """A trained lip-sync expert held as constants: its module and variables."""

    module: SyncNetColor
    variables: Any

    def sync_loss(self, faces: jax.Array, mels: jax.Array, mask: jax.Array) -> jax.Array:
        """Wav2Lip's E_sync: BCE of the expert's similarity of windows `[..., 5, 96, 96, 3]`
        (BGR / 255) with their `[..., 80, 16]` mel windows against 1, over `mask` `[...]`."""
        variables = jax.lax.stop_gradient(self.variables)
        return losses.binary_cross_entropy(
            expert_similarity(self.module, variables, faces, mels), 1.0, mask)


def load_expert(config: ml_collections.ConfigDict) -> FrozenExpert | None:
    """The expert named by `config.loss.sync_expert` (a workdir of `SyncNetColorSystem`,
    trained or converted), or None when none is named and the sync weight is 0.

    Raises:
      ConfigError: a sync weight without an expert, or a workdir of another network.
      CheckpointError: not a workdir.
    """
    from lipjax.training.workdir import restore_generator

    path = config.loss.get("sync_expert")
    if not path:
        if float(config.loss.get("sync", 0.0)) > 0:
            raise ConfigError("loss.sync > 0 needs the lip-sync expert: set loss.sync_expert to "
                              "a workdir of lipjax.wav2lip.SyncNetColorSystem (train one with "
                              "experiments/configs/wav2lip_expert*.py, or `lipjax convert "
                              "syncnet` lipsync_expert.pth)")
        return None
    restored = restore_generator(path)
    if not isinstance(restored.module, SyncNetColor):
        raise ConfigError(f"loss.sync_expert {path!r} holds a {type(restored.module).__name__} "
                          f"({restored.config.system}), not Wav2Lip's expert (SyncNetColor)")
    return FrozenExpert(restored.module, restored.variables)


@dataclasses.dataclass(frozen=True, eq=False)
class Wav2LipSystem:
    """Wav2Lip's generator, quality discriminator and frozen expert (module docstring).

    Batches come from `example_fn` (a configured `wav2lip_example`), bucket `(1, W)`:
    `[B, 2 W, 5, ...]` arrays.
    """

    generator: Wav2LipGenerator
    discriminator: FrameDiscriminator | None
    loss_weights: Mapping[str, float]
    example_fn: Callable[..., dict[str, np.ndarray]]
    expert: FrozenExpert | None = None
    adversarial_start_step: int = 0
    length_fn = staticmethod(pair_lengths)

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> Wav2LipGenerator:
        """The Wav2Lip generator of `config.model`."""
        return Wav2LipGenerator(model_config(config))

    @classmethod
    def face_editor(cls, restored, **kwargs):
        """The `lipjax.lipsync.FaceEditor` of a restored Wav2Lip workdir (`lipjax talk`)."""
        from lipjax.wav2lip.generator import Wav2LipFaceEditor

        return Wav2LipFaceEditor.from_restored(restored, **kwargs)

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "Wav2LipSystem":
        weights = wav2lip_loss_weights(config)
        disc = (FrameDiscriminator(discriminator_config(config)) if weights["adv"] > 0
                else None)
        example_fn = functools.partial(
            wav2lip_example, mel_config=mel_config(config), mel_cache=mel_cache(config),
            mouth_margin=float(data_section(config).get("mouth_margin", 0.25)))
        return cls(generator=cls.generator_from_config(config), discriminator=disc,
                   loss_weights=weights, example_fn=example_fn, expert=load_expert(config),
                   adversarial_start_step=int(config.loss.get("adv_start_step", 0)))

    def adversarial_losses(self) -> losses.AdversarialLosses:
        """BCE on the sigmoid quality discriminator (Wav2Lip); LSGAN if the config turns the
        sigmoid off."""
        sigmoid = self.discriminator is None or self.discriminator.config.sigmoid
        return losses.BCE_GAN if sigmoid else losses.LSGAN

    def example_batch(self, bucket: tuple[int, int], batch_size: int = 1) -> dict:
        """A batch of zeros with the shapes of a pipeline batch for bucket `(1, W)`."""
        batch = {k: np.zeros((batch_size,) + shape, dtype)
                 for k, (shape, dtype) in wav2lip_example_shapes(bucket[1]).items()}
        batch["window_mask"][:] = True
        batch["example_mask"] = np.ones(batch_size, bool)
        return batch

    def init_variables(self, rng: jax.Array, batch: Mapping[str, Any]):
        g_rng, d_rng = jax.random.split(rng)
        # One window suffices: the parameters do not depend on the batch size.
        faces = generator_input(batch["target"][:1, :1], batch["reference"][:1, :1])
        mels = batch["mel"][:1, :1]
        gen_vars = jax.jit(lambda r: self.generator.init(r, faces, mels, train=False))(g_rng)
        disc_vars = None
        if self.discriminator is not None:
            halves = lower_half(batch["target"][:1, 0])
            disc_vars = jax.jit(lambda r: self.discriminator.init(r, halves, train=False))(d_rng)
        return gen_vars, disc_vars

    # --------------------------------------------------------------------------- System
    def generate(self, variables, batch, *, train, rngs):
        """Generated windows `[B, N, 5, 96, 96, 3]` (BGR / 255) and new BatchNorm statistics."""
        del rngs  # no dropout
        faces = generator_input(batch["target"], batch["reference"])
        if train and "batch_stats" in variables:
            out, updates = self.generator.apply(variables, faces, batch["mel"], train=True,
                                                mutable=["batch_stats"])
            return out, updates["batch_stats"]
        return self.generator.apply(variables, faces, batch["mel"], train=False), {}

    @staticmethod
    def _window_mask(batch) -> jax.Array:
        return batch["window_mask"] & batch["example_mask"][:, None]

    def reconstruction_terms(self, outputs, batch) -> dict[str, LossTerm]:
        mask = self._window_mask(batch)
        n = jnp.sum(mask)
        terms = {}
        if self.loss_weights["l1"] > 0:
            terms["l1"] = LossTerm(losses.l1_loss(outputs, batch["target"], mask), n)
        if self.loss_weights["sync"] > 0:
            terms["sync"] = LossTerm(
                self.expert.sync_loss(outputs, batch["mel"][:, :, 0], mask), n)
        return terms

    def discriminator_inputs(self, outputs, batch) -> DiscriminatorInputs:
        """Lower halves of real and generated frames, `[B N, 5, 48, 96, 3]`, mask `[B N, 5]`."""
        mask = self._window_mask(batch)
        frames = jnp.broadcast_to(mask[..., None], mask.shape + (outputs.shape[2],))

        def flat(x):
            return x.reshape((-1,) + x.shape[2:])

        return DiscriminatorInputs(real=flat(lower_half(batch["target"])),
                                   fake=flat(lower_half(outputs)), mask=flat(frames))

    def evaluate(self, variables, batch) -> dict[str, LossTerm]:
        """Image metrics of the model and the input baseline, and the expert's sync losses."""
        out, _ = self.generate(variables, batch, train=False, rngs={})
        windows = self._window_mask(batch)
        frames = jnp.broadcast_to(windows[..., None], windows.shape + (out.shape[2],))
        n, target = jnp.sum(frames), batch["target"]
        result: dict[str, LossTerm] = {}
        for name, prediction in (("model", out), ("input_baseline", batch["reference"])):
            result[f"psnr/{name}"] = LossTerm(metrics.psnr(prediction, target, frames), n)
            result[f"ssim/{name}"] = LossTerm(metrics.ssim(prediction, target, frames), n)
            result[f"psnr_mouth/{name}"] = LossTerm(metrics.masked_pixel_psnr(
                prediction, target, batch["mouth_mask"], frames), n)
            result[f"l1/{name}"] = LossTerm(losses.l1_loss(prediction, target, frames), n)
        if self.expert is not None:
            mels, count = batch["mel"][:, :, 0], jnp.sum(windows)
            for name, faces in (("model", out), ("input_baseline", batch["reference"]),
                                ("target", target)):
                result[f"sync_loss/{name}"] = LossTerm(
                    self.expert.sync_loss(faces, mels, windows), count)
        return result
