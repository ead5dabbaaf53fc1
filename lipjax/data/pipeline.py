"""Input pipeline: length-bucketed, sharded, resumable batches from a random-access data source.

A *data source* is anything with `len(source)` and `source[i] -> dict of NumPy arrays` (a tfds
`as_data_source()` split, or a plain list of dicts). The pipeline turns it into dict batches of
padded NumPy arrays with masks, every batch padded to one bucket `(max_tokens, max_frames)` from
a small fixed set, so that jitted steps see few distinct shapes (and compile once per bucket).

How an epoch is laid out, entirely from (seed, epoch) and the records' lengths:

1. Once, at construction, every record is read and measured by `length_fn` (its number of tokens
   and frames); malformed records are found here, counted, warned about and skipped; records
   longer than the largest bucket are counted, warned about and skipped.
2. Each epoch the usable indices are permuted by `np.random.default_rng([seed, epoch])` and
   walked in that order, each going to the smallest bucket it fits; a bucket that has collected
   a *global* batch (`batch_size * process_count` examples) emits it. At the end of an epoch
   partial buckets are dropped (training) or padded with empty slots (evaluation).
3. Process p takes slots [p * batch_size, (p + 1) * batch_size) of every global batch: the
   rows of the global batch that its devices hold, so that the global array assembled from
   the processes' shards (process by process, as `lipjax.training.parallel` places them) is
   the batch one process would have made. All processes therefore step through the same
   number of batches with the same bucket at every step (what multi-host SPMD needs), and
   their shards are disjoint with the epoch as their union.
4. Per-example randomness (the identity frame in training) comes from
   `np.random.default_rng([seed, epoch, index])`, never from consumption order.

So the position in the stream is just `(epoch, batch)`; `state()` returns it (plus the settings
it depends on, checked on restore) as a small JSON-able dict to save with a checkpoint.

The per-example transform is pluggable: `example_fn(record, *, max_tokens, max_frames, rng,
training) -> dict of arrays padded to the bucket` and `length_fn(record) -> (num_tokens,
num_frames)`. `lips_example` / `lips_lengths` serve ParaLip; a paired talking-face transform
plugs in the same way.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from lipjax.data.batcher import Batcher
from lipjax.data.buckets import (
    DataSource,
    ExampleFn,
    LengthFn,
    assign_buckets,
    checked_lengths,
    choose_bucket,
    measure_lengths,
    sorted_buckets,
    warn_skipped,
)
from lipjax.data.lips import lips_example, lips_lengths
from lipjax.data.prefetch import Prefetcher, Synchronous
from lipjax.errors import ConfigError

__all__ = ["Pipeline", "DataSource", "ExampleFn", "LengthFn", "choose_bucket",
           "measure_lengths", "default_workers"]

_STATE_VERSION = 1


def default_workers(limit: int = 4) -> int:
    """Reader threads when a config leaves `data.workers` unset.

    With an accelerator the step leaves the CPUs to the input pipeline: the CPUs this process
    may use, at most `limit`. On the CPU backend the step already uses every core, so one
    reader (the prefetch thread's) overlaps the step without taking cores from it; measured on
    2 cores, two readers made DCK's reading 1.8-3.3x faster alone but its training loop slower.
    """
    import jax

    if jax.default_backend() == "cpu":
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(limit, cpus))


class Pipeline:
    """Iterator of padded, bucketed dict batches over a random-access data source.

    Usage:
      pipeline = Pipeline(source, batch_size=4, buckets=[(32, 75)], seed=0)
      for batch in pipeline: ...            # infinite in training (num_epochs=None)
      saved = pipeline.state()              # JSON-able; store it with the checkpoint
      Pipeline(source, ..., state=saved)    # continues with exactly the next batch

    Every batch holds the arrays of `example_fn` stacked along a new leading axis `[B, ...]`
    (for `lips_example`: tokens, token_mask, durations, frames, frame_mask, landmarks, identity,
    num_tokens, num_frames, speaker), plus example_mask bool `[B]` (False on padding slots of an
    evaluation batch and on records that failed in the transform) and index int32 `[B]` (source
    index, -1 on padding).

    Args:
      source: `len(source)`, `source[i] -> dict of arrays`.
      batch_size: examples per batch *per process*.
      buckets: (max_tokens, max_frames) pairs; each batch is padded to one of them.
      example_fn: record -> padded arrays, see `lips_example`.
      length_fn: record -> (num_tokens, num_frames), raising BadRecordError; see `lips_lengths`.
      training: random identity frame, shuffling and dropping the remainder by default.
      seed: all randomness derives from (seed, epoch, example index).
      shuffle: permute each epoch; default `training`.
      drop_remainder: drop partial batches at the end of an epoch; default `training`. Otherwise
        they are padded with empty slots (example_mask False).
      num_epochs: stop after this many epochs; None = forever.
      process_index, process_count: this process's shard; default `jax.process_index()` and
        `jax.process_count()`.
      prefetch: batches prepared ahead in a background thread; 0 = no thread.
      workers: threads that read and transform the examples of one batch in parallel (1 = in
        the calling or prefetch thread). Batches do not depend on it.
      lengths: precomputed `measure_lengths(...)[0]`, to skip the measuring pass.
      progress: show a progress bar while measuring the records.
      state: a `state()` to resume from.
    """

    def __init__(
        self,
        source: DataSource,
        *,
        batch_size: int,
        buckets: Sequence[tuple[int, int]],
        example_fn: ExampleFn = lips_example,
        length_fn: LengthFn = lips_lengths,
        training: bool = True,
        seed: int = 0,
        shuffle: bool | None = None,
        drop_remainder: bool | None = None,
        num_epochs: int | None = None,
        process_index: int | None = None,
        process_count: int | None = None,
        prefetch: int = 2,
        workers: int = 1,
        lengths: np.ndarray | None = None,
        progress: bool = False,
        state: Mapping[str, Any] | None = None,
    ):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        if prefetch < 0:
            raise ConfigError(f"prefetch must be >= 0, got {prefetch}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be an int >= 1, got {workers!r}")
        if num_epochs is not None and num_epochs < 0:
            raise ConfigError(f"num_epochs must be >= 0 or None, got {num_epochs}")
        if process_index is None or process_count is None:
            import jax

            process_index = jax.process_index() if process_index is None else process_index
            process_count = jax.process_count() if process_count is None else process_count
        if not 0 <= process_index < process_count:
            raise ConfigError(
                f"process_index must be in [0, {process_count}), got {process_index}"
            )
        self._buckets = sorted_buckets(buckets)
        training = bool(training)
        self._settings_dict = {
            "seed": int(seed),
            "batch_size": batch_size,
            "buckets": [list(b) for b in self._buckets],
            "shuffle": training if shuffle is None else bool(shuffle),
            "drop_remainder": training if drop_remainder is None else bool(drop_remainder),
            "training": training,
            "process_index": int(process_index),
            "process_count": int(process_count),
            "num_records": len(source),
        }
        self._prefetch = int(prefetch)
        self._producer: Prefetcher | Synchronous | None = None

        lengths, bad = checked_lengths(source, lengths, length_fn, progress)
        bucket_of, too_long = assign_buckets(lengths, self._buckets)
        stats = {
            "records": len(source),
            "usable": int((bucket_of >= 0).sum()),
            "bad_records": len(bad),
            "too_long": len(too_long),
            "failed_in_transform": 0,
        }
        settings = self._settings_dict
        self._batcher = Batcher(
            source=source,
            batch_size=batch_size,
            buckets=self._buckets,
            bucket_of=bucket_of,
            example_fn=example_fn,
            training=training,
            seed=settings["seed"],
            shuffle=settings["shuffle"],
            drop_remainder=settings["drop_remainder"],
            num_epochs=num_epochs,
            process_index=settings["process_index"],
            process_count=settings["process_count"],
            stats=stats,
            workers=workers,
        )
        warn_skipped(bad, too_long, lengths, self._buckets)
        self._epoch, self._batch = 0, 0
        if state is not None:
            self.restore(state)

    # -- introspection ---------------------------------------------------------------------

    @property
    def buckets(self) -> tuple[tuple[int, int], ...]:
        """The buckets, smallest first; batches carry shapes from this tuple."""
        return self._buckets

    @property
    def stats(self) -> dict[str, int]:
        """Counters: records, usable, bad_records, too_long, failed_in_transform."""
        with self._batcher.stats_lock:
            return dict(self._batcher.stats)

    def num_batches(self, epoch: int = 0) -> int:
        """Number of batches (the same on every process) in `epoch`."""
        return len(self._batcher.epoch_plan(epoch))

    # -- iteration and state ---------------------------------------------------------------

    def __iter__(self) -> "Pipeline":
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._producer is None:
            iterator = self._batcher.generate(self._epoch, self._batch)
            self._producer = (
                Prefetcher(iterator, self._prefetch) if self._prefetch else Synchronous(iterator)
            )
        try:
            arrays, (self._epoch, self._batch) = self._producer.get()
        except BaseException:  # end of data or a producer error: stop the thread, re-raise
            self.close()
            raise
        return arrays

    def _settings(self) -> dict[str, Any]:
        return dict(self._settings_dict)

    def state(self) -> dict[str, Any]:
        """Position after the last batch handed out, as a small JSON-able dict."""
        position = {"epoch": self._epoch, "batch": self._batch}
        return {"version": _STATE_VERSION, **position, **self._settings()}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continues from `state` (from `state()` of a pipeline with the same settings).

        Raises:
          ConfigError: the state was saved with different settings or is malformed.
        """
        if state.get("version") != _STATE_VERSION or "epoch" not in state or "batch" not in state:
            raise ConfigError(f"not a pipeline state (version {_STATE_VERSION}): {dict(state)!r}")
        differing = {
            key: (state.get(key), value)
            for key, value in self._settings().items()
            if state.get(key) != value
        }
        if differing:
            shown = ", ".join(f"{k}: saved {s!r}, now {n!r}" for k, (s, n) in differing.items())
            raise ConfigError(
                f"the pipeline state was saved with different settings ({shown}); resume with "
                "the same data and pipeline settings, or start without a state"
            )
        self.close()
        self._epoch, self._batch = int(state["epoch"]), int(state["batch"])

    def close(self) -> None:
        """Stops the prefetch and worker threads (iteration can continue later from `state()`)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close()
        self._batcher.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
