"""Face detection, temporal box smoothing, crop/resize and paste-back.

These are host-side NumPy/OpenCV functions used by the data builders (lip crops for ParaLip, AAAI
2022, Sec. 4.1) and by the DCK talking-face pipeline (face crop resized to 256x256, generated crop
pasted back onto the full frame without blending; IEEE TMM 2022, Sec. III). They take and return
`np.ndarray` (not `jax.Array`): OpenCV runs on the host and nothing here is jitted.

Boxes are float32 `[..., 4]` as `(x0, y0, x1, y1)` in pixels, x to the right and y down, with
`x1`/`y1` exclusive. Crops and paste-back snap a box to whole pixels with `round` (`box_to_pixels`),
so a crop and its paste-back cover exactly the same pixels.

Detection uses OpenCV's frontal-face Haar cascade (bundled with opencv-python 4.x) and keeps the
largest face per frame. Optional mouth landmarks (dlib's 68-point model, points 48-67) come from a
user-supplied shape-predictor file; dlib is imported only then.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from lipjax.errors import InputError, NoFaceError

__all__ = [
    "NUM_MOUTH_LANDMARKS",
    "HAAR_FRONTAL_FACE",
    "detect_face_boxes",
    "largest_face",
    "check_frames",
    "to_gray_uint8",
    "smooth_boxes",
    "box_to_pixels",
    "crop_and_resize",
    "paste_back",
    "lip_box_from_face",
    "lip_box_from_landmarks",
    "MouthLandmarker",
    "MOUTH_LANDMARK_INDICES",
]

HAAR_FRONTAL_FACE = "haarcascade_frontalface_default.xml"
HAAR_SCALE_FACTOR = 1.1  # image-pyramid step of every Haar search here
# dlib's 68-point model: 48-59 outer lip contour, 60-67 inner lip contour.
MOUTH_LANDMARK_INDICES = tuple(range(48, 68))
NUM_MOUTH_LANDMARKS = len(MOUTH_LANDMARK_INDICES)


@functools.lru_cache(maxsize=4)
def _cascade(filename: str) -> cv2.CascadeClassifier:
    path = filename if os.path.isabs(filename) else os.path.join(cv2.data.haarcascades, filename)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise InputError(
            f"cannot load the Haar cascade {path!r}; install opencv-python(-headless) 4.x, which "
            "ships the cascades (OpenCV 5 removed them), or pass an existing cascade file"
        )
    return cascade


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Non-empty `[T, H, W, 3]` RGB frames, uint8 or finite float in [0, 1] (a little
    overshoot is clipped; 0..255 floats would be clipped to white and find no face)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise InputError(f"frames must be a non-empty [T, H, W, 3] RGB array, got {frames.shape}")
    if frames.dtype == np.uint8:
        return frames
    if not np.issubdtype(frames.dtype, np.floating):
        raise InputError(f"frames must be uint8 or float in [0, 1], got dtype {frames.dtype}")
    if not np.all(np.isfinite(frames)):
        raise InputError("frames contain NaN or infinite values")
    if frames.min() < -0.5 or frames.max() > 1.5:
        raise InputError(f"float frames must be in [0, 1], got values in [{frames.min():.4g}, "
                         f"{frames.max():.4g}]; divide 0..255 frames by 255 or pass uint8")
    return frames


def _check_detector(scale_factor: float, min_neighbors: int, min_size_fraction: float,
                    stride: int) -> None:
    if not (np.isfinite(scale_factor) and scale_factor > 1):
        raise InputError(f"scale_factor must be > 1 (the image-pyramid step), got {scale_factor!r}")
    if isinstance(min_neighbors, bool) or not isinstance(min_neighbors, (int, np.integer)) \
            or min_neighbors < 0:
        raise InputError(f"min_neighbors must be an integer >= 0, got {min_neighbors!r}")
    if not (np.isfinite(min_size_fraction) and 0 < min_size_fraction <= 1):
        raise InputError(f"min_size_fraction must be in (0, 1] (of the shorter frame side), got "
                         f"{min_size_fraction!r}")
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise InputError(f"stride must be an integer >= 1, got {stride!r}")


def to_gray_uint8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        frame = np.round(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def detect_face_boxes(
    frames: np.ndarray,
    *,
    scale_factor: float = HAAR_SCALE_FACTOR,
    min_neighbors: int = 5,
    min_size_fraction: float = 0.1,
    stride: int = 1,
    cascade_file: str = HAAR_FRONTAL_FACE,
) -> tuple[np.ndarray, np.ndarray]:
    """Detects the largest frontal face in each frame with OpenCV's Haar cascade.

    Args:
      frames: `[T, H, W, 3]` RGB, uint8 or float in [0, 1].
      scale_factor: image-pyramid step of `detectMultiScale` (smaller: slower, more thorough).
      min_neighbors: overlapping detections needed to keep a face (larger: fewer false faces).
      min_size_fraction: smallest face side as a fraction of min(H, W).
      stride: detect only on every `stride`-th frame (the others are reported as not found and
        filled in by `smooth_boxes`); > 1 trades accuracy for speed on long videos.
      cascade_file: cascade file name inside `cv2.data.haarcascades`, or an absolute path.

    Returns:
      `(boxes, found)`: float32 `[T, 4]` (x0, y0, x1, y1) — zeros where nothing was found — and
      bool `[T]`.
    """
    frames = check_frames(frames)
    _check_detector(scale_factor, min_neighbors, min_size_fraction, stride)
    num_frames, height, width, _ = frames.shape
    min_side = max(1, int(round(min_size_fraction * min(height, width))))
    boxes = np.zeros((num_frames, 4), np.float32)
    found = np.zeros((num_frames,), bool)
    for t in range(0, num_frames, stride):
        box = largest_face(to_gray_uint8(frames[t]), scale_factor=scale_factor,
                           min_neighbors=min_neighbors, min_side=min_side,
                           cascade_file=cascade_file)
        if box is not None:
            boxes[t], found[t] = box, True
    return boxes, found


def largest_face(gray: np.ndarray, *, min_neighbors: int, min_side: int, max_side: int = 0,
                 scale_factor: float = HAAR_SCALE_FACTOR, origin: tuple[int, int] = (0, 0),
                 cascade_file: str = HAAR_FRONTAL_FACE) -> np.ndarray | None:
    """The largest Haar face `(x0, y0, x1, y1)` (float32, shifted by `origin` = (x, y)) in a
    uint8 grayscale image, with sides in [`min_side`, `max_side`] (0: no upper bound); None
    when there is none. Inputs are not checked: `detect_face_boxes` is the checked entry."""
    faces = _cascade(cascade_file).detectMultiScale(
        gray, scaleFactor=scale_factor, minNeighbors=min_neighbors,
        minSize=(min_side, min_side), maxSize=(max_side, max_side))
    if not len(faces):
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    x, y = x + origin[0], y + origin[1]
    return np.asarray((x, y, x + w, y + h), np.float32)


def smooth_boxes(boxes: np.ndarray, found: np.ndarray, *, window: int = 5) -> np.ndarray:
    """Fills frames without a detection and smooths boxes over time.

    Missing frames are linearly interpolated between the nearest detections (held constant
    before the first / after the last one); then each coordinate is replaced by its centred
    moving average over `window` frames, the window shrinking at the ends of the video (the
    average is over the frames that exist), so a still face keeps exactly its box.

    Args:
      boxes: float `[T, 4]`; values where `found` is False are ignored.
      found: bool `[T]`.
      window: odd number of frames averaged (1 = interpolation only).

    Returns:
      float32 `[T, 4]`.

    Raises:
      NoFaceError: no frame has a detection.
    """
    boxes = np.asarray(boxes, np.float64)
    found = np.asarray(found, bool)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or found.shape != boxes.shape[:1]:
        raise InputError(f"boxes must be [T, 4] and found [T], got {boxes.shape} and {found.shape}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1 \
            or window % 2 == 0:
        raise InputError(f"window must be a positive odd number of frames, got {window!r}")
    if not np.all(np.isfinite(boxes[found])):
        raise InputError("boxes of frames with a detection must be finite (no NaN or inf)")
    if not found.any():
        raise NoFaceError(
            f"no face was detected in any of the {len(found)} frames; check that the video shows "
            "a frontal face, or lower `min_neighbors` / `min_size_fraction`"
        )
    t = np.arange(len(found))
    filled = np.stack([np.interp(t, t[found], boxes[found, k]) for k in range(4)], axis=1)
    half = window // 2
    padded = np.pad(filled, ((half, half), (0, 0)))
    counts = np.pad(np.ones(len(found)), (half, half))
    kernel = np.ones(window)
    sums = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(4)], axis=1)
    return (sums / np.convolve(counts, kernel, mode="valid")[:, None]).astype(np.float32)


def box_to_pixels(box: Sequence[float] | np.ndarray) -> tuple[int, int, int, int]:
    """Snaps a float box to whole pixels (rounding each edge); keeps it at least 1 pixel wide."""
    values = np.asarray(box, np.float64)
    if values.size != 4:
        raise InputError(f"a box is 4 numbers (x0, y0, x1, y1), got {box!r}")
    x0, y0, x1, y1 = (float(v) for v in values.reshape(4))
    if not np.all(np.isfinite([x0, y0, x1, y1])):
        raise InputError(f"box has non-finite coordinates: {box!r}")
    ix0, iy0 = int(round(x0)), int(round(y0))
    return ix0, iy0, max(int(round(x1)), ix0 + 1), max(int(round(y1)), iy0 + 1)


# A box this many times larger than the frame (per side), or a crop side above MAX_CROP_SIDE,
# is a coordinate mistake, not a face: refused before any memory is allocated for it.
MAX_BOX_TO_FRAME = 4
MAX_CROP_SIDE = 4096


def _check_box_size(box: tuple[int, int, int, int], height: int, width: int) -> None:
    x0, y0, x1, y1 = box
    if x1 - x0 > MAX_BOX_TO_FRAME * width or y1 - y0 > MAX_BOX_TO_FRAME * height:
        raise InputError(f"box {box} is more than {MAX_BOX_TO_FRAME}x the {width}x{height} frame; "
                         "check its coordinates (x0, y0, x1, y1 in pixels)")


def _interpolation(source_hw: tuple[int, int], target_hw: tuple[int, int]) -> int:
    shrinking = target_hw[0] < source_hw[0] or target_hw[1] < source_hw[1]
    return cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR


def crop_and_resize(
    frame: np.ndarray, box: Sequence[float] | np.ndarray, size: tuple[int, int], *, pad_mode: str = "edge"
) -> np.ndarray:
    """Cuts `box` out of `frame` and resizes it to `size` = (height, width).

    Parts of the box outside the frame are padded: `pad_mode="edge"` repeats the border pixels,
    `"constant"` fills zeros. The dtype of `frame` is kept (uint8, or float in [0, 1]).

    Args:
      frame: `[H, W, C]`.
      box: (x0, y0, x1, y1) in pixels, snapped with `box_to_pixels`.
      size: output (height, width).

    Returns:
      `[size[0], size[1], C]` of the frame's dtype.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3:
        raise InputError(f"frame must be [H, W, C], got {frame.shape}")
    if pad_mode not in ("edge", "constant"):
        raise InputError(f"pad_mode must be 'edge' or 'constant', got {pad_mode!r}")
    out_h, out_w = (int(s) for s in size)
    if not (1 <= out_h <= MAX_CROP_SIDE and 1 <= out_w <= MAX_CROP_SIDE):
        raise InputError(f"size must be (height, width) in 1..{MAX_CROP_SIDE}, got {size!r}")
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = box_to_pixels(box)
    _check_box_size((x0, y0, x1, y1), height, width)
    pad = ((max(0, -y0), max(0, y1 - height)), (max(0, -x0), max(0, x1 - width)), (0, 0))
    inside = frame[max(0, y0):max(0, min(y1, height)), max(0, x0):max(0, min(x1, width))]
    if inside.size == 0:
        if pad_mode == "edge":
            raise InputError(f"box {box!r} lies entirely outside the {width}x{height} frame")
        region = np.zeros((y1 - y0, x1 - x0, frame.shape[2]), frame.dtype)
    else:
        region = np.pad(inside, pad, mode=pad_mode)
    work = region.astype(np.float32) if region.dtype not in (np.uint8, np.float32) else region
    resized = cv2.resize(work, (out_w, out_h), interpolation=_interpolation(region.shape[:2], (out_h, out_w)))
    return resized.reshape(out_h, out_w, -1).astype(frame.dtype, copy=False)


