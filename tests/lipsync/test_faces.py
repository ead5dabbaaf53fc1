"""Tests of lipjax.lipsync.faces: Wav2Lip's box options and smoothing against transcriptions of
its procedure, and the options' errors."""

from __future__ import annotations

import numpy as np
import pytest

from lipjax.errors import InputError
from lipjax.lipsync.faces import (
    FaceBoxOptions,
    add_pixel_pads,
    forward_smooth,
    pad_boxes,
    track_faces,
)


def test_pad_boxes_grows_each_side_by_its_fraction():
    boxes = np.array([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 10.0, 10.0]])
    got = pad_boxes(boxes, padding=(0.1, 0.25, 0.5, -0.1))
    np.testing.assert_allclose(got, [[6.0, 0.0, 70.0, 92.0], [-1.0, -2.5, 15.0, 9.0]])


def _wav2lip_smoothing(boxes, T=5):
    """Wav2Lip's get_smoothened_boxes, transcribed: in place, frame by frame."""
    boxes = [list(b) for b in boxes]
    for i in range(len(boxes)):
        if i + T > len(boxes):
            window = boxes[len(boxes) - T:]
        else:
            window = boxes[i:i + T]
        boxes[i] = list(np.mean(np.asarray(window, np.float64), axis=0))
    return np.asarray(boxes)


@pytest.mark.parametrize("count", [5, 6, 12])
def test_forward_smoothing_is_wav2lips(rng, count):
    boxes = rng.uniform(0, 100, (count, 4))
    np.testing.assert_allclose(forward_smooth(boxes, 5), _wav2lip_smoothing(boxes), rtol=1e-6)


def test_pixel_pads_are_top_bottom_left_right_and_clipped():
    boxes = np.array([[10.0, 20.0, 50.0, 60.0], [2.0, 1.0, 95.0, 79.0]])
    got = add_pixel_pads(boxes, (5, 10, 3, 7), height=80, width=100)
    np.testing.assert_array_equal(got, [[7, 15, 57, 70], [0, 0, 100, 80]])


def test_a_fixed_box_is_every_frames_box_without_detection():
    frames = np.zeros((3, 40, 50, 3), np.uint8)  # no face anywhere: nothing is detected
    boxes, detected = track_faces(frames, FaceBoxOptions(fixed_box=(5, 30, 10, 45)))
    assert detected.all()
    np.testing.assert_array_equal(boxes, np.broadcast_to([10, 5, 45, 30], (3, 4)))


@pytest.mark.parametrize("options", [
    dict(pads=(1, 2, 3)), dict(smoothing="backward"), dict(smoothing_window=4),
    dict(smoothing_window=0), dict(fixed_box=(30, 5, 10, 45)),
])
def test_bad_options_are_input_errors(options):
    with pytest.raises(InputError):
        FaceBoxOptions(**options)
