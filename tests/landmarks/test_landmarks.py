"""Tests of lipjax.landmarks (mouth-landmark detectors, training, LMD of videos) and of the
regressor network in lipjax.landmarks.model."""

import dataclasses
import functools
import json
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax import face
from lipjax.errors import CheckpointError, ConfigError, DataError, InputError
from lipjax.landmarks import (
    MIRROR_PERMUTATION,
    DlibLandmarks,
    LandmarkAugmentation,
    MouthLandmarkDetector,
    RegressorLandmarks,
    augment_batch,
    collect_landmark_frames,
    face_box_for_lip_crop,
    load_regressor,
    regressor_landmark_fn,
    save_regressor,
    train_landmark_regressor,
)
from lipjax.landmarks.model import LandmarkRegressor, LandmarkRegressorConfig
from lipjax.metrics import landmark_distance_of_videos, video_landmark_distance

pytest.importorskip("tensorflow_datasets")
from lipjax.data.builders import build_dataset, load_split  # noqa: E402

# Small enough to train in seconds on a CPU; the default config is for experiments.
SMALL = LandmarkRegressorConfig(channels=(8, 16, 32, 32), convs_per_stage=1, hidden=64)
STEPS, BATCH = 150, 16


def lmd_numpy(pred, target):
    """Mean over frames of the mean Euclidean distance of the K landmark pairs."""
    return float(np.mean(np.sqrt(np.sum((np.asarray(pred, np.float64) - target) ** 2, -1))))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    build_dataset("synthetic_lips", data_dir=data_dir, config="tiny", progress=False)
    return {split: [dict(r) for r in load_split("synthetic_lips", split, data_dir=data_dir,
                                                config="tiny")]
            for split in ("train", "test", "test_unseen_speaker")}


@pytest.fixture(scope="module")
def trained(corpus):
    params, report = train_landmark_regressor(
        corpus["train"], corpus["test"], steps=STEPS, batch_size=BATCH, learning_rate=1e-3,
        seed=0, config=SMALL, extra_eval_sources={"unseen": corpus["test_unseen_speaker"]},
        progress=False)
    return params, report


@pytest.fixture(scope="module")
def detector(trained):
    return RegressorLandmarks(trained[0], SMALL, batch_size=32)


def stacked(records):
    frames = np.concatenate([r["frames"] for r in records])
    landmarks = np.concatenate([r["landmarks"] for r in records])
    return frames, landmarks


# ---------------------------------------------------------------------------------------------
# Network.


def test_regressor_output_shape_and_initial_prediction():
    model = LandmarkRegressor(dataclasses.replace(SMALL, output_init_scale=0.0))
    frames = jnp.asarray(np.random.default_rng(0).uniform(size=(3, 80, 160, 3)), jnp.float32)
    # Jitted, with the 'rbg' PRNG: eager threefry initialisation compiles slowly on CPU.
    variables = jax.jit(model.init)(jax.random.key(0, impl="rbg"), frames)
    out = jax.jit(model.apply)(variables, frames)
    assert out.shape == (3, 20, 2) and out.dtype == jnp.float32
    # A zero output kernel predicts the bias: the frame centre in normalised coordinates.
    np.testing.assert_allclose(np.asarray(out), 0.5)
    with pytest.raises(InputError, match="80, 160, 3"):
        model.apply(variables, frames[:, :40])


def test_regressor_config_validation():
    with pytest.raises(ConfigError, match="group_size"):
        LandmarkRegressorConfig(channels=(8, 12), group_size=8)
    with pytest.raises(ConfigError, match="hidden"):
        LandmarkRegressorConfig(hidden=0)
    # JSON gives lists; the config stays hashable and equal.
    assert LandmarkRegressorConfig(channels=[8, 16]) == LandmarkRegressorConfig(channels=(8, 16))
    hash(LandmarkRegressorConfig(channels=[8, 16]))


# ---------------------------------------------------------------------------------------------
# Training data and augmentation.


