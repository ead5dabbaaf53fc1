"""The threaded talk pipeline: `run_stages` (order, bounded queues, errors and interrupts stop
every thread) and `FaceTrack` (boxes handed out early equal `shape_boxes` of the whole video)."""

import threading
import time

import numpy as np
import pytest

from lipjax.errors import InputError, NoFaceError
from lipjax.lipsync.faces import FaceBoxOptions, shape_boxes
from lipjax.lipsync.stages import Stopped, run_stages
from lipjax.lipsync.tracking import FaceTrack


def test_items_flow_through_every_stage_in_order_with_bounded_queues():
    produced, in_flight, most = [], [0], [0]
    lock = threading.Lock()

    def source():
        for i in range(40):
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            produced.append(i)
            yield i

    def slow_sink_stage(x):
        time.sleep(0.002)
        return x * 10

    got = []

    def sink(x):
        with lock:
            in_flight[0] -= 1
        got.append(x)

    run_stages(source(), [lambda x: x + 1, slow_sink_stage], sink, depth=2)
    assert got == [(i + 1) * 10 for i in range(40)]
    # source -> q -> stage 1 -> q -> stage 2 -> q -> sink: a handful in flight, never all 40
    assert most[0] <= 3 * 2 + 4


@pytest.mark.parametrize("where", ["source", "stage", "background", "sink"])
def test_the_first_error_anywhere_stops_every_thread_and_is_raised(where):
    started = threading.active_count()
    seen = []

    def source():
        for i in range(1000):
            if where == "source" and i == 5:
                raise InputError("bad frame")
            yield i

    def stage(x):
        if where == "stage" and x == 7:
            raise InputError("bad frame")
        return x

    def background(stop):
        for _ in range(200):
            if stop.is_set():
                return
            if where == "background":
                raise InputError("bad frame")
            time.sleep(0.01)

    def sink(x):
        seen.append(x)
        if where == "sink" and x == 3:
            raise InputError("bad frame")

    with pytest.raises(InputError, match="bad frame"):
        run_stages(source(), [stage, stage], sink, background=[background])
    assert len(seen) < 1000
    assert threading.active_count() == started  # every thread joined


def test_an_interrupt_in_the_calling_thread_stops_the_workers():
    started = threading.active_count()
    stopped = threading.Event()

    def background(stop):
        while not stop.is_set():
            time.sleep(0.005)
        stopped.set()

    def sink(x):
        if x == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stages(iter(range(100)), [lambda x: x], sink, background=[background])
    assert stopped.is_set() and threading.active_count() == started


def _detections(rng, count):
    """A moving face, missed in runs of frames, at the start, and at the end."""
    t = np.arange(count)
    raw = np.stack([100 + 2 * t, 50 + t, 180 + 2 * t, 140 + t], 1).astype(np.float32)
    raw += rng.normal(0, 3, raw.shape).astype(np.float32)
    found = rng.random(count) > 0.3
    found[:3] = False
    found[20:31] = False
    found[-4:] = False
    return raw, found


@pytest.mark.parametrize("options", [
    FaceBoxOptions(smoothing="centred", smoothing_window=5, padding=(0, 0, 0, 0.1)),
    FaceBoxOptions(smoothing="forward", smoothing_window=5, pads=(0, 10, 0, 0)),
    FaceBoxOptions(smooth=False, pads=(2, 3, 4, 5)),
    FaceBoxOptions(fixed_box=(10, 90, 20, 120)),
])
def test_boxes_handed_out_early_equal_those_of_the_whole_video(options):
    rng = np.random.default_rng(0)
    raw, found = _detections(rng, 57)
    if options.fixed_box is not None:
        want = np.tile(np.float32([20, 10, 120, 90]), (57, 1))
        want_found = np.ones(57, bool)
    else:
        want = shape_boxes(raw, found, options, height=480, width=640)
        want_found = found
    track = FaceTrack(options, height=480, width=640)
    stop = threading.Event()
    for begin in range(0, 57, 6):  # detections arrive in chunks; check what is final so far
        if options.fixed_box is not None:
            track.extend_fixed(len(raw[begin:begin + 6]))
        else:
            track.extend(raw[begin:begin + 6], found[begin:begin + 6])
        final = track._final
        boxes, detected = track.wait_for(stop, final)
        np.testing.assert_allclose(boxes, want[:final], atol=1e-4)
        np.testing.assert_array_equal(detected, want_found[:final])
    assert track._final > 40 and not track.done
    track.finish()
    boxes, detected = track.wait_for(stop)
    np.testing.assert_allclose(boxes, want, atol=1e-4)
    stop.set()
    with pytest.raises(Stopped):  # a consumer waiting past the end is released by the stop
        FaceTrack(options, height=480, width=640).wait_for(stop, 5)


