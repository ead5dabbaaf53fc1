"""The adversarial-loss hook of the shared GAN step (`lipjax.training.steps.adversarial_losses`):
a system without `adversarial_losses()` trains with LSGAN exactly as before, one that returns a
pair trains with it, on 2 devices with the exact global normalisation."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import optax
import pytest

from lipjax import losses
from lipjax.training import steps
from lipjax.training.parallel import DataParallel
from lipjax.training.state import ModelState, TrainState, make_optimizer
import flax.linen as nn
import ml_collections

from tests._toy_system import ToyDiscriminator, ToySystem, make_toy_system, toy_batch


class SigmoidDiscriminator(nn.Module):
    """The toy discriminator's score squashed to a probability (as Wav2Lip's)."""

    @nn.compact
    def __call__(self, x, *, train: bool):
        return nn.sigmoid(ToyDiscriminator()(x, train=train))


@dataclasses.dataclass(frozen=True, eq=False)
class FixedGeneratorToy(ToySystem):
    """The toy system (no `adversarial_losses`) with its generator in inference mode (no batch
    statistics), so that the samples the discriminator scores can be recomputed outside."""

    def generate(self, variables, batch, *, train, rngs):
        return self.generator.apply(variables, batch["x"], train=False), {}


@dataclasses.dataclass(frozen=True, eq=False)
class HookedToy(FixedGeneratorToy):
    """The same with the hook: it returns `pair`."""

    pair: losses.AdversarialLosses = losses.LSGAN

    def adversarial_losses(self) -> losses.AdversarialLosses:
        return self.pair


def _system(pair=None, discriminator=None) -> FixedGeneratorToy:
    toy = make_toy_system()
    fields = dict(generator=toy.generator, discriminator=discriminator or toy.discriminator,
                  loss_weights={"l1": 1.0, "adv": 0.5})
    return FixedGeneratorToy(**fields) if pair is None else HookedToy(**fields, pair=pair)


def _state(system) -> TrainState:
    batch = toy_batch(0)
    gen_vars, disc_vars = system.init_variables(jax.random.key(1), batch)
    optim = ml_collections.ConfigDict({"learning_rate": 1e-2})
    tx, _ = make_optimizer(optim)
    return TrainState(step=np.zeros((), np.int32), generator=ModelState.create(gen_vars, tx),
                      discriminator=ModelState.create(disc_vars, tx))


def _step(system, state):
    dp = DataParallel("pmap", devices=jax.devices()[:2], max_traces=1)
    step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    new, metrics = step(dp.replicate(state), dp.shard(toy_batch(0)), jax.random.key(0))
    return jax.device_get(dp.unreplicate(new)), dp.metrics_to_host(metrics)


def _scores(system, state):
    """The discriminator's scores of the real and generated samples, and the valid mask."""
    batch = toy_batch(0)
    fake = system.generator.apply(state.generator.variables, batch["x"], train=False)
    disc = state.discriminator.variables
    return (np.asarray(system.discriminator.apply(disc, batch["y"], train=False)),
            np.asarray(system.discriminator.apply(disc, fake, train=False)), batch["mask"])


def test_without_the_hook_the_step_uses_lsgan():
    assert steps.adversarial_losses(make_toy_system()) is losses.LSGAN
    assert losses.LSGAN.generator is losses.lsgan_generator_loss
    assert losses.LSGAN.discriminator is losses.lsgan_discriminator_loss
    assert steps.adversarial_losses(_system(losses.BCE_GAN)) is losses.BCE_GAN


@pytest.mark.slow
def test_lsgan_numerics_are_unchanged_and_exactly_global():
    plain, explicit = _system(), _system(losses.LSGAN)
    state = _state(plain)
    new_plain, metrics = _step(plain, state)
    new_explicit, metrics_explicit = _step(explicit, state)
    # Bit for bit: the hook adds nothing for a system that returns (or lacks) LSGAN.
    for a, b in zip(jax.tree.leaves(new_plain), jax.tree.leaves(new_explicit)):
        np.testing.assert_array_equal(a, b)
    assert metrics.keys() == metrics_explicit.keys()
    for key in metrics:
        np.testing.assert_array_equal(metrics[key], metrics_explicit[key], err_msg=key)
    d_real, d_fake, valid = _scores(plain, state)
    # The device with 2 valid examples and the one with 1 give the mean over all 3.
    np.testing.assert_allclose(metrics["loss/adv"], np.mean((d_fake[valid] - 1) ** 2),
                               rtol=1e-5)
    np.testing.assert_allclose(metrics["loss/discriminator"],
                               np.mean((d_real[valid] - 1) ** 2) + np.mean(d_fake[valid] ** 2),
                               rtol=1e-5)


