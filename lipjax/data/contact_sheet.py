"""Contact sheets: a grid of frames with mouth landmarks and labels, for looking at data.

Used by `lipjax data show` and, for generated-vs-ground-truth rows, by evaluation: lay out the
frames row by row (`columns` per row) and label each tile.

Landmarks are `(x, y)` pixel coordinates of the 20 mouth points in dlib order 48-67: points 0-11
trace the outer lip contour and 12-19 the inner one, drawn as closed polylines; any other number
of points is drawn as dots.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from lipjax.errors import InputError
from lipjax.files import write_atomic

__all__ = ["contact_sheet", "save_png"]

_OUTER_LIP = slice(0, 12)  # dlib 48-59
_INNER_LIP = slice(12, 20)  # dlib 60-67


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    if frames.dtype == np.uint8:
        return frames
    if not np.issubdtype(frames.dtype, np.floating):
        raise InputError(f"frames must be uint8 or float in [0, 1], got dtype {frames.dtype}")
    return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


def contact_sheet(
    frames: np.ndarray,
    landmarks: np.ndarray | None = None,
    *,
    columns: int,
    labels: Sequence[str] | None = None,
    gap: int = 2,
    label_height: int = 14,
    font_scale: float = 0.35,
    landmark_color: tuple[int, int, int] = (255, 40, 40),
    label_color: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """Tiles frames into one RGB image, drawing landmarks and a label on each tile.

    Args:
      frames: `[N, H, W, 3]`, uint8 or float in [0, 1].
      landmarks: optional float `[N, K, 2]` (x, y) pixel coordinates per frame.
      columns: tiles per row; rows = ceil(N / columns), the last row filled with black.
      labels: optional N strings, written in a strip above each tile (cut to fit the width).
      gap: black pixels between tiles.
      label_height: height of the label strip (only when labels are given).
      font_scale: OpenCV font scale of the labels.
      landmark_color, label_color: RGB colours.

    Returns:
      uint8 `[rows * (H + label_height + gap) - gap, columns * (W + gap) - gap, 3]`
      (label_height counted only when labels are given).

    Raises:
      InputError: shapes or lengths do not match.
    """
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise InputError(f"frames must be a non-empty [N, H, W, 3] array, got shape {frames.shape}")
    if not isinstance(columns, int) or columns <= 0:
        raise InputError(f"columns must be a positive int, got {columns!r}")
    count, height, width = frames.shape[:3]
    if landmarks is not None:
        landmarks = np.asarray(landmarks, np.float64)
        if landmarks.ndim != 3 or landmarks.shape[0] != count or landmarks.shape[-1] != 2:
            raise InputError(f"landmarks must be [{count}, K, 2], got shape {landmarks.shape}")
    if labels is not None and len(labels) != count:
        raise InputError(f"got {len(labels)} labels for {count} frames; give one per frame")
    strip = label_height if labels is not None else 0
    rows = -(-count // columns)
    tile_h, tile_w = height + strip + gap, width + gap
    sheet = np.zeros((rows * tile_h - gap, columns * tile_w - gap, 3), np.uint8)
    tiles = _to_uint8(frames)
    for n in range(count):
        top, left = (n // columns) * tile_h, (n % columns) * tile_w
        tile = np.ascontiguousarray(tiles[n])
        if landmarks is not None:
            # Corpora without a landmark detector store NaN: draw only the points that exist.
            finite = np.isfinite(landmarks[n]).all(axis=-1)
            points = np.round(np.where(finite[:, None], landmarks[n], 0.0)).astype(np.int32)
            if len(points) == 20 and finite.all():
                for part in (_OUTER_LIP, _INNER_LIP):
                    cv2.polylines(tile, [points[part].reshape(-1, 1, 2)], True, landmark_color, 1)
            for x, y in points[finite]:
                cv2.circle(tile, (int(x), int(y)), 1, landmark_color, -1)
        sheet[top + strip : top + strip + height, left : left + width] = tile
        if labels is not None:
            text = str(labels[n])
            font = cv2.FONT_HERSHEY_SIMPLEX
            while text and cv2.getTextSize(text, font, font_scale, 1)[0][0] > width:
                text = text[:-1]
            band = np.ascontiguousarray(sheet[top : top + strip, left : left + width])
            cv2.putText(band, text, (1, strip - 3), font, font_scale, label_color, 1, cv2.LINE_AA)
            sheet[top : top + strip, left : left + width] = band
    return sheet


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Writes an RGB (or grey) uint8 image as PNG atomically (temp file in the folder, rename).

    Raises:
      InputError: not a uint8 `[H, W]` / `[H, W, 3]` image, or the file cannot be written.
    """
    import cv2

    image = np.asarray(image)
    is_grey_or_rgb = image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)
    if image.dtype != np.uint8 or not is_grey_or_rgb:
        raise InputError(
            f"save_png needs a uint8 [H, W] or [H, W, 3] image, got {image.dtype} {image.shape}"
        )
    ok, encoded = cv2.imencode(".png", image[..., ::-1] if image.ndim == 3 else image)
    if not ok:
        raise InputError(f"OpenCV could not encode a {image.shape} image as PNG")
    path = os.fspath(path)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_atomic(path, encoded.tobytes())
    except OSError as error:
        raise InputError(f"cannot write {path!r}: {error}") from error
