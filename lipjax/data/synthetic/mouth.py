"""A procedural articulatory mouth model shared by the synthetic corpora.

Every GRID character (`lipjax.text.GRID_CHARS`) maps to an articulatory target made of five
parameters in [0, 1] (`MOUTH_PARAMS`):

- ``opening``  — vertical lip aperture (jaw + lips); 0 = lips closed.
- ``width``    — horizontal spread of the lip corners (0.5 = neutral; 'e', 'i' spread).
- ``rounding`` — lip rounding / protrusion: narrower, thicker, rounder opening ('o', 'u', 'w').
- ``teeth``    — how much of the teeth shows inside the opening ('f', 'v', 's', 'e').
- ``tongue``   — how visible the raised tongue tip is ('t', 'd', 'l', 'n', 'th').

A sentence becomes a smooth per-frame trajectory with a dominance-function coarticulation model
(Cohen & Massaro, 1993): each token's target pulls on the frames around its segment with a weight
that decays with the distance to the segment and is larger for sounds whose lip gesture cannot be
skipped (bilabial closure for 'm', 'b', 'p'; labiodental contact for 'f', 'v'), then the
trajectory is lightly smoothed over time. `mouth_landmarks` turns parameters into the 20 mouth
landmarks of the dlib 68-point layout (points 48-67) and `draw_mouth` renders them anti-aliased.

Landmark order (image coordinates, y down), as in dlib's 68-point model:
outer lip 48-59 — 48 left corner, 49-53 upper lip left to right (51 its middle), 54 right corner,
55-59 lower lip right to left (57 its middle); inner lip 60-67 — 60 left inner corner, 61-63
upper inner lip, 64 right inner corner, 65-67 lower inner lip (66 its middle).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import cv2
import numpy as np
import scipy.ndimage

from lipjax.errors import InputError
from lipjax.text import GRID_CHARS, SIL

__all__ = [
    "MOUTH_PARAMS",
    "SOUND_CLASSES",
    "MOUTH_TARGETS",
    "DOMINANCE",
    "mouth_targets",
    "mouth_dominance",
    "mouth_trajectory",
    "mouth_landmarks",
    "MouthStyle",
    "draw_mouth",
    "OUTER_LIP",
    "INNER_LIP",
]

MOUTH_PARAMS: tuple[str, ...] = ("opening", "width", "rounding", "teeth", "tongue")

# Indices into the [20, 2] landmark array (dlib point i is row i - 48).
OUTER_LIP = slice(0, 12)
INNER_LIP = slice(12, 20)

# Sound class of each GRID character for its usual sound in GRID words ("place": c = /s/,
# "six": x = /ks/, "by": y = /ai/-glide, "eight"/"three": h is part of a digraph, treated as
# the breathy fricative).
SOUND_CLASSES: dict[str, str] = {
    SIL: "silence",
    " ": "silence",
    **{c: "vowel" for c in "aeiou"},
    **{c: "fricative" for c in "cfhjsvxz"},
    **{c: "plosive" for c in "bdgkpqt"},
    **{c: "nasal" for c in "mn"},
    **{c: "approximant" for c in "lrwy"},
}

# Articulatory targets (opening, width, rounding, teeth, tongue), chosen from the visible lip
# gesture of each sound (visemes): bilabials closed, labiodentals teeth-on-lip, rounded vowels and
# 'w' protruded, front vowels spread, alveolars with a raised tongue tip.
MOUTH_TARGETS: dict[str, tuple[float, float, float, float, float]] = {
    SIL: (0.00, 0.45, 0.15, 0.00, 0.00),  # closed, neutral
    " ": (0.12, 0.48, 0.15, 0.15, 0.00),  # slight relaxation between words
    "a": (0.90, 0.60, 0.10, 0.35, 0.20),
    "e": (0.55, 0.80, 0.00, 0.65, 0.15),
    "i": (0.40, 0.90, 0.00, 0.75, 0.10),
    "o": (0.65, 0.20, 0.85, 0.15, 0.10),
    "u": (0.35, 0.10, 1.00, 0.05, 0.05),
    "b": (0.00, 0.50, 0.10, 0.00, 0.00),
    "p": (0.00, 0.50, 0.10, 0.00, 0.00),
    "m": (0.00, 0.48, 0.10, 0.00, 0.00),
    "f": (0.14, 0.55, 0.00, 1.00, 0.00),
    "v": (0.14, 0.55, 0.00, 1.00, 0.00),
    "s": (0.18, 0.80, 0.00, 0.95, 0.10),
    "z": (0.18, 0.78, 0.00, 0.95, 0.10),
    "c": (0.18, 0.78, 0.00, 0.90, 0.10),
    "x": (0.30, 0.70, 0.00, 0.80, 0.20),
    "j": (0.25, 0.30, 0.70, 0.70, 0.20),
    "h": (0.45, 0.55, 0.10, 0.40, 0.20),
    "t": (0.28, 0.60, 0.00, 0.60, 0.90),
    "d": (0.30, 0.60, 0.00, 0.55, 0.90),
    "n": (0.28, 0.58, 0.00, 0.50, 0.85),
    "l": (0.38, 0.58, 0.00, 0.45, 1.00),
    "k": (0.40, 0.55, 0.10, 0.40, 0.30),
    "g": (0.40, 0.55, 0.10, 0.40, 0.30),
    "q": (0.35, 0.25, 0.70, 0.20, 0.20),  # /kw/
    "r": (0.30, 0.35, 0.60, 0.30, 0.30),
    "w": (0.15, 0.05, 1.00, 0.00, 0.00),
    "y": (0.35, 0.85, 0.00, 0.60, 0.20),
}

# Coarticulation dominance of each symbol: how strongly its target wins over its neighbours'.
# Lip closures and lip-teeth contacts must be reached; spaces and 'h' barely have a lip gesture.
DOMINANCE: dict[str, float] = {
    **{s: 1.0 for s in MOUTH_TARGETS},
    **{c: 8.0 for c in "bmp"},
    **{c: 4.0 for c in "fvw"},
    **{c: 1.5 for c in "ouq"},
    SIL: 3.0,
    " ": 0.25,
    "h": 0.3,
}


def _check_symbols(symbols: Sequence[str]) -> None:
    if isinstance(symbols, str):
        raise InputError(
            "symbols must be a sequence of GRID symbols (e.g. list(text)), not the string "
            f"{symbols!r}"
        )
    unknown = sorted({s for s in symbols if s not in MOUTH_TARGETS})
    if unknown:
        raise InputError(
            f"symbols without a mouth target: {', '.join(map(repr, unknown))}; allowed are the "
            f"GRID characters {' '.join(repr(s) for s in GRID_CHARS.symbols[1:])}."
        )
    if len(symbols) == 0:
        raise InputError("symbols is empty; pass at least one GRID symbol")


def mouth_targets(symbols: Sequence[str]) -> np.ndarray:
    """Articulatory target of each symbol.

    Args:
      symbols: `S` GRID symbols (`'<sil>'`, `' '`, `'a'`..`'z'`).

    Returns:
      float32 `[S, 5]`, columns in `MOUTH_PARAMS` order, values in [0, 1].
    """
    _check_symbols(symbols)
    return np.asarray([MOUTH_TARGETS[s] for s in symbols], dtype=np.float32)


def mouth_dominance(symbols: Sequence[str]) -> np.ndarray:
    """Coarticulation dominance of each symbol, float32 `[S]` (see `DOMINANCE`)."""
    _check_symbols(symbols)
    return np.asarray([DOMINANCE[s] for s in symbols], dtype=np.float32)


def mouth_trajectory(
    symbols: Sequence[str],
    durations: np.ndarray,
    *,
    coarticulation: float = 0.8,
    smoothing: float = 0.6,
    target_jitter: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Smooth per-frame mouth parameters for a timed symbol sequence.

    Frame t (centre at t + 0.5) takes the dominance-weighted mean of all token targets, each
    weighted by ``dominance_k * exp(-0.5 * (dist_k(t) / coarticulation)**2)`` where ``dist_k`` is
    the distance in frames from the frame centre to token k's segment (0 inside it); the result is
    then smoothed with a Gaussian of std ``smoothing`` frames. Zero-duration tokens still pull on
    their neighbours (their segment is a point).

    Args:
      symbols: `S` GRID symbols.
      durations: int `[S]`, frames per symbol, >= 0, with a positive sum T.
      coarticulation: reach of each target into neighbouring frames (frames); 0 gives
        piecewise-constant targets (zero-length tokens are then skipped).
      smoothing: std of the final temporal Gaussian smoothing (frames); < 1e-3 disables it.
      target_jitter: std of a per-token random perturbation of the targets (token-to-token
        variability of articulation); needs `rng` when > 0.
      rng: NumPy generator for `target_jitter`.

    Returns:
      float32 `[T, 5]` in [0, 1], columns in `MOUTH_PARAMS` order.
    """
    targets = mouth_targets(symbols).astype(np.float64)
    dominance = mouth_dominance(symbols).astype(np.float64)
    durations = np.asarray(durations)
    if durations.shape != (len(symbols),) or not np.issubdtype(durations.dtype, np.integer):
        raise InputError(
            f"durations must be an integer array of shape ({len(symbols)},) — one per symbol — "
            f"got dtype {durations.dtype} shape {durations.shape}"
        )
    if (durations < 0).any() or durations.sum() <= 0:
        raise InputError(f"durations must be >= 0 with a positive sum, got {durations.tolist()}")
    if coarticulation < 0 or smoothing < 0 or target_jitter < 0:
        raise InputError("coarticulation, smoothing and target_jitter must be >= 0")
    if target_jitter > 0:
        if rng is None:
            raise InputError("target_jitter > 0 needs an rng (np.random.default_rng(seed))")
        targets = np.clip(targets + rng.normal(0.0, target_jitter, targets.shape), 0.0, 1.0)
        # Closures stay closed: a bilabial with a visible gap would be a different sound.
        closed = np.asarray([MOUTH_TARGETS[s][0] == 0.0 for s in symbols])
        targets[closed, 0] = 0.0

    ends = np.cumsum(durations).astype(np.float64)
    starts = ends - durations
    num_frames = int(ends[-1])
    centres = np.arange(num_frames, dtype=np.float64)[:, None] + 0.5  # [T, 1]
    distance = np.maximum(0.0, np.maximum(starts[None] - centres, centres - ends[None]))  # [T, S]
    if coarticulation > 0:
        weights = dominance[None] * np.exp(-0.5 * (distance / coarticulation) ** 2)
    else:
        weights = (distance == 0).astype(np.float64) * (durations[None] > 0)
    weights /= weights.sum(axis=1, keepdims=True)
    trajectory = weights @ targets
    if smoothing >= 1e-3:  # narrower Gaussians are the identity (and underflow in SciPy)
        trajectory = scipy.ndimage.gaussian_filter1d(trajectory, smoothing, axis=0, mode="nearest")
    return np.clip(trajectory, 0.0, 1.0).astype(np.float32)


