"""Tests of lipjax.train.dck: the pair transform vs NumPy, training steps under both parallel
wrappers, the ablation configs, and train_and_evaluate on the tiny synthetic corpus."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from lipjax.audio import MelConfig, mel_spectrogram
from lipjax.data.pipeline import BadRecordError, Pipeline
from lipjax.train import dck, steps
from lipjax.train.commands import load_config_file
from lipjax.train.evaluation import restore_workdir
from lipjax.train.loop import init_state, make_rng, train_and_evaluate
from lipjax.train.parallel import DataParallel
from lipjax.train.systems import make_system

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "experiments", "configs")

SIZE = 32  # crop side in the transform tests; boxes are 2 * SIZE so resizing is a 2x2 mean
FPS = 25.0


# ---------------------------------------------------------------------------------------------
# A hand-made pair record with known content.


def _fake_pair(num_frames: int = 10, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    height, width = 96, 112
    boxes = np.zeros((num_frames, 4), np.float32)
    for t in range(num_frames):  # integer boxes of 2 SIZE x 2 SIZE inside the frame
        x0, y0 = rng.integers(0, width - 2 * SIZE), rng.integers(0, height - 2 * SIZE)
        boxes[t] = (x0, y0, x0 + 2 * SIZE, y0 + 2 * SIZE)
    samples = int(round(num_frames * 16000 / FPS))
    record = {"face_boxes": boxes, "fps": np.float32(FPS), "identity": np.int32(3),
              "pair_id": b"fake-%d" % seed}
    for tag in "ab":
        record[f"frames_{tag}"] = rng.integers(0, 256, (num_frames, height, width, 3), np.uint8)
        record[f"audio_{tag}"] = rng.standard_normal(samples).astype(np.float32) * 0.1
        # Landmarks inside each frame's box (pixel centres of the frame).
        offsets = rng.uniform(SIZE * 0.5, SIZE * 1.5, (num_frames, 20, 2))
        record[f"landmarks_{tag}"] = (boxes[:, None, :2] + offsets).astype(np.float32)
    return record


def _reference_crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Box cut by slicing, halved by 2x2 block means, in [0, 1]."""
    x0, y0, x1, y1 = (int(v) for v in box)
    region = frame[y0:y1, x0:x1].astype(np.float64)
    blocks = region.reshape(SIZE, 2, SIZE, 2, 3).mean(axis=(1, 3))
    return blocks / 255.0


def _reference_window(audio: np.ndarray, t: int, *, center: bool) -> np.ndarray:
    mel = mel_spectrogram(audio, MelConfig(), min_rms=0.0)  # [M, 80]
    start = int(round(80.0 * t / FPS)) - 8 if center else int(np.floor(80.0 * t / FPS))
    rows = np.clip(np.arange(start, start + 16), 0, mel.shape[0] - 1)
    return mel[rows].T


def _example(record, frames, *, training=True, seed=0, center=False, cache=None):
    return dck.pair_example(record, max_tokens=1, max_frames=frames,
                            rng=np.random.default_rng(seed), training=training,
                            image_size=SIZE, center_mel_windows=center, mel_cache=cache)


@pytest.mark.parametrize("center", [False, True])
def test_pair_example_matches_numpy_in_both_directions(center):
    record = _fake_pair()
    ex = _example(record, 4, center=center, cache=dck.MelCache())
    assert ex["source"].shape == ex["target"].shape == (8, SIZE, SIZE, 3)
    assert ex["mel"].shape == (8, 80, 16)
    np.testing.assert_array_equal(ex["direction"], [0] * 4 + [1] * 4)
    assert ex["frame_mask"].all()
    assert int(ex["identity"]) == 3
    for slot in (1, 6):  # one frame of each direction
        t = int(ex["frame_index"][slot])
        src, tgt = dck.DIRECTIONS[int(ex["direction"][slot])]
        box = record["face_boxes"][t]
        np.testing.assert_allclose(ex["source"][slot],
                                   _reference_crop(record[f"frames_{src}"][t], box), atol=1 / 255)
        np.testing.assert_allclose(ex["target"][slot],
                                   _reference_crop(record[f"frames_{tgt}"][t], box), atol=1 / 255)
        np.testing.assert_allclose(ex["mel"][slot],
                                   _reference_window(record[f"audio_{tgt}"], t, center=center),
                                   atol=1e-5)
        # A frame-pixel landmark x maps to crop pixel (x - x0 + 0.5) / 2 - 0.5.
        expected = (record[f"landmarks_{tgt}"][t] - box[:2] + 0.5) / 2 - 0.5
        np.testing.assert_allclose(ex["target_landmarks"][slot], expected, atol=1e-4)
    # Source and target differ in the content of the two clips (the directions are not swapped).
    assert not np.allclose(ex["source"][1], ex["target"][1])


