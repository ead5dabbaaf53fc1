"""Tests of lipjax.training.workdir: generator-only restore, workdirs of the old layout, resume
rules, and the system lookup by import path."""

from __future__ import annotations

import json

import jax
import ml_collections
import numpy as np
import pytest

from lipjax.errors import CheckpointError, ConfigError
from lipjax.training.system import SYSTEM_ALIASES, system_class, system_path
from lipjax.training.workdir import check_resume, read_config, restore_generator
from tests._tiny_configs import old_style_paralip_workdir, tiny_paralip_config
from tests._toy_system import ToySystem


def test_old_style_workdir_restores_the_generator_alone(tmp_path):
    from lipjax.paralip import LipGenerator, ParaLip, ParaLipSystem

    workdir, state = old_style_paralip_workdir(tmp_path)
    assert state.discriminator is not None
    restored = restore_generator(workdir)
    assert restored.step == 7 and restored.system_class is ParaLipSystem
    assert isinstance(restored.module, ParaLip)
    assert "evaluation" in restored.config  # filled in for old workdirs
    assert set(restored.variables) == {"params", "batch_stats"}  # no optimiser, no discriminator
    for want, got in ((state.generator.params, restored.variables["params"]),
                      (state.generator.batch_stats, restored.variables["batch_stats"])):
        assert jax.tree.structure(want) == jax.tree.structure(got)
        for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    generator = LipGenerator.from_checkpoint(workdir)
    identity = np.zeros((80, 160, 3), np.uint8)
    frames = generator("bin blue", identity, durations=np.full(10, 2, np.int32))
    assert frames.shape == (20, 80, 160, 3) and np.isfinite(frames).all()


def test_restore_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        restore_generator(tmp_path / "absent")
    (tmp_path / "config.json").write_text(json.dumps({"system": "paralip"}))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        restore_generator(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="not a config"):
        read_config(tmp_path)


def test_every_old_system_name_resolves_to_its_class():
    for old, path in SYSTEM_ALIASES.items():
        cls = system_class(old)
        assert system_path(cls).rsplit(".", 1)[1] == path.rsplit(".", 1)[1]
        assert system_class(path) is cls


def test_a_system_outside_lipjax_is_found_by_its_import_path():
    assert system_class("tests._toy_system.ToySystem") is ToySystem
    with pytest.raises(ConfigError, match="not an importable class"):
        system_class("tests._toy_system.NoSuchSystem")
    with pytest.raises(ConfigError, match="not a lipjax System"):
        system_class("tests._toy_system.ToyGenerator")
    with pytest.raises(ConfigError, match="import path"):
        system_class(ml_collections.ConfigDict({"seed": 0}))


def test_resume_rules():
    saved = tiny_paralip_config("data")
    longer = tiny_paralip_config("elsewhere", num_steps=10)  # loop fields may change
    check_resume(saved, longer)
    wider = tiny_paralip_config("data")
    wider.model.hidden = 64
    wider.loss.ssim = 0.0
    with pytest.raises(ConfigError, match=r"loss.ssim: 1.0 -> 0.0; model.hidden: 32 -> 64"):
        check_resume(saved, wider)