def paste_back(frame: np.ndarray, crop: np.ndarray, box: Sequence[float] | np.ndarray) -> np.ndarray:
    """Resizes `crop` into the pixels of `box` and writes it over a copy of `frame`.

    No blending (DCK talking face, Sec. III-D): pixels inside the box (and inside the frame) are
    replaced, every other pixel is returned unchanged. `paste_back(f, crop_and_resize(f, b, s), b)`
    reproduces `f` up to the two resamplings.

    Args:
      frame: `[H, W, C]`.
      crop: `[h, w, C]`, same dtype convention as `frame` (converted to it).
      box: the box the crop was cut from.

    Returns:
      A new `[H, W, C]` array of `frame`'s dtype.
    """
    frame = np.asarray(frame)
    crop = np.asarray(crop)
    if frame.ndim != 3 or crop.ndim != 3 or crop.shape[2] != frame.shape[2]:
        raise InputError(f"frame [H, W, C] and crop [h, w, C] must match, got {frame.shape}, {crop.shape}")
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = box_to_pixels(box)
    _check_box_size((x0, y0, x1, y1), height, width)
    box_h, box_w = y1 - y0, x1 - x0
    work = crop.astype(np.float32) if crop.dtype not in (np.uint8, np.float32) else crop
    resized = cv2.resize(work, (box_w, box_h), interpolation=_interpolation(crop.shape[:2], (box_h, box_w)))
    resized = resized.reshape(box_h, box_w, -1)
    if frame.dtype == np.uint8 and resized.dtype != np.uint8:
        resized = np.round(np.clip(resized, 0, 1) * 255.0)
    elif frame.dtype != np.uint8 and resized.dtype == np.uint8:
        resized = resized / 255.0
    out = frame.copy()
    fy0, fy1, fx0, fx1 = max(0, y0), min(y1, height), max(0, x0), min(x1, width)
    if fy1 > fy0 and fx1 > fx0:
        out[fy0:fy1, fx0:fx1] = resized[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0].astype(frame.dtype)
    return out


