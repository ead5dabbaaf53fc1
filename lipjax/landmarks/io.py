"""Saving and loading a trained mouth-landmark regressor (a folder of three files).

`save_regressor` writes `params.msgpack` (`flax.serialization.to_bytes` of the variables),
`config.json` (the `LandmarkRegressorConfig` and the SHA-256 of the params file, so that files
of different saves are never paired silently) and optionally `report.json`; each atomically,
the config last. `load_regressor` checks all of it and the parameter shapes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from lipjax.errors import CheckpointError, ConfigError
from lipjax.files import write_atomic, write_json
from lipjax.landmarks.model import LandmarkRegressor, LandmarkRegressorConfig

__all__ = ["save_regressor", "load_regressor"]

_PARAMS_FILE = "params.msgpack"
_CONFIG_FILE = "config.json"
_REPORT_FILE = "report.json"
_FORMAT = "lipjax.landmark_regressor"
_FORMAT_VERSION = 1


def save_regressor(
    path: str | os.PathLike,
    params: Any,
    config: LandmarkRegressorConfig,
    *,
    report: Mapping[str, Any] | None = None,
) -> Path:
    """Saves a trained regressor to the folder ``path`` (created if needed).

    Files: ``params.msgpack`` (`flax.serialization.to_bytes` of the variables), ``config.json``
    (the `LandmarkRegressorConfig` and the SHA-256 of the params file, so a params file and a
    config from different saves are never paired silently) and, if given, ``report.json``. Each
    is written to a temp file and renamed; the config is written last.

    Returns:
      The folder.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    params_bytes = flax.serialization.to_bytes(jax.device_get(params))
    write_atomic(folder / _PARAMS_FILE, params_bytes)
    if report is not None:
        write_json(folder / _REPORT_FILE, report)
    write_json(folder / _CONFIG_FILE, {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "config": dataclasses.asdict(config),
        "params_sha256": hashlib.sha256(params_bytes).hexdigest(),
    })
    return folder


def load_regressor(path: str | os.PathLike) -> tuple[Any, LandmarkRegressorConfig]:
    """Loads ``(params, config)`` written by `save_regressor`.

    Raises:
      CheckpointError: the folder or a file is missing, the files do not belong together, or the
        parameters do not fit the config.
    """
    folder = Path(path)
    config_path, params_path = folder / _CONFIG_FILE, folder / _PARAMS_FILE
    missing = [p.name for p in (config_path, params_path) if not p.is_file()]
    if missing:
        raise CheckpointError(
            f"{str(folder)!r} is not a saved landmark regressor (missing {', '.join(missing)}); "
            "train one with experiments/train_landmarks.py --out <folder>"
        )
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, not {_FORMAT!r}")
        if meta.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {meta.get('format_version')!r}")
        config = LandmarkRegressorConfig(**meta["config"])
    except (ValueError, KeyError, TypeError, ConfigError) as error:
        raise CheckpointError(f"cannot read {str(config_path)!r}: {error}") from error
    params_bytes = params_path.read_bytes()
    if hashlib.sha256(params_bytes).hexdigest() != meta.get("params_sha256"):
        raise CheckpointError(
            f"{str(params_path)!r} is not the params file that {str(config_path)!r} was saved "
            "with (checksum mismatch); save the regressor again"
        )
    try:
        state = flax.serialization.msgpack_restore(params_bytes)
    except Exception as error:  # msgpack raises several unrelated types on corrupt input
        raise CheckpointError(f"cannot decode {str(params_path)!r}: {error}") from error
    expected = jax.eval_shape(
        LandmarkRegressor(config).init, jax.random.key(0),
        jax.ShapeDtypeStruct((1,) + config.frame_shape, jnp.float32))
    expected_shapes = jax.tree_util.tree_map(lambda x: tuple(x.shape), expected)
    try:
        got_shapes = jax.tree_util.tree_map(lambda x: tuple(np.shape(x)), state)
    except Exception as error:
        raise CheckpointError(f"{str(params_path)!r} does not hold a parameter tree") from error
    if got_shapes != flax.core.unfreeze(expected_shapes):
        raise CheckpointError(
            f"the parameters in {str(params_path)!r} do not fit the config in "
            f"{str(config_path)!r}; save them together with save_regressor"
        )
    return jax.tree_util.tree_map(jnp.asarray, state), config
