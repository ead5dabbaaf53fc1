"""`Batcher`: lays out an epoch's batches and assembles them (the input pipeline's worker).

An epoch is a permutation of the usable records from `(seed, epoch)`; each record goes to its
bucket, a bucket that has collected a global batch emits it, and process p takes the p-th
contiguous block of `batch_size` slots of every global batch (see `lipjax.data.pipeline`).
"""

from __future__ import annotations

import logging
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np

from lipjax.data.buckets import RECORD_ERRORS, DataSource, ExampleFn
from lipjax.errors import DataError

__all__ = ["Batcher"]

logger = logging.getLogger("lipjax.data.pipeline")


class Batcher:
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
        workers: int = 1,
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
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _read_all(self, epoch: int, bucket: int, local: np.ndarray
                  ) -> list[dict[str, np.ndarray] | None]:
        """`_transform` of every slot of `local` (None for empty slots), in slot order.

        With `workers > 1` the records are read and transformed in a thread pool: reading a
        record (zlib, array_record) and the transforms' OpenCV / NumPy work release the GIL, so
        this scales with cores. Order and per-example randomness do not depend on the pool.
        """
        def one(index: int) -> dict[str, np.ndarray] | None:
            return self._transform(epoch, bucket, index) if index >= 0 else None

        indices = [int(i) for i in local]
        if self._workers <= 1 or sum(i >= 0 for i in indices) <= 1:
            return [one(i) for i in indices]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="lipjax-read")
            pool = self._pool
        return list(pool.map(one, indices))

    def close(self) -> None:
        """Stops the worker threads (a later batch starts new ones)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

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
        except RECORD_ERRORS as error:
            self._count_failure(index, str(error))
            return None

    def _assemble(
        self, epoch: int, bucket: int, global_indices: np.ndarray
    ) -> dict[str, np.ndarray]:
        start = self._process_index * self._batch_size  # this process's block
        local = global_indices[start : start + self._batch_size]
        examples = self._read_all(epoch, bucket, local)
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
