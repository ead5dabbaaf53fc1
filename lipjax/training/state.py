"""Train state of a generator and an optional discriminator (GAN training).

One `ModelState` per network holds its parameters, BatchNorm statistics and optimiser state; the
`TrainState` pairs them with the step counter. Both are pytrees (flax.struct), so the whole state
can be replicated, sharded, checkpointed and passed through `jax.jit` as one value. The optax
transformation is a static (non-pytree) field.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from lipjax.errors import ConfigError

__all__ = [
    "ModelState", "TrainState", "make_optimizer", "learning_rate_schedule", "count_params",
    "freeze_subtrees", "init_state", "make_rng",
]

PyTree = Any


@flax.struct.dataclass
class ModelState:
    """Parameters, BatchNorm statistics (`{}` if none) and optimiser state of one network."""

    params: PyTree
    batch_stats: PyTree
    opt_state: PyTree
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    @classmethod
    def create(cls, variables: dict, tx: optax.GradientTransformation) -> "ModelState":
        params = variables["params"]
        return cls(
            params=params,
            batch_stats=variables.get("batch_stats", {}),
            opt_state=tx.init(params),
            tx=tx,
        )

    @property
    def variables(self) -> dict:
        """The flax variables dict for `module.apply`."""
        if self.batch_stats:
            return {"params": self.params, "batch_stats": self.batch_stats}
        return {"params": self.params}

    def apply_gradients(self, grads: PyTree, batch_stats: PyTree) -> "ModelState":
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(
            params=optax.apply_updates(self.params, updates),
            batch_stats=batch_stats,
            opt_state=opt_state,
        )


@flax.struct.dataclass
class TrainState:
    """Step counter, generator state and discriminator state (None when not adversarial)."""

    step: jax.Array
    generator: ModelState
    discriminator: ModelState | None


def learning_rate_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
    """Constant `learning_rate` after an optional linear warm-up of `warmup_steps`.

    With `decay_steps > 0` the rate then decays by `decay_rate` every `decay_steps` steps.
    """
    base = float(config.learning_rate)
    warmup = int(config.get("warmup_steps", 0))
    decay_steps = int(config.get("decay_steps", 0))
    after = (
        optax.exponential_decay(base, decay_steps, float(config.get("decay_rate", 0.5)),
                                staircase=True)
        if decay_steps > 0 else optax.constant_schedule(base)
    )
    if warmup <= 0:
        return after
    return optax.join_schedules(
        [optax.linear_schedule(0.0, base, warmup), after], boundaries=[warmup]
    )


def make_optimizer(config: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                                optax.Schedule]:
    """Adam (ParaLip Sec. 4.1: lr 1e-3 generator, 1e-4 discriminator) with optional clipping.

    Config fields: learning_rate, b1, b2, eps, weight_decay, warmup_steps, decay_steps,
    decay_rate, clip_grad_norm (0 = off).
    """
    if float(config.learning_rate) <= 0:
        raise ConfigError(f"learning_rate must be positive, got {config.learning_rate}")
    schedule = learning_rate_schedule(config)
    parts = []
    clip = float(config.get("clip_grad_norm", 0.0))
    if clip > 0:
        parts.append(optax.clip_by_global_norm(clip))
    wd = float(config.get("weight_decay", 0.0))
    adam = (optax.adamw if wd > 0 else optax.adam)
    kwargs = dict(b1=float(config.get("b1", 0.9)), b2=float(config.get("b2", 0.999)),
                  eps=float(config.get("eps", 1e-8)))
    if wd > 0:
        kwargs["weight_decay"] = wd
    parts.append(adam(schedule, **kwargs))
    return optax.chain(*parts), schedule


def count_params(params: PyTree) -> int:
    """Number of scalar parameters in a pytree of arrays (or ShapeDtypeStructs)."""
    return int(sum(math.prod(x.shape) for x in jax.tree.leaves(params)))


def freeze_subtrees(tx: optax.GradientTransformation, params: PyTree,
                    frozen: tuple[str, ...]) -> optax.GradientTransformation:
    """`tx` for every top-level entry of `params` except those named in `frozen`, whose
    updates are zero (`optax.set_to_zero`: no optimiser state, no weight decay).

    Raises:
      ConfigError: a name in `frozen` that `params` does not have.
    """
    if not frozen:
        return tx
    unknown = sorted(set(frozen) - set(params))
    if unknown:
        raise ConfigError(f"cannot freeze {unknown}: the parameters have only {sorted(params)}")
    labels = {name: ("frozen" if name in frozen else "trained") for name in params}
    return optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, labels)


def init_state(system: Any, config: ml_collections.ConfigDict, batch: Mapping[str, Any],
               rng: jax.Array) -> tuple[TrainState, dict[str, optax.Schedule]]:
    """Both networks of `system` and their optimisers (`config.optim`) from one host batch;
    the generator's submodules that the system names in its optional
    `frozen_generator_params` get no updates (`freeze_subtrees`).

    Returns:
      The step-0 TrainState and the learning-rate schedule of each network, by name.
    """
    gen_vars, disc_vars = system.init_variables(rng, batch)
    gen_tx, gen_lr = make_optimizer(config.optim.generator)
    # A system may hold parts of its generator fixed (e.g. DCK's pre-trained audio encoder).
    gen_tx = freeze_subtrees(gen_tx, gen_vars["params"],
                             tuple(getattr(system, "frozen_generator_params", ())))
    schedules = {"generator": gen_lr}
    disc = None
    if disc_vars is not None:
        disc_tx, disc_lr = make_optimizer(config.optim.discriminator)
        disc = ModelState.create(disc_vars, disc_tx)
        schedules["discriminator"] = disc_lr
    state = TrainState(step=jnp.zeros((), jnp.int32),
                       generator=ModelState.create(gen_vars, gen_tx), discriminator=disc)
    return state, schedules


def make_rng(config: ml_collections.ConfigDict) -> jax.Array:
    """The run's root key; `config.prng_impl` picks the generator ("threefry2x32" or "rbg").

    "rbg" compiles parameter initialisation several times faster on the CPU than threefry.
    """
    return jax.random.key(int(config.seed), impl=config.get("prng_impl", "threefry2x32"))
