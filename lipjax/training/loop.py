"""`train_and_evaluate(config, workdir)`: the training loop shared by every system.

Reads the dataset named in `config.data`, builds the system `config.system` names, maps the
shared steps over devices (`config.train.parallel`: "pmap" or "shard_map"), and runs with a
progress bar, TensorBoard scalars + a JSON-lines log, periodic evaluation and checkpoints. A
workdir that already holds a checkpoint is resumed exactly (state and data position).

Everything that can be wrong with a run (the config, the dataset, a resume with a different
config, an unreadable checkpoint) is found before the workdir is written to. A run whose updates
are all skipped by the non-finite guard stops with a `TrainingDivergedError` after
`train.max_consecutive_skipped` steps in a row instead of "finishing".
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from lipjax.data.builders import load_source
from lipjax.data.pipeline import Pipeline
from lipjax.errors import TrainingDivergedError
from lipjax.files import write_json
from lipjax.training import steps
from lipjax.training.checkpoint import Checkpointer
from lipjax.training.config import validate_config
from lipjax.training.evaluation import config_buckets, config_devices, evaluate
from lipjax.training.metric_writer import MetricWriter
from lipjax.training.previews import PreviewMaker
from lipjax.training.parallel import DataParallel
from lipjax.training.state import TrainState, count_params, init_state, make_rng
from lipjax.training.system import System, make_system
from lipjax.training.workdir import (
    check_resume,
    checkpoint_dir,
    has_checkpoint,
    read_config,
    write_config,
)

__all__ = ["train_and_evaluate", "DEFAULT_MAX_CONSECUTIVE_SKIPPED"]

logger = logging.getLogger(__name__)
# Consecutive skipped (non-finite) generator updates after which a run stops with an error.
DEFAULT_MAX_CONSECUTIVE_SKIPPED = 20


@dataclasses.dataclass
class _Run:
    """Everything a run needs, prepared (and checked) before the workdir is touched."""

    system: System
    dp: DataParallel
    pipeline: Pipeline
    eval_source: Any
    state: TrainState
    schedules: dict
    resumed: bool


def _prepare(config: ml_collections.ConfigDict, workdir: str) -> _Run:
    system = make_system(config)
    dp = DataParallel(config.train.parallel, devices=config_devices(config),
                      max_traces=len(config.data.buckets))
    per_process = int(config.data.batch_size) // jax.process_count()
    train_source = load_source(config.data, config.data.train_split)
    eval_source = load_source(config.data, config.data.eval_split)
    init_rng, _ = jax.random.split(make_rng(config))
    state, schedules = init_state(system, config, system.example_batch(config_buckets(config)[0]),
                                  init_rng)
    pipeline = Pipeline(train_source, batch_size=per_process, buckets=config_buckets(config),
                        example_fn=system.example_fn, length_fn=system.length_fn,
                        training=True, seed=config.seed, prefetch=config.data.get("prefetch", 2))
    resumed = has_checkpoint(workdir)
    if resumed:
        check_resume(read_config(workdir), config)
        checkpointer = Checkpointer(checkpoint_dir(workdir), async_save=False, create=False)
        try:
            state, meta = checkpointer.restore(state)
        finally:
            checkpointer.close()
        pipeline.restore(meta["pipeline"])
        logger.info("resuming from step %d", int(state.step))
    return _Run(system, dp, pipeline, eval_source, state, schedules, resumed)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
                       progress: bool = True) -> dict[str, Any]:
    """Trains `config.system` on `config.data` for `config.train.num_steps` steps.

    Writes to `workdir`: checkpoints/ (orbax), tensorboard/, metrics.jsonl, config.json and
    eval_<step>.json. Returns the last evaluation metrics, the training throughput, parameter
    counts, the final step and the numbers of skipped updates and records.

    Raises:
      ConfigError: a bad config, or a resume with a config that differs from the saved one.
      DataError: the dataset is missing. CheckpointError: an unreadable checkpoint.
      TrainingDivergedError: too many consecutive non-finite updates (nothing non-finite is
        ever saved).
    """
    workdir = os.fspath(workdir)
    validate_config(config)
    run = _prepare(config, workdir)
    write_config(workdir, config)
    try:
        return _train(run, config, workdir, progress=progress)
    finally:
        run.pipeline.close()


def _log_window(host: list[dict], schedules: dict, step: int, throughput: float
                ) -> dict[str, float]:
    scalars = {k: float(np.mean([h[k] for h in host])) for k in host[0]}
    scalars.update({k: float(sum(h[k] for h in host)) for k in host[0] if k.startswith("skipped/")})
    scalars["throughput/examples_per_s"] = throughput
    for name, schedule in schedules.items():
        scalars[f"learning_rate/{name}"] = float(schedule(step))
    return scalars


class _SkipCounter:
    """Counts skipped generator updates and stops a run that no longer updates at all."""

    def __init__(self, limit: int):
        self.limit, self.total, self.consecutive = limit, 0, 0

    def add(self, host_metrics: list[dict], step: int) -> None:
        for metrics in host_metrics:
            skipped = bool(metrics.get("skipped/generator", 0.0) > 0)
            self.total += skipped
            self.consecutive = self.consecutive + 1 if skipped else 0
            if self.consecutive >= self.limit:
                raise TrainingDivergedError(
                    f"{self.consecutive} consecutive training steps (up to step {step}) had "
                    "non-finite losses, gradients or updated parameters and were skipped; the "
                    "last checkpoint holds the last finite state. Lower the learning rate, "
                    "check the data, or raise train.max_consecutive_skipped.")


def _train(run: _Run, config: ml_collections.ConfigDict, workdir: str, *,
           progress: bool) -> dict[str, Any]:
    tc, dp, system = config.train, run.dp, run.system
    _, step_rng = jax.random.split(make_rng(config))
    start = int(run.state.step)
    n_gen = count_params(run.state.generator.params)
    n_disc = count_params(run.state.discriminator.params) if run.state.discriminator else 0
    train_step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    eval_step = dp.wrap(steps.eval_step, static_kwargs={"system": system}, donate_state=False)
    state = dp.replicate(run.state)
    skips = _SkipCounter(int(tc.get("max_consecutive_skipped") or DEFAULT_MAX_CONSECUTIVE_SKIPPED))
    ckpt = Checkpointer(checkpoint_dir(workdir), max_to_keep=tc.get("checkpoints_to_keep", 3))
    writer = MetricWriter(workdir, tensorboard=tc.get("tensorboard", True))
    writer.config(config, step=start)
    previews = _preview_maker(run, config, workdir)
    eval_metrics: dict[str, float] = {}
    pending: list = []
    examples, t_window, throughput = 0, time.perf_counter(), float("nan")
    bar = tqdm(total=tc.num_steps, initial=start, desc=f"train {type(system).__name__}",
               disable=not progress, dynamic_ncols=True)
    try:
        batch = next(run.pipeline) if start < tc.num_steps else None
        for step in range(start, tc.num_steps):
            state, metrics = train_step(state, dp.shard(batch), step_rng)
            pending.append(metrics)
            examples += int(config.data.batch_size)
            done = step + 1
            last = done == tc.num_steps
            if done % tc.log_every == 0 or done % tc.checkpoint_every == 0 or last:
                host = [dp.metrics_to_host(m) for m in pending]
                pending.clear()
                skips.add(host, done)
                throughput = examples / max(time.perf_counter() - t_window, 1e-9)
                scalars = _log_window(host, run.schedules, step, throughput)
                writer.write(done, scalars, prefix="train/")
                postfix = {k.split("/")[-1]: f"{v:.3g}" for k, v in scalars.items()
                           if k.startswith("loss/")}
                bar.set_postfix({**postfix, "skipped": skips.total}, refresh=False)
                examples, t_window = 0, time.perf_counter()
            if done % tc.checkpoint_every == 0 or last:
                _save(ckpt, done, dp.unreplicate(state), run.pipeline, config)
            if done % tc.eval_every == 0 or last:
                eval_metrics = evaluate(system, state.generator.variables, run.eval_source,
                                        config, dp=dp, eval_step=eval_step, replicated=True,
                                        max_batches=tc.get("max_eval_batches"))
                writer.write(done, eval_metrics, prefix="eval/")
                write_json(os.path.join(workdir, f"eval_{done}.json"), eval_metrics)
                if previews is not None:
                    previews.write(writer, done, dp.unreplicate(state).generator.variables)
            bar.update(1)
            if not last:
                batch = next(run.pipeline)
    finally:
        bar.close()
        writer.close()
        ckpt.close()
    if skips.total:
        logger.warning("%d of %d training steps were skipped (non-finite updates)", skips.total,
                       tc.num_steps - start)
    return {"eval": eval_metrics, "throughput_examples_per_s": throughput,
            "generator_params": n_gen, "discriminator_params": n_disc,
            "final_step": int(jax.device_get(dp.unreplicate(state).step)),
            "skipped_steps": skips.total, "skipped_records": run.pipeline.stats}


def _preview_maker(run: _Run, config: ml_collections.ConfigDict, workdir: str
                   ) -> PreviewMaker | None:
    """Previews of the first evaluation example (`lipjax.training.previews`), when the system
    makes them and `train.previews` (default True) allows."""
    if not config.train.get("previews", True) or not hasattr(run.system, "preview"):
        return None
    pipeline = Pipeline(run.eval_source, batch_size=int(config.data.eval_batch_size),
                        buckets=config_buckets(config), example_fn=run.system.example_fn,
                        length_fn=run.system.length_fn, training=False, num_epochs=1,
                        seed=config.seed, prefetch=0)
    with pipeline:
        batch = next(pipeline, None)
    return None if batch is None else PreviewMaker(run.system, batch, workdir)


def _save(ckpt: Checkpointer, step: int, state: TrainState, pipeline: Pipeline,
          config: ml_collections.ConfigDict) -> None:
    """Saves a checkpoint, never a non-finite one (the step guard keeps the state finite; this
    is the last line of defence)."""
    state = jax.device_get(state)
    floats = [np.asarray(x) for x in jax.tree.leaves(state)]
    if not all(np.all(np.isfinite(x)) for x in floats if np.issubdtype(x.dtype, np.inexact)):
        raise TrainingDivergedError(f"the training state at step {step} is not finite; it was "
                                    "not saved (the previous checkpoint is the last good one)")
    ckpt.save(step, state, pipeline_state=pipeline.state(), config=config)
