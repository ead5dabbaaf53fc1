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


def _moving_head(steps: list[tuple[int, int]]) -> np.ndarray:
    """The astronaut's head (no helmet or flag) pasted at each (x, y) on a grey 320x480 frame."""
    import skimage.data

    head = skimage.data.astronaut()[0:260, 100:350]
    frames = np.full((len(steps), 320, 480, 3), 90, np.uint8)
    for frame, (x, y) in zip(frames, steps):
        frame[y:y + 180, x:x + 180] = head[:180, :180]
    return frames


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = (np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
             * np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None))
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_local_search_follows_a_moving_face_as_whole_frame_search_does():
    from lipjax.face import detect_face_boxes
    from lipjax.lipsync.faces import FaceSearch

    steps = [(20 + 6 * t, 30 + 2 * t) for t in range(24)]
    frames = _moving_head(steps)
    whole, whole_found = detect_face_boxes(frames)
    search = FaceSearch(FaceBoxOptions())
    parts = [search.search(frames[begin:begin + 5]) for begin in range(0, len(frames), 5)]
    local = np.concatenate([boxes for boxes, _ in parts])
    found = np.concatenate([f for _, f in parts])
    assert whole_found.all() and found.all()
    assert _iou(local, whole).min() > 0.7  # same cascade and resolution; window edges differ
    shifts = local[:, 0] - local[0, 0]
    np.testing.assert_allclose(shifts, [x - steps[0][0] for x, _ in steps], atol=8)


def test_a_face_that_jumps_is_found_again_by_a_whole_frame_search():
    from lipjax.lipsync.faces import FaceSearch

    steps = [(20, 30)] * 3 + [(280, 130)] * 3  # outside the window around the first place
    blank = np.full((2, 320, 480, 3), 90, np.uint8)
    frames = np.concatenate([_moving_head(steps[:3]), blank, _moving_head(steps[3:])])
    boxes, found = FaceSearch(FaceBoxOptions()).search(frames)
    assert found.tolist() == [True] * 3 + [False] * 2 + [True] * 3
    assert (boxes[5:, 0] > 250).all() and (boxes[:3, 0] < 100).all()
    # Without a blank in between, the window loses the face and the same frame is searched whole.
    boxes, found = FaceSearch(FaceBoxOptions()).search(_moving_head(steps))
    assert found.all() and (boxes[3:, 0] > 250).all()


def test_a_second_larger_face_is_picked_up_at_the_next_whole_frame_search():
    import cv2
    import skimage.data

    from lipjax.face import detect_face_boxes
    from lipjax.lipsync.faces import FaceSearch

    head = skimage.data.astronaut()[0:260, 100:350]
    small = cv2.resize(head, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    large = cv2.resize(head, None, fx=1.2, fy=1.2, interpolation=cv2.INTER_LINEAR)
    frames = np.full((8, 400, 640, 3), 90, np.uint8)
    frames[:, 20:20 + small.shape[0], 20:20 + small.shape[1]] = small
    frames[2:, 40:40 + large.shape[0], 300:300 + large.shape[1]] = large
    whole, _ = detect_face_boxes(frames)
    assert (whole[2:, 0] > 300).all()  # the larger face, wherever it is visible
    boxes, found = FaceSearch(FaceBoxOptions(full_search_every=4)).search(frames)
    assert found.all()
    assert (boxes[:5, 0] < 200).all()  # the window keeps the first face until ...
    np.testing.assert_array_equal(boxes[5], whole[5])  # ... frame 5 looks at the whole frame
    assert _iou(boxes[6:], whole[6:]).min() > 0.8  # and the window follows the larger face


def test_full_search_every_must_be_a_positive_integer():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="full_search_every must be an integer >= 1"):
            FaceBoxOptions(full_search_every=bad)
