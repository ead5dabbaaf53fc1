"""The documentation runs as written: every Python block of README.md, and the "add a system"
example of docs/ARCHITECTURE.md (trained for two steps on the tiny synthetic corpus)."""

from __future__ import annotations

import os
import re
import sys

import cv2
import numpy as np
import pytest

import lipjax
from tests._paths import REPO
from tests._tiny_configs import TINY_LIPS_OVERRIDES, old_style_paralip_workdir

_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return _PYTHON_BLOCK.findall(f.read())


def _in_scratch_dir(monkeypatch, tmp_path) -> None:
    """Run from a fresh folder that sees the repository's configs, as a user's checkout does."""
    monkeypatch.chdir(tmp_path)
    os.symlink(os.path.join(REPO, "experiments"), tmp_path / "experiments")


@pytest.mark.slow
def test_architecture_add_a_system_example_trains(tmp_path, monkeypatch):
    blocks = python_blocks(os.path.join(REPO, "docs", "ARCHITECTURE.md"))
    module = next(b for b in blocks if b.startswith('"""my_system.py'))
    usage = next(b for b in blocks if "my_system.TokenDeltaSystem" in b)
    _in_scratch_dir(monkeypatch, tmp_path)
    (tmp_path / "my_system.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_system", raising=False)
    load_config = lipjax.load_config
    tiny = TINY_LIPS_OVERRIDES + [f"data.data_dir={tmp_path / 'data'}", "train.num_steps=2",
                                  "train.eval_every=2", "train.checkpoint_every=2"]
    monkeypatch.setattr(lipjax, "load_config",
                        lambda path, overrides=(): load_config(path, list(overrides) + tiny))
    namespace: dict = {}
    exec(compile(usage, "ARCHITECTURE.md", "exec"), namespace)
    result, restored = namespace["result"], namespace["restored"]
    assert result["final_step"] == 2 and np.isfinite(result["eval"]["psnr/model"])
    assert type(restored.module).__name__ == "TokenDelta" and restored.step == 2


@pytest.fixture
def readme_workdir(tmp_path, monkeypatch):
    """The files the README's Python blocks name: runs/paralip (a tiny ParaLip workdir) and
    lip.png (an identity image)."""
    _in_scratch_dir(monkeypatch, tmp_path)
    old_style_paralip_workdir(tmp_path / "runs" / "paralip")
    cv2.imwrite(str(tmp_path / "lip.png"), np.full((80, 160, 3), 120, np.uint8))
    return tmp_path


def test_every_readme_python_block_runs(readme_workdir):
    blocks = python_blocks(os.path.join(REPO, "README.md"))
    assert len(blocks) >= 3
    namespace: dict = {}
    for index, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {index + 1}", "exec"), namespace)
