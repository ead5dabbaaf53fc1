"""Putting an edited face back into its frame without blurring what the model did not change.

Resizing a face box to the model's resolution and the edited crop back loses detail in every
pixel of the box. A model that predicts a blending mask (the DCK talking face: an attention mask
alpha and a motion image M, Ye et al., IEEE TMM 2022, Sec. III-C) is composited at the frame's
own resolution instead: alpha and M are upsampled to the box and blended with the original
pixels, so where alpha is 0 the output *is* the input, bit for bit (`blend_back`). A model
without a mask (Wav2Lip) is pasted whole, with the box edge feathered over a few pixels so that
no seam shows (`paste_feathered`; `feather=0` is the hard paste of both papers).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from lipjax.errors import InputError
from lipjax.face import box_to_pixels, paste_back

__all__ = ["blend_back", "paste_feathered", "feather_weights"]


def _box_region(frame: np.ndarray, box: Sequence[float] | np.ndarray
                ) -> tuple[tuple[int, int, int, int], tuple[slice, slice], tuple[slice, slice]]:
    """The rounded box, the frame slices it covers and the matching slices of a box-sized map."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frame must be [H, W, 3], got {frame.shape}")
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = box_to_pixels(box)
    fy0, fy1, fx0, fx1 = max(0, y0), min(y1, height), max(0, x0), min(x1, width)
    if fy1 <= fy0 or fx1 <= fx0:
        raise InputError(f"box {box!r} lies outside the {width}x{height} frame")
    inside = (slice(fy0, fy1), slice(fx0, fx1))
    local = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    return (x0, y0, x1, y1), inside, local


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    image = np.asarray(image, np.float32)
    shrink = height < image.shape[0] or width < image.shape[1]
    out = cv2.resize(image, (width, height),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out.reshape(height, width, -1)


def _to_uint8_like(values: np.ndarray, frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint8:
        return np.round(np.clip(values, 0.0, 255.0)).astype(np.uint8)
    return values.astype(frame.dtype)


def blend_back(frame: np.ndarray, motion: np.ndarray, alpha: np.ndarray,
               box: Sequence[float] | np.ndarray) -> np.ndarray:
    """`frame * (1 - alpha) + motion * alpha` inside `box`, at the frame's resolution.

    Args:
      frame: `[H, W, 3]` uint8 (or float in [0, 1]).
      motion: float `[S, S, 3]` in [0, 1], the model's motion image of the box's crop.
      alpha: float `[S, S, 1]` in [0, 1], its blending mask.
      box: (x0, y0, x1, y1) the crop was cut from.

    Returns:
      A new frame; pixels outside the box, and inside it where alpha is 0, are unchanged.
    """
    frame = np.asarray(frame)
    (x0, y0, x1, y1), inside, local = _box_region(frame, box)
    scale = 255.0 if frame.dtype == np.uint8 else 1.0
    m = _resize(motion, y1 - y0, x1 - x0)[local] * scale
    a = np.clip(_resize(alpha, y1 - y0, x1 - x0)[local], 0.0, 1.0)
    original = frame[inside].astype(np.float32)
    out = frame.copy()
    out[inside] = _to_uint8_like(original * (1.0 - a) + m * a, frame)
    return out


def feather_weights(height: int, width: int, feather: int) -> np.ndarray:
    """`[height, width, 1]` weights rising linearly from the box edge to 1 at `feather` pixels
    inside (all ones for `feather=0`)."""
    if feather < 0:
        raise InputError(f"feather must be >= 0 pixels, got {feather}")
    if feather == 0:
        return np.ones((height, width, 1), np.float32)
    rows = np.minimum(np.arange(height), np.arange(height)[::-1]) + 1
    cols = np.minimum(np.arange(width), np.arange(width)[::-1]) + 1
    edge = np.minimum(rows[:, None], cols[None, :]).astype(np.float32)
    return np.clip(edge / float(feather), 0.0, 1.0)[..., None]


def paste_feathered(frame: np.ndarray, crop: np.ndarray, box: Sequence[float] | np.ndarray, *,
                    feather: int = 0) -> np.ndarray:
    """Resizes `crop` (float `[S, S, 3]` in [0, 1]) into `box`, blending the outer `feather`
    pixels of the box with the original; pixels outside the box are unchanged."""
    frame = np.asarray(frame)
    (x0, y0, x1, y1), inside, local = _box_region(frame, box)
    if feather == 0:
        return paste_back(frame, crop, box)
    scale = 255.0 if frame.dtype == np.uint8 else 1.0
    resized = _resize(crop, y1 - y0, x1 - x0)[local] * scale
    weights = feather_weights(y1 - y0, x1 - x0, feather)[local]
    original = frame[inside].astype(np.float32)
    out = frame.copy()
    out[inside] = _to_uint8_like(original * (1.0 - weights) + resized * weights, frame)
    return out
