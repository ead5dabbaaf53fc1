"""The `System` protocol: everything the shared training core needs from a system, and how a
config names its system.

A system (ParaLip, the DCK talking face, the autoregressive baselines, or one of your own) is a
class that implements `System`. The loop (`lipjax.training.loop`), evaluation, checkpointing and
inference (`lipjax.training.workdir.restore_generator`) use nothing else. `tests/_toy_system.py`
is the smallest complete implementation; `docs/ARCHITECTURE.md` walks through adding one.

A config names its system once, by import path: `config.system = "lipjax.paralip.ParaLipSystem"`
(any importable class works, so a system can live outside lipjax). Workdirs written before the
per-system layout say `"paralip"`, `"dck"`, ...; `SYSTEM_ALIASES` maps those old names.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Mapping, NamedTuple, Protocol, runtime_checkable

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from lipjax.errors import ConfigError

__all__ = [
    "Batch",
    "Variables",
    "LossTerm",
    "DiscriminatorInputs",
    "System",
    "SYSTEM_ALIASES",
    "system_class",
    "TRAINABLE",
    "RESTORABLE",
    "system_path",
    "make_system",
    "dataclass_from_config",
    "evaluation_landmark_fn",
]

Batch = Mapping[str, Any]    # a pipeline batch: arrays with a leading batch axis, plus masks
Variables = Any              # flax variables: {"params": ..., "batch_stats": ...}

# Old `config.system` names (workdirs written before lipjax 0.2) -> import paths.
SYSTEM_ALIASES: Mapping[str, str] = {
    "paralip": "lipjax.paralip.ParaLipSystem",
    "transformer_t2l": "lipjax.baselines.TransformerT2LSystem",
    "duallip": "lipjax.baselines.DualLipSystem",
    "dck": "lipjax.dck.DCKSystem",
}


class LossTerm(NamedTuple):
    """A masked mean `value` over `count` valid elements of the local (per-device) batch."""

    value: jax.Array
    count: jax.Array


class DiscriminatorInputs(NamedTuple):
    """Real and generated samples for the discriminator, and which of them are valid."""

    real: jax.Array
    fake: jax.Array
    mask: jax.Array


@runtime_checkable
class System(Protocol):
    """A trainable generator (and optional discriminator) with its losses, data and metrics.

    Minimal example: `tests/_toy_system.py`; worked example: docs/ARCHITECTURE.md.

    Attributes:
      generator: the Flax module inference runs.
      discriminator: the adversary, or None (no adversarial term, no second optimiser).
      loss_weights: term name -> weight; 0 switches a term off. The adversarial term is "adv".
      adversarial_start_step: the generator's "adv" term counts from this step on (the
        discriminator trains from step 0); 0 = from the start.

    Optional member (not part of the runtime check; the step looks for it):
      adversarial_losses(): -> `lipjax.losses.AdversarialLosses`, the generator's and the
        discriminator's loss functions on the discriminator's outputs. A system without it
        trains with LSGAN (`lipjax.losses.LSGAN`); Wav2Lip's sigmoid quality discriminator
        returns `lipjax.losses.BCE_GAN`.
      frozen_generator_params: top-level names of the generator's parameters that the
        optimiser never updates (`lipjax.training.state.freeze_subtrees`; DCK's pre-trained
        audio encoder). A system without it trains every parameter.
    """

    generator: nn.Module
    discriminator: nn.Module | None
    loss_weights: Mapping[str, float]
    adversarial_start_step: int

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "System":
        """The whole training system from a training config."""

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> nn.Module:
        """The generator alone (what inference restores; no discriminator, no evaluation
        detector, no data hooks)."""

    # ---------------------------------------------------------------- data
    def example_fn(self, record: Mapping[str, Any], *, max_tokens: int, max_frames: int,
                   rng: np.random.Generator, training: bool) -> dict[str, np.ndarray]:
        """One dataset record -> one example padded to the bucket `(max_tokens, max_frames)`.

        Raises `lipjax.errors.BadRecordError` for a record to skip."""

    def length_fn(self, record: Mapping[str, Any]) -> tuple[int, int]:
        """`(tokens, frames)` of a record, to choose its bucket."""

    def example_batch(self, bucket: tuple[int, int], batch_size: int = 1) -> dict[str, Any]:
        """A batch of zeros with the shapes and dtypes of a pipeline batch of `bucket`."""

    # ---------------------------------------------------------------- parameters
    def init_variables(self, rng: jax.Array, batch: Batch) -> tuple[Variables, Variables | None]:
        """`(generator variables, discriminator variables or None)` for `batch`'s shapes."""

    # ---------------------------------------------------------------- one step
    def generate(self, variables: Variables, batch: Batch, *, train: bool,
                 rngs: Mapping[str, jax.Array]) -> tuple[Any, Variables]:
        """Applies the generator; returns (outputs, updated batch_stats or {})."""

    def reconstruction_terms(self, outputs: Any, batch: Batch) -> dict[str, LossTerm]:
        """The non-adversarial loss terms whose weight is non-zero."""

    def discriminator_inputs(self, outputs: Any, batch: Batch) -> DiscriminatorInputs:
        """Real and generated samples for the discriminator (scored with the system's
        `adversarial_losses()` if it has one, else LSGAN)."""

    def evaluate(self, variables: Variables, batch: Batch) -> dict[str, LossTerm]:
        """Evaluation metrics of one batch, as masked means with their counts."""


