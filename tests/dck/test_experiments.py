"""The pure helpers of the DCK experiment scripts (experiments/dck_translation.py,
experiments/dck_table1.py and their experiments/_dck_common.py); the scripts themselves train
and evaluate for hours and are not run here."""

import importlib.util
import json
import os
import sys

import numpy as np
import pytest

from lipjax.face import crop_and_resize
from tests._paths import REPO

EXPERIMENTS = os.path.join(REPO, "experiments")


def _module(name: str):
    if EXPERIMENTS not in sys.path:
        sys.path.insert(0, EXPERIMENTS)
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXPERIMENTS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = _module("_dck_common")


def _record(num_frames=3):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
    return {"frames_a": np.stack([frame] * num_frames),
            "face_boxes": np.tile(np.array([[30, 20, 70, 60]], np.float32), (num_frames, 1)),
            "landmarks_a": np.tile(np.array([[[50.0, 45.0], [54.0, 47.0]]], np.float32),
                                   (num_frames, 1, 1)),
            "audio_a": np.zeros(8, np.float32)}


def test_translated_crops_show_the_face_higher_by_the_rate():
    record = _record()
    moved = common.BoxedSource.translated([record], 0.1)[0]
    np.testing.assert_allclose(moved["face_boxes"][:, [1, 3]], [[24, 64]] * 3)   # 10% of 40 px
    np.testing.assert_array_equal(moved["face_boxes"][:, [0, 2]], record["face_boxes"][:, [0, 2]])
    crop = crop_and_resize(record["frames_a"][0], record["face_boxes"][0], (40, 40))
    crop_moved = crop_and_resize(moved["frames_a"][0], moved["face_boxes"][0], (40, 40))
    np.testing.assert_array_equal(crop_moved[:-4], crop[4:])      # content moved up 4 rows
    for key in ("frames_a", "landmarks_a", "audio_a"):
        assert moved[key] is record[key]
    assert common.BoxedSource.translated([record], 0.0)[0]["face_boxes"].tolist() == \
        record["face_boxes"].tolist()


def test_jittered_source_is_deterministic_per_record_and_bounded():
    source = [_record(), _record()]
    a = common.BoxedSource.jittered(source, 0.25, seed=1)
    b = common.BoxedSource.jittered(source, 0.25, seed=1)
    assert len(a) == 2
    np.testing.assert_array_equal(a[1]["face_boxes"], b[1]["face_boxes"])
    assert not np.array_equal(a[0]["face_boxes"], a[1]["face_boxes"])
    offset = (a[0]["face_boxes"] - source[0]["face_boxes"]) / 40.0
    assert np.abs(offset).max() <= 0.25 + 1e-6
    # The mouth moves in its crop by the box offsets (64-pixel crops of 40-pixel boxes).
    np.testing.assert_allclose(common.mouth_centre_spread(source, 64), [0, 0], atol=1e-5)
    spread = common.mouth_centre_spread(a[:1], 64)
    snapped = np.round(a[0]["face_boxes"][:, :2]) - [30, 20]     # crops cut whole pixels
    np.testing.assert_allclose(spread, np.std(snapped * 64 / 40, axis=0), rtol=1e-4, atol=1e-5)


def test_expert_view_is_the_experts_face_resolution():
    crops = np.full((3, 64, 64, 3), 0.5, np.float32)
    crops[1] = 1.5                                   # clipped
    view = common.expert_view(crops)
    assert view.shape == (3, 48, 48, 3) and view.dtype == np.uint8
    assert np.all(view[0] == 128) and np.all(view[1] == 255)


