"""`train_and_evaluate(config, workdir)`: the training loop shared by every system.

Reads the dataset named in `config.data`, builds the system named by `config.system`, maps the
shared steps over devices (`config.train.parallel`: "pmap" or "shard_map"), and runs with a
progress bar, TensorBoard scalars + a JSON-lines log, periodic evaluation and checkpoints. A
workdir that already holds a checkpoint is resumed exactly (state and data position).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from lipjax.data import builders
from lipjax.data.pipeline import Pipeline
from lipjax.errors import DataError
from lipjax.train import steps
from lipjax.train.checkpoint import Checkpointer
from lipjax.train.parallel import DataParallel
from lipjax.train.state import ModelState, TrainState, count_params, make_optimizer
from lipjax.train.systems import make_system

__all__ = ["train_and_evaluate", "evaluate", "load_source", "init_state", "make_rng",
           "MetricWriter"]

logger = logging.getLogger(__name__)


def load_source(data_config: ml_collections.ConfigDict, split: str):
    """The data source of `split`, building the dataset first if allowed and missing."""
    kwargs = dict(data_dir=data_config.data_dir, config=data_config.get("builder_config"),
                  **dict(data_config.get("builder_overrides", {}) or {}))
    try:
        return builders.load_split(data_config.name, split, **kwargs)
    except DataError:
        if not data_config.get("build_if_missing", False):
            raise
    logger.info("building dataset %s into %s", data_config.name, data_config.data_dir)
    builders.build_dataset(data_config.name, manual_dir=data_config.get("manual_dir"),
                           **kwargs)
    return builders.load_split(data_config.name, split, **kwargs)


def init_state(system, config: ml_collections.ConfigDict, batch: dict,
               rng: jax.Array) -> tuple[TrainState, dict]:
    """Initialises both networks and their optimisers from one (host) batch."""
    gen_vars, disc_vars = system.init_variables(rng, batch)
    gen_tx, gen_lr = make_optimizer(config.optim.generator)
    schedules = {"generator": gen_lr}
    disc = None
    if disc_vars is not None:
        disc_tx, disc_lr = make_optimizer(config.optim.discriminator)
        disc = ModelState.create(disc_vars, disc_tx)
        schedules["discriminator"] = disc_lr
    state = TrainState(step=jnp.zeros((), jnp.int32),
                       generator=ModelState.create(gen_vars, gen_tx), discriminator=disc)
    return state, schedules


class MetricWriter:
    """Scalars to TensorBoard (tensorboardX, no TensorFlow needed) and to `metrics.jsonl`."""

    def __init__(self, workdir: str, *, tensorboard: bool = True):
        self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, scalars: dict[str, float], *, prefix: str = "") -> None:
        scalars = {f"{prefix}{k}": float(v) for k, v in scalars.items()}
        self._jsonl.write(json.dumps({"step": int(step), **scalars}) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, v, int(step))

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def evaluate(system, state: TrainState, source, config: ml_collections.ConfigDict, *,
             dp: DataParallel | None = None, eval_step=None, replicated: bool = False,
             max_batches: int | None = None, progress: bool = False) -> dict[str, float]:
    """Means of `system.evaluate` over a split (exact: sums and counts over all batches).

    A training loop passes its `dp`, an `eval_step` wrapped once by `dp.wrap` (so periodic
    evaluations reuse one compilation) and its already `replicated` state.
    """
    dp = dp or DataParallel(config.train.parallel, devices=_devices(config))
    if eval_step is None:
        eval_step = dp.wrap(steps.eval_step, static_kwargs={"system": system},
                            donate_state=False)
    if not replicated:
        state = dp.replicate(jax.device_get(state))
    pipeline = Pipeline(source, batch_size=config.data.eval_batch_size,
                        buckets=_buckets(config), example_fn=system.example_fn,
                        length_fn=system.length_fn, training=False, num_epochs=1,
                        seed=config.seed, prefetch=config.data.get("prefetch", 2))
    totals: dict[str, np.ndarray] = {}
    total = pipeline.num_batches(0)
    if max_batches:
        total = min(total, max_batches)
    with pipeline:
        for i, batch in enumerate(tqdm(pipeline, total=total, desc="evaluate",
                                       disable=not progress, leave=False)):
            if max_batches and i >= max_batches:
                break
            sums = dp.metrics_to_host(eval_step(state, dp.shard(batch)))
            for k, v in sums.items():
                totals[k] = totals.get(k, 0.0) + v
    return {k: float(v[0] / max(v[1], 1e-9)) for k, v in sorted(totals.items())}


def make_rng(config: ml_collections.ConfigDict) -> jax.Array:
    """The run's root key; `config.prng_impl` picks the generator ("threefry2x32" or "rbg").

    "rbg" compiles parameter initialisation several times faster on the CPU than threefry.
    """
    return jax.random.key(int(config.seed), impl=config.get("prng_impl", "threefry2x32"))


def _buckets(config) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in b) for b in config.data.buckets]


def _devices(config) -> list:
    n = config.train.get("num_devices")
    devices = jax.local_devices()
    return devices[:n] if n else devices


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       progress: bool = True) -> dict[str, Any]:
    """Trains `config.system` on `config.data` for `config.train.num_steps` steps.

    Writes to `workdir`: checkpoints/ (orbax), tensorboard/, metrics.jsonl, config.json and
    eval_<step>.json. Returns the last evaluation metrics and the training throughput.
    """
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
        f.write(config.to_json_best_effort(indent=2))
    tc = config.train
    system = make_system(config)
    dp = DataParallel(tc.parallel, devices=_devices(config),
                      max_traces=len(config.data.buckets))
    global_batch = int(config.data.batch_size)
    per_process = global_batch // jax.process_count()

    train_source = load_source(config.data, config.data.train_split)
    eval_source = load_source(config.data, config.data.eval_split)
    pipeline = Pipeline(train_source, batch_size=per_process, buckets=_buckets(config),
                        example_fn=system.example_fn, length_fn=system.length_fn,
                        training=True, seed=config.seed,
                        prefetch=config.data.get("prefetch", 2))

    init_rng, step_rng = jax.random.split(make_rng(config))
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"),
                        max_to_keep=tc.get("checkpoints_to_keep", 3))
    state, schedules = init_state(system, config, system.example_batch(_buckets(config)[0]),
                                  init_rng)
    if ckpt.latest_step() is not None:
        state, meta = ckpt.restore(state)
        pipeline.restore(meta["pipeline"])
        logger.info("resumed from step %d", int(state.step))
    start = int(state.step)
    n_gen = count_params(state.generator.params)
    n_disc = count_params(state.discriminator.params) if state.discriminator else 0
    logger.info("generator %d params, discriminator %d params", n_gen, n_disc)

    train_step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    eval_step = dp.wrap(steps.eval_step, static_kwargs={"system": system}, donate_state=False)
    state = dp.replicate(state)
    writer = MetricWriter(workdir, tensorboard=tc.get("tensorboard", True))
    eval_metrics: dict[str, float] = {}
    batch = next(pipeline)
    pending: list = []
    examples_done, t_window = 0, time.perf_counter()
    throughput = float("nan")
    bar = tqdm(total=tc.num_steps, initial=start, desc=f"train {config.system}",
               disable=not progress, dynamic_ncols=True)
    try:
        for step in range(start, tc.num_steps):
            state, metrics = train_step(state, dp.shard(batch), step_rng)
            pending.append(metrics)
            examples_done += global_batch
            next_step = step + 1
            if next_step % tc.log_every == 0 or next_step == tc.num_steps:
                host = [dp.metrics_to_host(m) for m in pending]
                pending.clear()
                scalars = {k: float(np.mean([h[k] for h in host])) for k in host[0]}
                scalars.update({k: float(sum(h[k] for h in host))
                                for k in host[0] if k.startswith("skipped/")})
                dt = time.perf_counter() - t_window
                throughput = examples_done / max(dt, 1e-9)
                scalars["throughput/examples_per_s"] = throughput
                for name, schedule in schedules.items():
                    scalars[f"learning_rate/{name}"] = float(schedule(step))
                writer.write(next_step, scalars, prefix="train/")
                bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in scalars.items()
                                 if k.startswith("loss/")}, refresh=False)
                examples_done, t_window = 0, time.perf_counter()
            if next_step % tc.checkpoint_every == 0 or next_step == tc.num_steps:
                ckpt.save(next_step, dp.unreplicate(state), pipeline_state=pipeline.state(),
                          config=config)
            if next_step % tc.eval_every == 0 or next_step == tc.num_steps:
                eval_metrics = evaluate(system, state, eval_source, config, dp=dp,
                                        eval_step=eval_step, replicated=True,
                                        max_batches=tc.get("max_eval_batches"))
                writer.write(next_step, eval_metrics, prefix="eval/")
                _write_json(os.path.join(workdir, f"eval_{next_step}.json"), eval_metrics)
            bar.update(1)
            if next_step < tc.num_steps:
                batch = next(pipeline)
    finally:
        bar.close()
        writer.close()
        ckpt.close()
        pipeline.close()
    return {"eval": eval_metrics, "throughput_examples_per_s": throughput,
            "generator_params": n_gen, "discriminator_params": n_disc,
            "final_step": int(jax.device_get(dp.unreplicate(state).step)),
            "skipped_records": pipeline.stats}


def _write_json(path: str, payload: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
