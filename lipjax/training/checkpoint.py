"""Checkpoints of everything needed to continue a run, through orbax's CheckpointManager.

A checkpoint holds the TrainState (both networks' params, BatchNorm statistics, optimiser states,
step), the data pipeline position and the config (JSON). Orbax writes each step to a temporary
directory and renames it when complete, so an interrupted save never looks like a checkpoint
(a writing `Checkpointer` removes such leftovers when it opens the folder).

A step folder can still be damaged afterwards (an interrupted copy, a full disk, files deleted
by hand). Restoring the latest step then falls back to the newest step that can be read, with a
warning naming the damaged one; an explicitly requested step never falls back. A checkpoint whose
arrays do not match the model (another config) is refused as such, before anything is read;
corrupt array data is reported as corrupt, with the folder to delete.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any, Callable, Mapping, TypeVar

import jax
import ml_collections
import orbax.checkpoint as ocp

from lipjax.errors import CheckpointError
from lipjax.interrupts import deferred_interrupts

__all__ = ["Checkpointer", "GENERATOR_COLLECTIONS"]

PyTree = Any
T = TypeVar("T")
_STATE, _META = "state", "meta"
# The generator's flax collections inside a saved TrainState: what inference restores.
GENERATOR_COLLECTIONS = ("params", "batch_stats")
# What orbax and tensorstore raise on a missing, truncated or corrupt file of a step (tensorstore
# errors are ValueErrors; a missing item is a KeyError; missing metadata an AttributeError).
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError,
                IndexError)
_MAX_LISTED = 5  # differences listed in a mismatch message


class _UnreadableStep(Exception):
    """Internal: one step folder could not be read (`error` says why)."""

    def __init__(self, folder: str, step: int, error: BaseException | str):
        super().__init__(f"step {step}: {_describe(error)}")
        self.folder, self.step, self.error = folder, step, error


def _describe(error: BaseException | str) -> str:
    """One short line for an orbax / tensorstore error (their messages embed whole specs)."""
    if isinstance(error, str):
        return error
    text = (str(error).strip().splitlines() or [""])[0]
    text = text if len(text) <= 240 else text[:240] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _quiet_closed_loop_callbacks() -> None:
    """Drops the unraisable "Event loop is closed" RuntimeErrors that follow a failed read.

    When one array of a step cannot be read, orbax stops and closes its asyncio loop while
    tensorstore still completes the other reads; each completion then reports an unraisable
    RuntimeError (dozens of identical tracebacks on stderr, after the real error was raised).
    Installed once, on the first read error; every other unraisable exception goes to the
    previous hook.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_lipjax_quiet_closed_loop", False):
        return

    def hook(unraisable: Any) -> None:
        error = unraisable.exc_value
        if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
            return
        previous(unraisable)

    hook._lipjax_quiet_closed_loop = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _flat_shapes(tree: PyTree) -> dict[str, tuple[int, ...] | None]:
    """`{"generator.params.Dense_0.kernel": shape}` of a state, or of a checkpoint's metadata
    (orbax's own key paths, so both sides name leaves alike)."""
    flat = ocp.tree.to_flat_dict(tree, sep=".")
    return {key: (tuple(leaf.shape) if getattr(leaf, "shape", None) is not None else None)
            for key, leaf in flat.items()}


def _mismatches(saved: PyTree, target: PyTree) -> list[str]:
    """How the arrays of a checkpoint differ from a state's, e.g.
    `["not in the model: discriminator.params.Dense_0.kernel, ...",
      "generator.params.Dense_1.kernel: saved (16, 6), model (16, 7)"]` (empty: they match)."""
    have, want = _flat_shapes(saved), _flat_shapes(target)
    out = []
    for label, keys in (("missing in the checkpoint", sorted(set(want) - set(have))),
                        ("not in the model", sorted(set(have) - set(want)))):
        if keys:
            more = f", ... ({len(keys)} in all)" if len(keys) > _MAX_LISTED else ""
            out.append(f"{label}: {', '.join(keys[:_MAX_LISTED])}{more}")
    shapes = [f"{key}: saved {have[key]}, model {want[key]}" for key in sorted(set(have) & set(want))
              if have[key] is not None and want[key] is not None and have[key] != want[key]]
    return out + shapes[:_MAX_LISTED]


