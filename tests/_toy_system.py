"""A tiny GanSystem for testing the shared training machinery without a real model."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lipjax.losses import l1_loss
from lipjax.train.steps import DiscriminatorInputs, LossTerm


class ToyGenerator(nn.Module):
    features: int = 6

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
    """Generator maps batch['x'] [B, F] to a prediction of batch['y'] [B, F]; mask [B]."""

    generator: nn.Module
    discriminator: nn.Module | None
    loss_weights: dict
    adversarial_start_step: int = 0

    def generate(self, variables, batch, *, train, rngs):
        if train and "batch_stats" in variables:
            out, upd = self.generator.apply(variables, batch["x"], train=True,
                                            mutable=["batch_stats"], rngs=rngs)
            return out, upd["batch_stats"]
        return self.generator.apply(variables, batch["x"], train=train, rngs=rngs), {}

    def reconstruction_terms(self, outputs, batch):
        mask = batch["mask"]
        # l1_loss normalises over valid frames x elements; the count it reports matches.
        value = l1_loss(outputs[:, None], batch["y"][:, None], mask[:, None])
        return {"l1": LossTerm(value, jnp.sum(mask) * outputs.shape[-1])}

    def discriminator_inputs(self, outputs, batch):
        return DiscriminatorInputs(real=batch["y"], fake=outputs, mask=batch["mask"])

    def evaluate(self, variables, batch):
        out = self.generator.apply(variables, batch["x"], train=False)
        err = jnp.sum(jnp.abs(out - batch["y"]).mean(-1) * batch["mask"])
        n = jnp.sum(batch["mask"])
        return {"mae": LossTerm(err / jnp.maximum(n, 1), n)}


def make_toy_system(*, adversarial: bool = True, adversarial_start_step: int = 0) -> ToySystem:
    return ToySystem(
        generator=ToyGenerator(),
        discriminator=ToyDiscriminator() if adversarial else None,
        loss_weights={"l1": 1.0, "adv": 0.5 if adversarial else 0.0},
        adversarial_start_step=adversarial_start_step,
    )


def toy_batch(seed: int, batch_size: int = 4, features: int = 6) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    x = r.normal(size=(batch_size, features)).astype(np.float32)
    mask = np.ones(batch_size, bool)
    mask[-1] = False  # devices see different numbers of valid examples
    return {"x": x, "y": np.tanh(x[:, ::-1]).copy(), "mask": mask}