@pytest.mark.slow
def test_a_system_chooses_bce_on_a_sigmoid_discriminator():
    bce = _system(losses.BCE_GAN, discriminator=SigmoidDiscriminator())
    state = _state(bce)
    new, metrics = _step(bce, state)
    d_real, d_fake, valid = _scores(bce, state)
    np.testing.assert_allclose(metrics["loss/adv"], np.mean(-np.log(d_fake[valid])), rtol=1e-5)
    np.testing.assert_allclose(
        metrics["loss/discriminator"],
        np.mean(-np.log(d_real[valid])) + np.mean(-np.log(1 - d_fake[valid])), rtol=1e-5)
    lsgan_new, lsgan_metrics = _step(_system(discriminator=SigmoidDiscriminator()), state)
    assert not np.isclose(lsgan_metrics["loss/adv"], metrics["loss/adv"])
    assert metrics["skipped/discriminator"] == 0 and metrics["skipped/generator"] == 0


def test_binary_cross_entropy_follows_pytorch_and_stays_finite():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    prob = rng.uniform(0.01, 0.99, (3, 4)).astype(np.float32)
    target = (rng.random((3, 4)) > 0.5).astype(np.float32)
    want = torch.nn.functional.binary_cross_entropy(torch.from_numpy(prob),
                                                    torch.from_numpy(target))
    np.testing.assert_allclose(losses.binary_cross_entropy(prob, target), float(want), rtol=1e-5)
    mask = np.array([True, True, False])
    np.testing.assert_allclose(losses.binary_cross_entropy(prob, target, mask),
                               losses.binary_cross_entropy(prob[:2], target[:2]), rtol=1e-6)
    # Saturated probabilities (a cosine of exactly 0, or 1 + rounding) and NaN padding.
    edge = np.array([[0.0, 1.0000001], [np.nan, np.nan]], np.float32)
    grad = jax.grad(lambda p: losses.binary_cross_entropy(p, 1.0, np.array([True, False])))(edge)
    assert np.all(np.isfinite(grad)) and np.all(grad[1] == 0)
    assert np.isfinite(losses.binary_cross_entropy(edge, 1.0, np.array([True, False])))


@pytest.mark.slow
def test_the_generator_step_is_its_own_loss_against_the_frozen_discriminator():
    """ParaLip Eq. 6-8 / DCK Eq. 4-5: the generator's update is one optimiser step on
    `l1 + w * mean((D(G(x)) - 1)^2)` with the discriminator *before* its own update, and nothing
    of the discriminator's loss reaches it (its fakes are stop-gradient)."""
    system = _system()
    adam = _state(system)
    sgd = optax.sgd(1.0)  # an update proportional to the gradient (Adam's first is its sign)
    state = adam.replace(generator=ModelState.create(adam.generator.variables, sgd))
    batch = toy_batch(0)
    valid = batch["mask"]
    disc = state.discriminator.variables

    def loss(params):
        fake = system.generator.apply({**state.generator.variables, "params": params},
                                      batch["x"], train=False)
        l1 = jax.numpy.mean(jax.numpy.abs(fake - batch["y"])[valid])
        scores = system.discriminator.apply(disc, fake, train=False)
        return l1 + system.loss_weights["adv"] * jax.numpy.mean((scores[valid] - 1.0) ** 2)

    want = state.generator.apply_gradients(jax.grad(loss)(state.generator.params),
                                           state.generator.batch_stats)
    new, _ = _step(system, state)
    for a, b in zip(jax.tree.leaves(new.generator.params), jax.tree.leaves(want.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_one_step_moves_the_scores_towards_the_lsgan_targets():
    """Signs of Eq. 6-7, measured against the paper's targets (not lipjax's loss functions): the
    discriminator's step brings D(real) closer to 1 and D(fake) closer to 0; the generator's step
    (adversarial term alone) brings the old discriminator's score of its new fakes closer to 1."""
    system = dataclasses.replace(_system(), loss_weights={"l1": 0.0, "adv": 1.0})
    state = _state(system)
    new, _ = _step(system, state)
    d_real, d_fake, valid = _scores(system, state)
    d_real_after, d_fake_after, _ = _scores(system, new.replace(generator=state.generator))
    assert np.mean((d_real_after[valid] - 1) ** 2) < np.mean((d_real[valid] - 1) ** 2)
    assert np.mean(d_fake_after[valid] ** 2) < np.mean(d_fake[valid] ** 2)
    _, d_new_fake, _ = _scores(system, new.replace(discriminator=state.discriminator))
    assert np.mean((d_new_fake[valid] - 1) ** 2) < np.mean((d_fake[valid] - 1) ** 2)