def test_collect_landmark_frames_skips_and_counts_nan_frames(corpus):
    records = [dict(r) for r in corpus["train"][:2]]
    records[0]["landmarks"] = records[0]["landmarks"].copy()
    records[0]["landmarks"][[1, 4, 5]] = np.nan
    records[1]["landmarks"] = records[1]["landmarks"].copy()
    records[1]["landmarks"][0, 3, 1] = np.nan  # one coordinate is enough to drop the frame
    frames, landmarks, skipped = collect_landmark_frames(records)
    lengths = [len(r["frames"]) for r in records]
    assert skipped == 4 and len(frames) == len(landmarks) == sum(lengths) - 4
    assert frames.dtype == np.uint8 and landmarks.dtype == np.float32
    keep0 = np.setdiff1d(np.arange(lengths[0]), [1, 4, 5])
    np.testing.assert_array_equal(frames[: len(keep0)], records[0]["frames"][keep0])
    np.testing.assert_array_equal(landmarks[len(keep0):], records[1]["landmarks"][1:])
    strided, _, _ = collect_landmark_frames(corpus["train"][:1], frame_stride=3)
    np.testing.assert_array_equal(strided, corpus["train"][0]["frames"][::3])

    all_nan = [dict(records[0], landmarks=np.full_like(records[0]["landmarks"], np.nan))]
    with pytest.raises(DataError, match="no frame with landmarks"):
        collect_landmark_frames(all_nan)
    with pytest.raises(DataError, match="landmarks"):
        collect_landmark_frames([{"frames": records[0]["frames"]}])


def test_mirror_permutation_swaps_left_and_right(corpus):
    perm = np.asarray(MIRROR_PERMUTATION)
    np.testing.assert_array_equal(perm[perm], np.arange(20))  # an involution
    landmarks = corpus["train"][0]["landmarks"]
    mirrored = landmarks[:, perm] * [-1, 1] + [160, 0]
    # In dlib order, point 48 (index 0) is the left outer corner and 54 (6) the right one; 60
    # (12) and 64 (16) the inner corners. Mirroring must keep those roles.
    for lm in (landmarks, mirrored):
        assert (lm[:, 0, 0] < lm[:, 6, 0]).all() and (lm[:, 12, 0] < lm[:, 16, 0]).all()
        assert (lm[:, 0, 0] <= lm[:, :12, 0].min(1) + 1e-4).all()
        # Upper outer lip (49-53) above lower outer lip (55-59) at mirrored positions.
        assert (lm[:, 1:6, 1] < lm[:, [11, 10, 9, 8, 7], 1]).all()
    # A left-right symmetric shape is its own mirror image.
    symmetric = 0.5 * (landmarks[0] + (landmarks[0][perm] * [-1, 1] + [160, 0]))
    np.testing.assert_allclose(symmetric[perm] * [-1, 1] + [160, 0], symmetric, atol=1e-4)


def shift_numpy(frame, dx, dy, m):
    padded = np.pad(frame, ((m, m), (m, m), (0, 0)), mode="edge")
    h, w = frame.shape[:2]
    return padded[m - dy : m - dy + h, m - dx : m - dx + w]


def test_geometric_augmentation_matches_brute_force(corpus):
    frames = corpus["train"][0]["frames"][:6].astype(np.float32) / 255
    landmarks = corpus["train"][0]["landmarks"][:6]
    m = 3
    aug = LandmarkAugmentation(max_shift_px=m, flip=True, brightness=0.0, contrast=0.0,
                               noise_std=0.0)
    out_frames, out_landmarks = jax.jit(functools.partial(augment_batch, augmentation=aug))(
        jax.random.key(3, impl="rbg"), jnp.asarray(frames), jnp.asarray(landmarks))
    out_frames, out_landmarks = np.asarray(out_frames), np.asarray(out_landmarks)
    perm = np.asarray(MIRROR_PERMUTATION)
    flips = []
    for i in range(len(frames)):
        # Find the flip and shift that reproduce the output frame; the landmarks must follow.
        matches = [
            (flip, dx, dy)
            for flip in (False, True)
            for dx in range(-m, m + 1)
            for dy in range(-m, m + 1)
            if np.allclose(shift_numpy(frames[i][:, ::-1] if flip else frames[i], dx, dy, m),
                           out_frames[i], atol=1e-6)
        ]
        assert matches, f"frame {i} is no flip/shift of its input"
        flip, dx, dy = matches[0]
        flips.append(flip)
        expected = landmarks[i][perm] * [-1, 1] + [160, 0] if flip else landmarks[i]
        np.testing.assert_allclose(out_landmarks[i], expected + [dx, dy], atol=1e-4)
    assert len(set(flips)) == 2, "six frames should see both flipped and unflipped cases"


