"""Tests of lipjax.training.checkpoint on damaged checkpoints: a newest step that cannot be read
falls back to the previous complete one with a warning, an explicitly requested step does not,
and corrupt data is told apart from a checkpoint of another config.

The states are the toy system's (`tests._toy_system`) with a discriminator: a whole TrainState
(both networks, both optimiser states) in a few milliseconds. The damage helpers know orbax's
layout of a step folder (`<step>/state/_METADATA`, array data in `<step>/state/d/`) and assert
that they found what they damage, so a changed layout fails loudly instead of testing nothing.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Callable

import jax
import numpy as np
import pytest

from lipjax.errors import CheckpointError
from lipjax.training.checkpoint import Checkpointer
from lipjax.training.state import TrainState, init_state, make_rng
from lipjax.training.system import make_system
from tests._tiny_configs import tiny_paralip_config

STEPS = (1, 2, 3)


def _toy_config(adv: float = 0.5):
    config = tiny_paralip_config("unused", adv=adv)
    config.system = "tests._toy_system.ToySystem"
    return config


def _initial_state(adv: float = 0.5) -> TrainState:
    config = _toy_config(adv)
    system = make_system(config)
    state, _ = init_state(system, config, system.example_batch((1, 1)), make_rng(config))
    return jax.device_get(state)


def _state_at(state: TrainState, step: int) -> TrainState:
    """`state` with its step set and every float leaf shifted, so that steps are told apart."""
    shifted = jax.tree.map(
        lambda x: x + np.asarray(step, x.dtype) if np.issubdtype(x.dtype, np.floating) else x,
        state)
    return shifted.replace(step=np.asarray(step, np.int32))


@pytest.fixture(scope="module")
def template() -> TrainState:
    return _initial_state()


@pytest.fixture
def folder(tmp_path, template) -> Path:
    """A checkpoint folder with steps 1, 2, 3 (synchronous saves)."""
    path = tmp_path / "checkpoints"
    checkpointer = Checkpointer(path, async_save=False, max_to_keep=None)
    for step in STEPS:
        checkpointer.save(step, _state_at(template, step), pipeline_state={"batch": step})
    checkpointer.close()
    return path


# ---------------------------------------------------------------------------------------------
# Damage, as an interrupted copy, a full disk or a bad sector leaves it


def _data_files(step_folder: Path) -> list[Path]:
    files = sorted((step_folder / "state" / "d").glob("*"))
    assert files, f"no array data files in {step_folder}/state/d (orbax layout changed?)"
    return files


def _remove_data(step_folder: Path) -> None:
    for path in _data_files(step_folder):
        path.unlink()


def _truncate_data(step_folder: Path) -> None:
    for path in _data_files(step_folder):
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 2)


def _flip_data(step_folder: Path) -> None:
    path = max(_data_files(step_folder), key=lambda p: p.stat().st_size)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    path.write_bytes(bytes(data))


def _remove_metadata(step_folder: Path) -> None:
    path = step_folder / "state" / "_METADATA"
    assert path.is_file(), f"no {path} (orbax layout changed?)"
    path.unlink()


def _empty(step_folder: Path) -> None:
    shutil.rmtree(step_folder)
    step_folder.mkdir()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "data removed": _remove_data, "data truncated": _truncate_data, "data flipped": _flip_data,
    "metadata removed": _remove_metadata, "folder emptied": _empty,
}


def _assert_state_equal(got, want) -> None:
    got_leaves, got_tree = jax.tree.flatten(got)
    want_leaves, want_tree = jax.tree.flatten(want)
    assert got_tree == want_tree
    for a, b in zip(got_leaves, want_leaves):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------------------------------------
# Item 1: fall back to the previous complete step


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_newest_step_falls_back_to_the_previous_one(folder, template, damage):
    DAMAGES[damage](folder / "3")
    checkpointer = Checkpointer(folder, async_save=False, create=False)
    try:
        with pytest.warns(UserWarning, match=r"step 3 .*cannot be read") as caught:
            state, meta = checkpointer.restore(template)
        assert meta["step"] == 2 and meta["pipeline"] == {"batch": 2}
        _assert_state_equal(state, _state_at(template, 2))
        assert "falls back to step 2" in str(caught[0].message)
        with pytest.warns(UserWarning, match=r"step 3 .*cannot be read"):
            variables, step = checkpointer.restore_generator()
        assert step == 2
        _assert_state_equal(variables, _state_at(template, 2).generator.variables)
    finally:
        checkpointer.close()


def test_a_garbled_meta_item_falls_back_too(folder, template):
    (folder / "3" / "meta" / "metadata").write_text("{not json")
    checkpointer = Checkpointer(folder, async_save=False, create=False)
    with pytest.warns(UserWarning, match=r"step 3 .*cannot be read"):
        _, meta = checkpointer.restore(template)
    checkpointer.close()
    assert meta["step"] == 2


def test_two_damaged_steps_fall_back_twice_newest_first(folder, template):
    _remove_data(folder / "3")
    _empty(folder / "2")
    checkpointer = Checkpointer(folder, async_save=False, create=False)
    with pytest.warns(UserWarning) as caught:
        _, meta = checkpointer.restore(template)
    checkpointer.close()
    assert meta["step"] == 1
    messages = [str(w.message) for w in caught if "cannot be read" in str(w.message)]
    assert len(messages) == 2
    assert "step 3" in messages[0] and "step 2" in messages[1]


def test_when_no_step_can_be_read_the_error_lists_each(folder, template):
    for step in STEPS:
        _remove_data(folder / str(step))
    checkpointer = Checkpointer(folder, async_save=False, create=False)
    with pytest.warns(UserWarning):
        with pytest.raises(CheckpointError, match="no checkpoint step .* can be read") as info:
            checkpointer.restore(template)
    checkpointer.close()
    message = str(info.value)
    assert all(f"step {step}" in message for step in STEPS)
    assert "different config" not in message


def test_an_explicit_step_does_not_fall_back(folder, template):
    _remove_data(folder / "3")
    checkpointer = Checkpointer(folder, async_save=False, create=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*cannot be read")  # no fallback warning either
        with pytest.raises(CheckpointError, match="corrupt"):
            checkpointer.restore(template, step=3)
        with pytest.raises(CheckpointError, match="corrupt"):
            checkpointer.restore_generator(step=3)
        with pytest.raises(CheckpointError, match=r"no step 7 .*\[1, 2, 3\]"):
            checkpointer.restore(template, step=7)
        _, meta = checkpointer.restore(template, step=2)  # an intact one still reads
    checkpointer.close()
    assert meta["step"] == 2


def test_a_resumed_run_replaces_the_damaged_step(folder, template):
    _truncate_data(folder / "3")
    checkpointer = Checkpointer(folder, async_save=False)
    with pytest.warns(UserWarning, match="cannot be read"):
        state, _ = checkpointer.restore(template)
    with pytest.warns(UserWarning, match="replac"):
        checkpointer.save(3, _state_at(template, 3))  # what the resumed run does next
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*cannot be read")
        restored, meta = checkpointer.restore(template)
        assert meta["step"] == 3
        with pytest.raises(CheckpointError, match="already exists"):  # an intact step is kept
            checkpointer.save(3, _state_at(template, 4))
    checkpointer.close()
    _assert_state_equal(restored, _state_at(template, 3))


# ---------------------------------------------------------------------------------------------
# Item 2: corrupt data versus a checkpoint of another config


def test_corrupt_data_is_named_as_such_with_its_folder(folder, template):
    _flip_data(folder / "3")
    checkpointer = Checkpointer(folder, async_save=False, create=False)
    with pytest.raises(CheckpointError) as info:
        checkpointer.restore(template, step=3)
    checkpointer.close()
    message = str(info.value)
    assert "corrupt" in message and str(folder / "3") in message
    assert "delete" in message.lower() and "different config" not in message


def _wider_generator(state: TrainState) -> TrainState:
    params = jax.tree.map(lambda x: np.zeros(x.shape[:-1] + (x.shape[-1] + 1,), x.dtype),
                          state.generator.params)
    return state.replace(generator=state.generator.replace(params=params))


@pytest.mark.parametrize("other, match", [
    ("shapes", r"generator\.params\.Dense_1\.kernel: saved \(16, 6\), model \(16, 7\)"),
    ("no discriminator", r"not in the model: discriminator\."),
])
def test_another_config_is_named_as_such_and_does_not_fall_back(folder, template, other, match):
    target = _wider_generator(template) if other == "shapes" else _initial_state(adv=0.0)
    checkpointer = Checkpointer(folder, async_save=False, create=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*cannot be read")
        with pytest.raises(CheckpointError, match="different config") as info:
            checkpointer.restore(target)
    checkpointer.close()
    assert "step 3" in str(info.value) and "corrupt" not in str(info.value)
    assert __import__("re").search(match, str(info.value)), str(info.value)
