"""Head motion of the talking faces: a smooth random pose per frame and its image transforms.

`head_motion` draws the pose (shift, in-plane rotation, scale) of every frame of a clip;
`similarity_matrices` turns it into the affine maps that move the face sprite, its box and the
mouth landmarks together.
"""

from __future__ import annotations

import numpy as np

from lipjax.errors import InputError

__all__ = ["head_motion", "similarity_matrices"]


def head_motion(
    num_frames: int,
    rng: np.random.Generator,
    *,
    fps: float = 25.0,
    max_shift: tuple[float, float] = (8.0, 6.0),
    max_angle_deg: float = 6.0,
    max_scale_change: float = 0.06,
    max_hz: float = 0.8,
) -> np.ndarray:
    """Smooth random head pose per frame: float32 `[T, 4]` = (dx, dy pixels, angle rad, scale).

    Each component is a sum of three sinusoids below `max_hz` with random phases, bounded by its
    maximum (|dx| <= max_shift[0], |angle| <= max_angle_deg, |scale - 1| <= max_scale_change).
    """
    if num_frames < 1:
        raise InputError(f"num_frames must be >= 1, got {num_frames}")
    t = np.arange(num_frames) / fps
    limits = np.array([max_shift[0], max_shift[1], np.deg2rad(max_angle_deg), max_scale_change])
    freqs = rng.uniform(0.1, max_hz, size=(4, 3))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(4, 3))
    weights = rng.uniform(0.3, 1.0, size=(4, 3))
    waves = (weights[..., None] * np.sin(2 * np.pi * freqs[..., None] * t + phases[..., None])).sum(1)
    pose = (waves / weights.sum(1, keepdims=True) * limits[:, None]).T
    pose[:, 3] += 1.0
    return pose.astype(np.float32)


def similarity_matrices(
    pose: np.ndarray, *, source_anchor: tuple[float, float], target_anchor: tuple[float, float],
    base_scale: float,
) -> np.ndarray:
    """Per-frame 2x3 affine matrices mapping sprite pixels to frame pixels, float64 `[T, 2, 3]`.

    p_frame = R(angle) * (base_scale * scale) * (p_sprite - source_anchor) + target_anchor + (dx, dy),
    with R the rotation `mouth_geometry.mouth_landmarks` uses (positive angle turns clockwise on
    screen).
    """
    pose = np.asarray(pose, dtype=np.float64)
    dx, dy, angle, scale = pose.T
    s = base_scale * scale
    cos, sin = s * np.cos(angle), s * np.sin(angle)
    sx, sy = source_anchor
    tx = target_anchor[0] + dx - (cos * sx - sin * sy)
    ty = target_anchor[1] + dy - (sin * sx + cos * sy)
    return np.stack([np.stack([cos, -sin, tx], -1), np.stack([sin, cos, ty], -1)], axis=1)
