"""Mouth-landmark detectors for the LMD metric on generated lip frames.

LMD (ParaLip, Liu et al., AAAI 2022, Sec. 4.2; the DCK talking-face paper reports it too) is the
mean distance between the mouth landmarks of generated and ground-truth frames. A generated frame
has no landmarks of its own, so a detector supplies them:

* `RegressorLandmarks`: the small CNN of `lipjax.landmarks.model`, trained on the exact landmarks
  of the `synthetic_lips` corpus with `train_landmark_regressor` (e.g. by
  ``experiments/train_landmarks.py``) and saved / loaded with `save_regressor` / `load_regressor`.
* `DlibLandmarks`: dlib's 68-point shape predictor (points 48-67) run on the lip crops, for users
  who have a predictor file; dlib is imported only then.

Both follow the `MouthLandmarkDetector` protocol: float frames ``[N, H, W, 3]`` in [0, 1] ->
float32 ``[N, 20, 2]`` pixel ``(x, y)`` (pixel ``i`` spans ``[i, i + 1)``, as in the corpus).
`lipjax.metrics.landmark_distance_of_videos` turns a detector into the LMD of a batch of videos.

Landmark order (dlib 48-67): outer lip 48-59 from the left mouth corner clockwise on screen, inner
lip 60-67 likewise; "left" is the image's left.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lipjax import face
from lipjax.errors import ConfigError, InputError
from lipjax.landmarks.io import load_regressor
from lipjax.landmarks.model import LandmarkRegressor, LandmarkRegressorConfig, to_pixels
from lipjax.metrics.landmarks import check_float_frames

__all__ = [
    "MouthLandmarkDetector",
    "RegressorLandmarks",
    "DlibLandmarks",
    "face_box_for_lip_crop",
    "regressor_landmark_fn",
    "predict_in_chunks",
]


@runtime_checkable
class MouthLandmarkDetector(Protocol):
    """Anything that maps lip frames to their 20 mouth landmarks.

    ``detector(frames)``: float ``[N, H, W, 3]`` in [0, 1] -> float32 ``[N, 20, 2]`` pixel
    ``(x, y)`` in dlib 48-67 order.
    """

    def __call__(self, frames: np.ndarray) -> np.ndarray: ...


@functools.lru_cache(maxsize=8)
def _pixel_predictor(config: LandmarkRegressorConfig) -> Callable[[Any, jax.Array], jax.Array]:
    """Jitted ``(variables, frames [N, H, W, 3]) -> pixel landmarks [N, K, 2]``, one per config.

    uint8 frames (the training path, which keeps the corpus as bytes) are scaled to [0, 1] here.
    """
    model = LandmarkRegressor(config)

    @jax.jit
    def predict(variables: Any, frames: jax.Array) -> jax.Array:
        if frames.dtype == jnp.uint8:
            frames = frames.astype(jnp.float32) / 255.0
        return to_pixels(model.apply(variables, frames), config)

    return predict


def regressor_landmark_fn(
    path: str | os.PathLike, *, frame_shape: Sequence[int] | None = None
) -> Callable[[jax.Array], jax.Array]:
    """A traceable detector `frames [N, H, W, 3] in [0, 1] -> pixel landmarks [N, 20, 2]`.

    The saved regressor's parameters are bound into the function (they become constants of the
    program that calls it), so an evaluation step can compute LMD on the device, next to PSNR
    and SSIM, without a host round trip. The frame size is `frame_shape` of the returned
    function.

    Raises:
      CheckpointError: `path` is not a saved regressor. ConfigError: it was trained for other
        frames than `frame_shape` `(H, W, C)` (when given).
    """
    variables, config = load_regressor(path)
    if frame_shape is not None and tuple(frame_shape) != tuple(config.frame_shape):
        raise ConfigError(
            f"the landmark regressor in {str(path)!r} takes {config.frame_shape} frames, not "
            f"{tuple(frame_shape)}; train one for this frame size")
    model = LandmarkRegressor(config)

    def detect(frames: jax.Array) -> jax.Array:
        return to_pixels(model.apply(variables, frames), config)

    detect.frame_shape = config.frame_shape
    return detect


def predict_in_chunks(
    variables: Any, config: LandmarkRegressorConfig, frames: np.ndarray, *, batch_size: int
) -> np.ndarray:
    """Runs the regressor on ``[N, H, W, 3]`` frames in fixed-size chunks (one compilation)."""
    predict = _pixel_predictor(config)
    out = np.empty((len(frames), config.num_landmarks, 2), np.float32)
    for start in range(0, len(frames), batch_size):
        chunk = frames[start : start + batch_size]
        count = len(chunk)
        if count < batch_size:  # pad the last chunk so that its shape is the same
            pad = np.zeros((batch_size - count,) + chunk.shape[1:], chunk.dtype)
            chunk = np.concatenate([chunk, pad])
        out[start : start + count] = np.asarray(predict(variables, jnp.asarray(chunk)))[:count]
    return out


class RegressorLandmarks:
    """`MouthLandmarkDetector` backed by a trained `LandmarkRegressor`.

    Example::

        detector = RegressorLandmarks.load("runs/landmarks")   # from save_regressor
        landmarks = detector(frames)                            # [N, 80, 160, 3] -> [N, 20, 2]
    """

    def __init__(self, params: Any, config: LandmarkRegressorConfig, *, batch_size: int = 64):
        """
        Args:
          params: the regressor's variables (``{"params": ...}``), e.g. from
            `train_landmark_regressor` or `load_regressor`.
          config: the `LandmarkRegressorConfig` they belong to.
          batch_size: frames per forward pass (a fixed size, so each call compiles at most once).
        """
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.params = params
        self.config = config
        self.batch_size = int(batch_size)

    @classmethod
    def load(cls, path: str | os.PathLike, *, batch_size: int = 64) -> "RegressorLandmarks":
        """Loads a regressor written by `save_regressor` (see `load_regressor`)."""
        params, config = load_regressor(path)
        return cls(params, config, batch_size=batch_size)

    def __call__(self, frames: ArrayLike) -> np.ndarray:
        """float ``[N, H, W, 3]`` in [0, 1] -> float32 ``[N, 20, 2]`` pixel ``(x, y)``."""
        frames = check_float_frames(frames)
        if frames.shape[1:] != self.config.frame_shape:
            raise InputError(
                f"this regressor was built for {self.config.frame_height}x"
                f"{self.config.frame_width} frames, got {frames.shape[1]}x{frames.shape[2]}; "
                "resize the lip crops (lipjax.face.crop_and_resize) or train for this size"
            )
        return predict_in_chunks(self.params, self.config, frames.astype(np.float32),
                                  batch_size=self.batch_size)


def face_box_for_lip_crop(
    height: int,
    width: int,
    *,
    width_fraction: float = 0.65,
    center_x: float = 0.5,
    center_y: float = 0.8,
) -> np.ndarray:
    """The (square) face box whose lip box, by `lipjax.face.lip_box_from_face`, is the whole crop.

    dlib's shape predictor needs a face rectangle; a lip crop holds only the mouth. Inverting the
    lip-box geometry puts the mouth where the predictor expects it inside that rectangle (most of
    the rectangle lies outside the crop, above it). Use the same geometry parameters as the lip
    crops were cut with.

    Args:
      height, width: crop size in pixels.
      width_fraction, center_x, center_y: as in `lipjax.face.lip_box_from_face`.

    Returns:
      float32 ``[4]`` (x0, y0, x1, y1) in crop pixels.
    """
    if height < 1 or width < 1 or width_fraction <= 0:
        raise InputError(
            f"height, width and width_fraction must be positive, got {height}, {width}, "
            f"{width_fraction}"
        )
    face_side = width / width_fraction
    x0 = 0.5 * width - center_x * face_side
    y0 = 0.5 * height - center_y * face_side
    return np.asarray([x0, y0, x0 + face_side, y0 + face_side], np.float32)


class DlibLandmarks:
    """`MouthLandmarkDetector` that runs dlib's 68-point shape predictor on lip crops.

    Wraps `lipjax.face.MouthLandmarker` (points 48-67), giving it the face rectangle of
    `face_box_for_lip_crop`. dlib is imported when this object is made; without it an
    `InputError` says how to install it or to use `RegressorLandmarks` instead.
    """

    def __init__(
        self,
        predictor_path: str | os.PathLike,
        *,
        width_fraction: float = 0.65,
        center_x: float = 0.5,
        center_y: float = 0.8,
    ):
        """
        Args:
          predictor_path: a dlib shape-predictor file (e.g.
            ``shape_predictor_68_face_landmarks.dat``); lipjax downloads nothing.
          width_fraction, center_x, center_y: the lip-box geometry the crops were cut with
            (`lipjax.face.lip_box_from_face`).
        """
        try:
            self._landmarker = face.MouthLandmarker(predictor_path)
        except InputError as error:
            raise InputError(
                f"{error}. To measure LMD without dlib, use lipjax.landmarks.RegressorLandmarks "
                "(train one with experiments/train_landmarks.py)"
            ) from error
        self._geometry = dict(width_fraction=width_fraction, center_x=center_x, center_y=center_y)

    def __call__(self, frames: ArrayLike) -> np.ndarray:
        """float ``[N, H, W, 3]`` in [0, 1] -> float32 ``[N, 20, 2]`` pixel ``(x, y)``."""
        frames = check_float_frames(frames)
        box = face_box_for_lip_crop(frames.shape[1], frames.shape[2], **self._geometry)
        boxes = np.broadcast_to(box, (len(frames), 4))
        # dlib returns integer pixel indices; +0.5 moves them to pixel centres, the corpus
        # convention (pixel i spans [i, i + 1)).
        return self._landmarker(frames, boxes).astype(np.float32) + np.float32(0.5)