def test_frame_choice_training_evaluation_and_padding():
    record = _fake_pair(num_frames=10)
    a = _example(record, 4, seed=1)
    b = _example(record, 4, seed=1)
    np.testing.assert_array_equal(a["frame_index"], b["frame_index"])  # same rng, same frames
    for d in range(2):
        idx = a["frame_index"][4 * d:4 * d + 4]
        assert len(set(idx.tolist())) == 4 and np.all(np.diff(idx) > 0) and idx.max() < 10
    seeds = {tuple(_example(record, 4, seed=s)["frame_index"]) for s in range(6)}
    assert len(seeds) > 1  # the choice depends on the rng
    ev = _example(record, 4, training=False)
    np.testing.assert_array_equal(ev["frame_index"], [0, 3, 6, 9] * 2)
    # A clip shorter than F: every frame once, then padding.
    short = _example(_fake_pair(num_frames=3), 5, training=True)
    np.testing.assert_array_equal(short["frame_mask"], [True] * 3 + [False] * 2 + [True] * 3
                                  + [False] * 2)
    np.testing.assert_array_equal(short["frame_index"], [0, 1, 2, -1, -1] * 2)
    assert not short["source"][3:5].any() and not short["mouth_mask"][3:5].any()


def test_mouth_mask_covers_both_mouths():
    record = _fake_pair()
    ex = _example(record, 2)
    for slot in range(4):
        rows, cols = np.nonzero(ex["mouth_mask"][slot])
        for key in ("source_landmarks", "target_landmarks"):
            x, y = ex[key][slot][:, 0], ex[key][slot][:, 1]
            inside = (x >= cols.min() - 1) & (x <= cols.max() + 1)
            inside &= (y >= rows.min() - 1) & (y <= rows.max() + 1)
            assert inside.all()


def test_bad_records_raise_bad_record_error():
    record = _fake_pair()
    with pytest.raises(BadRecordError, match="face_boxes"):
        dck.pair_lengths({**record, "face_boxes": record["face_boxes"][:-1]})
    with pytest.raises(BadRecordError, match="frames_b"):
        dck.pair_lengths({k: v for k, v in record.items() if k != "frames_b"})
    with pytest.raises(BadRecordError, match="audio"):  # AudioError: audio far too short
        _example({**record, "audio_b": record["audio_b"][:1000]}, 2)
    assert dck.pair_lengths(record) == (1, 1)


