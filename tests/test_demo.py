"""`make demo`'s shipped checkpoints: the float16 export round trip, the SHA-256 manifest (a
damaged or missing file is named), the committed folder itself, and the quick path end to end
on tiny random models."""

from __future__ import annotations

import json
import os
import shutil

import jax
import numpy as np
import pytest

from lipjax.demo import checkpoints
from lipjax.demo.__main__ import main as demo_main
from lipjax.errors import CheckpointError
from lipjax.training.state import make_rng
from lipjax.training.system import make_system
from lipjax.training.workdir import restore_generator
from tests._tiny_configs import tiny_paralip_config
from tests.dck._tiny import tiny_config as tiny_dck_config

MAX_FILE_BYTES = 5 * 1024 * 1024


def _random_variables(config):
    system = make_system(config)
    variables, _ = system.init_variables(make_rng(config),
                                         system.example_batch(tuple(config.data.buckets[0])))
    # Non-trivial BatchNorm statistics, so that their float32 round trip is checked too.
    return jax.tree_util.tree_map_with_path(
        lambda path, x: np.asarray(x) + (0.25 if "batch_stats" in jax.tree_util.keystr(path)
                                         else 0.0), jax.device_get(variables))


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A demo checkpoint folder of tiny random ParaLip and DCK models (no landmarks)."""
    root = tmp_path_factory.mktemp("demo")
    data_dir = os.fspath(root / "data")
    folder = root / "checkpoints"
    saved = {}
    for name, config in (("paralip", tiny_paralip_config(data_dir)),
                         ("dck", tiny_dck_config(data_dir))):
        saved[name] = _random_variables(config)
        checkpoints.export_generator(saved[name], config, folder, name)
    checkpoints.write_manifest(folder, {"paralip": {"steps": 0}, "dck": {"steps": 0}})
    return folder, data_dir, saved


def test_export_stores_params_in_float16_and_statistics_exactly(tiny_folder, tmp_path):
    folder, _, saved = tiny_folder
    config, loaded = checkpoints.load_generator(folder, "paralip")
    assert config.system == "lipjax.paralip.ParaLipSystem"
    flat_saved = jax.tree_util.tree_leaves_with_path(saved["paralip"])
    flat_loaded = dict(jax.tree_util.tree_leaves_with_path(loaded))
    assert len(flat_saved) == len(flat_loaded)
    for path, value in flat_saved:
        got = flat_loaded[path]
        assert got.dtype == np.float32 and got.shape == value.shape
        want = value.astype(np.float16).astype(np.float32) if path[0].key == "params" else value
        np.testing.assert_array_equal(got, want, err_msg=jax.tree_util.keystr(path))
    workdir = checkpoints.restore_workdir(folder, "paralip", tmp_path / "w",
                                          ["data.data_dir=elsewhere"])
    restored = restore_generator(workdir)
    assert restored.config.data.data_dir == "elsewhere" and restored.step == 0
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored.variables), loaded)


def test_the_manifest_names_a_damaged_or_missing_file(tiny_folder, tmp_path):
    folder, _, _ = tiny_folder
    manifest = checkpoints.verify_checkpoints(folder)
    assert set(manifest["files"]) == {"paralip.npz", "paralip.config.json", "dck.npz",
                                      "dck.config.json"}
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    with open(copy / "dck.npz", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    (copy / "paralip.config.json").unlink()
    with pytest.raises(CheckpointError, match=r"dck.npz has another SHA-256.*paralip.config.json "
                                              r"is missing.*make demo-checkpoints"):
        checkpoints.verify_checkpoints(copy)
    (copy / checkpoints.MANIFEST).unlink()
    with pytest.raises(CheckpointError, match="MANIFEST.json is missing"):
        checkpoints.verify_checkpoints(copy)


@pytest.mark.skipif(not (checkpoints.DEFAULT_FOLDER / checkpoints.MANIFEST).is_file(),
                    reason="no demo checkpoints committed yet (make demo-checkpoints)")
def test_the_committed_checkpoints_verify_and_are_small():
    manifest = checkpoints.verify_checkpoints()
    assert {"paralip.npz", "dck.npz", "landmarks/params.msgpack"} <= set(manifest["files"])
    for name, entry in manifest["files"].items():
        assert entry["bytes"] < MAX_FILE_BYTES, name
    for name in ("paralip", "dck"):
        config, _ = checkpoints.load_generator(checkpoints.DEFAULT_FOLDER, name)
        assert manifest["models"][name]["steps"] == config.train.num_steps


@pytest.mark.slow
def test_the_quick_demo_runs_end_to_end(tiny_folder, tmp_path):
    folder, data_dir, _ = tiny_folder
    out = tmp_path / "out"
    assert demo_main(["--checkpoints", os.fspath(folder), "--data_dir", data_dir,
                      "--out", os.fspath(out), "--no_progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["landmark_regressor"] is None            # the tiny folder has none
    for key in ("psnr/pred_dur", "ssim/pred_dur", "psnr/identity_baseline"):
        assert np.isfinite(metrics["paralip"]["test"][key]), key
    for key in ("psnr/model", "psnr/input_baseline", "psnr_mouth/model"):
        assert np.isfinite(metrics["dck"]["test"][key]), key
    assert metrics["dck"]["talk"]["frames"] > 0
    written = set(os.listdir(out))
    assert {"paralip_test_0.mp4", "paralip_contact_sheet.png", "dck_talk.mp4"} <= written
    with pytest.raises(SystemExit):
        demo_main(["--export", os.fspath(tmp_path / "x")])   # --export needs --train
