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
from lipjax.face import detect_face_boxes, smooth_boxes

__all__ = ["FaceBoxOptions", "track_faces", "detect_raw_boxes", "shape_boxes", "fixed_boxes",
           "pad_boxes", "add_pixel_pads", "forward_smooth"]

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
    """

    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    fixed_box: tuple[int, int, int, int] | None = None
    smooth: bool = True
    smoothing: Smoothing = "centred"
    smoothing_window: int = 5
    min_neighbors: int = 5
    min_size_fraction: float = 0.1

    def __post_init__(self) -> None:
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


def detect_raw_boxes(chunks: Iterable[np.ndarray], options: FaceBoxOptions, *,
                     progress: bool = False, total: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Haar detections of frames arriving in chunks (`[n, H, W, 3]` each): raw boxes `[T, 4]`
    and whether each frame had one `[T]`. Only one chunk is in memory at a time."""
    raw, found = [], []
    with tqdm(total=total, desc="talk: faces", unit="frame", disable=not progress) as bar:
        for chunk in chunks:
            boxes, detected = detect_face_boxes(chunk, min_neighbors=options.min_neighbors,
                                                min_size_fraction=options.min_size_fraction)
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
