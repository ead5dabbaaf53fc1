"""Evaluation of a finished (or running) training workdir from its latest checkpoint."""

from __future__ import annotations

import json
import os
from typing import Sequence

import ml_collections

from lipjax.errors import CheckpointError
from lipjax.train.checkpoint import Checkpointer
from lipjax.train.commands import apply_overrides
from lipjax.train.loop import _write_json, evaluate, init_state, load_source, make_rng
from lipjax.train.systems import make_system

__all__ = ["evaluate_workdir", "restore_workdir"]


def restore_workdir(workdir: str, overrides: Sequence[str] = ()):
    """(config, system, state) from `workdir/config.json` and its latest checkpoint."""
    config_path = os.path.join(workdir, "config.json")
    if not os.path.isfile(config_path):
        raise CheckpointError(f"{workdir} has no config.json; is it a lipjax training workdir?")
    with open(config_path, encoding="utf-8") as f:
        config = ml_collections.ConfigDict(json.load(f))
    if "evaluation" not in config:  # workdirs written before the section existed
        config.evaluation = ml_collections.ConfigDict({"landmark_regressor": None})
    config = apply_overrides(config, overrides)
    system = make_system(config)
    example = system.example_batch(tuple(config.data.buckets[0]))
    state, _ = init_state(system, config, example, make_rng(config))
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), async_save=False)
    state, _ = ckpt.restore(state)
    ckpt.close()
    return config, system, state


def evaluate_workdir(workdir: str, *, split: str | None = None, overrides: Sequence[str] = (),
                     progress: bool = True) -> dict[str, float]:
    """Metrics of the latest checkpoint on `split`; also written to workdir/eval_<split>.json."""
    config, system, state = restore_workdir(workdir, overrides)
    split = split or config.data.eval_split
    source = load_source(config.data, split)
    result = evaluate(system, state, source, config, progress=progress)
    result["step"] = int(state.step)
    _write_json(os.path.join(workdir, f"eval_{split}.json"), result)
    return result
