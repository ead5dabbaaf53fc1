"""experiments/dck_recipe.py end to end in --tiny mode: expert -> Wav2Lip -> exported clips and
the pairs Wav2Lip makes of them -> DCK on those pairs with the expert's audio network frozen ->
the Table II rows on the test pairs; a second run reuses every stage."""

import importlib.util
import json
import os
import sys

import numpy as np
import pytest

from tests._paths import REPO

pytestmark = pytest.mark.slow
EXPERIMENTS = os.path.join(REPO, "experiments")


def _recipe():
    if EXPERIMENTS not in sys.path:
        sys.path.insert(0, EXPERIMENTS)
    spec = importlib.util.spec_from_file_location(
        "dck_recipe", os.path.join(EXPERIMENTS, "dck_recipe.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tiny_recipe_runs_every_stage_and_reuses_them(tmp_path, capsys):
    recipe = _recipe()
    argv = ["--tiny", "--out", str(tmp_path / "recipe"), "--no_progress", "--per_video", "1"]
    summary = recipe.run_recipe(recipe.parse_args(argv))
    stages = summary["stages"]
    assert list(stages) == list(recipe.STAGES)
    assert stages["expert"]["final_step"] == stages["wav2lip"]["final_step"] == 2
    assert stages["dck"]["final_step"] == 2
    # 2 identities x 2 train pairs x 2 clips, each an mp4 + boxes and a wav; one audio each.
    assert stages["pairs"]["clips"] == 8 and stages["pairs"]["output_frames"] > 0
    assert stages["pairs"]["records"]["train"] > 0 and stages["pairs"]["records"]["test"] > 0
    videos = tmp_path / "recipe" / "export" / "videos"
    assert len(list(videos.glob("*.mp4"))) == len(list(videos.glob("*.boxes.npy"))) == 8
    table = summary["table"]
    assert set(table) == {"dck", "wav2lip", "input_frame", "ground_truth"}
    for row in ("dck", "wav2lip", "input_frame"):
        for key in ("psnr", "ssim", "psnr_mouth", "lmd", "lse_d", "lse_c"):
            assert np.isfinite(table[row][key]), (row, key)
    # 2 test pairs x 2 directions; the input frame's exact LMD is that of two real clips.
    assert table["ground_truth"]["clips"] == table["dck"]["clips"] == 4
    assert table["input_frame"]["lmd_exact"] > 0
    results = tmp_path / "recipe" / "results"
    assert json.loads((results / "dck_recipe.json").read_text())["table"] == table
    assert (results / "dck_recipe.png").stat().st_size > 0
    # Every stage's output is there: a second run trains and builds nothing.
    capsys.readouterr()
    again = recipe.run_recipe(recipe.parse_args(argv))
    out = capsys.readouterr().out
    assert all(f"[recipe] {name}: reused" in out for name in recipe.STAGES)
    assert again["table"] == table
