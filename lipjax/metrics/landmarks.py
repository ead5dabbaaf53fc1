"""Landmark distance (LMD) of generated lip / face frames (ParaLip Sec. 4.2; the DCK paper
reports it too): the mean distance between the mouth landmarks of generated and ground-truth
frames.

A generated frame has no landmarks of its own, so a detector supplies them: in-graph
(`video_landmark_distance`, a traceable detector such as
`lipjax.landmarks.regressor_landmark_fn`, used inside jitted evaluation steps) or on the host
(`landmark_distance_of_videos`, any `lipjax.landmarks.MouthLandmarkDetector`, dlib included).
Landmarks are 20 mouth points (dlib 48-67) as pixel `(x, y)`, pixel `i` spanning `[i, i + 1)`.
"""

from __future__ import annotations

from typing import Callable

import einops
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lipjax.errors import DataError, InputError
from lipjax.face import NUM_MOUTH_LANDMARKS
from lipjax.metrics.reduce import check_pair, masked_mean

__all__ = [
    "landmark_distance",
    "video_landmark_distance",
    "landmark_distance_of_videos",
    "check_float_frames",
]


def landmark_distance(
    pred: ArrayLike,
    target: ArrayLike,
    mask: ArrayLike | None = None,
) -> jax.Array:
    """Landmark distance (LMD): mean Euclidean distance between corresponding landmarks.

    Per frame, the mean over the K landmarks of ``||pred_k - target_k||_2``; then the mean over
    the valid frames (every frame has K landmarks, so this is also the mean over all valid
    landmark pairs). Coordinates are in whatever unit the inputs use (pixels in the papers).
    The gradient is finite (0) where two landmarks coincide.

    Args:
      pred, target: float ``[..., K, 2]`` landmark coordinates, e.g. ``[B, T, K, 2]``.
      mask: bool, a prefix of the batch shape (e.g. frame mask ``[B, T]``); ``None`` = all valid.

    Returns:
      Scalar float32; 0 if no frame is valid.
    """
    pred = jnp.asarray(pred)
    target = jnp.asarray(target)
    check_pair(pred, target, 2, "[..., K, 2]")
    dtype = jnp.promote_types(jnp.result_type(pred, target), jnp.float32)
    diff = pred.astype(dtype) - target.astype(dtype)
    squared = jnp.sum(diff * diff, axis=-1)
    # sqrt has an infinite derivative at 0; route zeros around it so gradients stay finite.
    nonzero = squared > 0
    distance = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, squared, 1.0)), 0.0)
    return masked_mean(distance, mask)


def check_float_frames(frames: ArrayLike, name: str = "frames") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"{name} must be RGB frames [N, H, W, 3], got shape {frames.shape}")
    if not np.issubdtype(frames.dtype, np.floating):
        raise InputError(
            f"{name} must be floating point in [0, 1], got dtype {frames.dtype}; convert uint8 "
            "frames with frames.astype(np.float32) / 255"
        )
    return frames


def video_landmark_distance(
    detect: Callable[[jax.Array], jax.Array],
    generated: ArrayLike,
    target_frames: ArrayLike,
    target_landmarks: ArrayLike,
    mask: ArrayLike,
) -> tuple[jax.Array, jax.Array]:
    """In-graph LMD of videos and the number of frames it averages (ParaLip Sec. 4.2).

    Target landmarks are the stored ones where they are finite (exact on the synthetic corpora)
    and otherwise those `detect` finds in the target frame (real corpora stored without dlib).

    Args:
      detect: a traceable detector such as `regressor_landmark_fn(path)`.
      generated, target_frames: float `[B, T, H, W, 3]` in [0, 1].
      target_landmarks: float `[B, T, 20, 2]` pixel `(x, y)`, NaN where unknown.
      mask: bool `[B, T]` valid frames.

    Returns:
      (LMD in pixels over the valid frames, their count); (0, 0) if none is valid.
    """
    generated = jnp.asarray(generated)
    batch_time = generated.shape[:2]

    def landmarks_of(videos: jax.Array) -> jax.Array:
        found = detect(einops.rearrange(videos, "b t h w c -> (b t) h w c"))
        return einops.rearrange(found, "(b t) k xy -> b t k xy", b=batch_time[0])

    stored = jnp.asarray(target_landmarks, jnp.float32)
    known = jnp.all(jnp.isfinite(stored), axis=(-2, -1), keepdims=True)
    # Detect in the targets only when some landmarks are unknown (no detector pass otherwise).
    target = jax.lax.cond(
        jnp.all(known), lambda: stored,
        lambda: jnp.where(known, stored, landmarks_of(jnp.asarray(target_frames))))
    mask = jnp.asarray(mask, bool)
    return (landmark_distance(landmarks_of(generated), target, mask),
            jnp.sum(mask))


