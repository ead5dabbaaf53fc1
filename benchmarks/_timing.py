"""Shared timing helpers for the benchmark scripts (never imported by lipjax or the tests).

Conventions every benchmark follows: compile and warm up first, block on the result of every
call (`jax.block_until_ready`, JAX dispatch is asynchronous), report the median of N repeats,
and store a description of the machine next to the numbers.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax

from lipjax import files

__all__ = [
    "Timing",
    "time_function",
    "time_functions_interleaved",
    "describe_machine",
    "write_json",
    "save_figure",
]


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of one benchmarked call.

    Attributes:
      median_s: median over the timed repeats (the number to report).
      min_s: fastest repeat (least disturbed by other work on a shared machine).
      repeats: number of timed repeats.
    """

    median_s: float
    min_s: float
    repeats: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def time_function(
    fn: Callable[..., Any], *args: Any, warmup: int = 2, repeats: int = 20
) -> Timing:
    """Times `fn(*args)` after `warmup` untimed calls (the first one compiles a jitted `fn`).

    Every call is followed by `jax.block_until_ready` so that asynchronous dispatch does not
    hide the computation.
    """
    if warmup < 1 or repeats < 1:
        raise ValueError(f"warmup and repeats must be >= 1, got {warmup} and {repeats}")
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        seconds.append(time.perf_counter() - start)
    return Timing(median_s=statistics.median(seconds), min_s=min(seconds), repeats=repeats)


def time_functions_interleaved(
    calls: Mapping[str, tuple[Callable[..., Any], Sequence[Any]]],
    *,
    warmup: int = 2,
    repeats: int = 20,
) -> dict[str, Timing]:
    """Times several `fn(*args)` round-robin: repeat r runs every candidate once.

    On a shared, noisy machine a burst of outside load then slows all candidates alike instead
    of whichever happened to be running, which keeps their *ratios* meaningful.

    Args:
      calls: name -> (fn, args).
      warmup: untimed calls of each candidate first (the first compiles a jitted fn).
      repeats: timed calls of each candidate.

    Returns:
      name -> `Timing`.
    """
    if warmup < 1 or repeats < 1:
        raise ValueError(f"warmup and repeats must be >= 1, got {warmup} and {repeats}")
    for fn, args in calls.values():
        for _ in range(warmup):
            jax.block_until_ready(fn(*args))
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, (fn, args) in calls.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            seconds[name].append(time.perf_counter() - start)
    return {
        name: Timing(median_s=statistics.median(s), min_s=min(s), repeats=repeats)
        for name, s in seconds.items()
    }


def describe_machine() -> dict[str, Any]:
    """JAX version, backend, devices and CPU count, for the header of a benchmark's JSON."""
    devices = jax.devices()
    try:
        usable_cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable_cpus = os.cpu_count()
    return {
        "jax_version": jax.__version__,
        "jaxlib_version": importlib.metadata.version("jaxlib"),
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "cpu_count": os.cpu_count(),
        "usable_cpu_count": usable_cpus,
        "processor": platform.processor() or platform.machine(),
        "python_version": platform.python_version(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Writes `data` as indented JSON, atomically (temp file + rename)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    files.write_json(path, data, sort_keys=False)


def save_figure(figure: Any, path: str | os.PathLike, **savefig_kwargs: Any) -> None:
    """Saves a matplotlib figure atomically; the format comes from `path`'s suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".") or "png"
    files.atomic_path(path, lambda temp_path: figure.savefig(temp_path, format=fmt,
                                                               **savefig_kwargs))
