"""Anti-aliased rendering of a mouth from its landmarks and articulatory parameters.

`MouthStyle` holds the colours of a mouth; `draw_mouth` draws one frame's mouth onto an RGB
canvas from its landmarks (`mouth_geometry.mouth_landmarks`) and parameters
(`mouth.mouth_trajectory`): lips, the crease where they meet, the mouth interior, teeth and
tongue, each rasterised on a finer grid and box-filtered into fractional coverage.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from lipjax.data.synthetic.mouth import MOUTH_PARAMS, check_mouth_params
from lipjax.data.synthetic.mouth_geometry import INNER_LIP, OUTER_LIP
from lipjax.errors import InputError

__all__ = ["MouthStyle", "draw_mouth"]

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 pixel bounds, end-exclusive


@dataclasses.dataclass(frozen=True)
class MouthStyle:
    """Appearance of a mouth, independent of its shape (colours are RGB in [0, 255]).

    Attributes:
      lip: base lip colour.
      lip_shade: multiplier on the upper lip (it faces down, away from the light).
      lip_highlight: added brightness of the lower lip's sheen (fraction of 255).
      crease: colour of the line where the lips meet.
      interior: mouth cavity colour.
      teeth: teeth colour.
      tongue: tongue colour.
      teeth_height: height of the visible upper teeth row in mouth units at ``teeth = 1``.
      upper_lip, lower_lip: lip thicknesses in mouth units (passed to `mouth_landmarks`).
    """

    lip: tuple[float, float, float] = (178.0, 92.0, 92.0)
    lip_shade: float = 0.82
    lip_highlight: float = 0.10
    crease: tuple[float, float, float] = (92.0, 40.0, 44.0)
    interior: tuple[float, float, float] = (48.0, 16.0, 22.0)
    teeth: tuple[float, float, float] = (236.0, 230.0, 214.0)
    tongue: tuple[float, float, float] = (196.0, 96.0, 104.0)
    teeth_height: float = 0.16
    upper_lip: float = 0.20
    lower_lip: float = 0.26


# ------------------------------------------------------------------------------- rasterising


def _catmull_rom(points: np.ndarray, samples: int) -> np.ndarray:
    """An open Catmull-Rom spline through `points` `[N, 2]`, `samples` points per segment."""
    padded = np.concatenate([2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]])
    u = np.linspace(0.0, 1.0, samples, endpoint=False)[:, None]
    out = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        out.append(
            0.5 * ((2 * p1) + (-p0 + p2) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u**2
                   + (-p0 + 3 * p1 - 3 * p2 + p3) * u**3)
        )
    out.append(points[-1:])
    return np.concatenate(out)


def _closed_contour(ring: np.ndarray, corner: int, samples: int) -> np.ndarray:
    """Smooth closed outline of a lip ring `[N, 2]` whose corners are rows 0 and `corner`.

    Upper and lower halves are splined separately so the mouth corners stay sharp.
    """
    upper = _catmull_rom(ring[: corner + 1], samples)
    lower = _catmull_rom(np.concatenate([ring[corner:], ring[:1]]), samples)
    return np.concatenate([upper, lower[1:-1]])


def _fill(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask `[H, W]` of the pixels of a grid whose centres (i + 0.5) lie in `polygon`.

    `polygon` is `[N, 2]` (x, y) in the grid's coordinates; rasterised by OpenCV with 4 bits of
    sub-pixel precision.
    """
    mask = np.zeros(shape, dtype=np.uint8)
    if len(polygon) >= 3:
        fixed = np.round((polygon - 0.5) * 16.0).astype(np.int32)  # pixel centres at integers
        cv2.fillPoly(mask, [fixed], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _box_downsample(mask: np.ndarray, factor: int) -> np.ndarray:
    """Fraction of each `factor` x `factor` cell of a boolean mask that is set, float `[H, W]`."""
    height, width = mask.shape[0] // factor, mask.shape[1] // factor
    return mask.reshape(height, factor, width, factor).mean(axis=(1, 3))


# ------------------------------------------------------------------------------- mouth layout


@dataclasses.dataclass(frozen=True)
class _LipFrame:
    """A coordinate frame on the lips: origin between the corners, axes along and down the face.

    Attributes:
      centre: `[2]` midpoint of the mouth corners (x, y).
      axis: `[2]` unit vector from the left to the right corner.
      down: `[2]` unit normal to `axis` pointing down the face.
      unit: half the corner distance (one mouth unit), in the same pixels as `centre`.
    """

    centre: np.ndarray
    axis: np.ndarray
    down: np.ndarray
    unit: float

    @classmethod
    def from_corners(cls, left: np.ndarray, right: np.ndarray) -> _LipFrame:
        """The frame of a mouth with corners `left` and `right` (points 48 and 54), `[2]` each."""
        unit = np.linalg.norm(right - left) / 2.0
        axis = (right - left) / max(2.0 * unit, 1e-6)
        return cls(centre=(left + right) / 2.0, axis=axis, down=np.array([-axis[1], axis[0]]),
                   unit=unit)

    def grid(self, shape: tuple[int, int], factor: float) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates along and across the lips of a grid's pixel centres, two float `[H, W]`.

        Pixel (row, col) of the grid covers ``factor`` units of this frame's pixels per side.
        """
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
        cols, rows = (cols + 0.5) * factor, (rows + 0.5) * factor
        return ((cols - self.centre[0]) * self.axis[0] + (rows - self.centre[1]) * self.axis[1],
                (cols - self.centre[0]) * self.down[0] + (rows - self.centre[1]) * self.down[1])


def _checked_inputs(
    canvas: np.ndarray, landmarks: np.ndarray, params: np.ndarray, supersample: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`draw_mouth`'s canvas, float64 landmarks `[20, 2]` and clipped params `[5]`, validated."""
    canvas = np.asarray(canvas)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    params = check_mouth_params(params)
    if canvas.ndim != 3 or canvas.shape[-1] != 3 or canvas.dtype != np.uint8:
        raise InputError(f"canvas must be uint8 [H, W, 3], got {canvas.dtype} {canvas.shape}")
    if landmarks.shape != (20, 2) or params.shape != (len(MOUTH_PARAMS),):
        raise InputError(
            f"draw_mouth draws one frame: landmarks [20, 2] and params [5], got "
            f"{landmarks.shape} and {params.shape}"
        )
    if supersample < 1:
        raise InputError(f"supersample must be >= 1, got {supersample}")
    return canvas, landmarks, params


def _mouth_box(landmarks: np.ndarray, height: int, width: int) -> Box | None:
    """Pixel box around `[20, 2]` landmarks plus a 2 px margin, cut to the canvas; None if empty."""
    x0 = int(max(0, np.floor(landmarks[:, 0].min()) - 2))
    x1 = int(min(width, np.ceil(landmarks[:, 0].max()) + 3))
    y0 = int(max(0, np.floor(landmarks[:, 1].min()) - 2))
    y1 = int(min(height, np.ceil(landmarks[:, 1].max()) + 3))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _crease_mask(
    inner: np.ndarray, frame: _LipFrame, lips: np.ndarray, *, supersample: int, spline_samples: int
) -> np.ndarray:
    """The line where the lips meet, bool `[h, w]` on the fine grid.

    A band around the inner contour `inner` `[N, 2]`, tapering to the corners, so the line shows
    even when the lips are closed; limited to the `lips` mask.
    """
    crease_width = max(0.045 * frame.unit, 0.6 * supersample)
    num_upper = 4 * spline_samples + 1  # the upper half of `inner` comes first (60 -> 64)
    sign = np.where(np.arange(len(inner)) < num_upper, -1.0, 1.0)
    inner_along = (inner - frame.centre) @ frame.axis
    taper = np.sqrt(np.clip(1.0 - (inner_along / max(np.abs(inner_along).max(), 1e-6)) ** 2, 0, 1))
    return _fill(inner + (sign * crease_width * taper)[:, None] * frame.down, lips.shape) & lips


def _lip_lines(fine: np.ndarray, frame: _LipFrame) -> tuple[float, float, float]:
    """(aperture, upper_line, lower_line): the inner-lip midpoints' offsets down the face.

    `fine` is the `[20, 2]` landmarks on the fine grid; the lines are at points 62 and 66.
    """
    upper_inner = fine[12 + 2]  # point 62, middle of the upper inner lip
    lower_inner = fine[12 + 6]  # point 66, middle of the lower inner lip
    aperture = max(float((lower_inner - upper_inner) @ frame.down), 0.0)
    upper_line = float((upper_inner - frame.centre) @ frame.down)
    return aperture, upper_line, upper_line + aperture


def _teeth_and_tongue_masks(
    interior: np.ndarray, frame: _LipFrame, fine: np.ndarray, params: np.ndarray, style: MouthStyle
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper_teeth, lower_teeth, tongue) bool masks `[h, w]` inside the mouth `interior`."""
    along, across = frame.grid(interior.shape, 1.0)
    opening, _, _, teeth_amount, tongue_amount = params
    aperture, upper_line, lower_line = _lip_lines(fine, frame)
    teeth_band = teeth_amount * style.teeth_height * frame.unit
    upper_teeth = interior & (across < upper_line + teeth_band) & (
        np.abs(along) < 0.72 * frame.unit
    )
    lower_teeth = interior & (across > lower_line - 0.45 * teeth_band) & (
        np.abs(along) < 0.6 * frame.unit
    )
    # Tongue tip: an ellipse whose top rises from below the opening towards the upper lip.
    tongue_base = lower_line + 0.2 * frame.unit
    tongue_top = upper_line + aperture * (1.0 - 0.75 * tongue_amount) + 0.05 * frame.unit
    tongue = interior & (
        (along / (0.42 * frame.unit)) ** 2
        + ((across - tongue_base) / max(tongue_base - tongue_top, 1e-6)) ** 2 < 1.0
    )
    if tongue_amount <= 0.05 or opening <= 0.05:
        tongue[:] = False
    return upper_teeth, lower_teeth, tongue


def _lip_colours(
    frame: _LipFrame, fine: np.ndarray, shape: tuple[int, int], supersample: int, style: MouthStyle
) -> np.ndarray:
    """Lip colour of each canvas pixel of the box, float64 `[h, w, 3]` (`shape` = (h, w)).

    The colour varies smoothly, so it is computed at pixel resolution: the upper lip is shaded
    (it faces away from the light), the lower lip has a soft sheen below the opening.
    """
    _, upper_line, lower_line = _lip_lines(fine, frame)
    along_px, across_px = frame.grid(shape, float(supersample))
    lip_rgb = np.broadcast_to(np.asarray(style.lip, np.float64), along_px.shape + (3,)).copy()
    lip_rgb[across_px < upper_line] *= style.lip_shade
    sheen_centre = lower_line + 0.5 * style.lower_lip * frame.unit
    sheen = np.exp(-((along_px / (0.45 * frame.unit)) ** 2)
                   - ((across_px - sheen_centre) / (0.12 * frame.unit)) ** 2)
    lip_rgb += (255.0 * style.lip_highlight * sheen)[..., None]
    return lip_rgb


def _composite(
    canvas: np.ndarray, box: Box, layers: list[tuple[np.ndarray, np.ndarray]], supersample: int
) -> None:
    """Blends fine-grid `layers` (mask `[h*s, w*s]`, RGB colour) back to front into `canvas[box]`.

    Back-to-front "over" compositing with each layer's fractional pixel coverage.
    """
    x0, y0, x1, y1 = box
    region = canvas[y0:y1, x0:x1].astype(np.float64)
    for mask, colour in layers:
        coverage = _box_downsample(mask, supersample)[..., None]
        region = region * (1.0 - coverage) + coverage * colour
    canvas[y0:y1, x0:x1] = np.clip(np.round(region), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------- drawing


def draw_mouth(
    canvas: np.ndarray,
    landmarks: np.ndarray,
    params: np.ndarray,
    style: MouthStyle,
    *,
    supersample: int = 4,
    spline_samples: int = 6,
) -> np.ndarray:
    """Draw one frame's mouth, anti-aliased, onto an RGB canvas.

    Layers, back to front: lips (outer contour), the crease where they meet, the mouth interior
    (inner contour), the upper and lower teeth rows, the tongue tip; each is rasterised on a
    `supersample`-times finer grid inside the mouth's bounding box and box-filtered down, giving
    fractional coverage that is alpha-blended onto the canvas.

    Args:
      canvas: uint8 `[H, W, 3]`; drawn on in place and returned.
      landmarks: `[20, 2]` (x, y) pixel landmarks from `mouth_landmarks` (dlib 48-67 order).
      params: `[5]` the same frame's mouth parameters (`MOUTH_PARAMS` order).
      style: colours and teeth size.
      supersample: anti-aliasing factor per axis (>= 1).
      spline_samples: points per landmark interval on the smooth lip contours.

    Returns:
      `canvas` (uint8 `[H, W, 3]`).
    """
    canvas, landmarks, params = _checked_inputs(canvas, landmarks, params, supersample)
    box = _mouth_box(landmarks, *canvas.shape[:2])
    if box is None:
        return canvas  # the mouth is entirely off the canvas
    x0, y0, x1, y1 = box
    fine_shape = ((y1 - y0) * supersample, (x1 - x0) * supersample)
    fine = (landmarks - np.array([x0, y0])) * supersample  # fine-grid coordinates
    frame = _LipFrame.from_corners(fine[0], fine[6])
    inner = _closed_contour(fine[INNER_LIP], 4, spline_samples)

    lips = _fill(_closed_contour(fine[OUTER_LIP], 6, spline_samples), fine_shape)
    crease = _crease_mask(inner, frame, lips, supersample=supersample,
                          spline_samples=spline_samples)
    interior = _fill(inner, fine_shape)
    upper_teeth, lower_teeth, tongue = _teeth_and_tongue_masks(interior, frame, fine, params, style)
    lip_rgb = _lip_colours(frame, fine, (y1 - y0, x1 - x0), supersample, style)

    layers = [
        (lips, lip_rgb),
        (crease, np.asarray(style.crease)),
        (interior, np.asarray(style.interior)),
        (upper_teeth, np.asarray(style.teeth)),
        (lower_teeth, np.asarray(style.teeth) * 0.9),
        (tongue, np.asarray(style.tongue)),
    ]
    _composite(canvas, box, layers, supersample)
    return canvas