def system_path(cls: type) -> str:
    """The import path a config names `cls` by, e.g. `"lipjax.paralip.ParaLipSystem"`."""
    return f"{cls.__module__}.{cls.__qualname__}"


# What a class must have to train (a `System`) and what restoring a generator needs: a
# converted workdir of a network lipjax does not train (SyncNet v2) names such a smaller class.
TRAINABLE = ("from_config", "generator_from_config", "init_variables", "example_batch",
             "evaluate")
RESTORABLE = ("generator_from_config",)


def system_class(config: ml_collections.ConfigDict | str, *,
                 require: tuple[str, ...] = TRAINABLE) -> type:
    """The system class a config (or an import path / old name) names.

    Args:
      config: a config with a `system` field, or the path / old name itself.
      require: the methods the class must have (`TRAINABLE`, or `RESTORABLE` for inference).

    Raises:
      ConfigError: no `system` field, an unimportable path, or a class without `require`.
    """
    name = config if isinstance(config, str) else config.get("system")
    if not isinstance(name, str) or not name:
        raise ConfigError("config.system must name a system class by import path, e.g. "
                          "'lipjax.paralip.ParaLipSystem'")
    path = SYSTEM_ALIASES.get(name, name)
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name) if module_name else None
    except (ImportError, AttributeError):
        cls = None
    if cls is None:
        raise ConfigError(f"config.system {name!r} is not an importable class; use an import "
                          f"path such as 'lipjax.paralip.ParaLipSystem' (old names: "
                          f"{', '.join(sorted(SYSTEM_ALIASES))})")
    missing = [m for m in require if not hasattr(cls, m)]
    if missing:
        raise ConfigError(f"{path} is not a lipjax System (missing {', '.join(missing)}); see "
                          "lipjax.training.System")
    return cls


def make_system(config: ml_collections.ConfigDict) -> System:
    """The system `config.system` names, built from `config`."""
    return system_class(config).from_config(config)


def dataclass_from_config(cls: type, fields: Mapping[str, Any]):
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


def evaluation_landmark_fn(config: ml_collections.ConfigDict, frame_shape: tuple[int, ...]
                           ) -> Callable[[jax.Array], jax.Array] | None:
    """The LMD detector named by `config.evaluation.landmark_regressor` (a folder written by
    `lipjax.landmarks.save_regressor`) for frames of `frame_shape`, or None if none is named."""
    path = config.get("evaluation", {}).get("landmark_regressor")
    if not path:
        return None
    from lipjax.landmarks import regressor_landmark_fn

    return regressor_landmark_fn(path, frame_shape=frame_shape)