def test_photometric_augmentation_keeps_landmarks_and_range(corpus):
    frames = corpus["train"][0]["frames"][:4].astype(np.float32) / 255
    landmarks = corpus["train"][0]["landmarks"][:4]
    aug = LandmarkAugmentation(max_shift_px=0, flip=False, brightness=0.2, contrast=0.3,
                               noise_std=0.05)
    out_frames, out_landmarks = jax.jit(functools.partial(augment_batch, augmentation=aug))(
        jax.random.key(0, impl="rbg"), jnp.asarray(frames), jnp.asarray(landmarks))
    np.testing.assert_array_equal(np.asarray(out_landmarks), landmarks)
    assert float(out_frames.min()) >= 0 and float(out_frames.max()) <= 1
    assert not np.allclose(np.asarray(out_frames), frames, atol=1e-3)
    with pytest.raises(ConfigError):
        LandmarkAugmentation(noise_std=-1.0)


# ---------------------------------------------------------------------------------------------
# Training and the detector.


def test_training_beats_the_mean_shape_baseline(trained, corpus):
    _, report = trained
    print({k: v for k, v in report.items() if "error" in k or k.startswith("num_")})
    assert report["num_train_frames"] == sum(len(r["frames"]) for r in corpus["train"])
    assert report["skipped_train_frames_without_landmarks"] == 0
    assert report["test_error_px"] < 0.7 * report["mean_shape_test_error_px"]
    assert report["train_error_px"] < 0.7 * report["mean_shape_train_error_px"]
    json.dumps(report)  # JSON-able


def test_report_errors_match_numpy(trained, detector, corpus):
    _, report = trained
    train_frames, train_landmarks = stacked(corpus["train"])
    test_frames, test_landmarks = stacked(corpus["test"])
    mean_shape = train_landmarks.astype(np.float64).mean(0)
    assert report["mean_shape_train_error_px"] == pytest.approx(
        lmd_numpy(np.broadcast_to(mean_shape, train_landmarks.shape), train_landmarks), rel=1e-5)
    assert report["mean_shape_test_error_px"] == pytest.approx(
        lmd_numpy(np.broadcast_to(mean_shape, test_landmarks.shape), test_landmarks), rel=1e-5)
    predicted = detector(test_frames.astype(np.float32) / 255)
    assert report["test_error_px"] == pytest.approx(lmd_numpy(predicted, test_landmarks), rel=1e-4)


def test_unseen_speaker_error(detector, trained, corpus):
    _, report = trained
    frames, landmarks = stacked(corpus["test_unseen_speaker"])
    error = lmd_numpy(detector(frames.astype(np.float32) / 255), landmarks)
    _, train_landmarks = stacked(corpus["train"])
    baseline = lmd_numpy(np.broadcast_to(train_landmarks.mean(0), landmarks.shape), landmarks)
    print(f"unseen speaker: regressor {error:.3f} px, mean shape {baseline:.3f} px")
    assert report["unseen_error_px"] == pytest.approx(error, rel=1e-4)
    assert report["mean_shape_unseen_error_px"] == pytest.approx(baseline, rel=1e-5)
    assert report["num_unseen_frames"] == len(frames)
    assert error < baseline


def test_untrained_regressor_is_the_mean_shape_baseline(corpus):
    records = [dict(r) for r in corpus["train"]]
    records[1]["landmarks"] = records[1]["landmarks"].copy()
    records[1]["landmarks"][2:7] = np.nan
    config = dataclasses.replace(SMALL, output_init_scale=0.0)
    _, report = train_landmark_regressor(records, None, steps=0, config=config, progress=False)
    assert report["skipped_train_frames_without_landmarks"] == 5
    assert report["train_error_px"] == pytest.approx(report["mean_shape_train_error_px"], rel=1e-4)
    assert "test_error_px" not in report


def test_training_rejects_mismatched_frame_size(corpus):
    with pytest.raises(ConfigError, match="frame_height"):
        train_landmark_regressor(corpus["train"][:1], None, steps=0, progress=False,
                                 config=dataclasses.replace(SMALL, frame_height=64))


def test_detector_shape_dtype_and_chunking(detector, trained, corpus):
    frames = corpus["test"][0]["frames"][:45].astype(np.float32) / 255
    assert isinstance(detector, MouthLandmarkDetector)
    out = detector(frames)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (45, 20, 2)
    # Chunk size and the padding of the last chunk do not change a frame's landmarks.
    other = RegressorLandmarks(trained[0], SMALL, batch_size=7)(frames)
    np.testing.assert_allclose(other, out, atol=1e-4)
    np.testing.assert_allclose(detector(frames[10:11]), out[10:11], atol=1e-4)
    with pytest.raises(InputError, match="astype"):
        detector(corpus["test"][0]["frames"][:2])
    with pytest.raises(InputError, match="80x160"):
        detector(np.zeros((2, 40, 80, 3), np.float32))


