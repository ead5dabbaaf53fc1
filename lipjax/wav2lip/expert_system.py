"""Wav2Lip's lip-sync expert as a trainable `System` (Prajwal et al., ACM MM 2020, Sec. 3.2;
its `color_syncnet_train.py`).

The expert (`SyncNetColor`) embeds the lower halves of 5 consecutive 96x96 faces and the 16-frame
mel window starting at the first of them; the sync probability is the cosine similarity of the
two unit, non-negative 512-d embeddings (in [0, 1]), trained with binary cross-entropy against 1
for a window's own audio and 0 for the audio of a non-overlapping window elsewhere in the same
clip, balanced (`lipjax.wav2lip.data.expert_example`: one of each per window). Adam, lr 1e-4
(from the config). Its workdir's "generator" is the expert itself; there is no discriminator.

Evaluation reports the BCE and the accuracy (similarity > 0.5) on in-sync and off-sync windows
and their mean similarities. `sync_network(restored)` makes a trained (or converted) expert the
network of `lipjax.metrics.lip_sync_error` (`lipjax.wav2lip.sync.SyncNetColorSync`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lipjax import losses, metrics
from lipjax.data.pairs import pair_lengths
from lipjax.training.system import DiscriminatorInputs, LossTerm
from lipjax.wav2lip.data import expert_example, expert_example_shapes
from lipjax.wav2lip.model import SyncNetColor, sync_face_input, sync_similarity
from lipjax.wav2lip.settings import mel_cache, mel_config, model_config

__all__ = ["SyncNetColorSystem", "ExpertOutputs", "expert_similarity", "SYNC_THRESHOLD"]

SYNC_THRESHOLD = 0.5   # a similarity above it is "in sync" (the accuracy of the evaluation)


class ExpertOutputs(NamedTuple):
    """The expert's similarities `[B, N, 2]`: a window's faces against its own audio (index 0,
    label 1) and against the off-sync audio (index 1, label 0)."""

    similarity: jax.Array


def expert_similarity(module: SyncNetColor, variables: Any, faces: jax.Array,
                      mels: jax.Array) -> jax.Array:
    """The frozen expert's sync probability (BatchNorm in inference mode, as Wav2Lip's
    `syncnet.eval()`): `[..., 5, 96, 96, 3]` BGR / 255 windows and their `[..., 80, 16]` mel
    windows -> cosine similarities `[...]` in [0, 1]."""
    out = module.apply(variables, sync_face_input(faces), mels, train=False)
    return sync_similarity(out.audio, out.face)


def _labels_and_mask(batch: Mapping[str, Any]) -> tuple[jax.Array, jax.Array]:
    """Labels `[2]` (1 in sync, 0 off) and the valid pairs `[B, N, 2]` of an expert batch."""
    valid = batch["window_mask"] & batch["example_mask"][:, None]
    mask = jnp.stack([valid, valid & batch["off_mask"]], axis=-1)
    return jnp.asarray([1.0, 0.0]), mask


@dataclasses.dataclass(frozen=True, eq=False)
class SyncNetColorSystem:
    """The expert with its BCE loss (`loss_weights = {"bce": config.loss.bce}`).

    Batches come from `example_fn` (a configured `expert_example`), bucket `(1, W)`:
    `[B, 2 W, ...]` arrays.
    """

    generator: SyncNetColor
    example_fn: Callable[..., dict[str, np.ndarray]]
    loss_weights: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"bce": 1.0})
    discriminator: None = None
    adversarial_start_step: int = 0
    length_fn = staticmethod(pair_lengths)

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> SyncNetColor:
        """The expert of `config.model`."""
        return SyncNetColor(model_config(config))

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "SyncNetColorSystem":
        loss = config.get("loss") or {}
        example_fn = functools.partial(expert_example, mel_config=mel_config(config),
                                       mel_cache=mel_cache(config))
        return cls(generator=cls.generator_from_config(config), example_fn=example_fn,
                   loss_weights={"bce": float(loss.get("bce", 1.0))})

    @classmethod
    def sync_network(cls, restored: Any, **kwargs: Any) -> Any:
        """The `lipjax.metrics.SyncNetwork` of a restored expert workdir (trained here or
        converted from `lipsync_expert.pth`): `lipjax.wav2lip.sync.SyncNetColorSync`."""
        from lipjax.wav2lip.sync import SyncNetColorSync

        return SyncNetColorSync(restored.variables, module=restored.module, **kwargs)

    def example_batch(self, bucket: tuple[int, int], batch_size: int = 1) -> dict:
        """A batch of zeros with the shapes of a pipeline batch for bucket `(1, W)`."""
        batch = {k: np.zeros((batch_size,) + shape, dtype)
                 for k, (shape, dtype) in expert_example_shapes(bucket[1]).items()}
        batch["window_mask"][:] = batch["off_mask"][:] = True
        batch["example_mask"] = np.ones(batch_size, bool)
        return batch

    def init_variables(self, rng: jax.Array, batch: Mapping[str, Any]):
        # One window suffices: the parameters do not depend on the batch size.
        faces, mels = sync_face_input(batch["faces"][:1, :1]), batch["mel_sync"][:1, :1]
        return jax.jit(lambda r: self.generator.init(r, faces, mels, train=False))(rng), None

    # --------------------------------------------------------------------------- System
    def generate(self, variables, batch, *, train, rngs):
        """Similarities of every window with its in-sync and off-sync audio (`ExpertOutputs`);
        the face tower runs once per window, the audio tower on both mel windows together."""
        del rngs  # no dropout

        def towers(module, faces, mels):
            return module.embed_faces(faces, train=train), module.embed_audio(mels, train=train)

        faces = sync_face_input(batch["faces"])                         # [B, N, 48, 96, 15]
        mels = jnp.stack([batch["mel_sync"], batch["mel_off"]], axis=2)  # [B, N, 2, 80, 16]
        if train and "batch_stats" in variables:
            (face, audio), updates = self.generator.apply(
                variables, faces, mels, method=towers, mutable=["batch_stats"])
            stats = updates["batch_stats"]
        else:
            (face, audio), stats = self.generator.apply(variables, faces, mels,
                                                        method=towers), {}
        return ExpertOutputs(sync_similarity(audio, face[:, :, None])), stats

    def reconstruction_terms(self, outputs: ExpertOutputs, batch) -> dict[str, LossTerm]:
        labels, mask = _labels_and_mask(batch)
        bce = losses.binary_cross_entropy(outputs.similarity, labels, mask)
        return {"bce": LossTerm(bce, jnp.sum(mask))}

    def discriminator_inputs(self, outputs, batch) -> DiscriminatorInputs:
        raise NotImplementedError("the lip-sync expert trains without a discriminator")

    def evaluate(self, variables, batch) -> dict[str, LossTerm]:
        """BCE, accuracy and mean similarity on in-sync, off-sync and all windows."""
        outputs, _ = self.generate(variables, batch, train=False, rngs={})
        labels, mask = _labels_and_mask(batch)
        similarity = outputs.similarity
        correct = ((similarity > SYNC_THRESHOLD) == (labels > 0.5)).astype(jnp.float32)
        result = {}
        for name, index in (("in_sync", 0), ("off_sync", 1)):
            valid, n = mask[..., index], jnp.sum(mask[..., index])
            result[f"bce/{name}"] = LossTerm(losses.binary_cross_entropy(
                similarity[..., index], labels[index], valid), n)
            result[f"accuracy/{name}"] = LossTerm(metrics.masked_mean(correct[..., index],
                                                                      valid), n)
            result[f"similarity/{name}"] = LossTerm(metrics.masked_mean(
                similarity[..., index], valid), n)
        n = jnp.sum(mask)
        result["bce/all"] = LossTerm(losses.binary_cross_entropy(similarity, labels, mask), n)
        result["accuracy/all"] = LossTerm(metrics.masked_mean(correct, mask), n)
        return result
