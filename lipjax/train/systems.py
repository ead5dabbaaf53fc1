"""The trainable systems, by the name a config's `system` field gives.

Each entry is a class implementing `lipjax.train.steps.GanSystem` plus `from_config(config)`,
`init_variables(rng, batch)`, and the data hooks `example_fn` / `length_fn` for the pipeline.
Imported lazily so that `import lipjax.train` does not build every model.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Mapping

import ml_collections

from lipjax.errors import ConfigError

__all__ = ["SYSTEMS", "make_system", "dataclass_from_config", "evaluation_landmark_fn"]

SYSTEMS: dict[str, str] = {
    "paralip": "lipjax.train.paralip:ParaLipSystem",
    "transformer_t2l": "lipjax.train.autoregressive:TransformerT2LSystem",
    "duallip": "lipjax.train.autoregressive:DualLipSystem",
    "dck": "lipjax.train.dck:DCKSystem",
}


def make_system(config: ml_collections.ConfigDict):
    """Builds the system named by `config.system` from the config."""
    name = config.get("system")
    if name not in SYSTEMS:
        raise ConfigError(
            f"config.system is {name!r}; known systems: {', '.join(sorted(SYSTEMS))}")
    module, cls = SYSTEMS[name].split(":")
    return getattr(importlib.import_module(module), cls).from_config(config)


def dataclass_from_config(cls, fields: Mapping[str, Any]):
    """A model's frozen dataclass config from a ConfigDict section (lists become tuples).

    Missing fields keep the dataclass defaults; unknown fields are a ConfigError naming them, so
    a misspelled override never passes silently.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(fields) - names
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields in the config: {sorted(unknown)}; "
                          f"known: {sorted(names)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return cls(**values)


def evaluation_landmark_fn(config: ml_collections.ConfigDict, frame_shape: tuple[int, ...]):
    """The LMD detector named by `config.evaluation.landmark_regressor` (a folder written by
    `lipjax.landmarks.save_regressor`) for frames of `frame_shape`, or None if none is named."""
    path = config.get("evaluation", {}).get("landmark_regressor")
    if not path:
        return None
    from lipjax.landmarks import regressor_landmark_fn

    return regressor_landmark_fn(path, frame_shape=frame_shape)
