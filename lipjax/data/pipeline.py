"""Input pipeline: length-bucketed, sharded, resumable batches from a random-access data source.

A *data source* is anything with `len(source)` and `source[i] -> dict of NumPy arrays` (a tfds
`as_data_source()` split, or a plain list of dicts). The pipeline turns it into dict batches of
padded NumPy arrays with masks, every batch padded to one bucket `(max_tokens, max_frames)` from
a small fixed set, so that jitted steps see few distinct shapes (DESIGN.md, "Static shapes").

How an epoch is laid out, entirely from (seed, epoch) and the records' lengths:

1. Once, at construction, every record is read and measured by `length_fn` (its number of tokens
   and frames); malformed records are found here, counted, warned about and skipped; records
   longer than the largest bucket are counted, warned about and skipped.
2. Each epoch the usable indices are permuted by `np.random.default_rng([seed, epoch])` and
   walked in that order, each going to the smallest bucket it fits; a bucket that has collected
   a *global* batch (`batch_size * process_count` examples) emits it. At the end of an epoch
   partial buckets are dropped (training) or padded with empty slots (evaluation).
3. Process p takes slots p, p + P, p + 2P, ... of every global batch. All processes therefore
   step through the same number of batches with the same bucket at every step (what multi-host
   SPMD needs), and their shards are disjoint with the epoch as their union.
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

import logging
import queue
import threading
import warnings
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np

from lipjax.errors import ConfigError, DataError

__all__ = [
    "BadRecordError",
    "DataSource",
    "ExampleFn",
    "LengthFn",
    "Pipeline",
    "choose_bucket",
    "lips_example",
    "lips_lengths",
    "measure_lengths",
]

logger = logging.getLogger(__name__)

_STATE_VERSION = 1


class BadRecordError(DataError):
    """A record is malformed (missing field, zero frames, inconsistent shapes or durations)."""


class DataSource(Protocol):
    """Random access to examples: what `tfds` `as_data_source()` returns, or a list of dicts."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Mapping[str, Any]: ...


LengthFn = Callable[[Mapping[str, Any]], tuple[int, int]]
# What a malformed record makes a length or example function raise; other exceptions (TypeError
# from a wrong signature, RuntimeError, ...) are bugs and propagate.
_RECORD_ERRORS = (BadRecordError, ValueError, KeyError, IndexError)
ExampleFn = Callable[..., dict[str, np.ndarray]]


# ----------------------------------------------------------------------------------------------
# The ParaLip (lips) example: validation and transform.


def _field(record: Mapping[str, Any], key: str) -> np.ndarray:
    try:
        return np.asarray(record[key])
    except KeyError:
        raise BadRecordError(f"record has no field {key!r} (fields: {sorted(record)})") from None


def lips_lengths(record: Mapping[str, Any]) -> tuple[int, int]:
    """Validates a lips record and returns `(num_tokens, num_frames)`.

    A lips record has frames `[T, H, W, 3]`, tokens `[S]`, durations `[S]` with
    `sum(durations) == T` (every frame belongs to one token; ParaLip Sec. 3.1) and landmarks
    `[T, K, 2]`.

    Raises:
      BadRecordError: naming what is inconsistent.
    """
    frames, tokens = _field(record, "frames"), _field(record, "tokens")
    durations, landmarks = _field(record, "durations"), _field(record, "landmarks")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise BadRecordError(f"frames must be [T, H, W, 3], got shape {frames.shape}")
    num_frames = frames.shape[0]
    if num_frames == 0:
        raise BadRecordError("the video has zero frames")
    if tokens.ndim != 1 or tokens.shape[0] == 0:
        raise BadRecordError(f"tokens must be a non-empty [S] vector, got shape {tokens.shape}")
    if durations.shape != tokens.shape:
        raise BadRecordError(
            f"durations {durations.shape} and tokens {tokens.shape} have different shapes"
        )
    if np.any(durations < 0) or int(durations.sum()) != num_frames:
        raise BadRecordError(
            f"durations sum to {int(durations.sum())} (min {int(durations.min())}) but the "
            f"video has {num_frames} frames"
        )
    if landmarks.ndim != 3 or landmarks.shape[0] != num_frames or landmarks.shape[-1] != 2:
        raise BadRecordError(
            f"landmarks must be [{num_frames}, K, 2] to match the frames, got {landmarks.shape}"
        )
    return int(tokens.shape[0]), int(num_frames)


def _pad_to(array: np.ndarray, length: int, dtype: Any) -> np.ndarray:
    """Zero-pads (or never truncates) axis 0 of `array` to `length`."""
    out = np.zeros((length,) + array.shape[1:], dtype)
    out[: array.shape[0]] = array
    return out