def test_save_load_round_trip(trained, detector, corpus, tmp_path):
    params, report = trained
    folder = save_regressor(tmp_path / "regressor", params, SMALL, report=report)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "params.msgpack",
                                                        "report.json"]  # no temp files left
    loaded_params, loaded_config = load_regressor(folder)
    assert loaded_config == SMALL
    frames = corpus["test"][1]["frames"].astype(np.float32) / 255
    np.testing.assert_array_equal(RegressorLandmarks.load(folder, batch_size=32)(frames),
                                  detector(frames))
    assert json.loads((folder / "report.json").read_text()) == json.loads(json.dumps(report))

    with pytest.raises(CheckpointError, match="missing"):
        load_regressor(tmp_path / "nothing")
    # A params file from another save is detected.
    other = save_regressor(tmp_path / "other", jax.tree_util.tree_map(lambda x: x + 1, params),
                           SMALL)
    (folder / "params.msgpack").write_bytes((other / "params.msgpack").read_bytes())
    with pytest.raises(CheckpointError, match="checksum"):
        load_regressor(folder)
    # Parameters that do not fit the config are refused.
    wrong = save_regressor(tmp_path / "wrong", params, dataclasses.replace(SMALL, hidden=32))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_regressor(wrong)


# ---------------------------------------------------------------------------------------------
# LMD of videos.


def videos_of(records, length):
    frames = np.stack([r["frames"][:length] for r in records]).astype(np.float32) / 255
    landmarks = np.stack([r["landmarks"][:length] for r in records])
    return frames, landmarks


def test_landmark_distance_of_videos(detector, corpus):
    generated, target_landmarks = videos_of(corpus["test"], 40)  # [2, 40, ...]
    # Same frames on both sides: the detector agrees with itself exactly.
    assert landmark_distance_of_videos(detector, generated, generated) == 0.0
    mask = np.ones((2, 40), bool)
    mask[0, 30:] = False
    mask[1, 35:] = False
    garbage = generated.copy()
    garbage[~mask] = np.nan  # padding frames may hold anything
    value = landmark_distance_of_videos(detector, garbage, target_landmarks, mask)
    expected = lmd_numpy(detector(generated[mask]), target_landmarks[mask])
    assert value == pytest.approx(expected, rel=1e-5)
    # Target frames instead of landmarks: the detector finds the targets' landmarks too.
    shifted = np.roll(generated, 1, axis=1)
    value = landmark_distance_of_videos(detector, generated, shifted, mask)
    expected = lmd_numpy(detector(generated[mask]), detector(shifted[mask]))
    assert value == pytest.approx(expected, rel=1e-5)
    # A video mask [B].
    value = landmark_distance_of_videos(detector, generated, target_landmarks, np.array([0, 1]))
    assert value == pytest.approx(lmd_numpy(detector(generated[1]), target_landmarks[1]),
                                  rel=1e-5)
    assert landmark_distance_of_videos(detector, generated, target_landmarks,
                                       np.zeros((2, 40), bool)) == 0.0


def test_in_graph_video_landmark_distance_matches_host_lmd(trained, detector, corpus, tmp_path):
    save_regressor(tmp_path / "reg", trained[0], SMALL)
    detect = regressor_landmark_fn(tmp_path / "reg")
    assert detect.frame_shape == SMALL.frame_shape
    generated, target_landmarks = videos_of(corpus["test"], 40)
    target_frames = np.roll(generated, 3, axis=1)
    mask = np.ones((2, 40), bool)
    mask[0, 30:] = False
    lmd = jax.jit(functools.partial(video_landmark_distance, detect))
    value, count = lmd(generated, target_frames, target_landmarks, mask)
    assert int(count) == mask.sum()
    assert float(value) == pytest.approx(
        landmark_distance_of_videos(detector, generated, target_landmarks, mask), rel=1e-5)
    # Unknown (NaN) stored landmarks: those frames use the landmarks detected in the target.
    partly_known = target_landmarks.copy()
    partly_known[1] = np.nan
    value, _ = lmd(generated, target_frames, partly_known, mask)
    expected = np.concatenate([
        np.sqrt(((detector(generated[0, :30]) - target_landmarks[0, :30]) ** 2).sum(-1)).mean(-1),
        np.sqrt(((detector(generated[1]) - detector(target_frames[1])) ** 2).sum(-1)).mean(-1)])
    assert float(value) == pytest.approx(expected.mean(), rel=1e-5)