def _check_params(params: np.ndarray) -> np.ndarray:
    params = np.asarray(params, dtype=np.float64)
    if params.ndim == 0 or params.shape[-1] != len(MOUTH_PARAMS):
        raise InputError(
            f"mouth params must have a last axis of {len(MOUTH_PARAMS)} {MOUTH_PARAMS}, "
            f"got shape {params.shape}"
        )
    if not np.isfinite(params).all():
        raise InputError("mouth params contain NaN or infinity")
    return np.clip(params, 0.0, 1.0)


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
    params = _check_params(params)
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
    canvas = np.asarray(canvas)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    params = _check_params(params)
    if canvas.ndim != 3 or canvas.shape[-1] != 3 or canvas.dtype != np.uint8:
        raise InputError(f"canvas must be uint8 [H, W, 3], got {canvas.dtype} {canvas.shape}")
    if landmarks.shape != (20, 2) or params.shape != (len(MOUTH_PARAMS),):
        raise InputError(
            f"draw_mouth draws one frame: landmarks [20, 2] and params [5], got "
            f"{landmarks.shape} and {params.shape}"
        )
    if supersample < 1:
        raise InputError(f"supersample must be >= 1, got {supersample}")
    height, width = canvas.shape[:2]
    x0 = int(max(0, np.floor(landmarks[:, 0].min()) - 2))
    x1 = int(min(width, np.ceil(landmarks[:, 0].max()) + 3))
    y0 = int(max(0, np.floor(landmarks[:, 1].min()) - 2))
    y1 = int(min(height, np.ceil(landmarks[:, 1].max()) + 3))
    if x1 <= x0 or y1 <= y0:
        return canvas  # the mouth is entirely off the canvas

    fine_shape = ((y1 - y0) * supersample, (x1 - x0) * supersample)
    fine = (landmarks - np.array([x0, y0])) * supersample  # fine-grid coordinates
    outer = _closed_contour(fine[OUTER_LIP], 6, spline_samples)
    inner = _closed_contour(fine[INNER_LIP], 4, spline_samples)
    mouth_unit = np.linalg.norm(fine[6] - fine[0]) / 2.0  # half the corner distance
    lip_axis = (fine[6] - fine[0]) / max(2.0 * mouth_unit, 1e-6)
    down = np.array([-lip_axis[1], lip_axis[0]])  # unit normal pointing down the face

    def lip_frame(shape: tuple[int, int], factor: float) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of a grid's pixel centres along and across the lips (fine units)."""
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
        cols, rows = (cols + 0.5) * factor, (rows + 0.5) * factor
        return ((cols - centre[0]) * lip_axis[0] + (rows - centre[1]) * lip_axis[1],
                (cols - centre[0]) * down[0] + (rows - centre[1]) * down[1])

    centre = (fine[0] + fine[6]) / 2.0
    along, across = lip_frame(fine_shape, 1.0)

    lips = _fill(outer, fine_shape)
    # The crease: a band around the inner contour, tapering to the corners, so the line where
    # the lips meet shows even when they are closed.
    crease_width = max(0.045 * mouth_unit, 0.6 * supersample)
    num_upper = 4 * spline_samples + 1  # the upper half of `inner` comes first (60 -> 64)
    sign = np.where(np.arange(len(inner)) < num_upper, -1.0, 1.0)
    inner_along = (inner - centre) @ lip_axis
    taper = np.sqrt(np.clip(1.0 - (inner_along / max(np.abs(inner_along).max(), 1e-6)) ** 2, 0, 1))
    crease = _fill(inner + (sign * crease_width * taper)[:, None] * down, fine_shape) & lips
    interior = _fill(inner, fine_shape)

    opening, _, _, teeth_amount, tongue_amount = params
    upper_inner = fine[12 + 2]  # point 62, middle of the upper inner lip
    lower_inner = fine[12 + 6]  # point 66, middle of the lower inner lip
    aperture = max(float((lower_inner - upper_inner) @ down), 0.0)
    upper_line = float((upper_inner - centre) @ down)
    lower_line = upper_line + aperture
    teeth_band = teeth_amount * style.teeth_height * mouth_unit
    upper_teeth = interior & (across < upper_line + teeth_band) & (
        np.abs(along) < 0.72 * mouth_unit
    )
    lower_teeth = interior & (across > lower_line - 0.45 * teeth_band) & (
        np.abs(along) < 0.6 * mouth_unit
    )
    # Tongue tip: an ellipse whose top rises from below the opening towards the upper lip.
    tongue_base = lower_line + 0.2 * mouth_unit
    tongue_top = upper_line + aperture * (1.0 - 0.75 * tongue_amount) + 0.05 * mouth_unit
    tongue = interior & (
        (along / (0.42 * mouth_unit)) ** 2
        + ((across - tongue_base) / max(tongue_base - tongue_top, 1e-6)) ** 2 < 1.0
    )
    if tongue_amount <= 0.05 or opening <= 0.05:
        tongue[:] = False

    # Lip colour varies smoothly, so it is computed at pixel resolution: the upper lip is shaded
    # (it faces away from the light), the lower lip has a soft sheen below the opening.
    along_px, across_px = lip_frame((y1 - y0, x1 - x0), float(supersample))
    lip_rgb = np.broadcast_to(np.asarray(style.lip, np.float64), along_px.shape + (3,)).copy()
    lip_rgb[across_px < upper_line] *= style.lip_shade
    sheen_centre = lower_line + 0.5 * style.lower_lip * mouth_unit
    sheen = np.exp(-((along_px / (0.45 * mouth_unit)) ** 2)
                   - ((across_px - sheen_centre) / (0.12 * mouth_unit)) ** 2)
    lip_rgb += (255.0 * style.lip_highlight * sheen)[..., None]

    layers = [
        (lips, lip_rgb),
        (crease, np.asarray(style.crease)),
        (interior, np.asarray(style.interior)),
        (upper_teeth, np.asarray(style.teeth)),
        (lower_teeth, np.asarray(style.teeth) * 0.9),
        (tongue, np.asarray(style.tongue)),
    ]
    # Back-to-front "over" compositing with each layer's fractional pixel coverage.
    region = canvas[y0:y1, x0:x1].astype(np.float64)
    for mask, colour in layers:
        coverage = _box_downsample(mask, supersample)[..., None]
        region = region * (1.0 - coverage) + coverage * colour
    canvas[y0:y1, x0:x1] = np.clip(np.round(region), 0, 255).astype(np.uint8)
    return canvas
