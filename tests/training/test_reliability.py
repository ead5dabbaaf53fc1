"""The training loop never corrupts a workdir and never diverges silently: a bad config is
refused before anything is written, a resume with a different config leaves the workdir as it
was, and a run whose updates are all non-finite stops with an error instead of saving them."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from lipjax import cli
from lipjax.errors import ConfigError, TrainingDivergedError
from lipjax.training.config import validate_config
from lipjax.training.loop import train_and_evaluate
from lipjax.training.workdir import restore_generator
from tests._paths import CONFIGS
from tests._tiny_configs import tiny_paralip_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, data_dir):
    path = str(tmp_path_factory.mktemp("run"))
    train_and_evaluate(tiny_paralip_config(data_dir, num_steps=2), path, progress=False)
    return path


def _digest(folder: str) -> dict[str, str]:
    """Every file of a folder with the hash of its contents."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.mark.parametrize("override, match", [
    ("model.ffn_hidden=128", "model.ffn_hidden: 64 -> 128"),
    ("loss.ssim=0", "loss.ssim"),
    ("optim.generator.learning_rate=0.5", "learning_rate"),
])
def test_a_resume_with_another_config_changes_nothing(workdir, data_dir, override, match):
    before = _digest(workdir)
    config = tiny_paralip_config(data_dir, num_steps=4)
    key, value = override.split("=")
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    with node.ignore_type():
        node[leaf] = type(node[leaf])(value)
    with pytest.raises(ConfigError, match=match):
        train_and_evaluate(config, workdir, progress=False)
    assert _digest(workdir) == before
    assert restore_generator(workdir).step == 2


def test_a_longer_resume_is_allowed_and_config_json_follows(workdir, data_dir):
    import shutil

    copy = workdir + "_longer"
    shutil.copytree(workdir, copy)
    result = train_and_evaluate(tiny_paralip_config(data_dir, num_steps=3), copy, progress=False)
    assert result["final_step"] == 3
    assert json.load(open(os.path.join(copy, "config.json")))["train"]["num_steps"] == 3


@pytest.mark.parametrize("override, match", [
    ("train.num_steps=-3", "num_steps.*>= 1"), ("train.num_steps=abc", "is an integer"),
    ("train.num_steps=2.5", "integer"), ("optim.generator.learning_rate=fast", "a number"),
    ("optim.generator.learning_rate=inf", "finite"), ("data.batch_size=0", "batch_size"),
    ("train.parallel=threads", "pmap"), ("loss.l1=-1", "loss.l1"),
])
def test_bad_overrides_exit_2_and_create_no_workdir(tmp_path, capsys, override, match):
    out = tmp_path / "run"
    status = cli.main(["train", "--config", os.path.join(CONFIGS, "paralip_synthetic.py"),
                       "--workdir", str(out), "--set", override])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert __import__("re").search(match, err), err
    assert not out.exists()


def test_an_absurd_learning_rate_stops_with_an_error_and_saves_nothing_bad(data_dir, tmp_path):
    config = tiny_paralip_config(data_dir, num_steps=6)
    config.optim.generator.clip_grad_norm = 0.0
    config.train.max_consecutive_skipped = 2
    config.train.checkpoint_every = 1
    # Finite losses and gradients whose squares overflow Adam's second moment: every updated
    # optimiser state is non-finite, so every update must be skipped.
    config.loss.l1 = 1e38
    validate_config(config)
    with pytest.raises(TrainingDivergedError, match="consecutive"):
        train_and_evaluate(config, str(tmp_path / "run"), progress=False)
    restored = restore_generator(tmp_path / "run")  # whatever was saved is finite
    for leaf in __import__("jax").tree.leaves(restored.variables):
        assert np.all(np.isfinite(np.asarray(leaf)))
