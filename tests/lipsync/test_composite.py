"""Tests of lipjax.lipsync.composite: blending at the frame's resolution keeps every pixel the
mask does not touch, bit for bit; feathered paste-back ramps over the box edge."""

from __future__ import annotations

import numpy as np
import pytest

from lipjax.errors import InputError
from lipjax.lipsync.composite import blend_back, feather_weights, paste_feathered


def test_pixels_whose_mask_is_zero_are_unchanged_bit_for_bit(rng):
    frame = rng.integers(0, 256, (60, 80, 3), np.uint8)
    motion = rng.uniform(0, 1, (16, 16, 3)).astype(np.float32)
    alpha = np.zeros((16, 16, 1), np.float32)
    alpha[10:, 4:12] = 0.8  # the mouth
    box = (20.0, 10.0, 52.0, 42.0)  # 32x32: every crop pixel covers 2x2 frame pixels
    out = blend_back(frame, motion, alpha, box)
    np.testing.assert_array_equal(out[:10], frame[:10])        # outside the box
    np.testing.assert_array_equal(out[10:28, 20:52], frame[10:28, 20:52])  # mask exactly 0
    assert np.abs(out[36:42, 30:42].astype(int) - frame[36:42, 30:42]).mean() > 5
    everywhere = blend_back(frame, motion, np.zeros_like(alpha), box)
    np.testing.assert_array_equal(everywhere, frame)


def test_a_full_mask_is_the_motion_image_resized(rng):
    frame = rng.integers(0, 256, (40, 40, 3), np.uint8)
    motion = np.full((8, 8, 3), 0.5, np.float32)
    out = blend_back(frame, motion, np.ones((8, 8, 1), np.float32), (8.0, 8.0, 24.0, 24.0))
    assert (out[8:24, 8:24] == 128).all()


def test_feathered_paste_ramps_from_the_edge(rng):
    frame = np.zeros((30, 30, 3), np.uint8)
    crop = np.ones((10, 10, 3), np.float32)
    hard = paste_feathered(frame, crop, (5.0, 5.0, 25.0, 25.0), feather=0)
    assert (hard[5:25, 5:25] == 255).all() and (hard[:5] == 0).all()
    soft = paste_feathered(frame, crop, (5.0, 5.0, 25.0, 25.0), feather=4)
    assert soft[5, 15, 0] == round(255 / 4) and (soft[9:21, 9:21] == 255).all()
    np.testing.assert_array_equal(feather_weights(5, 7, 0), np.ones((5, 7, 1)))
    with pytest.raises(InputError, match="feather"):
        feather_weights(5, 5, -1)
    with pytest.raises(InputError, match="outside"):
        blend_back(frame, crop, crop[..., :1], (40.0, 40.0, 50.0, 50.0))