def landmark_distance_of_videos(
    detector: Callable[[np.ndarray], np.ndarray],
    generated: ArrayLike,
    target: ArrayLike,
    mask: ArrayLike | None = None,
) -> float:
    """LMD between generated videos and their targets (ParaLip Sec. 4.2), in pixels.

    The detector finds the landmarks of every valid generated frame; the target landmarks are
    given, or detected the same way in the target frames. The value is
    `lipjax.metrics.landmark_distance` over the valid frames: per frame the mean distance of the
    20 landmark pairs, then the mean over frames. Target frames whose landmarks are not finite
    (real corpora stored without a dlib predictor) are left out as well. Only valid frames are
    passed to the detector, so padding frames may hold anything. Passing the target *frames*
    sends both sides through the same detector, so a detector's systematic bias cancels; stored
    target landmarks are exact only for the synthetic corpora.

    Args:
      detector: a `MouthLandmarkDetector` (e.g. `RegressorLandmarks`, `DlibLandmarks`).
      generated: float ``[B, T, H, W, 3]`` in [0, 1].
      target: landmarks float ``[B, T, 20, 2]`` pixel ``(x, y)``, or frames float
        ``[B, T, H, W, 3]`` in [0, 1].
      mask: bool ``[B, T]`` frame mask or ``[B]`` video mask; None = every frame is valid.

    Returns:
      The LMD in pixels; 0.0 if no frame is valid.

    Raises:
      InputError: shapes disagree. DataError: valid frames exist but none has finite target
        landmarks.
    """
    generated = np.asarray(generated)
    if generated.ndim != 5 or generated.shape[-1] != 3:
        raise InputError(f"generated must be videos [B, T, H, W, 3], got {generated.shape}")
    batch_time = generated.shape[:2]
    target = np.asarray(target)
    if target.ndim not in (4, 5) or target.shape[:2] != batch_time:
        raise InputError(
            f"target must be landmarks [B, T, 20, 2] or frames [B, T, H, W, 3] with the "
            f"generated videos' B, T = {batch_time}, got {target.shape}"
        )
    if target.ndim == 5 and target.shape != generated.shape:
        raise InputError(
            f"target frames {target.shape} must have the shape of the generated {generated.shape}")
    if mask is None:
        valid = np.ones(batch_time, bool)
    else:
        mask = np.asarray(mask).astype(bool)
        if mask.shape not in (batch_time, batch_time[:1]):
            raise InputError(
                f"mask must be a frame mask {batch_time} or a video mask {batch_time[:1]}, got "
                f"{mask.shape}")
        valid = np.broadcast_to(mask.reshape(mask.shape + (1,) * (2 - mask.ndim)), batch_time)
    if not valid.any():
        return 0.0

    def detect(videos: np.ndarray, name: str) -> np.ndarray:
        found = np.asarray(detector(check_float_frames(videos[valid], name)), np.float32)
        if found.shape != (int(valid.sum()), NUM_MOUTH_LANDMARKS, 2):
            raise InputError(
                f"the detector returned {found.shape} for {int(valid.sum())} frames; a "
                f"MouthLandmarkDetector returns [N, {NUM_MOUTH_LANDMARKS}, 2]")
        full = np.full(batch_time + found.shape[1:], np.nan, np.float32)
        full[valid] = found
        return full

    predicted = detect(generated, "generated frames")
    if target.ndim == 5:
        target_landmarks = detect(target, "target frames")
    else:
        if target.shape[2:] != (NUM_MOUTH_LANDMARKS, 2):
            raise InputError(
                f"target landmarks must be [B, T, {NUM_MOUTH_LANDMARKS}, 2], got {target.shape}")
        target_landmarks = target.astype(np.float32)
    usable = valid & np.isfinite(target_landmarks).all(axis=(-2, -1))
    if not usable.any():
        raise DataError(
            "none of the valid frames has finite target landmarks (a corpus built without a "
            "dlib predictor stores NaN); pass the target frames instead so that the detector "
            "finds their landmarks"
        )
    return float(landmark_distance(predicted, target_landmarks, usable))
