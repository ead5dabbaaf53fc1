"""pmap and shard_map wrappers give the parameters of one device with the same global batch."""

import jax
import numpy as np
import pytest

from lipjax.training import parallel, steps
from lipjax.training.state import ModelState, TrainState, make_optimizer
from ml_collections import ConfigDict

from tests._toy_system import make_toy_system, toy_batch


def _init_state(system, seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    x = np.zeros((2, 6), np.float32)
    gtx, _ = make_optimizer(ConfigDict({"learning_rate": 1e-2}))
    dtx, _ = make_optimizer(ConfigDict({"learning_rate": 1e-2}))
    gen = ModelState.create(system.generator.init(k1, x, train=False), gtx)
    disc = None
    if system.discriminator is not None:
        disc = ModelState.create(system.discriminator.init(k2, x, train=False), dtx)
    return TrainState(step=jax.numpy.zeros((), jax.numpy.int32), generator=gen,
                      discriminator=disc)


def _train(kind, devices, system, n_steps=3):
    dp = parallel.DataParallel(kind, devices=devices, max_traces=1)
    step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    state = dp.replicate(_init_state(system))
    rng = jax.random.PRNGKey(42)
    history = []
    for i in range(n_steps):
        state, metrics = step(state, dp.shard(toy_batch(i)), rng)
        history.append(dp.metrics_to_host(metrics))
    return jax.device_get(dp.unreplicate(state)), history


@pytest.mark.parametrize("adversarial", [True, False])
def test_pmap_and_shard_map_match_single_device(adversarial):
    devices = jax.devices()
    assert len(devices) >= 2, "conftest forces 2 CPU devices"
    system = make_toy_system(adversarial=adversarial)
    single, h1 = _train("shard_map", devices[:1], system)
    for kind in ("pmap", "shard_map"):
        multi, h2 = _train(kind, devices[:2], system)
        chex_tree_allclose(single, multi)
        for a, b in zip(h1, h2):
            np.testing.assert_allclose(a["loss/l1"], b["loss/l1"], rtol=1e-5)
    # Training changed the parameters (the comparison above is not between two no-ops).
    init = jax.device_get(_init_state(system))
    diff = jax.tree.map(lambda a, b: np.abs(a - b).max(), single.generator.params,
                        init.generator.params)
    assert max(jax.tree.leaves(diff)) > 1e-4
    assert int(single.step) == 3


def chex_tree_allclose(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-5, atol=2e-6)


def test_non_finite_gradients_skip_the_update():
    system = make_toy_system(adversarial=False)
    dp = parallel.DataParallel("shard_map", devices=jax.devices()[:1])
    step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    state0 = jax.device_get(_init_state(system))
    batch = toy_batch(0)
    batch["y"][0, 0] = np.nan
    state, metrics = step(dp.replicate(state0), dp.shard(batch), jax.random.PRNGKey(0))
    metrics = dp.metrics_to_host(metrics)
    assert metrics["skipped/generator"] == 1.0
    for x, y in zip(jax.tree.leaves(state0.generator.params),
                    jax.tree.leaves(jax.device_get(state.generator.params))):
        np.testing.assert_array_equal(x, y)
    assert int(state.step) == 1  # the step still counts


def test_recompile_is_caught_by_max_traces():
    system = make_toy_system(adversarial=False)
    dp = parallel.DataParallel("shard_map", devices=jax.devices()[:1], max_traces=1)
    step = dp.wrap(steps.train_step, static_kwargs={"system": system}, donate_state=False)
    state = dp.replicate(_init_state(system))
    step(state, dp.shard(toy_batch(0, batch_size=4)), jax.random.PRNGKey(0))
    step(state, dp.shard(toy_batch(1, batch_size=4)), jax.random.PRNGKey(0))  # same shapes
    with pytest.raises(parallel.RecompileError, match="traced 2 times"):
        step(state, dp.shard(toy_batch(2, batch_size=6)), jax.random.PRNGKey(0))


def test_eval_step_sums_over_devices():
    system = make_toy_system(adversarial=False)
    state = jax.device_get(_init_state(system))
    batch = toy_batch(3)
    out1 = parallel.DataParallel("shard_map", devices=jax.devices()[:1])
    out2 = parallel.DataParallel("pmap", devices=jax.devices()[:2])
    results = []
    for dp in (out1, out2):
        ev = dp.wrap(steps.eval_step, static_kwargs={"system": system}, donate_state=False)
        results.append(dp.metrics_to_host(ev(dp.replicate(state.generator.variables), dp.shard(batch))))
    np.testing.assert_allclose(results[0]["mae"], results[1]["mae"], rtol=1e-5)
    expected = np.abs(system.generator.apply(state.generator.variables, batch["x"], train=False)
                      - batch["y"]).mean(-1)[batch["mask"]].sum()
    np.testing.assert_allclose(results[0]["mae"][0], expected, rtol=1e-5)
    assert results[0]["mae"][1] == batch["mask"].sum()


def test_indivisible_batch_is_a_clear_error():
    dp = parallel.DataParallel("pmap", devices=jax.devices()[:2])
    from lipjax.errors import InputError
    with pytest.raises(InputError, match="divisible"):
        dp.shard({"x": np.zeros((3, 2))})


def test_adversarial_term_starts_at_its_step():
    system = make_toy_system(adversarial=True, adversarial_start_step=2)
    dp = parallel.DataParallel("shard_map", devices=jax.devices()[:1])
    step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    state = dp.replicate(_init_state(system))
    totals = []
    for i in range(3):
        disc_before = jax.device_get(state.discriminator.params)
        state, m = step(state, dp.shard(toy_batch(i)), jax.random.PRNGKey(0))
        m = dp.metrics_to_host(m)
        # The discriminator trains from the first step.
        moved = max(float(np.abs(a - b).max()) for a, b in zip(
            jax.tree.leaves(disc_before), jax.tree.leaves(jax.device_get(state.discriminator.params))))
        assert moved > 0
        totals.append((m["loss/generator_total"], m["loss/l1"], m["loss/adv"]))
    for total, l1, adv in totals[:2]:  # steps 0 and 1: reconstruction only
        np.testing.assert_allclose(total, l1, rtol=1e-6)
    total, l1, adv = totals[2]
    np.testing.assert_allclose(total, l1 + 0.5 * adv, rtol=1e-5)
    assert adv > 0