def _to_unit_float(frames: np.ndarray) -> np.ndarray:
    """uint8 in [0, 255] (file I/O) -> float32 in [0, 1] (the public API)."""
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / np.float32(255.0)
    return frames.astype(np.float32)


def lips_example(
    record: Mapping[str, Any],
    *,
    max_tokens: int,
    max_frames: int,
    rng: np.random.Generator,
    training: bool,
) -> dict[str, np.ndarray]:
    """One lips record -> arrays padded to the bucket `(max_tokens, max_frames)`.

    ParaLip (AAAI 2022, Sec. 4.1): the identity image is a random frame of the target video in
    training and the first frame at inference.

    Returns:
      tokens int32 `[S]` (0 = padding), token_mask bool `[S]`, durations int32 `[S]`,
      frames float32 `[T, H, W, 3]` in [0, 1], frame_mask bool `[T]`, landmarks float32
      `[T, K, 2]`, identity float32 `[H, W, 3]`, num_tokens int32 `[]`, num_frames int32 `[]`,
      and speaker int32 `[]` when the record has one; S = max_tokens, T = max_frames.

    Raises:
      BadRecordError: the record is malformed or longer than the bucket.
    """
    num_tokens, num_frames = lips_lengths(record)
    if num_tokens > max_tokens or num_frames > max_frames:
        raise BadRecordError(
            f"record of {num_tokens} tokens / {num_frames} frames does not fit the bucket "
            f"({max_tokens}, {max_frames})"
        )
    frames = _to_unit_float(_field(record, "frames"))
    identity_frame = int(rng.integers(num_frames)) if training else 0
    example = {
        "tokens": _pad_to(_field(record, "tokens"), max_tokens, np.int32),
        "token_mask": np.arange(max_tokens) < num_tokens,
        "durations": _pad_to(_field(record, "durations"), max_tokens, np.int32),
        "frames": _pad_to(frames, max_frames, np.float32),
        "frame_mask": np.arange(max_frames) < num_frames,
        "landmarks": _pad_to(_field(record, "landmarks"), max_frames, np.float32),
        "identity": frames[identity_frame],
        "num_tokens": np.int32(num_tokens),
        "num_frames": np.int32(num_frames),
    }
    if "speaker" in record:
        example["speaker"] = np.asarray(record["speaker"], np.int32)
    return example


# ----------------------------------------------------------------------------------------------
# Buckets and lengths.


