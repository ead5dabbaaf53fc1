"""The smallest complete `lipjax.training.System`: what the shared training core needs, and
nothing else. The tests of the core (steps, parallelism, checkpoints) use it instead of a real
model; `lipjax.training.system.System` cites it as the minimal example.

The generator maps `batch["x"]` `[B, F]` to a prediction of `batch["y"]` `[B, F]`; `mask` `[B]`
marks valid examples. Records are `{"x": [F], "y": [F]}` dicts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lipjax.losses import l1_loss
from lipjax.training.system import DiscriminatorInputs, LossTerm

FEATURES = 6


class ToyGenerator(nn.Module):
    features: int = FEATURES

    @nn.compact
    def __call__(self, x, *, train: bool):
        h = nn.Dense(16, use_bias=False)(x)  # a bias before BatchNorm has zero gradient
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, axis_name="data")(h)
        return nn.Dense(self.features)(nn.relu(h))


class ToyDiscriminator(nn.Module):
    @nn.compact
    def __call__(self, x, *, train: bool):
        return nn.Dense(1)(nn.leaky_relu(nn.Dense(8)(x), 0.2))[..., 0]


@dataclasses.dataclass(frozen=True)
class ToySystem:
    """A `System`: every method the loop, evaluation, checkpoints and inference call."""

    generator: nn.Module
    discriminator: nn.Module | None
    loss_weights: dict
    adversarial_start_step: int = 0

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> nn.Module:
        return ToyGenerator()

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "ToySystem":
        adv = float(config.loss.adv)
        return cls(generator=cls.generator_from_config(config),
                   discriminator=ToyDiscriminator() if adv > 0 else None,
                   loss_weights={"l1": float(config.loss.l1), "adv": adv},
                   adversarial_start_step=int(config.loss.get("adv_start_step", 0)))

    # data hooks: a record is one example; buckets are irrelevant
    def length_fn(self, record: Mapping[str, Any]) -> tuple[int, int]:
        return 1, 1

    def example_fn(self, record, *, max_tokens, max_frames, rng, training):
        return {"x": np.asarray(record["x"], np.float32), "y": np.asarray(record["y"], np.float32),
                "mask": np.bool_(True)}

    def example_batch(self, bucket, batch_size: int = 1):
        return {"x": np.zeros((batch_size, FEATURES), np.float32),
                "y": np.zeros((batch_size, FEATURES), np.float32),
                "mask": np.ones(batch_size, bool), "example_mask": np.ones(batch_size, bool)}

    def init_variables(self, rng, batch):
        g_rng, d_rng = jax.random.split(rng)
        gen = self.generator.init(g_rng, batch["x"], train=False)
        disc = (self.discriminator.init(d_rng, batch["y"], train=False)
                if self.discriminator is not None else None)
        return gen, disc

    def generate(self, variables, batch, *, train, rngs):
        if train and "batch_stats" in variables:
            out, upd = self.generator.apply(variables, batch["x"], train=True,
                                            mutable=["batch_stats"], rngs=rngs)
            return out, upd["batch_stats"]
        return self.generator.apply(variables, batch["x"], train=train, rngs=rngs), {}

    def _mask(self, batch):
        return batch["mask"] & batch.get("example_mask", True)

    def reconstruction_terms(self, outputs, batch):
        mask = self._mask(batch)
        # l1_loss normalises over valid frames x elements; the count it reports matches.
        value = l1_loss(outputs[:, None], batch["y"][:, None], mask[:, None])
        return {"l1": LossTerm(value, jnp.sum(mask) * outputs.shape[-1])}

    def discriminator_inputs(self, outputs, batch):
        return DiscriminatorInputs(real=batch["y"], fake=outputs, mask=self._mask(batch))

    def evaluate(self, variables, batch):
        out = self.generator.apply(variables, batch["x"], train=False)
        mask = self._mask(batch)
        err = jnp.sum(jnp.abs(out - batch["y"]).mean(-1) * mask)
        n = jnp.sum(mask)
        return {"mae": LossTerm(err / jnp.maximum(n, 1), n)}


def make_toy_system(*, adversarial: bool = True, adversarial_start_step: int = 0) -> ToySystem:
    return ToySystem(
        generator=ToyGenerator(),
        discriminator=ToyDiscriminator() if adversarial else None,
        loss_weights={"l1": 1.0, "adv": 0.5 if adversarial else 0.0},
        adversarial_start_step=adversarial_start_step,
    )


def toy_batch(seed: int, batch_size: int = 4, features: int = FEATURES) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    x = r.normal(size=(batch_size, features)).astype(np.float32)
    mask = np.ones(batch_size, bool)
    mask[-1] = False  # devices see different numbers of valid examples
    return {"x": x, "y": np.tanh(x[:, ::-1]).copy(), "mask": mask}
