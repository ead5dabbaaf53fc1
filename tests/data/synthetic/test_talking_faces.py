"""Tests of lipjax.data.synthetic.talking_faces and its tfds builder (tiny config)."""

import dataclasses

import cv2
import numpy as np
import pytest

from lipjax.data.synthetic import face_drawing, mouth_geometry
from lipjax.data.synthetic import talking_faces as tf
from lipjax.errors import ConfigError
from lipjax.text import GRID_CHARS, SIL

TINY = tf.TalkingFacesConfig(
    num_identities=2, train_pairs_per_identity=2, test_pairs_per_identity=1, test_fraction=0.3,
    frame_height=64, frame_width=80, min_frames=12, max_frames=20, num_words=2,
)


@pytest.fixture(scope="module")
def train_pairs():
    return list(tf.generate_pairs(TINY, "train"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tfds = pytest.importorskip("tensorflow_datasets")
    del tfds
    from lipjax.data.builders.synthetic_talking_faces import SyntheticTalkingFaces

    builder = SyntheticTalkingFaces(
        config="tiny", data_dir=str(tmp_path_factory.mktemp("tfds")), file_format="array_record"
    )
    builder.download_and_prepare()
    return builder.as_data_source()


def test_shapes_and_lengths(train_pairs):
    assert len(train_pairs) == 4
    for r in train_pairs:
        t = r["frames_a"].shape[0]
        assert TINY.min_frames <= t <= TINY.max_frames
        for tag in "ab":
            assert r[f"frames_{tag}"].shape == (t, 64, 80, 3) and r[f"frames_{tag}"].dtype == np.uint8
            assert r[f"audio_{tag}"].shape == (round(t * 16000 / 25),)
            assert r[f"audio_{tag}"].dtype == np.float32 and np.isfinite(r[f"audio_{tag}"]).all()
            assert r[f"landmarks_{tag}"].shape == (t, 20, 2) and r[f"landmarks_{tag}"].dtype == np.float32
            assert r[f"mouth_{tag}"].shape == (t, 5)
            assert r[f"durations_{tag}"].dtype == np.int32 and r[f"durations_{tag}"].sum() == t
            assert r[f"tokens_{tag}"].dtype == np.int32
            np.testing.assert_array_equal(
                r[f"tokens_{tag}"], GRID_CHARS.encode(r[f"text_{tag}"], add_silence=True))
            # The mouth params are the trajectory of the stored timeline (jitter aside: closures).
            symbols = GRID_CHARS.decode(r[f"tokens_{tag}"])
            assert symbols[0] == symbols[-1] == SIL
        assert r["face_boxes"].shape == (t, 4) and r["face_boxes"].dtype == np.float32
        assert r["text_a"] != r["text_b"]
        assert r["identity"].dtype == np.int32 and r["fps"] == np.float32(25.0)


def _mouth_box(landmarks, height, width, margin=3):
    x0, y0 = np.floor(landmarks.min(0)).astype(int) - margin
    x1, y1 = np.ceil(landmarks.max(0)).astype(int) + margin + 1
    return max(0, y0), min(height, y1), max(0, x0), min(width, x1)


def test_pair_shares_everything_but_the_mouth(train_pairs):
    differs = 0
    for r in train_pairs:
        for t in range(r["frames_a"].shape[0]):
            a, b = r["frames_a"][t], r["frames_b"][t]
            outside = np.ones(a.shape[:2], bool)
            for lm in (r["landmarks_a"][t], r["landmarks_b"][t]):
                y0, y1, x0, x1 = _mouth_box(lm, *a.shape[:2])
                outside[y0:y1, x0:x1] = False
            np.testing.assert_array_equal(a[outside], b[outside])
            differs += int(np.abs(a.astype(int) - b.astype(int)).max() > 20)
    assert differs > 5  # the mouths do differ


def test_landmarks_follow_the_face(train_pairs):
    for r in train_pairs:
        boxes = r["face_boxes"]
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        size = boxes[:, 3] - boxes[:, 1]
        mouth_centre = (r["landmarks_a"][:, 0] + r["landmarks_a"][:, 6]) / 2  # corners 48 and 54
        relative = (mouth_centre - centres) / size[:, None]
        assert centres.std(0).max() > 0.5  # the head moves ...
        assert relative.std(0).max() < 0.03  # ... and the mouth moves with it
        assert np.all(relative[:, 1] > 0.1)  # the mouth is in the lower half of the face box
        inside = (mouth_centre > boxes[:, :2]) & (mouth_centre < boxes[:, 2:])
        assert inside.all()


def test_similarity_matches_mouth_landmark_convention():
    """Transforming landmarks equals drawing them with the transformed centre/scale/angle."""
    params = np.array([0.6, 0.5, 0.2, 0.3, 0.1])
    pose = np.array([[3.0, -2.0, 0.1, 1.05]])
    m = tf.similarity_matrices(pose, source_anchor=(10.0, 20.0), target_anchor=(50.0, 40.0),
                               base_scale=1.5)
    centre, scale = np.array([14.0, 30.0]), 5.0
    local = mouth_geometry.mouth_landmarks(params, center=tuple(centre), scale=scale)
    moved = tf._apply(m, local[None])[0]
    new_centre = m[0, :, :2] @ centre + m[0, :, 2]
    direct = mouth_geometry.mouth_landmarks(params, center=tuple(new_centre),
                                            scale=scale * 1.5 * 1.05, angle=0.1)
    np.testing.assert_allclose(moved, direct, atol=1e-3)


def test_astronaut_identity():
    identity = tf.make_identity(0, seed=0, frame_size=(160, 224))
    assert identity.name == "astronaut"
    import skimage.data

    photo = skimage.data.astronaut()
    x0, y0, x1, y1 = face_drawing.ASTRONAUT_CROP
    crop = photo[y0:y1, x0:x1].astype(np.float32)
    sprite = cv2.resize(identity.face.rgb, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    hole = np.zeros(crop.shape[:2], np.uint8)
    cx, cy = face_drawing.ASTRONAUT_MOUTH_CENTER
    cv2.ellipse(hole, (int(cx - x0), int(cy - y0)), (34, 19), 0, 0, 360, 1, -1)
    keep = hole == 0
    corr = np.corrcoef(crop[keep].ravel(), sprite[keep].astype(np.float32).ravel())[0, 1]
    assert corr > 0.95  # it is the photograph ...
    # ... with the real mouth (white teeth between red lips) replaced by smooth skin.
    inner = np.zeros(crop.shape[:2], np.uint8)
    cv2.ellipse(inner, (int(cx - x0), int(cy - y0)), (24, 10), 0, 0, 360, 1, -1)
    inner = inner.astype(bool)
    def detail(image):  # local contrast: what remains after removing the smooth shading
        image = image.astype(np.float32)
        return np.abs(image - cv2.GaussianBlur(image, (0, 0), 3.0))[inner].mean()

    assert detail(sprite) < 0.4 * detail(crop)


def test_astronaut_frames(train_pairs):
    r = next(p for p in train_pairs if int(p["identity"]) == 0)
    identity = tf.make_identity(0, seed=TINY.seed, frame_size=(64, 80))
    # The face box region of a frame shows the (resized) sprite face: strong correlation.
    box = np.round(r["face_boxes"][0]).astype(int)
    region = r["frames_a"][0, max(box[1], 0):box[3], max(box[0], 0):box[2]].astype(np.float32)
    fx0, fy0, fx1, fy1 = np.round(identity.face.face_box).astype(int)
    face = cv2.resize(identity.face.rgb[fy0:fy1, fx0:fx1], region.shape[1::-1]).astype(np.float32)
    assert np.corrcoef(region.ravel(), face.ravel())[0, 1] > 0.6


def test_deterministic_and_seeded():
    first = next(tf.generate_pairs(TINY, "test"))
    again = next(tf.generate_pairs(TINY, "test"))
    other = next(tf.generate_pairs(dataclasses.replace(TINY, seed=1), "test"))
    for key in ("frames_a", "audio_b", "landmarks_a", "face_boxes"):
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["frames_a"], other["frames_a"])


def test_test_split_has_unseen_sentences(train_pairs):
    train_pool, test_pool = set(TINY.sentences("train")), set(TINY.sentences("test"))
    assert train_pool.isdisjoint(test_pool) and len(test_pool) >= 2
    for r in train_pairs:
        assert {r["text_a"], r["text_b"]} <= train_pool
    for r in tf.generate_pairs(TINY, "test"):
        assert {r["text_a"], r["text_b"]} <= test_pool


def test_fit_durations():
    symbols = [SIL, *"bin blue", SIL]
    durations = np.array([4, 2, 3, 2, 1, 2, 3, 2, 3, 5], np.int32)
    for target in (11, 20, 40):
        fitted = tf.fit_durations(symbols, durations, target)
        assert fitted.sum() == target
        assert np.all(fitted[np.array(symbols) != " "] >= 1)
    longer = tf.fit_durations(symbols, durations, 40)
    np.testing.assert_array_equal(longer[:-1], durations[:-1])  # only trailing silence grows
    with pytest.raises(ConfigError):
        tf.fit_durations(symbols, durations, 8)


def test_head_motion_bounds(rng):
    pose = tf.head_motion(200, rng, max_shift=(5.0, 4.0), max_angle_deg=3.0, max_scale_change=0.05)
    assert pose.shape == (200, 4)
    assert np.abs(pose[:, 0]).max() <= 5.0 and np.abs(pose[:, 1]).max() <= 4.0
    assert np.abs(pose[:, 2]).max() <= np.deg2rad(3.0) + 1e-6
    assert np.abs(pose[:, 3] - 1).max() <= 0.05 + 1e-6
    assert np.abs(np.diff(pose[:, 0])).max() < 1.0  # smooth


def test_bad_config():
    with pytest.raises(ConfigError, match="fewer than 2 sentences"):
        dataclasses.replace(TINY, num_words=1, test_fraction=0.01).validate()
    with pytest.raises(ConfigError, match="min_frames"):
        dataclasses.replace(TINY, min_frames=30, max_frames=20).validate()


def test_builder_matches_generator(built, train_pairs):
    assert len(built["train"]) == 4 and len(built["test"]) == 2
    by_id = {r["pair_id"]: r for r in train_pairs}
    for i in range(len(built["train"])):
        stored = built["train"][i]
        reference = by_id[stored["pair_id"].decode()]
        for key in ("frames_a", "frames_b", "audio_a", "landmarks_b", "face_boxes", "tokens_a",
                    "durations_b"):
            np.testing.assert_array_equal(stored[key], reference[key])
        assert stored["text_a"].decode() == reference["text_a"]
        assert int(stored["identity"]) == int(reference["identity"])
    assert {int(built["train"][i]["identity"]) for i in range(4)} == {0, 1}


def _crop_mouth_centres(records, size=64):
    """Mouth centre of every frame in the crop of its face box, `[N, 2]` crop pixels."""
    from lipjax.data.pairs import crop_landmarks

    return np.concatenate([
        [crop_landmarks(m, box, size).mean(axis=0) for m, box in zip(r["landmarks_a"],
                                                                     r["face_boxes"])]
        for r in records])


def test_crop_jitter_moves_only_the_train_boxes(train_pairs):
    jitter = 0.1
    config = dataclasses.replace(TINY, crop_jitter=jitter)
    jittered = list(tf.generate_pairs(config, "train"))
    for plain, moved in zip(train_pairs, jittered):
        for key in ("frames_a", "frames_b", "audio_a", "landmarks_b", "head_pose", "text_a"):
            np.testing.assert_array_equal(plain[key], moved[key])   # the same record otherwise
        boxes, exact = moved["face_boxes"], plain["face_boxes"]
        size = exact[:, 2:] - exact[:, :2]
        np.testing.assert_allclose(boxes[:, 2:] - boxes[:, :2], size, atol=1e-3)   # not resized
        offset = (boxes[:, :2] - exact[:, :2]) / size
        assert np.abs(offset).max() <= jitter + 1e-5
        assert len(np.unique(offset[:, 1])) == len(offset)            # per frame
        assert (offset < -jitter / 3).any() and (offset > jitter / 3).any()
    # The face moves in its crop: the mouth centre's spread grows beyond what the head's rotation
    # and scale and the mouth's own opening give (about 0.8 px across and 2.2 px down).
    plain_spread = _crop_mouth_centres(train_pairs).std(axis=0)
    moved_spread = _crop_mouth_centres(jittered).std(axis=0)
    assert np.all(moved_spread > 1.5 * plain_spread), (plain_spread, moved_spread)
    # The test split keeps the exact boxes.
    for plain, moved in zip(tf.generate_pairs(TINY, "test"), tf.generate_pairs(config, "test")):
        np.testing.assert_array_equal(plain["face_boxes"], moved["face_boxes"])


def test_jitter_boxes_against_explicit_offsets():
    boxes = np.array([[10, 20, 50, 80], [12, 18, 52, 78]], np.float32)
    moved = tf.jitter_boxes(boxes, 0.2, np.random.default_rng(3))
    draws = np.random.default_rng(3).uniform(-0.2, 0.2, (2, 2)) * [[40, 60], [40, 60]]
    np.testing.assert_allclose(moved, boxes + np.concatenate([draws, draws], axis=1), rtol=1e-6)
    np.testing.assert_array_equal(tf.jitter_boxes(boxes, 0.0, np.random.default_rng(0)), boxes)
    for bad in (-0.1, 0.6):
        with pytest.raises(ConfigError, match="crop_jitter"):
            dataclasses.replace(TINY, crop_jitter=bad).validate()
