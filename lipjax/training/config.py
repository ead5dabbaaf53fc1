"""Training configs: load a `get_config()` file, apply overrides, check every value before a run.

    config = load_config("experiments/configs/paralip_synthetic.py", ["train.num_steps=100"])

Overrides use the one syntax of `lipjax.overrides` (type-checked against the field);
`validate_config` then checks the ranges of the fields the shared training core reads, so a
bad value is a `ConfigError` naming the field before any dataset, model or workdir is touched.
"""

from __future__ import annotations

import math
import os
import runpy
from typing import Any, Sequence

import ml_collections

from lipjax.errors import ConfigError, LipjaxError
from lipjax.overrides import apply_overrides

__all__ = ["load_config", "validate_config", "PARALLEL_KINDS"]

PARALLEL_KINDS = ("pmap", "shard_map")


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()
                ) -> ml_collections.ConfigDict:
    """Runs `get_config()` of a config file, applies `key.sub=value` overrides, validates.

    Raises:
      ConfigError: no such file (or a folder, or not a .py file), a file that does not run
        (syntax error, an exception in it or in get_config()), no get_config(), one that
        returns no ConfigDict, overrides that are not a list of `key=value` strings, a bad
        override or an out-of-range value.
    """
    if isinstance(overrides, (str, bytes)) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"overrides must be a list of 'key=value' strings, got {overrides!r}")
    config = _run_get_config(_config_file(path))
    config = apply_overrides(config, overrides)
    validate_config(config)
    return config


def _config_file(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ConfigError(f"config file {path} is a folder; give a .py file in it (see "
                          "experiments/configs/)")
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} does not exist (see experiments/configs/)")
    if not path.endswith(".py"):
        raise ConfigError(f"config file {path} is not a Python file; a config is a .py file "
                          "with get_config() (see experiments/configs/)")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"cannot read config file {path}: permission denied")
    return path


def _run_get_config(path: str) -> ml_collections.ConfigDict:
    """The ConfigDict that `get_config()` of `path` returns; the file's own errors named."""
    try:
        module = runpy.run_path(path)
    except LipjaxError:
        raise
    except SyntaxError as error:
        raise ConfigError(f"config file {path} is not valid Python (line {error.lineno}: "
                          f"{error.msg})") from None
    except Exception as error:  # the file is user code: name what it raised, not a traceback
        raise ConfigError(f"running config file {path} raised {type(error).__name__}: "
                          f"{error}") from error
    if not callable(module.get("get_config")):
        raise ConfigError(f"config file {path} defines no get_config()")
    try:
        config = module["get_config"]()
    except LipjaxError:
        raise
    except Exception as error:
        raise ConfigError(f"get_config() of {path} raised {type(error).__name__}: "
                          f"{error}") from error
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"get_config() of {path} returned a {type(config).__name__}, not an "
                          "ml_collections.ConfigDict")
    return config


_MISSING = object()


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, (ml_collections.ConfigDict, dict)) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _integer(config, key: str, *, minimum: int, optional: bool = False) -> None:
    value = _get(config, key)
    if value is _MISSING or (optional and value is None):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"config field {key!r} must be an integer >= {minimum}"
                          f"{' or None' if optional else ''}, got {value!r}")


def _real(config, key: str, *, low: float, high: float = math.inf, low_open: bool = False,
          high_open: bool = False) -> None:
    value = _get(config, key)
    if value is _MISSING:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"config field {key!r} must be a finite number in {bounds}, "
                          f"got {value!r}")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Checks the types and ranges of the fields the shared training core reads.

    System-specific fields (model sizes, loss terms) are checked by the system's own config
    dataclasses when it is built.

    Raises:
      ConfigError: naming the first bad field and what it must be.
    """
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"a config is an ml_collections.ConfigDict (lipjax.load_config makes "
                          f"one), got a {type(config).__name__}")
    if not isinstance(config.get("system"), str):
        raise ConfigError("config.system must name a system class by import path, e.g. "
                          "'lipjax.paralip.ParaLipSystem'")
    for key in ("train.num_steps", "train.log_every", "train.eval_every",
                "train.checkpoint_every", "data.batch_size", "data.eval_batch_size"):
        _integer(config, key, minimum=1)
    for key in ("train.checkpoints_to_keep", "train.max_eval_batches",
                "train.frames_per_example", "train.num_devices",
                "train.max_consecutive_skipped"):
        _integer(config, key, minimum=1, optional=True)
    _integer(config, "data.prefetch", minimum=0)
    _integer(config, "data.workers", minimum=1, optional=True)
    _integer(config, "seed", minimum=0)
    parallel = _get(config, "train.parallel")
    if parallel is not _MISSING and parallel not in PARALLEL_KINDS:
        raise ConfigError(f"config field 'train.parallel' must be one of {PARALLEL_KINDS}, got "
                          f"{parallel!r}")
    _validate_buckets(_get(config, "data.buckets"))
    for network in ("generator", "discriminator"):
        prefix = f"optim.{network}"
        _real(config, f"{prefix}.learning_rate", low=0.0, high=1.0, low_open=True)
        _real(config, f"{prefix}.b1", low=0.0, high=1.0, high_open=True)
        _real(config, f"{prefix}.b2", low=0.0, high=1.0, high_open=True)
        _real(config, f"{prefix}.eps", low=0.0, low_open=True)
        _real(config, f"{prefix}.weight_decay", low=0.0)
        _real(config, f"{prefix}.clip_grad_norm", low=0.0)
        _real(config, f"{prefix}.decay_rate", low=0.0, high=1.0, low_open=True)
        _integer(config, f"{prefix}.warmup_steps", minimum=0)
        _integer(config, f"{prefix}.decay_steps", minimum=0)
    loss = _get(config, "loss")
    if isinstance(loss, ml_collections.ConfigDict):
        for name, value in loss.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and \
                    name not in ("adv_start_step",):
                _real(config, f"loss.{name}", low=0.0)
        _integer(config, "loss.adv_start_step", minimum=0)


def _validate_buckets(buckets: Any) -> None:
    if buckets is _MISSING:
        return
    ok = isinstance(buckets, (list, tuple)) and len(buckets) > 0 and all(
        isinstance(b, (list, tuple)) and len(b) == 2 and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in b)
        for b in buckets)
    if not ok:
        raise ConfigError("config field 'data.buckets' must be a non-empty list of "
                          f"(max_tokens, max_frames) pairs of positive integers, got {buckets!r}")
