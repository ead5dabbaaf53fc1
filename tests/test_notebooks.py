"""The notebooks in notebooks/ run top to bottom in tiny mode (`LIPJAX_NOTEBOOK_TINY=1`, the
CPU) and show what they promise: videos (an embedded mp4) and images (PNG). The committed
notebooks are stripped (no outputs, no execution counts) and equal what
notebooks/make_notebooks.py writes from notebooks/src/."""

from __future__ import annotations

import base64
import functools
import io
import operator
import os
import runpy
import sys

import jax
import nbformat
import numpy as np
import PIL.Image
import pytest
from nbclient import NotebookClient

from tests._paths import REPO

NOTEBOOKS = os.path.join(REPO, "notebooks")
NAMES = ("quickstart", "bring_your_own_weights", "train_grid_tpu")
# Per notebook: (videos, images, texts that must appear in the outputs).
EXPECTED = {
    "quickstart": (2, 2, ["steps at", "wrote"]),
    "bring_your_own_weights": (1, 1, ["RANDOM WEIGHTS", "face detected in"]),
    "train_grid_tpu": (1, 1, ["resuming from the last checkpoint",
                              "logged steps: [1, 2, 3, 4]"]),
}


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(os.path.join(NOTEBOOKS, f"{name}.ipynb"), as_version=4)


def _generator():
    return runpy.run_path(os.path.join(NOTEBOOKS, "make_notebooks.py"))


def test_the_notebooks_are_the_ones_the_generator_lists():
    found = sorted(f[:-len(".ipynb")] for f in os.listdir(NOTEBOOKS) if f.endswith(".ipynb"))
    assert found == sorted(NAMES) == sorted(_generator()["NOTEBOOKS"])


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_stripped(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert all("execution" not in cell.metadata for cell in notebook.cells)
    assert "widgets" not in notebook.metadata


def test_committed_notebooks_equal_their_sources():
    assert _generator()["main"](["--check"]) == 0


@pytest.mark.parametrize("name", NAMES)
def test_notebook_opens_with_a_description_and_the_install_cell(name):
    first, second = _read(name).cells[:2]
    assert first.cell_type == "markdown" and "\n" not in first.source.strip()
    assert "![" not in first.source and "<img" not in first.source  # no badges
    assert second.cell_type == "code" and 'LIPJAX_REPO = "https://github.com/' in second.source
    for needle in ("LIPJAX_NOTEBOOK_TINY", "nvidia-smi", "COLAB_TPU_ADDR", "/dev/accel",
                   "find_checkout(", "pip"):
        assert needle in second.source


def _outputs(notebook: nbformat.NotebookNode) -> tuple[int, int, str]:
    """(embedded mp4 videos, decodable PNG images, all text) in a notebook's outputs."""
    videos, images, texts = 0, 0, []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            html = data.get("text/html", "")
            if "<video" in html and "data:video/mp4;base64," in html:
                payload = html.split("data:video/mp4;base64,")[1].split('"')[0]
                videos += len(base64.b64decode(payload)) > 1000
            if "image/png" in data:
                image = PIL.Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
                images += min(image.size) >= 32
            texts += [output.get("text", ""), html, data.get("text/plain", "")]
    return videos, images, "\n".join(texts)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_tiny_mode(name, tmp_path):
    notebook = _read(name)
    before = sorted(os.listdir(NOTEBOOKS))
    env = dict(os.environ, LIPJAX_NOTEBOOK_TINY="1", TMPDIR=str(tmp_path),
               JAX_COMPILATION_CACHE_DIR=str(jax.config.jax_compilation_cache_dir or ""))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": NOTEBOOKS}})
    client.execute(env=env)  # raises CellExecutionError, with the cell and traceback, on an error
    videos, images, text = _outputs(notebook)
    want_videos, want_images, want_texts = EXPECTED[name]
    assert videos >= want_videos and images >= want_images, (videos, images)
    for needle in want_texts:
        assert needle in text
    assert sorted(os.listdir(NOTEBOOKS)) == before  # runs write to TMPDIR, not next to the notebooks


@pytest.mark.slow
def test_random_wav2lip_checkpoint_without_the_test_helpers_round_trips(tmp_path, monkeypatch):
    """Where tests/ is not importable, the notebook writes lipjax's own initial weights back
    through the importer's table: importing that file gives exactly those weights."""
    pytest.importorskip("torch", reason="the checkpoint is a PyTorch file")
    from lipjax.convert.wav2lip import load_wav2lip, wav2lip_config
    from lipjax.wav2lip.system import Wav2LipSystem

    cell = next(c for c in _read("bring_your_own_weights").cells
                if "random-checkpoint" in c.metadata.get("tags", []))
    namespace = {"np": np, "jax": jax}
    exec(compile(cell.source, "random-checkpoint cell", "exec"), namespace)
    monkeypatch.setitem(sys.modules, "tests.convert._torch_wav2lip", None)  # ImportError
    path = namespace["random_wav2lip_checkpoint"](tmp_path / "wav2lip.pth", seed=3)
    _, loaded = load_wav2lip(path)
    module = Wav2LipSystem.generator_from_config(wav2lip_config())
    expected = module.init(jax.random.key(3), np.zeros((1, 96, 96, 6), np.float32),
                           np.zeros((1, 80, 16), np.float32))
    flat, _ = jax.tree_util.tree_flatten_with_path(expected)
    assert len(flat) == len(jax.tree.leaves(loaded)) > 100
    for key_path, value in flat:
        keys = [k.key for k in key_path]
        np.testing.assert_array_equal(functools.reduce(operator.getitem, keys, loaded), value)
