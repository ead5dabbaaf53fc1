"""Per-device pure train and eval steps for (adversarially trained) generators.

A step is `step(state, batch, rng) -> (state, metrics)`, written for ONE device: collectives go
through the named axis `axis_name` only (`lax.pmean` of gradients, loss normalisers and metrics),
and `lipjax.training.parallel` maps it over devices with `jax.pmap` or `jax.shard_map`.

What differs between systems (ParaLip, the DCK talking face, the AR baselines) is behind the
`System` protocol: how the generator is applied and which loss terms it has. The step is
shared: generator update (reconstruction terms + adversarial term against a frozen
discriminator), then discriminator update on real vs generated (stop-gradient) frames, a
non-finite guard that skips an update and counts it, and exact global loss normalisation across
devices. The adversarial losses are LSGAN unless the system provides its own pair with an
`adversarial_losses()` method (`lipjax.losses.AdversarialLosses`; Wav2Lip: BCE on a sigmoid,
`lipjax.losses.BCE_GAN`); see `adversarial_losses` below.

Exact normalisation: each loss term is a masked mean over the valid elements of the local batch,
reported with that element count. Reweighting it by `count / pmean(count)` before the gradient
`pmean` makes the result the mean over the *global* batch, so N devices give the parameters one
device would with the same global batch even when padding differs between devices.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
from jax import lax
import optax

from lipjax.losses import LSGAN, AdversarialLosses
from lipjax.training.state import ModelState, TrainState
from lipjax.training.system import LossTerm, System

__all__ = ["train_step", "eval_step", "adversarial_losses", "ADV"]

PyTree = Any
Batch = Mapping[str, jax.Array]
ADV = "adv"  # name of the adversarial term in `System.loss_weights`


def _global_mean(term: LossTerm, axis_name: str) -> jax.Array:
    """Reweights a local masked mean so that the `pmean` over devices is the global mean."""
    count = term.count.astype(jnp.float32)
    mean_count = lax.pmean(count, axis_name)
    return term.value * count / jnp.maximum(mean_count, 1e-9)


def _is_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _guarded_update(model: ModelState, grads: PyTree, batch_stats: PyTree,
                    finite: jax.Array) -> tuple[ModelState, jax.Array]:
    """Applies the update if the gradients are `finite` *and* the updated parameters, statistics
    and optimiser state are finite too; otherwise keeps the old state. Returns (state, applied).

    Checking the result catches what the gradients alone do not: an absurd learning rate turns
    finite gradients into infinite parameters. The decision is the same on every device (its
    inputs are all-reduced).

    The choice is one `lax.cond` on the whole state, not a `jnp.where` per leaf: XLA's CPU
    fusion copies the scalar `applied` (an `and` of one test per leaf) into every leaf's select,
    which grows the program with the square of the leaf count (a Wav2Lip network, ~500 leaves
    with Adam's: minutes of compilation instead of seconds). The values are the same.
    """
    updated = model.apply_gradients(grads, batch_stats)
    applied = finite & _is_finite((updated.params, updated.batch_stats, updated.opt_state))
    return lax.cond(applied, lambda new, old: new, lambda new, old: old, updated, model), applied


def adversarial_losses(system: System) -> AdversarialLosses:
    """The GAN losses of `system`: what its optional `adversarial_losses()` method returns, else
    `lipjax.losses.LSGAN` (the same functions every system without the method has always used,
    so their numerics are unchanged)."""
    provided = getattr(system, "adversarial_losses", None)
    return LSGAN if provided is None else provided()


def _adversarial(system: System) -> bool:
    return system.discriminator is not None and system.loss_weights.get(ADV, 0.0) > 0


def _discriminate(system: System, disc: ModelState, samples: jax.Array) -> jax.Array:
    # The discriminator is applied in inference mode for BatchNorm (if any): statistics are not
    # updated from generated samples, and the generator step stays a pure function of params.
    return system.discriminator.apply(disc.variables, samples, train=False)


def train_step(state: TrainState, batch: Batch, rng: jax.Array, *, system: System,
               axis_name: str = "data") -> tuple[TrainState, dict[str, jax.Array]]:
    """One generator (+ discriminator) update on this device's shard of the batch.

    Args:
      state: the replicated TrainState.
      batch: this device's part of the global batch (dict of arrays with masks).
      rng: a PRNG key, the same on every device; folded with the step and the device index.
      system: the System (static).
      axis_name: the data-parallel axis name.

    Returns:
      The new state and scalar metrics (identical on every device). `skipped/<network>` is 1
      when that network's update was not applied (non-finite loss, gradients or result).
    """
    rng = jax.random.fold_in(jax.random.fold_in(rng, state.step), lax.axis_index(axis_name))
    new_gen, outputs, metrics = _generator_update(state, batch, rng, system, axis_name)
    new_disc = state.discriminator
    if _adversarial(system):
        new_disc, disc_metrics = _discriminator_update(state.discriminator, outputs, batch,
                                                       system, axis_name)
        metrics.update(disc_metrics)
    new_state = state.replace(step=state.step + 1, generator=new_gen, discriminator=new_disc)
    return new_state, metrics


def _generator_update(state: TrainState, batch: Batch, rng: jax.Array, system: System,
                      axis_name: str) -> tuple[ModelState, Any, dict[str, jax.Array]]:
    """The generator's step: reconstruction terms + the adversarial term (`adversarial_losses`)
    against the current (frozen) discriminator. Returns (new generator state, generator
    outputs, metrics)."""
    gen_rng, dropout_rng = jax.random.split(rng)
    weights = system.loss_weights
    adversarial = _adversarial(system)
    gen = state.generator
    adv_on = (state.step >= system.adversarial_start_step).astype(jnp.float32)

    def term_weight(name):
        return weights[name] * adv_on if name == ADV else weights[name]

    def generator_loss(params):
        variables = {"params": params}
        if gen.batch_stats:
            variables["batch_stats"] = gen.batch_stats
        outputs, new_stats = system.generate(
            variables, batch, train=True, rngs={"dropout": dropout_rng, "sample": gen_rng})
        terms = system.reconstruction_terms(outputs, batch)
        if adversarial:
            d_in = system.discriminator_inputs(outputs, batch)
            d_fake = _discriminate(system, state.discriminator, d_in.fake)
            terms[ADV] = LossTerm(adversarial_losses(system).generator(d_fake, d_in.mask),
                                  jnp.sum(d_in.mask))
        total = sum(term_weight(name) * _global_mean(term, axis_name)
                    for name, term in terms.items())
        return total, (terms, new_stats, outputs)

    (gen_loss, (terms, new_stats, outputs)), grads = jax.value_and_grad(
        generator_loss, has_aux=True)(gen.params)
    grads = lax.pmean(grads, axis_name)
    if new_stats:
        new_stats = lax.pmean(new_stats, axis_name)
    # The loss is checked too: a NaN target can leave the gradient finite (|x - nan|' = +-1).
    gen_finite = _is_finite((grads, lax.pmean(gen_loss, axis_name)))
    metrics = {f"loss/{name}": lax.pmean(_global_mean(term, axis_name), axis_name)
               for name, term in terms.items()}
    metrics["loss/generator_total"] = sum(term_weight(n) * metrics[f"loss/{n}"] for n in terms)
    metrics["grad_norm/generator"] = optax.tree.norm(grads)
    new_gen, applied = _guarded_update(gen, grads, new_stats or gen.batch_stats, gen_finite)
    metrics["skipped/generator"] = 1.0 - applied.astype(jnp.float32)
    return new_gen, outputs, metrics


def _discriminator_update(disc: ModelState, outputs: Any, batch: Batch, system: System,
                          axis_name: str) -> tuple[ModelState, dict[str, jax.Array]]:
    """The discriminator's step (`adversarial_losses`) on real vs generated (stop-gradient)
    samples."""
    d_in = system.discriminator_inputs(outputs, batch)
    fake = lax.stop_gradient(d_in.fake)
    count = jnp.sum(d_in.mask)

    def discriminator_loss(params):
        variables = {**disc.variables, "params": params}
        both = jnp.concatenate([d_in.real, fake], axis=0)
        if disc.batch_stats:
            scores, updates = system.discriminator.apply(
                variables, both, train=True, mutable=["batch_stats"])
            stats = updates["batch_stats"]
        else:
            scores, stats = system.discriminator.apply(variables, both, train=True), {}
        d_real, d_fake = jnp.split(scores, 2, axis=0)
        loss = adversarial_losses(system).discriminator(d_real, d_fake, d_in.mask)
        return _global_mean(LossTerm(loss, count), axis_name), stats

    (d_total, d_stats), d_grads = jax.value_and_grad(
        discriminator_loss, has_aux=True)(disc.params)
    d_grads = lax.pmean(d_grads, axis_name)
    if d_stats:
        d_stats = lax.pmean(d_stats, axis_name)
    d_finite = _is_finite((d_grads, lax.pmean(d_total, axis_name)))
    new_disc, applied = _guarded_update(disc, d_grads, d_stats or disc.batch_stats, d_finite)
    return new_disc, {"loss/discriminator": lax.pmean(d_total, axis_name),
                      "grad_norm/discriminator": optax.tree.norm(d_grads),
                      "skipped/discriminator": 1.0 - applied.astype(jnp.float32)}


def eval_step(variables: PyTree, batch: Batch, *, system: System,
              axis_name: str = "data") -> dict[str, jax.Array]:
    """Evaluation metrics of the generator `variables` as global `{name: [sum, count]}`.

    Sums rather than means so that the caller can aggregate exactly over many batches.
    """
    terms = system.evaluate(variables, batch)
    out = {}
    for name, term in terms.items():
        count = term.count.astype(jnp.float32)
        out[name] = jnp.stack([lax.psum(term.value * count, axis_name),
                               lax.psum(count, axis_name)])
    return out