def test_curves_and_wall_time_from_a_workdir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"data": {"batch_size": 4}}))
    for step, psnr in ((200, 31.0), (100, 30.0)):
        (tmp_path / f"eval_{step}.json").write_text(json.dumps({"psnr/model": psnr}))
    curves = common.eval_curves(str(tmp_path), ["psnr/model", "ssim/model"])
    assert curves == {"psnr/model": [[100, 30.0], [200, 31.0]], "ssim/model": []}
    # Windows of 20 steps x 4 examples; a run stopped after step 40 resumed from step 20
    # (its lines at 40 replaced), an evaluation line in between, steps after 60 not counted.
    rate = "train/throughput/examples_per_s"
    lines = [{"step": 20, rate: 2.0}, {"step": 40, rate: 0.1}, {"step": 40, rate: 4.0},
             {"step": 40, "eval/psnr/model": 30.0}, {"step": 60, rate: 8.0},
             {"step": 80, rate: 1.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    assert common.training_wall_seconds(str(tmp_path), 60) == pytest.approx(40 + 20 + 10)


def test_table_rows_and_run_parsing():
    table1 = _module("dck_table1")
    translation = _module("dck_translation")
    assert translation.parse_runs(["full=/a", "no_dck=/b=c"]) == {"full": "/a", "no_dck": "/b=c"}
    with pytest.raises(SystemExit):
        translation.parse_runs(["full"])
    lse = table1.mean_lse([{"lse_d": 1.0, "lse_c": 0.2, "offset": 0},
                           {"lse_d": 2.0, "lse_c": 0.4, "offset": 3}])
    assert lse == {"lse_d": 1.5, "lse_c": pytest.approx(0.3), "offset_within_1": 0.5, "clips": 2}
    metrics = {"psnr/model": 35.0, "ssim/model": 0.9, "psnr_mouth/model": 27.0, "lmd/model": 0.7,
               "psnr/input_baseline": 33.0, "ssim/input_baseline": 0.95,
               "psnr_mouth/input_baseline": 25.0, "lmd/input_baseline": 1.1,
               "lmd/input_baseline_detected": 1.2}
    run = {"metrics": metrics, "lse": {k: {"lse_d": d, "lse_c": c} for k, d, c in (
        ("model", 0.7, 0.4), ("input_frame", 0.8, 0.3), ("ground_truth", 0.6, 0.5))}}
    rows = table1.table_rows({"full": run})
    assert rows["full"] == {"psnr": 35.0, "ssim": 0.9, "psnr_mouth": 27.0, "lmd": 0.7,
                            "lse_d": 0.7, "lse_c": 0.4}
    assert rows["input_frame"]["lmd"] == 1.2 and rows["input_frame"]["lmd_exact"] == 1.1
    assert rows["input_frame"]["lse_d"] == 0.8
    assert rows["ground_truth"] == {"lse_d": 0.6, "lse_c": 0.5}


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Two 2-step tiny DCK runs (with and without DCKs) on the tiny corpus with crop jitter
    (dck_synthetic_jitter.py's option), evaluated every step, and a random tiny expert."""
    from lipjax.convert.workdir import write_converted_workdir
    from lipjax.training.loop import train_and_evaluate
    from lipjax.training.state import make_rng
    from lipjax.training.system import make_system
    from tests.dck._tiny import tiny_config
    from tests.wav2lip.test_system import tiny_config as tiny_wav2lip_config

    root = tmp_path_factory.mktemp("dck_experiments")
    runs = {}
    for name, use_dck in (("full", True), ("no_dck", False)):
        config = tiny_config(str(root / "data"), name="dck_synthetic_jitter")
        assert dict(config.data.builder_overrides) == {"crop_jitter": 0.1}
        config.model.use_dck, config.loss.adv = use_dck, 0.0
        config.train.update(dict(eval_every=1, checkpoint_every=2))
        train_and_evaluate(config, str(root / name), progress=False)
        runs[name] = str(root / name)
    expert = tiny_wav2lip_config("wav2lip_expert")
    system = make_system(expert)
    variables, _ = system.init_variables(make_rng(expert), system.example_batch((1, 1)))
    write_converted_workdir(root / "expert", expert, variables)
    return root, runs


@pytest.mark.slow
def test_both_scripts_end_to_end_on_tiny_runs(tiny_runs):
    root, runs = tiny_runs
    out, regressor = root / "results", str(root / "regressor")
    args = [f"{name}={workdir}" for name, workdir in runs.items()]
    _module("dck_translation").main(args + ["--regressor", regressor, "--regressor_steps", "2",
                                            "--rates", "0,0.2", "--out", str(out)])
    _module("dck_table1").main(args + ["--regressor", regressor, "--expert", str(root / "expert"),
                                       "--out", str(out)])
    moved = json.loads((out / "dck_translation.json").read_text())
    table = json.loads((out / "dck_table1.json").read_text())
    for name in ("dck_translation.png", "dck_table1.png"):
        assert (out / name).stat().st_size > 10_000
    assert moved["rates"] == [0.0, 0.2] and set(moved["runs"]) == {"full", "no_dck"}
    assert moved["runs"]["no_dck"]["use_dck"] is False and moved["runs"]["full"]["step"] == 2
    # Jittered training crops: the mouth moves in them; the regressor's error per rate.
    assert min(moved["positional_variety"]["trained_on"]["mouth_centre_std_px"]) > 0.3
    assert set(moved["regressor"]) >= {"test_error_px", "test_rate_0.20_error_px"}
    for name, run in moved["runs"].items():
        rate0, rate20 = run["per_rate"]
        assert all(np.isfinite(v) for v in rate0.values())
        # The two scripts evaluate the same frames the same way at rate 0 ...
        metrics = table["runs"][name]["metrics"]
        for key in ("psnr/model", "psnr_mouth/model", "lmd/model", "psnr_mouth/input_baseline"):
            assert rate0[key] == pytest.approx(metrics[key], rel=1e-5), key
        # ... and moving the face changes what the model and the baseline see.
        assert rate20["psnr_mouth/input_baseline"] != rate0["psnr_mouth/input_baseline"]
        assert rate20["psnr/model"] != rate0["psnr/model"]
        run_t = table["runs"][name]
        assert run_t["step"] == 2 and run_t["wall_seconds"] > 0
        assert [p[0] for p in run_t["curves"]["psnr/model"]] == [1, 2]
        assert run_t["lse"]["model"]["clips"] == 2 * 2          # 2 test pairs x 2 directions
    rows = table["table"]
    assert set(rows) == {"full", "no_dck", "input_frame", "ground_truth"}
    assert rows["input_frame"]["psnr"] == pytest.approx(
        table["runs"]["full"]["metrics"]["psnr/input_baseline"])
    assert all(np.isfinite(rows["ground_truth"][k]) for k in ("lse_d", "lse_c"))
