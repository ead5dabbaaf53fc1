"""Record lengths and length buckets: what the input pipeline measures once per data source.

Every record is read once and measured by a `length_fn` (tokens, frames); each goes to the
smallest `(max_tokens, max_frames)` bucket it fits. Malformed records and records longer than
every bucket are counted and skipped with one warning each.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from lipjax.data.lips import lips_lengths
from lipjax.errors import BadRecordError, ConfigError

__all__ = [
    "DataSource",
    "ExampleFn",
    "LengthFn",
    "RECORD_ERRORS",
    "sorted_buckets",
    "choose_bucket",
    "measure_lengths",
    "checked_lengths",
    "assign_buckets",
    "warn_skipped",
]

logger = logging.getLogger("lipjax.data.pipeline")


class DataSource(Protocol):
    """Random access to examples: what `tfds` `as_data_source()` returns, or a list of dicts."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Mapping[str, Any]: ...


LengthFn = Callable[[Mapping[str, Any]], tuple[int, int]]
# What a malformed record makes a length or example function raise; other exceptions (TypeError
# from a wrong signature, RuntimeError, ...) are bugs and propagate.
RECORD_ERRORS = (BadRecordError, ValueError, KeyError, IndexError)
ExampleFn = Callable[..., dict[str, np.ndarray]]


def sorted_buckets(buckets: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
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
        except RECORD_ERRORS as error:
            bad.append((index, str(error)))
    return lengths, bad


def checked_lengths(source: DataSource, lengths: np.ndarray | None, length_fn: LengthFn,
                     progress: bool) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Measured (or given) `[N, 2]` record lengths and the bad records among them."""
    if lengths is None:
        return measure_lengths(source, length_fn=length_fn, progress=progress)
    lengths = np.asarray(lengths, np.int64)
    if lengths.shape != (len(source), 2):
        raise ConfigError(f"lengths must be [{len(source)}, 2], got {lengths.shape}")
    marked = np.flatnonzero(lengths[:, 0] < 0)
    return lengths, [(int(i), "marked bad in the given lengths") for i in marked]


def assign_buckets(lengths: np.ndarray, buckets: Sequence[tuple[int, int]]
                    ) -> tuple[np.ndarray, list[int]]:
    """Bucket index of every record (-1: bad or too long) and the too-long records."""
    bucket_of = np.full(len(lengths), -1, np.int64)
    too_long = []
    for index, (num_tokens, num_frames) in enumerate(lengths):
        if num_tokens < 0:
            continue
        bucket = choose_bucket(num_tokens, num_frames, buckets)
        if bucket is None:
            too_long.append(index)
        else:
            bucket_of[index] = bucket
    return bucket_of, too_long


def warn_skipped(bad: list[tuple[int, str]], too_long: list[int], lengths: np.ndarray,
                  buckets: Sequence[tuple[int, int]]) -> None:
    """One warning for the bad records and one for the records longer than every bucket."""
    total = len(lengths)
    if bad:
        for index, reason in bad:
            logger.warning("skipping bad record %d: %s", index, reason)
        shown = "; ".join(f"#{i}: {r}" for i, r in bad[:3])
        warnings.warn(
            f"skipping {len(bad)} of {total} bad records ({shown}"
            f"{'; ...' if len(bad) > 3 else ''}); see pipeline.stats",
            stacklevel=3,
        )
    if too_long:
        warnings.warn(
            f"skipping {len(too_long)} of {total} records longer than every bucket "
            f"(largest (max_tokens, max_frames) = {buckets[-1]}; e.g. record #{too_long[0]} has "
            f"{tuple(int(v) for v in lengths[too_long[0]])}); add a larger bucket to keep them",
            stacklevel=3,
        )
