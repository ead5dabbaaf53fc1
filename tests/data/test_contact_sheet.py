"""Tests of lipjax.data.contact_sheet: exact layout, landmark pixels, labels, atomic PNG writes."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from lipjax.data.contact_sheet import contact_sheet, save_png
from lipjax.errors import InputError

H, W = 12, 20


def test_layout_copies_every_frame_into_its_tile(rng):
    frames = rng.integers(0, 256, (5, H, W, 3), dtype=np.uint8)
    sheet = contact_sheet(frames, columns=3, gap=2)
    assert sheet.dtype == np.uint8 and sheet.shape == (2 * (H + 2) - 2, 3 * (W + 2) - 2, 3)
    covered = np.zeros(sheet.shape[:2], bool)
    for n in range(5):
        top, left = (n // 3) * (H + 2), (n % 3) * (W + 2)
        np.testing.assert_array_equal(sheet[top : top + H, left : left + W], frames[n])
        covered[top : top + H, left : left + W] = True
    assert not sheet[~covered].any()  # gaps and the empty sixth tile are black


def test_float_frames_are_scaled_to_uint8(rng):
    frames = rng.uniform(0, 1, (2, H, W, 3)).astype(np.float32)
    sheet = contact_sheet(frames, columns=2, gap=0)
    expected = np.concatenate([np.round(f * 255).astype(np.uint8) for f in frames], axis=1)
    np.testing.assert_array_equal(sheet, expected)


def test_landmarks_are_drawn_where_they_are():
    frames = np.zeros((1, H, W, 3), np.uint8)
    points = np.zeros((1, 20, 2), np.float32)
    points[0, :12] = [(3, 4), (15, 4), (16, 6), (15, 8), (3, 8), (2, 6)] * 2  # outer contour
    points[0, 12:] = [(6, 5), (12, 5), (12, 7), (6, 7)] * 2  # inner contour
    color = (250, 10, 20)
    sheet = contact_sheet(frames, points, columns=1, gap=0, landmark_color=color)
    for x, y in points[0].astype(int):
        np.testing.assert_array_equal(sheet[y, x], color)
    # the outer polyline joins (3, 4) and (15, 4): every pixel of that row segment is drawn
    np.testing.assert_array_equal(sheet[4, 3:16], np.tile(color, (13, 1)))
    assert not sheet[0, :].any() and not sheet[:, 19].any()  # nothing far from the mouth


def test_missing_landmarks_are_not_drawn():
    frames = np.zeros((1, H, W, 3), np.uint8)
    points = np.full((1, 20, 2), np.nan, np.float32)
    points[0, 3] = (10, 6)
    sheet = contact_sheet(frames, points, columns=1, gap=0)
    drawn = np.argwhere(sheet.any(axis=-1))
    assert len(drawn) > 0 and np.abs(drawn - [6, 10]).max() <= 1  # only a dot at (10, 6)


def test_labels_are_written_above_the_tiles(rng):
    frames = rng.integers(0, 256, (2, H, 60, 3), dtype=np.uint8)
    sheet = contact_sheet(frames, columns=2, labels=["ab", "a much longer label"], label_height=10)
    assert sheet.shape == (H + 10, 2 * 62 - 2, 3)
    np.testing.assert_array_equal(sheet[10:, :60], frames[0])
    assert sheet[:10, :60].any() and sheet[:10, 62:].any()
    with pytest.raises(InputError, match="labels"):
        contact_sheet(frames, columns=2, labels=["only one"])


def test_bad_shapes_raise():
    with pytest.raises(InputError):
        contact_sheet(np.zeros((2, H, W)), columns=1)
    with pytest.raises(InputError, match="landmarks"):
        contact_sheet(np.zeros((2, H, W, 3), np.uint8), np.zeros((3, 20, 2)), columns=1)


def test_save_png_round_trip_and_atomic(tmp_path, rng):
    image = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    path = tmp_path / "sub" / "sheet.png"
    save_png(path, image)
    read = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(read[..., ::-1], image)
    assert os.listdir(path.parent) == ["sheet.png"]  # no temp file left behind
    with pytest.raises(InputError, match="uint8"):
        save_png(tmp_path / "bad.png", image.astype(np.float32))
    assert not (tmp_path / "bad.png").exists()
