"""`FaceTrack`: face boxes that become final while detection is still running.

`talk` detects faces in one thread and edits frames in another. The box of frame t is
`shape_boxes` of all detections (pads, interpolation over misses, smoothing, padding), but it
depends only on a few detections around t: once the last frame with a detection, D, lies far
enough past t, later detections cannot change it. With D the last detected frame so far:

* interpolated frames up to D are fixed (frames after D are "held" at D's box until the next
  detection), so the filled boxes `filled[0..D]` are final;
* centred smoothing over `w` frames reads `filled[t - w//2 .. t + w//2]`; forward (Wav2Lip's)
  reads `filled[t .. t + w - 1]`; no smoothing reads `filled[t]`;

so frames `t <= D - margin` are final (margin `w//2`, `w - 1` or 0); the rest when detection
ends. The boxes handed out are exactly those `shape_boxes` gives on the whole video (tested).

Each update reshapes only the frames from a detected frame at or before the first frame it
finalises, minus what centred smoothing reads behind it (forward smoothing: or the video's last
`w` frames, which its final boxes all read). Filled boxes from a detected frame on do not
depend on earlier frames, so the work per update stays bounded by the frames since that
detection, not by the video's length (arrays grow by doubling, so appending is amortised too).
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from lipjax.errors import InputError
from lipjax.lipsync.faces import FaceBoxOptions, fixed_boxes, shape_boxes
from lipjax.lipsync.stages import wait_until

__all__ = ["FaceTrack", "check_boxes"]


def check_boxes(boxes: np.ndarray, detected: np.ndarray, options: FaceBoxOptions) -> None:
    """Pads must leave every detected face a box of at least one pixel (InputError)."""
    empty = detected & ((boxes[:, 2] - boxes[:, 0] < 1) | (boxes[:, 3] - boxes[:, 1] < 1))
    if empty.any():
        raise InputError(
            f"the face-box pads {tuple(options.pads)} (top bottom left right) and padding "
            f"{tuple(options.padding)} leave no face box in {int(empty.sum())} frame(s) (e.g. "
            f"frame {int(np.flatnonzero(empty)[0])}); use smaller negative pads")


def _room(buffer: np.ndarray, size: int) -> np.ndarray:
    """`buffer` with room for `size` rows: itself, or a copy at least twice as long."""
    if size <= len(buffer):
        return buffer
    grown = np.zeros((max(size, 2 * len(buffer)), *buffer.shape[1:]), buffer.dtype)
    grown[:len(buffer)] = buffer
    return grown


class FaceTrack:
    """Detections arriving in order (`extend`, then `finish`); final boxes for consumers in other
    threads (`wait_for`).

    Args:
      options: the face-box options (`shape_boxes`).
      height, width: frame size (boxes are clipped to it).
    """

    def __init__(self, options: FaceBoxOptions, *, height: int, width: int):
        self.options = options
        self.height, self.width = height, width
        window = options.smoothing_window
        self._margin = 0 if options.fixed_box is not None or not options.smooth else (
            window // 2 if options.smoothing == "centred" else window - 1)
        centred = options.smooth and options.smoothing == "centred"
        self._behind = window // 2 if centred else 0
        # Forward smoothing's last `window` boxes all read the video's final `window` frames.
        self._end_window = window if options.smooth and not centred else 0
        self._raw_buffer = np.zeros((0, 4), np.float32)     # frames [0, _count) are valid
        self._found_buffer = np.zeros(0, bool)
        self._boxes_buffer = np.zeros((0, 4), np.float32)   # frames [0, _final) are final
        self._count = 0
        self._last_detected = -1
        self._final = 0
        self._done = False
        self._condition = threading.Condition()
        self._waiting = 0

    @property
    def _raw(self) -> np.ndarray:
        return self._raw_buffer[:self._count]

    @property
    def _found(self) -> np.ndarray:
        return self._found_buffer[:self._count]

    @property
    def _boxes(self) -> np.ndarray:
        return self._boxes_buffer[:self._final]

    @property
    def done(self) -> bool:
        return self._done

    @property
    def waiting(self) -> bool:
        """Whether a consumer is waiting in `wait_for` for boxes that are not final yet."""
        return self._waiting > 0

    def extend(self, raw: np.ndarray, found: np.ndarray) -> None:
        """Detections of the next frames: raw boxes `[n, 4]`, found `[n]`."""
        with self._condition:
            found = np.asarray(found, bool)
            end = self._count + len(found)
            self._raw_buffer = _room(self._raw_buffer, end)
            self._found_buffer = _room(self._found_buffer, end)
            self._raw_buffer[self._count:end] = raw
            self._found_buffer[self._count:end] = found
            hits = np.flatnonzero(found)
            if len(hits):
                self._last_detected = self._count + int(hits[-1])
            self._count = end
            self._update(min(self._count, self._last_detected - self._margin + 1))

    def extend_fixed(self, count: int) -> None:
        """`count` more frames with the options' fixed box (no detection)."""
        self.extend(*fixed_boxes(self.options, count))

    def finish(self, check: Callable[[np.ndarray, np.ndarray], None] | None = None) -> None:
        """No more frames: every box is final. Raises NoFaceError (no detection at all) or
        InputError (pads leave an empty box) as `shape_boxes` / `check_boxes` do, or what
        `check(boxes, detected)` raises (before any consumer sees the boxes)."""
        with self._condition:
            if not len(self._found):
                raise InputError("there are no frames to find faces in")
            self._update(self._count)
            if check is not None:
                check(self._boxes, self._found)
            self._done = True
            self._condition.notify_all()

    def _update(self, final: int) -> None:
        """Makes the boxes of frames `[self._final, final)` final (caller holds the lock)."""
        if final <= self._final:
            return
        first = self._final
        if self.options.fixed_box is not None:
            boxes = self._raw[first:final]
        else:
            # From the last detection at or before what smoothing reads (frame 0 if none).
            reads_from = min(first - self._behind, self._count - self._end_window)
            hits = np.flatnonzero(self._found[:max(0, reads_from) + 1])
            start = int(hits[-1]) if len(hits) else 0
            boxes = shape_boxes(self._raw[start:], self._found[start:], self.options,
                                height=self.height, width=self.width)[first - start:final - start]
        check_boxes(boxes, self._found[first:final], self.options)
        self._boxes_buffer = _room(self._boxes_buffer, final)
        self._boxes_buffer[first:final] = boxes
        self._final = final
        self._condition.notify_all()

    def wait_for(self, stop: threading.Event, upto: int | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
        """`(boxes [n, 4], detected [n])` of the first `upto` frames (all frames: None) once
        they are final; raises `lipjax.lipsync.stages.Stopped` if `stop` is set first."""
        with self._condition:
            self._waiting += 1
            try:
                wait_until(self._condition,
                           lambda: self._done or (upto is not None and self._final >= upto), stop)
            finally:
                self._waiting -= 1
            count = self._final if upto is None else upto
            return self._boxes[:count], self._found[:count]