def _sorted_buckets(buckets: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Validates buckets and sorts them from smallest: by max_frames, then max_tokens."""
    try:
        pairs = {(int(t), int(f)) for t, f in buckets}
    except (TypeError, ValueError):
        raise ConfigError(
            f"buckets must be (max_tokens, max_frames) pairs, got {buckets!r}"
        ) from None
    if not pairs or any(t <= 0 or f <= 0 for t, f in pairs):
        raise ConfigError(
            f"buckets must be non-empty positive (max_tokens, max_frames) pairs, got {buckets!r}"
        )
    return tuple(sorted(pairs, key=lambda tf: (tf[1], tf[0])))


def choose_bucket(
    num_tokens: int, num_frames: int, buckets: Sequence[tuple[int, int]]
) -> int | None:
    """Index into `buckets` of the smallest one that fits, or None if none does.

    "Smallest" orders buckets by max_frames (frames dominate memory and compute), then by
    max_tokens; among fitting buckets the first in that order wins.
    """
    fitting = [
        (f, t, i) for i, (t, f) in enumerate(buckets) if num_tokens <= t and num_frames <= f
    ]
    return min(fitting)[2] if fitting else None


def measure_lengths(
    source: DataSource,
    *,
    length_fn: LengthFn = lips_lengths,
    progress: bool = False,
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Reads every record once and measures it.

    Returns:
      lengths: int64 `[N, 2]` of (num_tokens, num_frames), -1 rows for bad records;
      bad: `(index, reason)` of every record that could not be read or failed validation.
    """
    from tqdm.auto import tqdm

    lengths = np.full((len(source), 2), -1, np.int64)
    bad: list[tuple[int, str]] = []
    for index in tqdm(range(len(source)), desc="measuring records", disable=not progress):
        try:
            record = source[index]
        except Exception as error:  # a corrupt record can fail in any decoder; skip it
            bad.append((index, f"unreadable: {type(error).__name__}: {error}"))
            continue
        try:
            lengths[index] = length_fn(record)
        except _RECORD_ERRORS as error:
            bad.append((index, str(error)))
    return lengths, bad


# ----------------------------------------------------------------------------------------------
# Background prefetch.


class _Prefetcher:
    """Runs an iterator in a daemon thread, handing items over through a bounded queue.

    The producer's exception is re-raised in the consumer; `close()` stops the thread promptly.
    """

    _ITEM, _END, _ERROR = range(3)

    def __init__(self, iterator: Iterator[Any], depth: int):
        self._iterator = iterator
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lipjax-prefetch", daemon=True)
        self._thread.start()

    def _put(self, message: tuple[int, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._iterator:
                if not self._put((self._ITEM, item)):
                    return
            self._put((self._END, None))
        except BaseException as error:  # handed to the consumer, who re-raises it
            self._put((self._ERROR, error))

    def get(self) -> Any:
        kind, payload = self._queue.get()
        if kind == self._ERROR:
            raise payload
        if kind == self._END:
            raise StopIteration
        return payload

    def close(self) -> None:
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()


class _Synchronous:
    """Same interface as `_Prefetcher`, without a thread (prefetch=0)."""

    def __init__(self, iterator: Iterator[Any]):
        self._iterator = iterator

    def get(self) -> Any:
        return next(self._iterator)

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------
# The pipeline.


class _Batcher:
    """Everything that lays out and assembles batches, minus the position in the stream.

    The prefetch thread holds this object, not the `Pipeline`, so that a pipeline dropped
    without `close()` is still garbage collected and its `__del__` stops the thread.
    """

    def __init__(
        self,
        *,
        source: DataSource,
        batch_size: int,
        buckets: tuple[tuple[int, int], ...],
        bucket_of: np.ndarray,
        example_fn: ExampleFn,
        training: bool,
        seed: int,
        shuffle: bool,
        drop_remainder: bool,
        num_epochs: int | None,
        process_index: int,
        process_count: int,
        stats: dict[str, int],
    ):
        self._source = source
        self._batch_size = batch_size
        self._buckets = buckets
        self._bucket_of = bucket_of
        self._example_fn = example_fn
        self._training = training
        self._seed = seed
        self._shuffle = shuffle
        self._drop_remainder = drop_remainder
        self._num_epochs = num_epochs
        self._process_index = process_index
        self._process_count = process_count
        self.stats = stats
        self.stats_lock = threading.Lock()
        self._templates: dict[int, dict[str, np.ndarray]] = {}
        self._plan_cache: tuple[int, list[tuple[int, np.ndarray]]] | None = None

    def epoch_plan(self, epoch: int) -> list[tuple[int, np.ndarray]]:
        """[(bucket, global indices [batch_size * process_count], -1 = empty slot)] of an epoch."""
        if self._plan_cache is not None and self._plan_cache[0] == epoch:
            return self._plan_cache[1]
        usable = np.flatnonzero(self._bucket_of >= 0)
        if self._shuffle:
            order = np.random.default_rng([self._seed, epoch]).permutation(usable)
        else:
            order = usable
        global_batch = self._batch_size * self._process_count
        pending: list[list[int]] = [[] for _ in self._buckets]
        plan = []
        for index in order:
            bucket = int(self._bucket_of[index])
            pending[bucket].append(int(index))
            if len(pending[bucket]) == global_batch:
                plan.append((bucket, np.asarray(pending[bucket], np.int64)))
                pending[bucket] = []
        if not self._drop_remainder:
            for bucket, rest in enumerate(pending):
                if rest:
                    padded = np.full(global_batch, -1, np.int64)
                    padded[: len(rest)] = rest
                    plan.append((bucket, padded))
        self._plan_cache = (epoch, plan)
        return plan

    def _count_failure(self, index: int, reason: str) -> None:
        with self.stats_lock:
            self.stats["failed_in_transform"] += 1
        logger.warning("skipping record %d: %s", index, reason)
        warnings.warn(f"skipping record {index} that failed in the transform: {reason}")

    def _transform(self, epoch: int, bucket: int, index: int) -> dict[str, np.ndarray] | None:
        max_tokens, max_frames = self._buckets[bucket]
        try:
            record = self._source[index]
        except Exception as error:  # a corrupt record can fail in any decoder; skip it
            self._count_failure(index, f"unreadable: {type(error).__name__}: {error}")
            return None
        try:
            return self._example_fn(
                record,
                max_tokens=max_tokens,
                max_frames=max_frames,
                rng=np.random.default_rng([self._seed, epoch, index]),
                training=self._training,
            )
        except _RECORD_ERRORS as error:
            self._count_failure(index, str(error))
            return None

    def _assemble(
        self, epoch: int, bucket: int, global_indices: np.ndarray
    ) -> dict[str, np.ndarray]:
        local = global_indices[self._process_index :: self._process_count]
        examples = [self._transform(epoch, bucket, int(i)) if i >= 0 else None for i in local]
        template = next((e for e in examples if e is not None), None)
        if template is None:
            template = self._templates.get(bucket)
        for index in global_indices:  # an all-empty shard still needs the bucket's shapes
            if template is not None:
                break
            if index >= 0 and index not in local:
                template = self._transform(epoch, bucket, int(index))
        if template is None:
            raise DataError(
                f"no record of a batch in bucket {self._buckets[bucket]} could be read "
                f"(indices {global_indices.tolist()}); the dataset looks corrupt, rebuild it"
            )
        self._templates.setdefault(bucket, template)
        def layout(example: dict[str, np.ndarray]) -> dict[str, tuple]:
            return {key: (value.shape, value.dtype) for key, value in example.items()}

        expected = layout(template)
        for slot, example in enumerate(examples):
            if example is not None and layout(example) != expected:
                self._count_failure(
                    int(local[slot]),
                    f"arrays {layout(example)} differ from the batch's {expected}",
                )
                examples[slot] = None
        valid = np.asarray([e is not None for e in examples])
        batch = {
            key: np.stack([e[key] if e is not None else np.zeros_like(value) for e in examples])
            for key, value in template.items()
        }
        batch["example_mask"] = valid
        batch["index"] = np.where(valid, local, -1).astype(np.int32)
        return batch

    def generate(
        self, epoch: int, batch: int
    ) -> Iterator[tuple[dict[str, np.ndarray], tuple[int, int]]]:
        """Yields (batch, position after it) from position (epoch, batch) on."""
        while self._num_epochs is None or epoch < self._num_epochs:
            plan = self.epoch_plan(epoch)
            if not plan:
                raise DataError(
                    f"epoch {epoch} has no batch: {self.stats['usable']} usable records for a "
                    f"global batch of {self._batch_size} x {self._process_count} processes "
                    f"with drop_remainder={self._drop_remainder}; use a smaller batch or more data"
                )
            while batch < len(plan):
                bucket, global_indices = plan[batch]
                arrays = self._assemble(epoch, bucket, global_indices)
                batch += 1
                yield arrays, ((epoch, batch) if batch < len(plan) else (epoch + 1, 0))
            epoch, batch = epoch + 1, 0


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
        lengths: np.ndarray | None = None,
        progress: bool = False,
        state: Mapping[str, Any] | None = None,
    ):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        if prefetch < 0:
            raise ConfigError(f"prefetch must be >= 0, got {prefetch}")
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
        self._buckets = _sorted_buckets(buckets)
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
        self._producer: _Prefetcher | _Synchronous | None = None

        if lengths is None:
            lengths, bad = measure_lengths(source, length_fn=length_fn, progress=progress)
        else:
            lengths = np.asarray(lengths, np.int64)
            if lengths.shape != (len(source), 2):
                raise ConfigError(f"lengths must be [{len(source)}, 2], got {lengths.shape}")
            marked = np.flatnonzero(lengths[:, 0] < 0)
            bad = [(int(i), "marked bad in the given lengths") for i in marked]
        bucket_of = np.full(len(source), -1, np.int64)
        too_long = []
        for index, (num_tokens, num_frames) in enumerate(lengths):
            if num_tokens < 0:
                continue
            bucket = choose_bucket(num_tokens, num_frames, self._buckets)
            if bucket is None:
                too_long.append(index)
            else:
                bucket_of[index] = bucket
        stats = {
            "records": len(source),
            "usable": int((bucket_of >= 0).sum()),
            "bad_records": len(bad),
            "too_long": len(too_long),
            "failed_in_transform": 0,
        }
        settings = self._settings_dict
        self._batcher = _Batcher(
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
        )
        if bad:
            for index, reason in bad:
                logger.warning("skipping bad record %d: %s", index, reason)
            shown = "; ".join(f"#{i}: {r}" for i, r in bad[:3])
            warnings.warn(
                f"skipping {len(bad)} of {len(source)} bad records ({shown}"
                f"{'; ...' if len(bad) > 3 else ''}); see pipeline.stats",
                stacklevel=2,
            )
        if too_long:
            largest = self._buckets[-1]
            warnings.warn(
                f"skipping {len(too_long)} of {len(source)} records longer than every bucket "
                f"(largest (max_tokens, max_frames) = {largest}; e.g. record #{too_long[0]} has "
                f"{tuple(int(v) for v in lengths[too_long[0]])}); add a larger bucket to keep them",
                stacklevel=2,
            )
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
                _Prefetcher(iterator, self._prefetch) if self._prefetch else _Synchronous(iterator)
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
        """Stops the prefetch thread (iteration can continue later from `state()`)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