def lip_box_from_face(
    face_box: np.ndarray,
    *,
    aspect: float = 2.0,
    width_fraction: float = 0.65,
    center_x: float = 0.5,
    center_y: float = 0.8,
) -> np.ndarray:
    """Lip-centred box (width / height = `aspect`) at a fixed place inside a face box.

    Geometry, relative to a Haar frontal-face box of width W and height H (the box spans roughly
    eyebrows to just below the mouth; measured on `skimage.data.astronaut()`, whose mouth centre
    lies at 0.5 W, 0.8 H and is 0.45 W wide):
      centre = (x0 + center_x * W, y0 + center_y * H), width = width_fraction * W,
      height = width / aspect.
    With the defaults the mouth fills ~70% of the width, and resizing to 80x160 (H x W, ParaLip)
    keeps the pixel aspect because `aspect` = 160 / 80.

    Args:
      face_box: float `[..., 4]` (x0, y0, x1, y1).

    Returns:
      float32 `[..., 4]` (x0, y0, x1, y1).
    """
    face_box = np.asarray(face_box, np.float32)
    if face_box.shape[-1:] != (4,):
        raise InputError(f"face_box must be [..., 4], got {face_box.shape}")
    if not (np.isfinite(aspect) and np.isfinite(width_fraction) and aspect > 0
            and width_fraction > 0):
        raise InputError(f"aspect and width_fraction must be positive, got {aspect}, {width_fraction}")
    x0, y0, x1, y1 = np.moveaxis(face_box, -1, 0)
    face_w, face_h = x1 - x0, y1 - y0
    cx, cy = x0 + center_x * face_w, y0 + center_y * face_h
    half_w = 0.5 * width_fraction * face_w
    half_h = half_w / aspect
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1).astype(np.float32)


