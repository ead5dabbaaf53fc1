"""Tests of lipjax.face against hand-labelled points of a real face and NumPy references."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
import skimage.data
from hypothesis import given, settings
from hypothesis import strategies as st

from lipjax import face
from lipjax.errors import InputError, NoFaceError

# Hand-labelled points of skimage.data.astronaut() (x, y): eye centres, mouth corners and centre.
LEFT_EYE, RIGHT_EYE = np.array([203.0, 101.0]), np.array([247.0, 101.0])
MOUTH_LEFT, MOUTH_RIGHT, MOUTH_CENTRE = np.array([203.0, 142.0]), np.array([246.0, 142.0]), np.array([224.0, 144.0])


def _inside(box: np.ndarray, point: np.ndarray) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


def test_detects_the_real_face(astronaut):
    boxes, found = face.detect_face_boxes(astronaut[None])
    assert boxes.shape == (1, 4) and boxes.dtype == np.float32 and found.tolist() == [True]
    box = boxes[0]
    for point in (LEFT_EYE, RIGHT_EYE, MOUTH_CENTRE):
        assert _inside(box, point)
    assert 60 < box[2] - box[0] < 160


@pytest.mark.parametrize("scale", [0.5, 1.3])
def test_detection_follows_scale_and_translation(astronaut, scale):
    """Detections on a scaled, translated copy of the head map back onto the labelled face."""
    region_x = 100  # the head region astronaut[0:260, 100:350] (no helmet or flag to confuse it)
    region = astronaut[0:260, region_x:350]
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(region, None, fx=scale, fy=scale, interpolation=interpolation)
    offsets, frames = [(10, 20), (40, 5), (70, 30)], []
    for dx, dy in offsets:
        canvas = np.full((400, 480, 3), 90, np.uint8)
        canvas[dy:dy + small.shape[0], dx:dx + small.shape[1]] = small
        frames.append(canvas)
    boxes, found = face.detect_face_boxes(np.stack(frames), min_size_fraction=0.05)
    assert found.all()
    reference, _ = face.detect_face_boxes(astronaut[None])
    for box, (dx, dy) in zip(boxes, offsets):
        original = (box - [dx, dy, dx, dy]) / scale + [region_x, 0, region_x, 0]
        for point in (LEFT_EYE, RIGHT_EYE, MOUTH_CENTRE):
            assert _inside(original, point)
        assert _iou(original, reference[0]) > 0.7  # Haar boxes snap to the pyramid scales


def test_largest_face_wins(astronaut):
    patch = astronaut[20:220, 125:325]
    canvas = np.full((260, 420, 3), 128, np.uint8)
    canvas[30:230, 200:400] = patch  # large face
    canvas[80:180, 20:120] = cv2.resize(patch, (100, 100), interpolation=cv2.INTER_AREA)
    boxes, found = face.detect_face_boxes(canvas[None], min_size_fraction=0.1)
    assert found[0] and boxes[0, 0] >= 200


def test_stride_and_blank_frames(astronaut):
    frames = np.stack([astronaut] * 4 + [np.zeros_like(astronaut)])
    boxes, found = face.detect_face_boxes(frames, stride=2)
    assert found.tolist() == [True, False, True, False, False]
    np.testing.assert_array_equal(boxes[~found], 0)
    with pytest.raises(NoFaceError):
        face.smooth_boxes(*face.detect_face_boxes(np.zeros((3, 64, 64, 3), np.uint8)))


def _smooth_reference(boxes: np.ndarray, found: np.ndarray, window: int) -> np.ndarray:
    """Brute force: linear interpolation by nearest detections, then a shrinking-window mean."""
    num = len(found)
    idx = np.flatnonzero(found)
    filled = np.zeros((num, 4))
    for t in range(num):
        before, after = idx[idx <= t], idx[idx >= t]
        if len(before) == 0:
            filled[t] = boxes[after[0]]
        elif len(after) == 0:
            filled[t] = boxes[before[-1]]
        elif before[-1] == after[0]:
            filled[t] = boxes[t]
        else:
            a, b = before[-1], after[0]
            w = (t - a) / (b - a)
            filled[t] = (1 - w) * boxes[a] + w * boxes[b]
    half = window // 2
    return np.stack([filled[max(0, t - half):t + half + 1].mean(axis=0) for t in range(num)])


@settings(max_examples=25, deadline=None)
@given(
    num=st.integers(1, 20),
    window=st.sampled_from([1, 3, 5, 7]),
    seed=st.integers(0, 2**16),
)
def test_smooth_boxes_matches_reference(num, window, seed):
    rng = np.random.default_rng(seed)
    boxes = rng.uniform(0, 100, size=(num, 4)).astype(np.float32)
    found = rng.random(num) < 0.6
    found[rng.integers(num)] = True
    boxes[~found] = -1e6  # must be ignored
    out = face.smooth_boxes(boxes, found, window=window)
    assert out.shape == (num, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, _smooth_reference(boxes, found, window), rtol=1e-5, atol=1e-3)


def test_smooth_boxes_keeps_a_still_face():
    boxes = np.tile(np.array([[10, 20, 50, 60]], np.float32), (6, 1))
    np.testing.assert_allclose(face.smooth_boxes(boxes, np.ones(6, bool), window=5), boxes)
    with pytest.raises(InputError):
        face.smooth_boxes(boxes, np.ones(6, bool), window=4)


def test_crop_exact_and_block_mean(rng):
    frame = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(face.crop_and_resize(frame, (10, 5, 30, 25), (20, 20)), frame[5:25, 10:30])
    # 2x downscale with area interpolation = mean of 2x2 blocks.
    frame_f = rng.random((40, 60, 3)).astype(np.float32)
    crop = face.crop_and_resize(frame_f, (8, 4, 48, 24), (10, 20))
    block = frame_f[4:24, 8:48].reshape(10, 2, 20, 2, 3).mean(axis=(1, 3))
    assert crop.dtype == np.float32
    np.testing.assert_allclose(crop, block, atol=1e-5)


@pytest.mark.parametrize("pad_mode", ["edge", "constant"])
def test_crop_pads_outside_the_frame(rng, pad_mode):
    frame = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    box = (-5, -3, 25, 27)  # 30 x 30, sticks out left, top and bottom
    expected = np.pad(frame, ((3, 10), (5, 0), (0, 0)), mode=pad_mode)[0:30, 0:30]
    np.testing.assert_array_equal(face.crop_and_resize(frame, box, (30, 30), pad_mode=pad_mode), expected)


def test_paste_back_round_trip(astronaut):
    frame = astronaut
    box = np.array([170.3, 60.7, 280.2, 170.4])
    crop = face.crop_and_resize(frame, box, (256, 256))
    pasted = face.paste_back(frame, crop, box)
    x0, y0, x1, y1 = face.box_to_pixels(box)
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(pasted[outside], frame[outside])
    inside = pasted[y0:y1, x0:x1].astype(np.float64) - frame[y0:y1, x0:x1]
    psnr = 10 * np.log10(255.0**2 / np.mean(inside**2))
    assert psnr > 30.0
    # A changed crop changes exactly the box.
    blank = face.paste_back(frame, np.zeros_like(crop), box)
    assert (blank[y0:y1, x0:x1] == 0).all() and np.array_equal(blank[outside], frame[outside])


def test_paste_back_clips_at_the_frame_edge(rng):
    frame = rng.random((20, 30, 3)).astype(np.float32)
    crop = np.ones((10, 10, 3), np.float32)
    out = face.paste_back(frame, crop, (25, -5, 35, 5))  # half outside: right and top
    expected = frame.copy()
    expected[0:5, 25:30] = 1.0
    np.testing.assert_array_equal(out, expected)
    # uint8 frame with a float crop in [0, 1]
    out8 = face.paste_back(np.zeros((8, 8, 3), np.uint8), np.full((4, 4, 3), 0.5, np.float32), (2, 2, 6, 6))
    assert out8.dtype == np.uint8 and out8[3, 3, 0] == 128 and out8[0, 0, 0] == 0


def test_lip_box_geometry_and_real_mouth(astronaut):
    box = face.lip_box_from_face(np.array([0, 0, 100, 100], np.float32))
    np.testing.assert_allclose(box, [17.5, 63.75, 82.5, 96.25])
    assert (box[2] - box[0]) / (box[3] - box[1]) == pytest.approx(2.0)
    boxes, _ = face.detect_face_boxes(astronaut[None])
    lip = face.lip_box_from_face(boxes)[0]
    for point in (MOUTH_LEFT, MOUTH_RIGHT, MOUTH_CENTRE):
        assert _inside(lip, point)
    centre = 0.5 * (lip[:2] + lip[2:])
    assert np.linalg.norm(centre - MOUTH_CENTRE) < 6.0
    crop = face.crop_and_resize(astronaut, lip, (80, 160))
    assert crop.shape == (80, 160, 3)


def test_lip_box_from_landmarks():
    points = np.array([[10.0, 40.0], [50.0, 30.0], [30.0, 50.0]] + [[30.0, 40.0]] * 17)
    box = face.lip_box_from_landmarks(points, aspect=2.0, width_scale=1.5)
    np.testing.assert_allclose(box, [0.0, 25.0, 60.0, 55.0])
    batched = face.lip_box_from_landmarks(np.stack([points, points + 5]))
    np.testing.assert_allclose(batched[1] - batched[0], [5, 5, 5, 5], atol=1e-5)


def test_mouth_landmarker_needs_file_and_dlib(tmp_path):
    with pytest.raises(InputError, match="not found"):
        face.MouthLandmarker(tmp_path / "missing.dat")
    if importlib.util.find_spec("dlib") is not None:
        pytest.skip("dlib is installed; the missing-dlib message cannot be checked")
    dummy = tmp_path / "shape_predictor_68_face_landmarks.dat"
    dummy.write_bytes(b"x")
    with pytest.raises(InputError, match="dlib"):
        face.MouthLandmarker(dummy)