def test_landmark_distance_of_videos_leaves_out_nan_targets():
    rng = np.random.default_rng(0)
    generated = rng.uniform(size=(2, 5, 8, 16, 3)).astype(np.float32)
    targets = rng.uniform(0, 16, size=(2, 5, 20, 2)).astype(np.float32)
    calls = []

    def fake_detector(frames):
        # Landmarks from pixel values: a deterministic function of each frame.
        calls.append(len(frames))
        return frames.reshape(len(frames), -1)[:, :40].reshape(-1, 20, 2) * 16

    targets[0, 1] = np.nan
    targets[1, 4, 7] = np.nan
    mask = np.ones((2, 5), bool)
    mask[1, 0] = False
    value = landmark_distance_of_videos(fake_detector, generated, targets, mask)
    assert calls == [9]  # only valid frames are detected
    usable = mask.copy()
    usable[0, 1] = usable[1, 4] = False
    expected = lmd_numpy(fake_detector(generated[usable]), targets[usable])
    assert value == pytest.approx(expected, rel=1e-5)
    with pytest.raises(DataError, match="target frames"):
        landmark_distance_of_videos(fake_detector, generated, np.full_like(targets, np.nan))
    with pytest.raises(InputError, match="target"):
        landmark_distance_of_videos(fake_detector, generated, targets[:, :4])
    with pytest.raises(InputError, match="mask"):
        landmark_distance_of_videos(fake_detector, generated, targets, mask[:, :3])
    with pytest.raises(InputError, match="returned"):
        landmark_distance_of_videos(lambda f: np.zeros((len(f), 19, 2)), generated, targets)


# ---------------------------------------------------------------------------------------------
# dlib.


@pytest.mark.parametrize("geometry", [{}, {"width_fraction": 0.5, "center_x": 0.45,
                                           "center_y": 0.75}])
@pytest.mark.parametrize("size", [(80, 160), (48, 96)])
def test_face_box_for_lip_crop_inverts_lip_box_from_face(size, geometry):
    height, width = size
    box = face_box_for_lip_crop(height, width, **geometry)
    assert box[2] - box[0] == pytest.approx(box[3] - box[1])  # square, like Haar boxes
    lip_box = face.lip_box_from_face(box, aspect=width / height, **geometry)
    np.testing.assert_allclose(lip_box, [0, 0, width, height], atol=1e-3)


def test_dlib_missing_gives_a_clear_error(tmp_path, monkeypatch):
    predictor = tmp_path / "shape_predictor_68_face_landmarks.dat"
    predictor.write_bytes(b"not a real model")
    monkeypatch.setitem(sys.modules, "dlib", None)  # `import dlib` now raises ImportError
    with pytest.raises(InputError, match="pip install dlib") as info:
        DlibLandmarks(predictor)
    assert "RegressorLandmarks" in str(info.value)
    with pytest.raises(InputError, match="not found"):
        DlibLandmarks(tmp_path / "missing.dat")


def test_dlib_landmarks_with_a_fake_dlib(tmp_path, monkeypatch):
    """The wrapper passes gray crops and the inverted face box, and keeps points 48-67."""
    seen = []

    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y

    class Shape:
        def __init__(self, image):
            self.image = image

        def part(self, i):
            return Point(i, 2 * i + int(self.image[0, 0]))

    class FakeDlib(types.ModuleType):
        @staticmethod
        def rectangle(x0, y0, x1, y1):
            return (x0, y0, x1, y1)

        @staticmethod
        def shape_predictor(path):
            def predict(image, rect):
                seen.append((image, rect))
                return Shape(image)
            return predict

    monkeypatch.setitem(sys.modules, "dlib", FakeDlib("dlib"))
    predictor = tmp_path / "model.dat"
    predictor.write_bytes(b"x")
    frames = np.zeros((3, 80, 160, 3), np.float32)
    frames[:, 0, 0] = np.array([0.0, 0.5, 1.0])[:, None]
    out = DlibLandmarks(predictor)(frames)
    assert out.shape == (3, 20, 2) and out.dtype == np.float32
    gray = [int(image[0, 0]) for image, _ in seen]
    assert gray == [0, 128, 255]
    for t, (image, rect) in enumerate(seen):
        assert image.shape == (80, 160) and image.dtype == np.uint8
        assert rect == face.box_to_pixels(face_box_for_lip_crop(80, 160))
        points = np.array([(i, 2 * i + gray[t]) for i in range(48, 68)], np.float32) + 0.5
        np.testing.assert_array_equal(out[t], points)
