"""The CLI's persistent compilation cache: where it lives, opting out, and that a `lipjax lip`
fills it and a second one reuses it."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from lipjax.cli import compile_cache_dir, enable_compile_cache

REPO = Path(__file__).resolve().parents[2]


def test_cache_folder_follows_the_environment(tmp_path):
    assert compile_cache_dir({"LIPJAX_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert compile_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/lipjax/jax")
    assert compile_cache_dir({}) == Path(os.path.expanduser("~/.cache/lipjax/jax"))
    for off in ("0", "false", "off", "No"):
        assert compile_cache_dir({"LIPJAX_COMPILE_CACHE": off}) is None


def test_a_cache_jax_already_has_is_left_alone(tmp_path):
    before = jax.config.jax_compilation_cache_dir  # the test suite's own (tests/conftest.py)
    assert before
    assert enable_compile_cache(tmp_path / "other") is None
    assert jax.config.jax_compilation_cache_dir == before
    assert enable_compile_cache(None) is None


def _lip(workdir: Path, folder: Path, cache: Path, *extra: str) -> None:
    # Every compilation cached: the CLI's default skips quick ones, and whether a compile is
    # quick depends on the machine's load, which made the comparison below flaky.
    env = dict(os.environ, LIPJAX_CACHE_DIR=str(cache), JAX_PLATFORMS="cpu",
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    out = folder / f"out_{len(list(folder.glob('out_*')))}.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "lipjax.cli", *extra, "lip", "--checkpoint", str(workdir),
         "--text", "bin blue", "--identity", str(folder / "lips.png"), "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.exists()


@pytest.mark.slow
def test_a_second_lip_reads_what_the_first_compiled(tmp_path):
    import cv2

    sys.path.insert(0, str(REPO / "benchmarks"))
    from compile_cache import _small_paralip

    workdir = _small_paralip(tmp_path)
    cv2.imwrite(str(tmp_path / "lips.png"), np.full((80, 160, 3), 128, np.uint8))
    cache = tmp_path / "cache"
    _lip(workdir, tmp_path, cache)
    entries = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert entries  # the decoder and the duration predictor, at least
    _lip(workdir, tmp_path, cache)
    again = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert [e for e in again if not e.endswith("-atime")] == \
        [e for e in entries if not e.endswith("-atime")]  # nothing new compiled
    _lip(workdir, tmp_path, tmp_path / "unused", "--no_compile_cache")
    assert not any(p.is_file() for p in (tmp_path / "unused").rglob("*"))
