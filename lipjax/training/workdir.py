"""A training workdir on disk, and inference from it without the training state.

    workdir/
      config.json        the run's config (written atomically once the run is known to start)
      checkpoints/       orbax: TrainState (both networks, optimiser states, step), pipeline
                         position and config, one folder per saved step
      metrics.jsonl      training and evaluation scalars, one JSON object per line
      tensorboard/       the same for TensorBoard
      eval_<step>.json   evaluation results

`restore_generator(workdir)` is how every consumer of a trained model (`lipjax lip`,
`lipjax talk`, `LipGenerator`, `TalkingFaceGenerator`, evaluation) loads it: the config, the
system class it names, the generator module and that module's variables only; no discriminator,
optimiser state or dataset is built or read.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Sequence

import jax
import ml_collections

from lipjax.errors import CheckpointError, ConfigError
from lipjax.files import write_atomic
from lipjax.overrides import apply_overrides
from lipjax.training.checkpoint import Checkpointer
from lipjax.training.system import RESTORABLE, system_class

__all__ = [
    "CONFIG_FILE",
    "CHECKPOINTS_DIR",
    "RESUMABLE_FIELDS",
    "RestoredGenerator",
    "checkpoint_dir",
    "has_checkpoint",
    "read_config",
    "write_config",
    "check_resume",
    "restore_generator",
]

CONFIG_FILE = "config.json"
CHECKPOINTS_DIR = "checkpoints"
# Fields a resumed run may change: they steer the loop, not what the checkpoint holds. Every
# other field must equal the saved config's (a section name covers all of its fields).
RESUMABLE_FIELDS = (
    "train.num_steps", "train.log_every", "train.eval_every", "train.checkpoint_every",
    "train.checkpoints_to_keep", "train.max_eval_batches", "train.tensorboard",
    "train.parallel", "train.num_devices", "train.max_consecutive_skipped",
    "data.data_dir", "data.manual_dir", "data.prefetch", "data.workers", "data.eval_batch_size",
    "data.build_if_missing", "evaluation",
    "train.distributed",  # how many processes and which one this is: a launch setting
)


def checkpoint_dir(workdir: str | os.PathLike) -> str:
    """`workdir/checkpoints` as an absolute path."""
    return os.path.abspath(os.path.join(os.fspath(workdir), CHECKPOINTS_DIR))


def has_checkpoint(workdir: str | os.PathLike) -> bool:
    """Whether `workdir` holds at least one complete checkpoint."""
    folder = checkpoint_dir(workdir)
    if not os.path.isdir(folder):
        return False
    checkpointer = Checkpointer(folder, async_save=False, create=False)
    try:
        return checkpointer.latest_step() is not None
    finally:
        checkpointer.close()


def _with_legacy_defaults(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Sections that workdirs of earlier versions lack, with the values they implied."""
    if "evaluation" not in config:
        config.evaluation = ml_collections.ConfigDict({"landmark_regressor": None})
    return config


def read_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
    """The config saved in `workdir/config.json`.

    Raises:
      CheckpointError: no workdir, no config.json, or one that is not a JSON object.
    """
    path = Path(workdir) / CONFIG_FILE
    if not path.is_file():
        what = "does not exist" if not Path(workdir).exists() else f"has no {CONFIG_FILE}"
        raise CheckpointError(f"{os.fspath(workdir)!r} {what}; is it a lipjax workdir (written "
                              "by lipjax train)?")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read {str(path)!r}: {error}") from error
    if not isinstance(payload, dict):
        raise CheckpointError(f"{str(path)!r} is not a config (a JSON object)")
    return _with_legacy_defaults(ml_collections.ConfigDict(payload))


def write_config(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> None:
    """Writes `workdir/config.json` atomically (creating the workdir if needed)."""
    os.makedirs(workdir, exist_ok=True)
    write_atomic(Path(workdir) / CONFIG_FILE, config.to_json_best_effort(indent=2) + "\n")


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, (dict, ml_collections.ConfigDict)):
        items = tree.items()
        return {k: v for key, value in items for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: _as_json_lists(tree)}


def _as_json_lists(value: Any) -> Any:
    """Tuples and lists at any depth as lists, as a config reads back from its JSON (e.g. DCK's
    `model.audio_blocks`: tuples of blocks holding stride tuples)."""
    if isinstance(value, (tuple, list)):
        return [_as_json_lists(v) for v in value]
    return value


def _resumable(key: str) -> bool:
    return any(key == f or key.startswith(f + ".") for f in RESUMABLE_FIELDS)


def check_resume(saved: ml_collections.ConfigDict, config: ml_collections.ConfigDict) -> None:
    """Raises a ConfigError if `config` may not continue a run saved with `saved`.

    Only `RESUMABLE_FIELDS` may differ. Fields that only one of the two has (a config from
    another lipjax version) are not compared.
    """
    old, new = _flatten(saved.to_dict()), _flatten(config.to_dict())
    changed = sorted(k for k in set(old) & set(new) if old[k] != new[k] and not _resumable(k))
    if changed:
        details = "; ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in changed[:8])
        raise ConfigError(
            f"this workdir holds a checkpoint of a run with a different config ({details}"
            f"{'; ...' if len(changed) > 8 else ''}). Only these may change on resume: "
            f"{', '.join(RESUMABLE_FIELDS)}. Use a new workdir for a different run.")


@dataclasses.dataclass(frozen=True)
class RestoredGenerator:
    """A trained generator loaded for inference.

    Attributes:
      config: the run's config (with any overrides applied).
      system_class: the class `config.system` names (a `System`, or for networks lipjax only
        runs, a class with `generator_from_config`).
      module: the generator (`system_class.generator_from_config(config)`).
      variables: its flax variables (`params`, and `batch_stats` if it has BatchNorm), on the
        default device.
      step: the training step of the checkpoint.
    """

    config: ml_collections.ConfigDict
    system_class: type
    module: Any
    variables: dict
    step: int


def restore_generator(workdir: str | os.PathLike, *, overrides: Sequence[str] = (),
                      step: int | None = None) -> RestoredGenerator:
    """The generator of a workdir's latest (or given) checkpoint, without its training state.

    Raises:
      CheckpointError: not a workdir, or no checkpoint. ConfigError: the config names no
        importable system, or an override is invalid.
    """
    config = apply_overrides(read_config(workdir), overrides)
    cls = system_class(config, require=RESTORABLE)
    checkpointer = Checkpointer(checkpoint_dir(workdir), async_save=False, create=False)
    try:
        variables, restored_step = checkpointer.restore_generator(step)
    finally:
        checkpointer.close()
    module = cls.generator_from_config(config)
    return RestoredGenerator(config=config, system_class=cls, module=module,
                             variables=jax.device_put(variables), step=int(restored_step))
