"""The one place where per-device steps are mapped over devices.

Steps in `lipjax.training.steps` are written for one device and communicate through the axis name
'data'. `DataParallel` runs them either

- with `jax.pmap` (kind="pmap"): state replicated with a leading device axis, batches reshaped to
  `[devices, per_device, ...]` — the classic setup that Colab TPU users know; or
- with `jax.shard_map` under `jax.jit` over a 1-D `Mesh` (kind="shard_map"): state replicated
  through a `NamedSharding`, batches sharded along their leading axis — the modern path.

Both give the parameters one device would get with the same global batch (tests show it).

Multi-process (`lipjax.training.distributed`): `devices` spans every process, process by process
(`mesh_devices`). Each process feeds its own rows of the global batch (`lipjax.data.pipeline`
gives process p the p-th contiguous block) and `shard` places them on its local devices: with
shard_map as one global array (`jax.make_array_from_process_local_data`), with pmap as the
host-local arrays that pmap itself assembles into global ones. The state is replicated the same
way and `unreplicate` returns this process's local copy.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Literal

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from lipjax.errors import ConfigError, InputError
from lipjax.training.config import PARALLEL_KINDS

__all__ = ["DataParallel", "PARALLEL_KINDS", "RecompileError", "mesh_devices"]

PyTree = Any
Kind = Literal["pmap", "shard_map"]


class RecompileError(AssertionError):
    """A wrapped step was traced more often than its number of batch buckets."""


def mesh_devices(per_process: int | None = None) -> list:
    """The devices of a multi-process run, process by process (the order of pmap's global
    axis): the first `per_process` local devices of every process (None: all of them)."""
    return [d for p in range(jax.process_count())
            for d in jax.local_devices(process_index=p)[:per_process]]


class DataParallel:
    """Maps per-device steps over local devices with pmap or shard_map.

    Args:
      kind: "pmap" or "shard_map".
      devices: the devices to use (default: all of `jax.devices()`).
      axis_name: the collective axis name the steps use.
      max_traces: if set, every wrapped function raises when it is traced more often than this
        (one trace per batch bucket is expected; more means a recompile on a hot path).
    """

    def __init__(self, kind: Kind = "pmap", *, devices=None, axis_name: str = "data",
                 max_traces: int | None = None):
        if kind not in PARALLEL_KINDS:
            raise ConfigError(f"parallel kind must be one of {PARALLEL_KINDS}, got {kind!r}")
        self.kind = kind
        self.devices = list(devices if devices is not None else jax.devices())
        self.axis_name = axis_name
        self.max_traces = max_traces
        self.mesh = Mesh(np.asarray(self.devices), (axis_name,))
        here = jax.process_index()
        self.local_devices = [d for d in self.devices if d.process_index == here]
        # Devices of other processes too: every placement goes through global arrays.
        self.multi_process = len(self.local_devices) < len(self.devices)
        self.local_mesh = (Mesh(np.asarray(self.local_devices), (axis_name,))
                           if self.multi_process else self.mesh)

    @property
    def num_devices(self) -> int:
        return len(self.devices)

    @property
    def num_local_devices(self) -> int:
        return len(self.local_devices)

    # ----------------------------------------------------------------------------- placement
    def replicate(self, tree: PyTree) -> PyTree:
        """Places a host/single-device pytree on every device."""
        if self.kind == "pmap":  # host-local: [local devices, ...] (pmap makes them global)
            n = self.num_local_devices
            stacked = jax.tree.map(lambda x: np.broadcast_to(np.asarray(x)[None],
                                                             (n,) + np.shape(x)),
                                   jax.device_get(tree))
            return jax.device_put(stacked, NamedSharding(self.local_mesh, P(self.axis_name)))
        if self.multi_process:
            return jax.tree.map(self._global_replica, tree)
        return jax.device_put(tree, NamedSharding(self.mesh, P()))

    def _global_replica(self, x: Any) -> Any:
        """A host value (the same on every process) replicated on every device of the mesh."""
        if not isinstance(x, jax.Array):
            return jax.device_put(np.asarray(x), NamedSharding(self.mesh, P()))
        if not x.is_fully_addressable:
            return x  # already global
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):  # typed keys: via their data
            data = self._global_replica(np.asarray(jax.random.key_data(x)))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        return jax.device_put(np.asarray(x), NamedSharding(self.mesh, P()))

    def unreplicate(self, tree: PyTree) -> PyTree:
        """One copy of a replicated pytree (for checkpoints, evaluation on the host); in a
        multi-process run, this process's copy on its first device."""
        if self.kind == "pmap":
            return jax.tree.map(lambda x: x[0], tree)
        if self.multi_process:
            return jax.tree.map(
                lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)
        return tree

    def shard(self, batch: PyTree) -> PyTree:
        """Splits a batch over devices: the global batch in one process; in a multi-process
        run, this process's rows of it (leading axis divisible by the local device count)."""
        n = self.num_local_devices

        def check(x):
            if x.shape[0] % n:
                what = "per-process" if self.multi_process else "global"
                raise InputError(
                    f"{what} batch size {x.shape[0]} is not divisible by {n} devices; "
                    f"set the batch size to a multiple of the device count")
            return x

        batch = jax.tree.map(check, batch)
        if self.kind == "pmap":
            batch = jax.tree.map(lambda x: np.reshape(x, (n, x.shape[0] // n) + x.shape[1:]),
                                 batch)
            return jax.device_put(batch, NamedSharding(self.local_mesh, P(self.axis_name)))
        sharding = NamedSharding(self.mesh, P(self.axis_name))
        if self.multi_process:
            return jax.tree.map(
                lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)
        return jax.device_put(batch, sharding)

    # ----------------------------------------------------------------------------- wrapping
    def wrap(self, step: Callable, *, batch_argnum: int = 1, donate_state: bool = True,
             static_kwargs: dict | None = None) -> Callable:
        """Wraps `step(state, batch, *rest, **static_kwargs)` for the devices.

        The state (argument 0) is replicated, the batch (argument `batch_argnum`) is sharded,
        any other positional argument (e.g. an rng key) is broadcast. The outputs are
        replicated: the new state and device-identical metrics.
        """
        bound = functools.partial(step, axis_name=self.axis_name, **(static_kwargs or {}))
        traces = 0

        def fn(*args):
            # The Python body runs only while tracing, so this counts compilations. (chex's
            # assert_max_traces keys its counter on the code object, which every wrapper shares.)
            nonlocal traces
            traces += 1
            if self.max_traces is not None and traces > self.max_traces:
                raise RecompileError(
                    f"{getattr(step, '__name__', 'step')} was traced {traces} times (allowed "
                    f"{self.max_traces}: one per batch bucket). A new input shape or dtype "
                    f"reached it; check that batches are padded to the configured buckets.")
            return bound(*args)
        donate = (0,) if donate_state else ()

        if self.kind == "pmap":
            def in_axes(nargs):
                return tuple(0 if i in (0, batch_argnum) else None for i in range(nargs))

            cache: dict[int, Callable] = {}

            def run(*args):
                if len(args) not in cache:
                    cache[len(args)] = jax.pmap(fn, axis_name=self.axis_name,
                                                in_axes=in_axes(len(args)),
                                                devices=self.devices, donate_argnums=donate)
                return cache[len(args)](*args)

            return run

        cache_sm: dict[int, Callable] = {}

        def run_sm(*args):
            if self.multi_process:  # broadcast arguments (an rng key) as global replicas
                args = tuple(a if i in (0, batch_argnum) else jax.tree.map(self._global_replica, a)
                             for i, a in enumerate(args))
            if len(args) not in cache_sm:
                specs = tuple(P(self.axis_name) if i == batch_argnum else P()
                              for i in range(len(args)))
                mapped = jax.shard_map(fn, mesh=self.mesh, in_specs=specs, out_specs=P(),
                                       check_vma=False)
                cache_sm[len(args)] = jax.jit(mapped, donate_argnums=donate)
            return cache_sm[len(args)](*args)

        return run_sm

    def metrics_to_host(self, metrics: PyTree) -> dict:
        """Device-identical metrics -> Python floats / NumPy arrays on the host."""
        metrics = self.unreplicate(metrics)
        return jax.tree.map(lambda x: np.asarray(jax.device_get(x)), metrics)
