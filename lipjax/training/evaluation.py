"""Evaluation: the exact mean of a system's metrics over a split, during training or from a
finished workdir (`lipjax evaluate`), which loads the generator alone."""

from __future__ import annotations

import os
from typing import Any, Sequence

import jax
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from lipjax.data.builders import load_source
from lipjax.data.pipeline import Pipeline, default_workers
from lipjax.files import write_json
from lipjax.training import steps
from lipjax.training.parallel import DataParallel
from lipjax.training.system import System
from lipjax.training.workdir import restore_generator

__all__ = ["evaluate", "evaluate_workdir", "config_buckets", "config_devices", "config_workers"]


def config_buckets(config: ml_collections.ConfigDict) -> list[tuple[int, int]]:
    """`config.data.buckets` as a list of int pairs."""
    return [tuple(int(x) for x in b) for b in config.data.buckets]


def config_workers(config: ml_collections.ConfigDict) -> int:
    """The pipeline's reader threads: `config.data.workers`, or `default_workers()` if unset."""
    return config.data.get("workers") or default_workers()


def config_devices(config: ml_collections.ConfigDict) -> list:
    """The local devices a run uses (`config.train.num_devices` of them; None = all)."""
    n = config.train.get("num_devices")
    devices = jax.local_devices()
    return devices[:n] if n else devices


def evaluate(system: System, variables: Any, source, config: ml_collections.ConfigDict, *,
             dp: DataParallel | None = None, eval_step=None, replicated: bool = False,
             max_batches: int | None = None, progress: bool = False) -> dict[str, float]:
    """Means of `system.evaluate` over a split (exact: sums and counts over all batches).

    Args:
      system: the system whose `evaluate` terms are averaged.
      variables: the generator's variables.
      source: the split (random-access records).
      config: the run's config (`data.eval_batch_size`, buckets, seed, parallelism).
      dp, eval_step, replicated: a training loop passes its `DataParallel`, an `eval_step`
        wrapped once by `dp.wrap` (so periodic evaluations reuse one compilation) and its
        already replicated variables.
      max_batches: stop after this many batches (None = the whole split).
      progress: show a progress bar.
    """
    dp = dp or DataParallel(config.train.parallel, devices=config_devices(config))
    if eval_step is None:
        eval_step = dp.wrap(steps.eval_step, static_kwargs={"system": system},
                            donate_state=False)
    if not replicated:
        variables = dp.replicate(jax.device_get(variables))
    # data.eval_batch_size is global: each process of a multi-process run reads its share.
    pipeline = Pipeline(source, batch_size=config.data.eval_batch_size // jax.process_count(),
                        buckets=config_buckets(config), example_fn=system.example_fn,
                        length_fn=system.length_fn, training=False, num_epochs=1,
                        seed=config.seed, prefetch=config.data.get("prefetch", 2),
                        workers=config_workers(config))
    totals: dict[str, np.ndarray] = {}
    total = pipeline.num_batches(0)
    if max_batches:
        total = min(total, max_batches)
    with pipeline:
        for i, batch in enumerate(tqdm(pipeline, total=total, desc="evaluate",
                                       disable=not progress, leave=False)):
            if max_batches and i >= max_batches:
                break
            sums = dp.metrics_to_host(eval_step(variables, dp.shard(batch)))
            for k, v in sums.items():
                totals[k] = totals.get(k, 0.0) + v
    # A term that counted no item in the whole split (e.g. an exact LMD on pairs whose landmarks
    # are unknown) is left out rather than reported as 0.
    return {k: float(v[0] / v[1]) for k, v in sorted(totals.items()) if v[1] > 0}


def evaluate_workdir(workdir: str | os.PathLike, *, split: str | None = None,
                     overrides: Sequence[str] = (), progress: bool = True) -> dict[str, float]:
    """Metrics of a workdir's latest checkpoint on `split` (default: the config's eval split);
    also written to `workdir/eval_<split>.json`.

    Only the generator's variables are read from the checkpoint.
    """
    restored = restore_generator(workdir, overrides=overrides)
    config = restored.config
    system = restored.system_class.from_config(config)
    split = split or config.data.eval_split
    result = evaluate(system, restored.variables, load_source(config.data, split), config,
                      progress=progress)
    result["step"] = restored.step
    write_json(os.path.join(os.fspath(workdir), f"eval_{split}.json"), result)
    return result