@pytest.mark.parametrize("options", [
    FaceBoxOptions(smoothing="centred", smoothing_window=7),
    FaceBoxOptions(smoothing="forward", smoothing_window=5),
])
def test_each_update_reshapes_only_the_frames_since_a_recent_detection(options, monkeypatch):
    import lipjax.lipsync.tracking as tracking

    rng = np.random.default_rng(1)
    count = 1500
    t = np.arange(count)
    x, y = 200 + 80 * np.sin(t / 40), 150 + 40 * np.cos(t / 55)  # a face moving to and fro
    raw = np.stack([x, y, x + 120, y + 140], 1).astype(np.float32)
    raw += rng.normal(0, 3, raw.shape).astype(np.float32)
    found = rng.random(count) > 0.3
    found[700:760] = False  # a long stretch without a face: the work grows only across it
    lengths = []

    def recording(raw, found, *args, **kwargs):
        lengths.append(len(found))
        return shape_boxes(raw, found, *args, **kwargs)

    monkeypatch.setattr(tracking, "shape_boxes", recording)
    track = FaceTrack(options, height=480, width=640)
    begin = 0
    while begin < count:  # chunks of 1..7 frames
        size = int(rng.integers(1, 8))
        track.extend(raw[begin:begin + size], found[begin:begin + size])
        begin += size
    track.finish()
    boxes, _ = track.wait_for(threading.Event())
    np.testing.assert_array_equal(boxes, shape_boxes(raw, found, options, height=480,
                                                     width=640))
    assert len(lengths) > 200 and max(lengths) < 120  # not the ~1500 frames of the video


@pytest.mark.parametrize("smoothing", ["centred", "forward"])
def test_short_videos_in_any_chunking_give_the_whole_video_boxes(smoothing):
    """Brute force over lengths and chunk sizes, where the smoothing window reaches both ends
    (forward smoothing's last boxes all read the video's last frames)."""
    options = FaceBoxOptions(smoothing=smoothing, smoothing_window=5)
    rng = np.random.default_rng(2)
    for count in range(1, 16):
        raw = (np.float32([100, 50, 220, 190]) + rng.normal(0, 4, (count, 4))).astype(
            np.float32)
        found = rng.random(count) > 0.4
        found[rng.integers(count)] = True
        want = shape_boxes(raw, found, options, height=480, width=640)
        for chunk in range(1, 7):
            track = FaceTrack(options, height=480, width=640)
            for begin in range(0, count, chunk):
                track.extend(raw[begin:begin + chunk], found[begin:begin + chunk])
            track.finish()
            np.testing.assert_array_equal(track.wait_for(threading.Event())[0], want)


def test_no_face_at_all_and_empty_boxes_raise_at_finish():
    track = FaceTrack(FaceBoxOptions(), height=100, width=100)
    track.extend(np.zeros((8, 4), np.float32), np.zeros(8, bool))
    with pytest.raises(NoFaceError):
        track.finish()
    track = FaceTrack(FaceBoxOptions(pads=(-30, -30, 0, 0), smooth=False), height=100,
                      width=100)
    with pytest.raises(InputError, match="leave no face box"):
        track.extend(np.float32([[10, 10, 50, 50]] * 3), np.ones(3, bool))


def test_a_handoff_gives_up_only_while_full_and_asked_to_and_abandoning_keeps_what_was_handed():
    from lipjax.lipsync.stages import Handoff

    stop = threading.Event()
    handoff = Handoff(stop, depth=2)
    assert handoff.offer("a", give_up=lambda: True) and handoff.offer("b", give_up=lambda: True)
    asked = []
    assert not handoff.offer("c", give_up=lambda: asked.append(1) or True)  # full: gives up
    assert len(asked) == 4  # after `patience` checks in a row
    handoff.abandon()
    assert list(handoff) == ["a", "b"] and not handoff.complete

    handoff = Handoff(stop, depth=1)
    handoff.offer("a", give_up=lambda: False)
    taker = threading.Timer(0.3, lambda: received.extend(handoff))
    received = []
    taker.start()
    assert handoff.offer("b", give_up=lambda: False)  # waits for room instead of giving up
    handoff.close()
    taker.join()
    assert received == ["a", "b"] and handoff.complete
    stop.set()
    with pytest.raises(Stopped):
        handoff.offer("c", give_up=lambda: False)
