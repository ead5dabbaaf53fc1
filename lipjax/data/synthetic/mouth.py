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
trajectory is lightly smoothed over time.

This module holds the articulation (targets, dominance, per-frame trajectory); the parameters
become the 20 dlib mouth landmarks in `mouth_geometry.mouth_landmarks` and are rendered by
`mouth_drawing.draw_mouth`.
"""

from __future__ import annotations

from typing import Sequence

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
    "check_mouth_params",
]

MOUTH_PARAMS: tuple[str, ...] = ("opening", "width", "rounding", "teeth", "tongue")

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


def check_mouth_params(params: np.ndarray) -> np.ndarray:
    """Validated mouth parameters `[..., 5]` (`MOUTH_PARAMS` order) as float64, clipped to [0, 1].

    Raises:
      InputError: when the last axis is not 5 long or a value is NaN or infinite.
    """
    params = np.asarray(params, dtype=np.float64)
    if params.ndim == 0 or params.shape[-1] != len(MOUTH_PARAMS):
        raise InputError(
            f"mouth params must have a last axis of {len(MOUTH_PARAMS)} {MOUTH_PARAMS}, "
            f"got shape {params.shape}"
        )
    if not np.isfinite(params).all():
        raise InputError("mouth params contain NaN or infinity")
    return np.clip(params, 0.0, 1.0)