class Checkpointer:
    """Saves and restores (state, pipeline position, config) under `directory`.

    Args:
      directory: where step folders are written (created if missing).
      max_to_keep: how many recent checkpoints to keep (None keeps all).
      async_save: write in a background thread (call `wait()` or `close()` before exiting).
      create: create `directory` if missing, and remove the temporary folders of saves that
        were interrupted (False: reading only; a missing folder is a CheckpointError).
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int | None = 3,
                 async_save: bool = True, create: bool = True):
        self.directory = os.path.abspath(os.fspath(directory))
        if not create and not os.path.isdir(self.directory):
            raise CheckpointError(f"no checkpoint folder {self.directory}; train first "
                                  "(lipjax train ...)")
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=create, enable_async_checkpointing=async_save,
            cleanup_tmp_directories=create)
        with deferred_interrupts():
            self._manager = ocp.CheckpointManager(self.directory, options=options,
                                                  item_names=(_STATE, _META))

    def save(self, step: int, state: PyTree, *, pipeline_state: dict | None = None,
             config: ml_collections.ConfigDict | None = None, force: bool = True) -> None:
        """Writes `step` (in the background with `async_save`).

        A step folder of that number that cannot be read (the damaged step a resumed run fell
        back from) is replaced, with a warning.

        Raises:
          CheckpointError: the step already exists and is intact.
        """
        step = int(step)
        if step in self.all_steps():
            self._replace_unreadable(step)
        meta = {"step": step, "pipeline": pipeline_state or {},
                "config": json.loads(config.to_json_best_effort()) if config is not None else {}}
        with deferred_interrupts():  # a Ctrl-C inside orbax's writer threads can crash them
            self._manager.save(
                step,
                args=ocp.args.Composite(**{_STATE: ocp.args.StandardSave(jax.device_get(state)),
                                           _META: ocp.args.JsonSave(meta)}),
                force=force,
            )

    def latest_step(self) -> int | None:
        """The newest complete step (it may still be damaged: `restore` falls back then)."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """Every complete step, oldest first."""
        return sorted(self._manager.all_steps())

    def restore(self, target: PyTree, step: int | None = None) -> tuple[PyTree, dict]:
        """Restores into the structure of `target` (e.g. a freshly initialised state).

        Returns (state, meta) with meta = {"step", "pipeline", "config"}. Without `step`, the
        newest step that can be read (a damaged newer one is skipped with a warning).

        Raises:
          CheckpointError: no checkpoint; the checkpoint's arrays do not match `target` (another
            config); `step` (or, without it, every step) is unreadable or corrupt.
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, jax.device_get(target))
        return self._newest_readable(step, lambda s: self._restore_step(s, abstract))

    def restore_generator(self, step: int | None = None) -> tuple[dict, int]:
        """The generator's variables alone, `({"params", "batch_stats"?}, step)`.

        Reads only those arrays (an orbax partial restore whose target comes from the
        checkpoint's own metadata): no model, discriminator or optimiser state is built or read,
        so inference needs nothing but the generator's module. Without `step`, the newest step
        that can be read.

        Raises:
          CheckpointError: no checkpoint, it holds no generator variables, or it is unreadable.
        """
        return self._newest_readable(step, self._generator_at)

    # ----------------------------------------------------------------------------- reading
    def _newest_readable(self, step: int | None, read: Callable[[int], T]) -> T:
        """`read(step)`; without a step, `read` of the newest step that can be read."""
        self.wait()
        steps = self.all_steps()
        if step is not None:
            if int(step) not in steps:
                raise CheckpointError(f"no step {int(step)} in {self.directory}; its steps are "
                                      f"{steps}")
            try:
                return read(int(step))
            except _UnreadableStep as unreadable:
                raise self._corrupt_error(unreadable) from unreadable
        if not steps:
            raise CheckpointError(
                f"no checkpoint in {self.directory}; train first (lipjax train ...)")
        failures: list[_UnreadableStep] = []
        for candidate in reversed(steps):
            try:
                return read(candidate)
            except _UnreadableStep as unreadable:
                failures.append(unreadable)
                self._warn_fallback(unreadable, steps)
        raise self._all_unreadable_error(failures)

    def _restore_step(self, step: int, abstract: PyTree) -> tuple[PyTree, dict]:
        """The whole checkpoint of `step`, after checking that its arrays fit `abstract`."""
        differences = _mismatches(self._state_tree(step), abstract)
        if differences:
            raise CheckpointError(
                f"checkpoint {self.directory} step {step} does not match the model built from "
                f"the config ({'; '.join(differences)}); was it written by a different config?")
        args = ocp.args.Composite(**{_STATE: ocp.args.StandardRestore(abstract),
                                     _META: ocp.args.JsonRestore()})
        restored = self._read(step, lambda: self._manager.restore(step, args=args))
        if not isinstance(restored[_META], Mapping):
            raise _UnreadableStep(self._folder(step), step, "its meta item is not a JSON object")
        return restored[_STATE], restored[_META]

    def _generator_at(self, step: int) -> tuple[dict, int]:
        """The generator variables of `step` (a partial restore)."""
        tree = self._state_tree(step)
        generator = tree.get("generator") if isinstance(tree, Mapping) else None
        if not isinstance(generator, Mapping) or "params" not in generator:
            raise CheckpointError(
                f"checkpoint {self.directory} step {step} holds no generator variables "
                "(state.generator.params); is it a lipjax workdir checkpoint?")
        target = {"generator": {
            name: jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), generator[name])
            for name in GENERATOR_COLLECTIONS if generator.get(name)}}
        args = ocp.args.Composite(**{
            _STATE: ocp.args.PyTreeRestore(item=target, partial_restore=True)})
        restored = self._with_reader(step, lambda reader: reader.restore(step, args=args))
        return dict(restored[_STATE]["generator"]), step

    def _state_tree(self, step: int) -> Mapping:
        """The saved state's tree of array metadata (shapes, dtypes) of `step`."""
        metadata = self._with_reader(step, lambda reader: reader.item_metadata(step)[_STATE])
        tree = getattr(metadata, "tree", None)
        if not isinstance(tree, Mapping):
            raise _UnreadableStep(self._folder(step), step,
                                  "the state's metadata (state/_METADATA) is missing")
        return tree

    def _with_reader(self, step: int, read: Callable[[ocp.CheckpointManager], T]) -> T:
        """`read(reader)` with a manager of its own whose "state" item is a PyTree: a partial
        restore registers that handler, which would clash with this checkpointer's
        StandardSave / StandardRestore."""
        with deferred_interrupts():
            reader = ocp.CheckpointManager(
                self.directory, item_names=(_STATE, _META),
                item_handlers={_STATE: ocp.PyTreeCheckpointHandler(),
                               _META: ocp.JsonCheckpointHandler()})
        try:
            return self._read(step, lambda: read(reader))
        finally:
            with deferred_interrupts():
                reader.close()

    def _read(self, step: int, read: Callable[[], T]) -> T:
        """`read()` with interrupts held; a read error becomes an `_UnreadableStep`."""
        try:
            with deferred_interrupts():  # a Ctrl-C inside orbax's reader threads can crash them
                return read()
        except CheckpointError:
            raise
        except _READ_ERRORS as error:
            _quiet_closed_loop_callbacks()
            raise _UnreadableStep(self._folder(step), step, error) from error

    def _replace_unreadable(self, step: int) -> None:
        """Deletes the existing folder of `step` if it cannot be read, else refuses to
        overwrite it."""
        try:
            tree = self._state_tree(step)
            abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), tree)
            self._restore_step(step, abstract)
        except _UnreadableStep as unreadable:
            warnings.warn(f"replacing checkpoint step {step} in {self.directory}: it cannot be "
                          f"read ({_describe(unreadable.error)})", stacklevel=3)
            with deferred_interrupts():
                self._manager.delete(step)
            return
        raise CheckpointError(f"checkpoint step {step} already exists in {self.directory}; "
                              "a step is written once (resume from it instead)")

    # ----------------------------------------------------------------------------- messages
    def _folder(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def _warn_fallback(self, unreadable: _UnreadableStep, steps: list[int]) -> None:
        older = [s for s in steps if s < unreadable.step]
        then = f"falls back to step {older[-1]}" if older else "no older step is left"
        warnings.warn(
            f"checkpoint step {unreadable.step} in {self.directory} cannot be read "
            f"({_describe(unreadable.error)}); {then}. The folder {unreadable.folder} is "
            "damaged (an interrupted copy, a full disk?): delete it once the run continues.",
            stacklevel=4)

    def _corrupt_error(self, unreadable: _UnreadableStep) -> CheckpointError:
        return CheckpointError(
            f"checkpoint step folder {unreadable.folder} is unreadable or corrupt "
            f"({_describe(unreadable.error)}): its files are damaged or missing, which no "
            "config change explains. Delete that folder to fall back to the previous "
            "complete step, or restore another step.")

    def _all_unreadable_error(self, failures: list[_UnreadableStep]) -> CheckpointError:
        listed = "; ".join(str(failure) for failure in failures)
        return CheckpointError(
            f"no checkpoint step in {self.directory} can be read: every step folder is "
            f"unreadable or corrupt ({listed}). Delete the checkpoints folder to train from "
            "scratch, or start a new workdir.")

    # ----------------------------------------------------------------------------- lifecycle
    def wait(self) -> None:
        with deferred_interrupts():
            self._manager.wait_until_finished()

    def close(self) -> None:
        with deferred_interrupts():
            self._manager.wait_until_finished()
            self._manager.close()