def lip_box_from_landmarks(
    landmarks: np.ndarray, *, aspect: float = 2.0, width_scale: float = 1.6
) -> np.ndarray:
    """Lip box centred on mouth landmarks: centre of their bounding box, width = span * scale.

    Args:
      landmarks: float `[..., 20, 2]` (x, y) mouth points (dlib 48-67).
      aspect: width / height of the box.
      width_scale: box width over the horizontal span of the landmarks (mouth corner to corner).

    Returns:
      float32 `[..., 4]` (x0, y0, x1, y1).
    """
    landmarks = np.asarray(landmarks, np.float32)
    if landmarks.ndim < 2 or landmarks.shape[-1] != 2:
        raise InputError(f"landmarks must be [..., N, 2], got {landmarks.shape}")
    low, high = landmarks.min(axis=-2), landmarks.max(axis=-2)
    centre = 0.5 * (low + high)
    half_w = 0.5 * width_scale * (high[..., 0] - low[..., 0])
    half_h = half_w / aspect
    return np.stack(
        [centre[..., 0] - half_w, centre[..., 1] - half_h, centre[..., 0] + half_w, centre[..., 1] + half_h],
        axis=-1,
    ).astype(np.float32)


class MouthLandmarker:
    """dlib 68-point shape predictor restricted to the 20 mouth points (48-67).

    dlib is optional and imported here only; the predictor file (e.g.
    `shape_predictor_68_face_landmarks.dat`) is supplied by the user — lipjax downloads nothing.
    """

    def __init__(self, predictor_path: str | os.PathLike):
        path = Path(predictor_path)
        if path.is_dir():
            raise InputError(f"dlib shape predictor {str(path)!r} is a folder; give the .dat file")
        if not path.is_file():
            raise InputError(f"dlib shape predictor file not found: {str(path)!r}")
        try:
            import dlib  # optional dependency
        except ImportError as e:
            raise InputError(
                "mouth landmarks need dlib, which is not installed: `pip install dlib` (needs "
                "CMake and a C++ compiler), or leave the predictor path unset to use the fixed "
                "lip-box geometry"
            ) from e
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(path))

    def __call__(self, frames: np.ndarray, face_boxes: np.ndarray) -> np.ndarray:
        """Mouth landmarks of every frame.

        Args:
          frames: `[T, H, W, 3]` RGB.
          face_boxes: float `[T, 4]` (x0, y0, x1, y1), e.g. from `smooth_boxes`.

        Returns:
          float32 `[T, 20, 2]` (x, y) in frame pixels.
        """
        frames = check_frames(frames)
        face_boxes = np.asarray(face_boxes, np.float32)
        out = np.zeros((len(frames), len(MOUTH_LANDMARK_INDICES), 2), np.float32)
        for t, (frame, box) in enumerate(zip(frames, face_boxes)):
            x0, y0, x1, y1 = box_to_pixels(box)
            shape = self._predictor(to_gray_uint8(frame), self._dlib.rectangle(x0, y0, x1, y1))
            out[t] = [(shape.part(i).x, shape.part(i).y) for i in MOUTH_LANDMARK_INDICES]
        return out
