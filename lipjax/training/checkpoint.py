"""Checkpoints of everything needed to continue a run, through orbax's CheckpointManager.

A checkpoint holds the TrainState (both networks' params, BatchNorm statistics, optimiser states,
step), the data pipeline position and the config (JSON). Orbax writes each step to a temporary
directory and renames it when complete, so an interrupted save never looks like a checkpoint.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import jax
import ml_collections
import orbax.checkpoint as ocp

from lipjax.errors import CheckpointError
from lipjax.interrupts import deferred_interrupts

__all__ = ["Checkpointer", "GENERATOR_COLLECTIONS"]

PyTree = Any
_STATE, _META = "state", "meta"
# The generator's flax collections inside a saved TrainState: what inference restores.
GENERATOR_COLLECTIONS = ("params", "batch_stats")


class Checkpointer:
    """Saves and restores (state, pipeline position, config) under `directory`.

    Args:
      directory: where step folders are written (created if missing).
      max_to_keep: how many recent checkpoints to keep (None keeps all).
      async_save: write in a background thread (call `wait()` or `close()` before exiting).
      create: create `directory` if missing (False: reading only; a missing folder is a
        CheckpointError).
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int | None = 3,
                 async_save: bool = True, create: bool = True):
        self.directory = os.path.abspath(os.fspath(directory))
        if not create and not os.path.isdir(self.directory):
            raise CheckpointError(f"no checkpoint folder {self.directory}; train first "
                                  "(lipjax train ...)")
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=create, enable_async_checkpointing=async_save)
        self._manager = ocp.CheckpointManager(self.directory, options=options,
                                              item_names=(_STATE, _META))

    def save(self, step: int, state: PyTree, *, pipeline_state: dict | None = None,
             config: ml_collections.ConfigDict | None = None, force: bool = True) -> None:
        meta = {"step": int(step), "pipeline": pipeline_state or {},
                "config": json.loads(config.to_json_best_effort()) if config is not None else {}}
        with deferred_interrupts():  # a Ctrl-C inside orbax's writer threads can crash them
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
        step = self._step_or_latest(step)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, jax.device_get(target))
        try:
            with deferred_interrupts():
                restored = self._manager.restore(
                    step, args=ocp.args.Composite(**{_STATE: ocp.args.StandardRestore(abstract),
                                                     _META: ocp.args.JsonRestore()}))
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(
                f"checkpoint {self.directory} step {step} does not match the model built from "
                f"the config ({e}); was it written by a different config?") from e
        return restored[_STATE], restored[_META]

    def restore_generator(self, step: int | None = None) -> tuple[dict, int]:
        """The generator's variables alone, `({"params", "batch_stats"?}, step)`.

        Reads only those arrays (an orbax partial restore whose target comes from the
        checkpoint's own metadata): no model, discriminator or optimiser state is built or read,
        so inference needs nothing but the generator's module.

        Raises:
          CheckpointError: no checkpoint, or it holds no generator variables.
        """
        step = self._step_or_latest(step)
        metadata = ocp.PyTreeCheckpointer().metadata(os.path.join(self.directory, str(step),
                                                                  _STATE))
        tree = metadata.item_metadata.tree
        generator = tree.get("generator") if isinstance(tree, Mapping) else None
        if not isinstance(generator, Mapping) or "params" not in generator:
            raise CheckpointError(
                f"checkpoint {self.directory} step {step} holds no generator variables "
                "(state.generator.params); is it a lipjax workdir checkpoint?")
        target = {"generator": {
            name: jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), generator[name])
            for name in GENERATOR_COLLECTIONS if generator.get(name)}}
        # A manager of its own: the partial restore registers a PyTree handler for "state",
        # which would clash with this checkpointer's StandardSave / StandardRestore.
        reader = ocp.CheckpointManager(self.directory, item_names=(_STATE,))
        try:
            with deferred_interrupts():
                restored = reader.restore(step, args=ocp.args.Composite(**{
                    _STATE: ocp.args.PyTreeRestore(item=target, partial_restore=True)}))
        finally:
            reader.close()
        return dict(restored[_STATE]["generator"]), step

    def _step_or_latest(self, step: int | None) -> int:
        self.wait()
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(
                f"no checkpoint in {self.directory}; train first (lipjax train ...)")
        return step

    def wait(self) -> None:
        with deferred_interrupts():
            self._manager.wait_until_finished()

    def close(self) -> None:
        with deferred_interrupts():
            self._manager.wait_until_finished()
            self._manager.close()
