"""Checkpoints of everything needed to continue a run, through orbax's CheckpointManager.

A checkpoint holds the TrainState (both networks' params, BatchNorm statistics, optimiser states,
step), the data pipeline position and the config (JSON). Orbax writes each step to a temporary
directory and renames it when complete, so an interrupted save never looks like a checkpoint.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

from lipjax.errors import CheckpointError

__all__ = ["Checkpointer", "latest_step", "load_config"]

PyTree = Any
_STATE, _META = "state", "meta"


class Checkpointer:
    """Saves and restores (state, pipeline position, config) under `directory`.

    Args:
      directory: where step folders are written (created if missing).
      max_to_keep: how many recent checkpoints to keep (None keeps all).
      async_save: write in a background thread (call `wait()` or `close()` before exiting).
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int | None = 3,
                 async_save: bool = True):
        self.directory = os.path.abspath(os.fspath(directory))
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save)
        self._manager = ocp.CheckpointManager(self.directory, options=options,
                                              item_names=(_STATE, _META))

    def save(self, step: int, state: PyTree, *, pipeline_state: dict | None = None,
             config: ml_collections.ConfigDict | None = None, force: bool = True) -> None:
        meta = {"step": int(step), "pipeline": pipeline_state or {},
                "config": json.loads(config.to_json_best_effort()) if config is not None else {}}
        self._manager.save(
            int(step),
            args=ocp.args.Composite(**{_STATE: ocp.args.StandardSave(jax.device_get(state)),
                                       _META: ocp.args.JsonSave(meta)}),
            force=force,
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def restore(self, target: PyTree, step: int | None = None) -> tuple[PyTree, dict]:
        """Restores into the structure of `target` (e.g. a freshly initialised state).

        Returns (state, meta) with meta = {"step", "pipeline", "config"}. Raises CheckpointError
        if there is no checkpoint or it does not match `target`.
        """
        self.wait()
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(
                f"no checkpoint in {self.directory}; train first (lipjax train ...) or pass the "
                f"workdir/checkpoints folder of a finished run")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, jax.device_get(target))
        try:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(**{_STATE: ocp.args.StandardRestore(abstract),
                                                 _META: ocp.args.JsonRestore()}))
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(
                f"checkpoint {self.directory} step {step} does not match the model built from "
                f"the config ({e}); was it written by a different config?") from e
        return restored[_STATE], restored[_META]

    def read_meta(self, step: int | None = None) -> dict:
        """The JSON part only (config, pipeline position), without building a model."""
        self.wait()
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        restored = self._manager.restore(
            step, args=ocp.args.Composite(**{_META: ocp.args.JsonRestore()}))
        return restored[_META]

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


def latest_step(directory: str | os.PathLike) -> int | None:
    """The newest complete checkpoint step in `directory`, or None."""
    if not os.path.isdir(directory):
        return None
    return ocp.CheckpointManager(os.path.abspath(os.fspath(directory))).latest_step()


def load_config(directory: str | os.PathLike) -> ml_collections.ConfigDict:
    """The config a checkpoint was trained with (for inference without the config file)."""
    if not os.path.isdir(directory):
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    ckpt = Checkpointer(directory, async_save=False)
    meta = ckpt.read_meta()
    ckpt.close()
    if not meta.get("config"):
        raise CheckpointError(f"checkpoint {directory} carries no config")
    return ml_collections.ConfigDict(meta["config"])