def test_masked_pixel_psnr_vs_numpy(rng):
    x = rng.uniform(0, 1, (2, 3, 8, 8, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (2, 3, 8, 8, 3)).astype(np.float32)
    region = rng.random((2, 3, 8, 8)) < 0.4
    region[1, 2] = False  # empty region: left out
    frames = np.ones((2, 3), bool)
    frames[0, 1] = False
    values = []
    for b in range(2):
        for t in range(3):
            if frames[b, t] and region[b, t].any():
                mse = ((x[b, t] - y[b, t]) ** 2)[region[b, t]].mean()
                values.append(10 * np.log10(1.0 / mse))
    got = dck.masked_pixel_psnr(x, y, region, frames)
    np.testing.assert_allclose(got, np.mean(values), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Tiny configs and real training steps.


def _tiny_config(data_dir: str = "unused", *, parallel: str = "pmap", name: str = "dck_synthetic"):
    c = load_config_file(os.path.join(CONFIGS, f"{name}.py"))
    c.data.builder_config = "tiny"
    c.data.data_dir = data_dir
    c.data.buckets = [(1, 2)]
    c.data.batch_size = 2
    c.data.eval_batch_size = 2
    c.data.prefetch = 0
    # 3 levels and one middle layer instead of 5 and 4: the same code paths, faster to compile.
    c.model.update(dict(image_size=32, down_channels=(4, 8, 8), up_channels=(8, 4, 4),
                        middle_channels=8, num_middle_layers=1, kernel_generator_hidden=(8,),
                        audio_blocks=((4, 3, (3, 1), 1, False), (4, 3, (3, 3), 1, False),
                                      (8, 3, (3, 2), 1, False), (8, 3, (1, 1), 0, False)),
                        audio_feature_dim=8, attention_audio_channels=2))
    c.discriminator.channels = (4, 8)
    c.loss.adv = 1.0  # the paper's L_adv + 10 L1, so the discriminator path runs too
    c.train.update(dict(num_steps=2, log_every=1, eval_every=1000, checkpoint_every=1000,
                        max_eval_batches=1, tensorboard=False, parallel=parallel))
    return c


def _pair_batch(system, frames: int = 2) -> dict:
    records = [_fake_pair(seed=s) for s in range(2)]
    pipeline = Pipeline(records, batch_size=2, buckets=[(1, frames)], example_fn=system.example_fn,
                        length_fn=system.length_fn, seed=0, prefetch=0, process_count=1,
                        process_index=0)
    return next(pipeline)


def _one_step(config):
    system = make_system(config)
    state, _ = init_state(system, config, system.example_batch((1, 2)), make_rng(config))
    state = jax.device_get(state)  # a host copy: the step donates (deletes) its input buffers
    dp = DataParallel(config.train.parallel, devices=jax.devices()[:2], max_traces=1)
    step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    batch = _pair_batch(system)
    new, metrics = step(dp.replicate(state), dp.shard(batch), make_rng(config))
    return system, state, jax.device_get(dp.unreplicate(new)), \
        dp.metrics_to_host(metrics)


def _max_change(a, b) -> float:
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# pmap here, shard_map in the train_and_evaluate test: one real step under each wrapper.
@pytest.mark.slow
def test_one_training_step_under_pmap():
    config = _tiny_config(parallel="pmap")
    # The transform's crops follow the model's image size.
    system, before, after, metrics = _one_step(config)
    for key in ("loss/l1", "loss/adv", "loss/discriminator", "loss/generator_total"):
        assert np.isfinite(metrics[key]), key
    assert metrics["skipped/generator"] == 0 and metrics["skipped/discriminator"] == 0
    np.testing.assert_allclose(metrics["loss/generator_total"],
                               10 * metrics["loss/l1"] + metrics["loss/adv"], rtol=1e-5)
    assert _max_change(before.generator.params, after.generator.params) > 0
    assert _max_change(before.discriminator.params, after.discriminator.params) > 0
    # The kernel generators (the audio path) are trained too.
    gen = after.generator.params["unet"]
    assert _max_change(before.generator.params["unet"]["dck_0"], gen["dck_0"]) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name,absent,present", [
    ("dck_synthetic_no_dck", "dck_0", "audio_fusion"),
    ("dck_synthetic_no_blend", "alpha_head", "motion_head"),
])
def test_ablation_configs_build_and_step(name, absent, present):
    config = _tiny_config(parallel="pmap", name=name)
    system, before, after, metrics = _one_step(config)
    unet = after.generator.params["unet"]
    assert absent not in unet and present in unet
    assert np.isfinite(metrics["loss/generator_total"])
    assert _max_change(before.generator.params, after.generator.params) > 0
    if name.endswith("no_blend"):  # the output is the motion image itself
        batch = _pair_batch(system)
        out, _ = system.generate(after.generator.variables, batch, train=False, rngs={})
        np.testing.assert_array_equal(out.frame, out.motion)


