"""Mouth geometry: the 20 dlib mouth landmarks (points 48-67) of the articulatory parameters.

`mouth_landmarks` places the lip contours of one or many frames' `mouth.MOUTH_PARAMS` in
image pixels; `mouth_drawing.draw_mouth` renders them.

Landmark order (image coordinates, y down), as in dlib's 68-point model:
outer lip 48-59 — 48 left corner, 49-53 upper lip left to right (51 its middle), 54 right corner,
55-59 lower lip right to left (57 its middle); inner lip 60-67 — 60 left inner corner, 61-63
upper inner lip, 64 right inner corner, 65-67 lower inner lip (66 its middle).
"""

from __future__ import annotations

import numpy as np

from lipjax.data.synthetic.mouth import check_mouth_params
from lipjax.errors import InputError

__all__ = ["OUTER_LIP", "INNER_LIP", "mouth_landmarks"]

# Indices into the [20, 2] landmark array (dlib point i is row i - 48).
OUTER_LIP = slice(0, 12)
INNER_LIP = slice(12, 20)


def mouth_landmarks(
    params: np.ndarray,
    *,
    center: tuple[float, float],
    scale: float,
    angle: float = 0.0,
    upper_lip: float = 0.20,
    lower_lip: float = 0.26,
    max_opening: float = 0.7,
) -> np.ndarray:
    """The 20 dlib mouth landmarks (points 48-67) of each frame's mouth parameters.

    Geometry in mouth units (1 = half the width of a neutral mouth): the corners sit at
    ``±(0.85 + 0.35 * width - 0.3 * rounding)``; the inner opening is
    ``max_opening * opening`` high, 35% of it above the corner line (upper lip lifts) and 65% below
    (the jaw drops); lips get thicker with rounding (protrusion) and thinner with spreading.

    Args:
      params: `[..., 5]` mouth parameters (`MOUTH_PARAMS` order), clipped to [0, 1].
      center: (x, y) pixel position of the midpoint between the mouth corners.
      scale: pixels per mouth unit (about half the mouth width).
      angle: in-plane rotation in radians (positive turns the mouth clockwise on screen).
      upper_lip, lower_lip: lip thicknesses in mouth units at the lip's middle.
      max_opening: inner opening height at ``opening = 1`` in mouth units.

    Returns:
      float32 `[..., 20, 2]` (x, y) pixel coordinates in dlib 48-67 order.
    """
    params = check_mouth_params(params)
    if scale <= 0:
        raise InputError(f"scale must be positive (pixels per mouth unit), got {scale}")
    opening, width, rounding = params[..., 0:1], params[..., 1:2], params[..., 2:3]

    half_width = 0.85 + 0.35 * width - 0.3 * rounding  # [..., 1]
    aperture = max_opening * opening
    thickness_gain = 1.0 + 0.45 * rounding - 0.25 * (width - 0.5)
    upper_thickness, lower_thickness = upper_lip * thickness_gain, lower_lip * thickness_gain
    # Rounding pulls the inner corners in, making the opening round rather than slit-like.
    inner_half_width = half_width * (0.86 - 0.22 * rounding)
    upper_inner_mid, lower_inner_mid = -0.35 * aperture, 0.65 * aperture

    # Relative x positions along a lip and the vertical profile (1 at the middle, 0 at corners).
    outer_u = np.array([-1.0, -0.62, -0.28, 0.0, 0.28, 0.62, 1.0])
    inner_u = np.array([-1.0, -0.45, 0.0, 0.45, 1.0])

    def profile(u, power):
        return (1.0 - np.abs(u) ** 2) ** power

    # Upper outer lip with a cupid's bow: the peaks (50, 52) rise above the middle (51).
    bow = np.array([0.0, 0.9, 1.12, 1.0, 1.12, 0.9, 0.0])
    upper_outer_y = upper_inner_mid * profile(outer_u, 0.5) - upper_thickness * bow
    lower_outer_y = (lower_inner_mid * profile(outer_u, 0.5)
                     + lower_thickness * profile(outer_u, 0.6))
    upper_inner_y = upper_inner_mid * profile(inner_u, 0.5)
    lower_inner_y = lower_inner_mid * profile(inner_u, 0.5)

    # 48..54 along the upper lip, 55..59 back along the lower lip (right to left).
    outer_x = np.concatenate([outer_u, outer_u[-2:0:-1]]) * half_width
    outer_y = np.concatenate([upper_outer_y, lower_outer_y[..., -2:0:-1]], axis=-1)
    inner_x = np.concatenate([inner_u, inner_u[-2:0:-1]]) * inner_half_width
    inner_y = np.concatenate([upper_inner_y, lower_inner_y[..., -2:0:-1]], axis=-1)
    local_x = np.concatenate([outer_x, inner_x], axis=-1)
    local_y = np.concatenate([outer_y, inner_y], axis=-1)

    cos, sin = np.cos(angle), np.sin(angle)
    x = center[0] + scale * (cos * local_x - sin * local_y)
    y = center[1] + scale * (sin * local_x + cos * local_y)
    return np.stack([x, y], axis=-1).astype(np.float32)
