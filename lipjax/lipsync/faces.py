"""Face boxes for lip-syncing a video: detection, Wav2Lip's options, smoothing, padding.

`track_faces(frames, options)` gives every frame's face box and whether the detector found a
face in that very frame. `FaceBoxOptions` holds the choices, with Wav2Lip's command-line options
where it has them (Prajwal et al., ACM MM 2020, its `inference.py`):

* `pads` (`--pads top bottom left right`): pixels added to the detected box, clipped to the
  frame (Wav2Lip's default 0 10 0 0 reaches the chin).
* `fixed_box` (`--box y1 y2 x1 x2`): one box for every frame, no detection, no padding.
* `smooth=False` (`--nosmooth`): boxes are used as detected.
* `smoothing="forward"`: Wav2Lip's smoothing, each box the mean of itself and the next four (the
  last windows reuse the final five, replacing boxes in place as Wav2Lip does);
  `"centred"`: a centred moving average shrinking at the ends (`lipjax.face.smooth_boxes`), so
  that a still face keeps exactly its box.
* `padding`: growth as fractions of the box (left, top, right, bottom), after smoothing; the
  DCK model's default adds 10% at the bottom (the Haar box ends just below the mouth).
* `local_search` (default on; `FaceSearch`): after a detection, the next frame is searched only
  in a window around it (the box grown by half its side on every side, faces of 0.8-1.25 times
  its side), and the whole frame again after a miss and every `full_search_every` frames. A
  Haar pass over a whole 1280x720 frame costs about as much as the DCK generator on a CPU; the
  window costs a small fraction of it, at the same resolution and with the same cascade.

Frames without a detection get interpolated boxes for smoothing but are reported as not
detected, and `lipjax.lipsync.pipeline.lip_sync` leaves them unchanged (Wav2Lip stops with
"Face not detected!" instead).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Literal

import numpy as np
from tqdm.auto import tqdm

from lipjax.errors import InputError
from lipjax.face import check_frames, detect_face_boxes, largest_face, smooth_boxes, to_gray_uint8

__all__ = ["FaceBoxOptions", "FaceSearch", "track_faces", "detect_raw_boxes", "shape_boxes",
           "fixed_boxes", "pad_boxes", "add_pixel_pads", "forward_smooth"]

Smoothing = Literal["centred", "forward"]


@dataclasses.dataclass(frozen=True)
class FaceBoxOptions:
    """How face boxes are found and shaped (see the module docstring).

    Attributes:
      padding: (left, top, right, bottom) growth as fractions of the box's width / height.
      pads: (top, bottom, left, right) pixels added to detected boxes (Wav2Lip's `--pads`).
      fixed_box: (y1, y2, x1, x2) pixel box for every frame (Wav2Lip's `--box`); None detects.
      smooth: average boxes over time (False = Wav2Lip's `--nosmooth`).
      smoothing: "centred" or "forward" (Wav2Lip's).
      smoothing_window: frames averaged (odd for "centred").
      min_neighbors, min_size_fraction: Haar detector settings (`lipjax.face.detect_face_boxes`).
      local_search: search near the previous frame's face (`FaceSearch`); False searches every
        whole frame.
      full_search_every: with `local_search`, frames between two whole-frame searches.
    """

    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    fixed_box: tuple[int, int, int, int] | None = None
    smooth: bool = True
    smoothing: Smoothing = "centred"
    smoothing_window: int = 5
    min_neighbors: int = 5
    min_size_fraction: float = 0.1
    local_search: bool = True
    full_search_every: int = 25

    def __post_init__(self) -> None:
        if isinstance(self.full_search_every, bool) or not isinstance(
                self.full_search_every, (int, np.integer)) or self.full_search_every < 1:
            raise InputError(f"full_search_every must be an integer >= 1, got "
                             f"{self.full_search_every!r}")
        if len(self.padding) != 4 or len(self.pads) != 4:
            raise InputError(f"padding and pads take 4 numbers each, got {self.padding!r} and "
                             f"{self.pads!r}")
        if self.smoothing not in ("centred", "forward"):
            raise InputError(f"smoothing must be 'centred' or 'forward', got {self.smoothing!r}")
        if self.smoothing_window < 1 or (self.smoothing == "centred"
                                         and self.smoothing_window % 2 == 0):
            raise InputError(f"smoothing_window must be positive (odd for centred smoothing), "
                             f"got {self.smoothing_window}")
        if self.fixed_box is not None:
            y1, y2, x1, x2 = self.fixed_box
            if len(self.fixed_box) != 4 or y2 <= y1 or x2 <= x1:
                raise InputError(f"a fixed box is y1 y2 x1 x2 with y1 < y2 and x1 < x2, got "
                                 f"{self.fixed_box!r}")


def pad_boxes(boxes: np.ndarray, *, padding: tuple[float, ...]) -> np.ndarray:
    """Grows boxes `[..., 4]` (x0, y0, x1, y1) by `padding` = (left, top, right, bottom)
    fractions of each box's width / height (negative values shrink)."""
    boxes = np.asarray(boxes, np.float32)
    if boxes.shape[-1:] != (4,) or len(padding) != 4:
        raise InputError(f"need boxes [..., 4] and 4 padding fractions, got {boxes.shape}, "
                         f"{padding!r}")
    left, top, right, bottom = (float(p) for p in padding)
    width = boxes[..., 2] - boxes[..., 0]
    height = boxes[..., 3] - boxes[..., 1]
    grow = np.stack([-left * width, -top * height, right * width, bottom * height], axis=-1)
    return (boxes + grow).astype(np.float32)


def add_pixel_pads(boxes: np.ndarray, pads: tuple[int, int, int, int], *, height: int,
                   width: int) -> np.ndarray:
    """Wav2Lip's `--pads top bottom left right`: pixels added to boxes `[T, 4]` (x0, y0, x1,
    y1), then clipped to the `height` x `width` frame."""
    top, bottom, left, right = pads
    boxes = np.asarray(boxes, np.float32) + np.asarray([-left, -top, right, bottom], np.float32)
    return np.stack([np.clip(boxes[:, 0], 0, width), np.clip(boxes[:, 1], 0, height),
                     np.clip(boxes[:, 2], 0, width), np.clip(boxes[:, 3], 0, height)], axis=1)


def forward_smooth(boxes: np.ndarray, window: int = 5) -> np.ndarray:
    """Wav2Lip's `get_smoothened_boxes`: box i becomes the mean of boxes i .. i + window - 1,
    the last windows being the final `window` boxes, updated in place in frame order."""
    boxes = np.array(boxes, np.float64)
    for i in range(len(boxes)):
        start = len(boxes) - window if i + window > len(boxes) else i
        boxes[i] = np.mean(boxes[max(start, 0):max(start, 0) + window], axis=0)
    return boxes.astype(np.float32)


class FaceSearch:
    """Haar detections of a video's frames arriving in order (`options.local_search`: see the
    module docstring). `search(chunk)` -> `(boxes [n, 4], found [n])` as `detect_face_boxes`
    gives them, for the next `n` frames of the video."""

    MARGIN = 0.5       # window: the last box grown by this fraction of its side on every side
    SIZE_RANGE = 1.25  # faces searched in the window: side / 1.25 .. side * 1.25

    def __init__(self, options: FaceBoxOptions):
        self.options = options
        self._last: np.ndarray | None = None  # the previous frame's face, if it had one
        self._since_full = 0                  # frames since the last whole-frame search

    def _whole(self, frame: np.ndarray) -> np.ndarray | None:
        boxes, found = detect_face_boxes(frame[None], min_neighbors=self.options.min_neighbors,
                                         min_size_fraction=self.options.min_size_fraction)
        self._since_full = 0
        return boxes[0] if found[0] else None

    def _near(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        height, width = frame.shape[:2]
        side = float(max(box[2] - box[0], box[3] - box[1]))
        x0, y0 = (int(max(0, np.floor(v - self.MARGIN * side))) for v in box[:2])
        x1 = int(min(width, np.ceil(box[2] + self.MARGIN * side)))
        y1 = int(min(height, np.ceil(box[3] + self.MARGIN * side)))
        floor = max(1, int(round(self.options.min_size_fraction * min(height, width))))
        return largest_face(to_gray_uint8(frame[y0:y1, x0:x1]),
                            min_neighbors=self.options.min_neighbors,
                            min_side=max(floor, int(side / self.SIZE_RANGE)),
                            max_side=int(np.ceil(side * self.SIZE_RANGE)), origin=(x0, y0))

    def search(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = check_frames(frames)
        if not self.options.local_search:
            return detect_face_boxes(frames, min_neighbors=self.options.min_neighbors,
                                     min_size_fraction=self.options.min_size_fraction)
        boxes = np.zeros((len(frames), 4), np.float32)
        found = np.zeros((len(frames),), bool)
        for t, frame in enumerate(frames):
            box = None
            if self._last is not None and self._since_full < self.options.full_search_every:
                box = self._near(frame, self._last)
                self._since_full += 1
            if box is None:  # no face before, the window lost it, or time to look everywhere
                box = self._whole(frame)
            if box is not None:
                boxes[t], found[t] = box, True
            self._last = box
        return boxes, found


def detect_raw_boxes(chunks: Iterable[np.ndarray], options: FaceBoxOptions, *,
                     progress: bool = False, total: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Haar detections of frames arriving in chunks (`[n, H, W, 3]` each): raw boxes `[T, 4]`
    and whether each frame had one `[T]`. Only one chunk is in memory at a time."""
    raw, found = [], []
    search = FaceSearch(options)
    with tqdm(total=total, desc="talk: faces", unit="frame", disable=not progress) as bar:
        for chunk in chunks:
            boxes, detected = search.search(chunk)
            raw.append(boxes)
            found.append(detected)
            bar.update(len(chunk))
    if not raw:
        raise InputError("there are no frames to find faces in")
    return np.concatenate(raw), np.concatenate(found)


def shape_boxes(raw: np.ndarray, found: np.ndarray, options: FaceBoxOptions, *, height: int,
                width: int) -> np.ndarray:
    """Detections -> the boxes used: pixel pads, interpolation over misses, smoothing, padding.

    Raises:
      NoFaceError: no frame had a detection.
    """
    raw = add_pixel_pads(raw, options.pads, height=height, width=width)
    if options.smooth and options.smoothing == "centred":
        boxes = smooth_boxes(raw, found, window=options.smoothing_window)
    else:
        boxes = smooth_boxes(raw, found, window=1)  # interpolates frames without a detection
        if options.smooth:
            boxes = forward_smooth(boxes, options.smoothing_window)
    return pad_boxes(boxes, padding=options.padding)


def fixed_boxes(options: FaceBoxOptions, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`options.fixed_box` (y1, y2, x1, x2) as `count` boxes (x0, y0, x1, y1), all "detected"."""
    y1, y2, x1, x2 = options.fixed_box
    box = np.asarray([x1, y1, x2, y2], np.float32)
    return np.broadcast_to(box, (count, 4)).copy(), np.ones(count, bool)


def track_faces(frames: np.ndarray, options: FaceBoxOptions = FaceBoxOptions(), *,
                chunk: int = 32, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The face box of every frame (see the module docstring for the order of the steps).

    Args:
      frames: `[T, H, W, 3]` RGB, uint8 or float in [0, 1].
      options: detection, smoothing and padding.
      chunk: frames per detector call (one progress-bar step).

    Returns:
      `(boxes, detected)`: float32 `[T, 4]` (x0, y0, x1, y1) and bool `[T]`, True where the
      detector found a face in that frame (always True with a fixed box).

    Raises:
      NoFaceError: no face in any frame.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise InputError(f"frames must be a non-empty [T, H, W, 3] array, got {frames.shape}")
    count, height, width = frames.shape[:3]
    if options.fixed_box is not None:
        return fixed_boxes(options, count)
    chunks = (frames[begin:begin + chunk] for begin in range(0, count, chunk))
    raw, found = detect_raw_boxes(chunks, options, progress=progress, total=count)
    return shape_boxes(raw, found, options, height=height, width=width), found