def test_paper_config_has_the_paper_sizes():
    config = load_config_file(os.path.join(CONFIGS, "dck_paper.py"))
    model = dck.model_config(config)
    assert model.image_size == 256 and model.middle_channels == 256
    assert len(model.down_channels) == len(model.up_channels) == 5
    assert model.num_middle_layers == 4 and model.dck_kernel_size == 1
    assert config.loss.l1 == 10 and config.loss.adv == 1
    assert config.system == "dck"


def test_synthetic_config_trains_without_a_discriminator():
    config = load_config_file(os.path.join(CONFIGS, "dck_synthetic.py"))
    assert config.loss.l1 == 10 and config.loss.adv == 0
    assert dck.DCKSystem.from_config(config).discriminator is None


@pytest.mark.slow
def test_train_and_evaluate_on_tiny_synthetic_corpus(tmp_path):
    config = _tiny_config(str(tmp_path / "data"), parallel="shard_map")
    result = train_and_evaluate(config, str(tmp_path / "work"), progress=False)
    assert result["final_step"] == 2
    ev = result["eval"]
    for key in ("psnr/model", "ssim/model", "psnr/input_baseline", "ssim/input_baseline",
                "psnr_mouth/model", "psnr_mouth/input_baseline", "lmd/input_baseline"):
        assert np.isfinite(ev[key]), key
    # The baseline's crops are real frames: SSIM well above chance, PSNR in a sane range.
    assert 0.3 < ev["ssim/input_baseline"] <= 1.0 and 10 < ev["psnr/input_baseline"] < 100
    assert ev["lmd/input_baseline"] >= 0
    lines = [json.loads(l) for l in open(tmp_path / "work" / "metrics.jsonl")]
    train_lines = [l for l in lines if "train/loss/l1" in l]
    assert [l["step"] for l in train_lines] == [1, 2]
    assert all(np.isfinite(l["train/loss/generator_total"]) for l in train_lines)
    # The shard_map steps changed the parameters (initial ones: the loop's key split).
    _, system, trained = restore_workdir(str(tmp_path / "work"))
    init_rng, _ = jax.random.split(make_rng(config))
    initial, _ = init_state(system, config, system.example_batch((1, 2)), init_rng)
    assert _max_change(initial.generator.params, trained.generator.params) > 0
    # LMD of the model through a (random) face-crop landmark regressor named in the config.
    from lipjax.landmarks import save_regressor
    from lipjax.models.landmarks import LandmarkRegressor, LandmarkRegressorConfig
    from lipjax.train.evaluation import evaluate_workdir

    size = system.generator.config.image_size
    reg = LandmarkRegressorConfig(frame_height=size, frame_width=size, channels=(8, 8, 8, 8),
                                  hidden=16)
    save_regressor(tmp_path / "reg", LandmarkRegressor(reg).init(
        jax.random.key(0), np.zeros((1, size, size, 3), np.float32)), reg)
    again = evaluate_workdir(str(tmp_path / "work"), progress=False,
                             overrides=[f"evaluation.landmark_regressor={tmp_path / 'reg'}"])
    assert np.isfinite(again["lmd/model"]) and np.isfinite(again["lmd/input_baseline_detected"])
    np.testing.assert_allclose(again["psnr/model"], ev["psnr/model"], rtol=1e-5)


def test_face_crop_landmark_records_match_pair_example_crops():
    record = _fake_pair(num_frames=4)
    crops = dck.face_crop_landmark_records([record], image_size=SIZE)
    assert len(crops) == 2  # clips a and b
    example = _example(record, 4, training=False)  # every frame, in order
    for tag, clip in zip("ab", crops):
        assert clip["frames"].dtype == np.uint8 and clip["frames"].shape == (4, SIZE, SIZE, 3)
        rows = slice(0, 4) if tag == "a" else slice(4, 8)
        # Direction a->b has source a; direction b->a has source b (DIRECTIONS order).
        np.testing.assert_allclose(clip["frames"] / 255.0, example["source"][rows], atol=1e-6)
        np.testing.assert_allclose(clip["landmarks"], example["source_landmarks"][rows],
                                   atol=1e-5)
