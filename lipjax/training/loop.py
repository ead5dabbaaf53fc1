"""`train_and_evaluate(config, workdir)`: the training loop shared by every system.

Reads the dataset named in `config.data`, builds the system `config.system` names, maps the
shared steps over devices (`config.train.parallel`: "pmap" or "shard_map"), and runs with a
progress bar, TensorBoard scalars + a JSON-lines log, periodic evaluation and checkpoints. A
workdir that already holds a checkpoint is resumed exactly (state and data position).

Everything that can be wrong with a run (the config, the dataset, a resume with a different
config, an unreadable checkpoint) is found before the workdir is written to. A run whose updates
are all skipped by the non-finite guard stops with a `TrainingDivergedError` after
`train.max_consecutive_skipped` steps in a row instead of "finishing".

Multi-process runs (`lipjax.training.distributed`): every process runs this same loop on its
share of each global batch (`data.batch_size` and `data.eval_batch_size` stay global). The
processes check at start-up that they prepared the same run (config, resume step, a workdir
they all see) and stop together with one error otherwise; orbax writes each checkpoint once;
config.json, metrics, TensorBoard, previews and evaluation JSON are written by process 0 only,
and evaluation results are the same on every process.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from lipjax.data.builders import load_source
from lipjax.data.pipeline import Pipeline
from lipjax.errors import ConfigError, LipjaxError, TrainingDivergedError
from lipjax.files import write_json
from lipjax.training import distributed, steps
from lipjax.training.checkpoint import Checkpointer
from lipjax.training.config import validate_config
from lipjax.training.evaluation import config_buckets, config_devices, config_workers, evaluate
from lipjax.training.metric_writer import MetricWriter
from lipjax.training.previews import PreviewMaker
from lipjax.training.parallel import DataParallel, mesh_devices
from lipjax.training.state import TrainState, count_params, init_state, make_rng
from lipjax.training.system import System, make_system
from lipjax.training.workdir import (
    CONFIG_FILE,
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
    devices = (mesh_devices(config.train.get("num_devices")) if jax.process_count() > 1
               else config_devices(config))
    dp = DataParallel(config.train.parallel, devices=devices,
                      max_traces=len(config.data.buckets))
    per_process = int(config.data.batch_size) // jax.process_count()
    train_source = load_source(config.data, config.data.train_split)
    eval_source = load_source(config.data, config.data.eval_split)
    init_rng, _ = jax.random.split(make_rng(config))
    state, schedules = init_state(system, config, system.example_batch(config_buckets(config)[0]),
                                  init_rng)
    pipeline = Pipeline(train_source, batch_size=per_process, buckets=config_buckets(config),
                        example_fn=system.example_fn, length_fn=system.length_fn,
                        training=True, seed=config.seed, prefetch=config.data.get("prefetch", 2),
                        workers=config_workers(config))
    resumed = has_checkpoint(workdir)
    if resumed:
        check_resume(read_config(workdir), config)
        checkpointer = Checkpointer(checkpoint_dir(workdir), async_save=False, create=False)
        try:
            state, meta = checkpointer.restore(state)
        finally:
            checkpointer.close()
        pipeline.restore(_position_for(meta["pipeline"], pipeline))
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
    distributed.ensure_initialized(config)  # flags, config or launcher; else a no-op
    if jax.process_count() == 1:
        run = _prepare(config, workdir)
        write_config(workdir, config)
    else:
        run = _start_processes(config, workdir)
    try:
        return _train(run, config, workdir, progress=progress)
    except jax.errors.JaxRuntimeError as error:  # a collective whose peer is gone
        if jax.process_count() > 1:
            raise distributed.peer_failure(error, workdir=workdir) from error
        raise
    finally:
        run.pipeline.close()


def _position_for(saved: dict, pipeline: Pipeline) -> dict:
    """A saved pipeline position for this process: the position of a global batch does not
    depend on how many processes share it, so a run may resume with another process count
    (or as another process) as long as the global batch is the same."""
    now = pipeline.state()
    keys = ("batch_size", "process_index", "process_count")
    if not all(k in saved for k in keys):
        return saved
    if saved["batch_size"] * saved["process_count"] == now["batch_size"] * now["process_count"]:
        return {**saved, **{k: now[k] for k in keys}}
    return saved


def _check_process_batches(config: ml_collections.ConfigDict) -> None:
    """Global batch sizes split evenly over the processes and their devices."""
    processes = jax.process_count()
    local = len(jax.local_devices()[:config.train.get("num_devices")])
    for key in ("batch_size", "eval_batch_size"):
        size = int(config.data[key])
        if size % (processes * local):
            raise ConfigError(
                f"data.{key} = {size} is the global batch: it must be a multiple of "
                f"{processes} processes x {local} devices each = {processes * local}")


def _start_processes(config: ml_collections.ConfigDict, workdir: str) -> _Run:
    """`_prepare` in every process of a multi-process run, then two agreements: all prepared
    the same run (or all raise the first process's error), and all see the config.json that
    process 0 writes (one workdir on a shared filesystem)."""
    run, error = None, None
    try:
        _check_process_batches(config)
        run = _prepare(config, workdir)
        status = f"ok step={int(run.state.step)} config={distributed.config_digest(config)}"
    except LipjaxError as failure:
        error, status = failure, f"{type(failure).__name__}: {failure}"
    statuses = distributed.gather_strings(status)
    failed = [(p, s) for p, s in enumerate(statuses) if not s.startswith("ok ")]
    if error is not None:
        raise error
    if failed:
        p, message = failed[0]
        raise distributed.DistributedError(f"process {p} of {len(statuses)} could not start "
                                           f"the run: {message}")
    if len(set(statuses)) > 1:
        raise distributed.DistributedError(
            "the processes prepared different runs (" + "; ".join(
                f"process {p}: {s[3:]}" for p, s in enumerate(statuses)) + "): start every "
            "process with the same command, config and overrides, and one workdir that all "
            "of them see (a shared filesystem)")
    if distributed.is_primary():
        write_config(workdir, config)
    distributed.gather_strings("written")  # a barrier: config.json exists from here on
    seen = distributed.gather_strings(str(os.path.isfile(os.path.join(workdir, CONFIG_FILE))))
    blind = [p for p, s in enumerate(seen) if s != "True"]
    if blind:
        raise distributed.DistributedError(
            f"process(es) {blind} cannot see {os.path.join(workdir, CONFIG_FILE)}, written by "
            "process 0: every process needs the same workdir on a filesystem they all mount "
            "(NFS, Filestore, gcsfuse)")
    return run


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


class _NoWriter:
    """What processes other than 0 write: nothing."""

    def write(self, *args: Any, **kwargs: Any) -> None: ...
    def config(self, *args: Any, **kwargs: Any) -> None: ...
    def close(self) -> None: ...


class _Outputs:
    """The run's outputs on disk and on the terminal, all from process 0 only: metrics and
    TensorBoard, evaluation JSON, previews and the progress bar."""

    def __init__(self, run: _Run, config: ml_collections.ConfigDict, workdir: str, *,
                 start: int, progress: bool):
        tc, self.workdir = config.train, workdir
        self.primary = jax.process_index() == 0
        self.writer = (MetricWriter(workdir, tensorboard=tc.get("tensorboard", True))
                       if self.primary else _NoWriter())
        self.writer.config(config, step=start)
        self.previews = _preview_maker(run, config, workdir) if self.primary else None
        self.bar = tqdm(total=tc.num_steps, initial=start,
                        desc=f"train {type(run.system).__name__}",
                        disable=not progress or not self.primary, dynamic_ncols=True)

    def train_scalars(self, done: int, scalars: dict[str, float], skipped: int) -> None:
        self.writer.write(done, scalars, prefix="train/")
        postfix = {k.split("/")[-1]: f"{v:.3g}" for k, v in scalars.items()
                   if k.startswith("loss/")}
        self.bar.set_postfix({**postfix, "skipped": skipped}, refresh=False)

    def evaluation(self, done: int, metrics: dict[str, float], variables: Callable[[], Any]
                   ) -> None:
        self.writer.write(done, metrics, prefix="eval/")
        if self.primary:
            write_json(os.path.join(self.workdir, f"eval_{done}.json"), metrics)
        if self.previews is not None:
            self.previews.write(self.writer, done, variables())

    def close(self) -> None:
        self.bar.close()
        self.writer.close()


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
    out = _Outputs(run, config, workdir, start=start, progress=progress)
    eval_metrics: dict[str, float] = {}
    pending: list = []
    examples, t_window, throughput = 0, time.perf_counter(), float("nan")
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
                out.train_scalars(done, _log_window(host, run.schedules, step, throughput),
                                  skips.total)
                examples, t_window = 0, time.perf_counter()
            if done % tc.checkpoint_every == 0 or last:
                _save(ckpt, done, dp.unreplicate(state), run.pipeline, config)
            if done % tc.eval_every == 0 or last:
                eval_metrics = evaluate(system, state.generator.variables, run.eval_source,
                                        config, dp=dp, eval_step=eval_step, replicated=True,
                                        max_batches=tc.get("max_eval_batches"))
                out.evaluation(done, eval_metrics,
                               lambda: dp.unreplicate(state).generator.variables)
            out.bar.update(1)
            if not last:
                batch = next(run.pipeline)
    finally:
        out.close()
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
    makes them and `train.previews` (default True) allows. The example is the first of the
    whole split, in a multi-process run too (process 0 makes the previews)."""
    if not config.train.get("previews", True) or not hasattr(run.system, "preview"):
        return None
    pipeline = Pipeline(run.eval_source, batch_size=int(config.data.eval_batch_size),
                        buckets=config_buckets(config), example_fn=run.system.example_fn,
                        length_fn=run.system.length_fn, training=False, num_epochs=1,
                        seed=config.seed, prefetch=0, process_index=0, process_count=1)
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
