"""Mouth-landmark detectors for the LMD metric on generated lip frames.

LMD (ParaLip, Liu et al., AAAI 2022, Sec. 4.2; the DCK talking-face paper reports it too) is the
mean distance between the mouth landmarks of generated and ground-truth frames. A generated frame
has no landmarks of its own, so a detector supplies them:

* `RegressorLandmarks`: the small CNN of `lipjax.models.landmarks`, trained on the exact landmarks
  of the `synthetic_lips` corpus with `train_landmark_regressor` (e.g. by
  ``experiments/train_landmarks.py``) and saved / loaded with `save_regressor` / `load_regressor`.
* `DlibLandmarks`: dlib's 68-point shape predictor (points 48-67) run on the lip crops, for users
  who have a predictor file; dlib is imported only then.

Both follow the `MouthLandmarkDetector` protocol: float frames ``[N, H, W, 3]`` in [0, 1] ->
float32 ``[N, 20, 2]`` pixel ``(x, y)`` (pixel ``i`` spans ``[i, i + 1)``, as in the corpus).
`landmark_distance_of_videos` turns a detector into the LMD of a batch of videos via
`lipjax.metrics.landmark_distance`.

Landmark order (dlib 48-67): outer lip 48-59 from the left mouth corner clockwise on screen, inner
lip 60-67 likewise; "left" is the image's left.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm
from jax.typing import ArrayLike

from lipjax import face, metrics
from lipjax.errors import CheckpointError, ConfigError, DataError, InputError
from lipjax.models.landmarks import (
    LandmarkRegressor,
    LandmarkRegressorConfig,
    to_normalised,
    to_pixels,
)

__all__ = [
    "NUM_MOUTH_LANDMARKS",
    "MIRROR_PERMUTATION",
    "MouthLandmarkDetector",
    "RegressorLandmarks",
    "DlibLandmarks",
    "LandmarkAugmentation",
    "face_box_for_lip_crop",
    "collect_landmark_frames",
    "augment_batch",
    "train_landmark_regressor",
    "save_regressor",
    "load_regressor",
    "landmark_distance_of_videos",
    "regressor_landmark_fn",
    "train_synthetic_regressor",
    "video_landmark_distance",
]

NUM_MOUTH_LANDMARKS = len(face.MOUTH_LANDMARK_INDICES)
# Index of each mouth landmark's mirror image under a horizontal flip (dlib 48-67 order):
# outer corners 48 <-> 54, 49 <-> 53, 50 <-> 52, 55 <-> 59, 56 <-> 58 (51, 57 on the axis);
# inner corners 60 <-> 64, 61 <-> 63, 65 <-> 67 (62, 66 on the axis).
MIRROR_PERMUTATION = (6, 5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 16, 15, 14, 13, 12, 19, 18, 17)

_PARAMS_FILE = "params.msgpack"
_CONFIG_FILE = "config.json"
_REPORT_FILE = "report.json"
_FORMAT = "lipjax.landmark_regressor"
_FORMAT_VERSION = 1


@runtime_checkable
class MouthLandmarkDetector(Protocol):
    """Anything that maps lip frames to their 20 mouth landmarks.

    ``detector(frames)``: float ``[N, H, W, 3]`` in [0, 1] -> float32 ``[N, 20, 2]`` pixel
    ``(x, y)`` in dlib 48-67 order.
    """

    def __call__(self, frames: np.ndarray) -> np.ndarray: ...


def _check_float_frames(frames: ArrayLike, name: str = "frames") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"{name} must be RGB frames [N, H, W, 3], got shape {frames.shape}")
    if not np.issubdtype(frames.dtype, np.floating):
        raise InputError(
            f"{name} must be floating point in [0, 1], got dtype {frames.dtype}; convert uint8 "
            "frames with frames.astype(np.float32) / 255"
        )
    return frames


# --------------------------------------------------------------------------------------------
# The trained regressor.


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
        found = detect(videos.reshape((-1,) + videos.shape[2:]))
        return found.reshape(batch_time + found.shape[1:])

    stored = jnp.asarray(target_landmarks, jnp.float32)
    known = jnp.all(jnp.isfinite(stored), axis=(-2, -1), keepdims=True)
    # Detect in the targets only when some landmarks are unknown (no detector pass otherwise).
    target = jax.lax.cond(
        jnp.all(known), lambda: stored,
        lambda: jnp.where(known, stored, landmarks_of(jnp.asarray(target_frames))))
    mask = jnp.asarray(mask, bool)
    return (metrics.landmark_distance(landmarks_of(generated), target, mask),
            jnp.sum(mask))


def _predict_in_chunks(
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
        frames = _check_float_frames(frames)
        if frames.shape[1:] != self.config.frame_shape:
            raise InputError(
                f"this regressor was built for {self.config.frame_height}x"
                f"{self.config.frame_width} frames, got {frames.shape[1]}x{frames.shape[2]}; "
                "resize the lip crops (lipjax.face.crop_and_resize) or train for this size"
            )
        return _predict_in_chunks(self.params, self.config, frames.astype(np.float32),
                                  batch_size=self.batch_size)


# --------------------------------------------------------------------------------------------
# dlib.


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
        frames = _check_float_frames(frames)
        box = face_box_for_lip_crop(frames.shape[1], frames.shape[2], **self._geometry)
        boxes = np.broadcast_to(box, (len(frames), 4))
        # dlib returns integer pixel indices; +0.5 moves them to pixel centres, the corpus
        # convention (pixel i spans [i, i + 1)).
        return self._landmarker(frames, boxes).astype(np.float32) + np.float32(0.5)


# --------------------------------------------------------------------------------------------
# Training data.


def collect_landmark_frames(
    source: Sequence[Mapping[str, Any]],
    *,
    frame_stride: int = 1,
    progress: bool = False,
    desc: str = "frames",
) -> tuple[np.ndarray, np.ndarray, int]:
    """Gathers the individual frames of a corpus split with their landmarks.

    Frames whose landmarks are not all finite (real-corpus records built without a dlib
    predictor store NaN) are skipped and counted.

    Args:
      source: records with ``frames`` uint8 ``[T, H, W, 3]`` and ``landmarks`` float
        ``[T, 20, 2]``, e.g. ``lipjax.data.builders.load_split("synthetic_lips", "train", ...)``.
      frame_stride: keep every ``frame_stride``-th frame of a record (neighbouring frames are
        nearly identical; > 1 saves memory).
      progress: show a tqdm bar over the records.
      desc: the bar's label.

    Returns:
      ``(frames, landmarks, num_skipped)``: uint8 ``[N, H, W, 3]``, float32 ``[N, 20, 2]`` pixel
      ``(x, y)``, and the number of frames skipped for non-finite landmarks.

    Raises:
      DataError: a record lacks the fields or has inconsistent shapes, or no frame has landmarks.
    """
    if frame_stride < 1:
        raise InputError(f"frame_stride must be >= 1, got {frame_stride}")
    all_frames, all_landmarks, skipped = [], [], 0
    for index in tqdm.trange(len(source), desc=desc, disable=not progress, leave=False):
        record = source[index]
        if "frames" not in record or "landmarks" not in record:
            raise DataError(
                f"record {index} has no 'frames' / 'landmarks' (fields: {sorted(record)}); "
                "train the landmark regressor on a lip corpus such as synthetic_lips"
            )
        frames = np.asarray(record["frames"])[::frame_stride]
        landmarks = np.asarray(record["landmarks"], np.float32)[::frame_stride]
        if (frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8
                or landmarks.shape != (len(frames), NUM_MOUTH_LANDMARKS, 2)):
            raise DataError(
                f"record {index}: expected frames uint8 [T, H, W, 3] and landmarks "
                f"[T, {NUM_MOUTH_LANDMARKS}, 2], got {frames.dtype} {frames.shape} and "
                f"{landmarks.shape}"
            )
        finite = np.isfinite(landmarks).all(axis=(1, 2))
        skipped += int(np.sum(~finite))
        all_frames.append(frames[finite])
        all_landmarks.append(landmarks[finite])
    if not all_frames or sum(len(f) for f in all_frames) == 0:
        raise DataError(
            f"no frame with landmarks in this split ({len(source)} records, {skipped} frames "
            "without landmarks); build the corpus with a dlib predictor or use synthetic_lips"
        )
    shapes = {f.shape[1:] for f in all_frames if len(f)}
    if len(shapes) != 1:
        raise DataError(f"the records' frames differ in size: {sorted(shapes)}")
    return np.concatenate(all_frames), np.concatenate(all_landmarks), skipped


@dataclasses.dataclass(frozen=True)
class LandmarkAugmentation:
    """Random changes applied to each training frame (and, where geometric, to its landmarks).

    Attributes:
      max_shift_px: largest translation in pixels along each axis (edge pixels repeat in).
      flip: mirror half of the frames left-right, swapping the landmarks' left/right roles.
      brightness: largest additive change of the pixel values.
      contrast: largest relative change of the contrast around the frame's mean.
      noise_std: standard deviation of added Gaussian pixel noise.
    """

    max_shift_px: int = 4
    flip: bool = True
    brightness: float = 0.08
    contrast: float = 0.15
    noise_std: float = 0.01

    def __post_init__(self):
        if self.max_shift_px < 0 or self.brightness < 0 or self.contrast < 0 or self.noise_std < 0:
            raise ConfigError(f"augmentation magnitudes must be >= 0, got {self}")


def _shift_one(frame: jax.Array, shift: jax.Array, max_shift: int) -> jax.Array:
    """Translates ``[H, W, C]`` by integer ``(dx, dy)``; uncovered pixels repeat the edge."""
    padded = jnp.pad(frame, ((max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge")
    start = (max_shift - shift[1], max_shift - shift[0], 0)
    return jax.lax.dynamic_slice(padded, start, frame.shape)


def augment_batch(
    key: jax.Array,
    frames: jax.Array,
    landmarks: jax.Array,
    *,
    augmentation: LandmarkAugmentation,
) -> tuple[jax.Array, jax.Array]:
    """Applies `LandmarkAugmentation` to a batch, keeping landmarks on the moved mouth.

    Args:
      key: PRNG key.
      frames: float ``[B, H, W, 3]`` in [0, 1].
      landmarks: float ``[B, K, 2]`` pixel ``(x, y)`` (dlib 48-67 order when flipping).
      augmentation: the magnitudes.

    Returns:
      ``(frames, landmarks)`` of the same shapes; frames clipped to [0, 1].
    """
    batch, _, width, _ = frames.shape
    flip_key, shift_key, gain_key, offset_key, noise_key = jax.random.split(key, 5)
    if augmentation.flip:
        # Mirroring pixel columns maps x to W - x (pixel i spans [i, i + 1)).
        flipped = jax.random.bernoulli(flip_key, 0.5, (batch,))
        mirrored = landmarks[:, jnp.asarray(MIRROR_PERMUTATION)] * jnp.asarray([-1.0, 1.0]) + (
            jnp.asarray([width, 0.0]))
        frames = jnp.where(flipped[:, None, None, None], frames[:, :, ::-1], frames)
        landmarks = jnp.where(flipped[:, None, None], mirrored, landmarks)
    if augmentation.max_shift_px > 0:
        m = augmentation.max_shift_px
        shifts = jax.random.randint(shift_key, (batch, 2), -m, m + 1)
        frames = jax.vmap(functools.partial(_shift_one, max_shift=m))(frames, shifts)
        landmarks = landmarks + shifts[:, None, :].astype(landmarks.dtype)
    mean = jnp.mean(frames, axis=(1, 2, 3), keepdims=True)
    gain = jax.random.uniform(gain_key, (batch, 1, 1, 1), minval=1.0 - augmentation.contrast,
                              maxval=1.0 + augmentation.contrast)
    offset = jax.random.uniform(offset_key, (batch, 1, 1, 1), minval=-augmentation.brightness,
                                maxval=augmentation.brightness)
    frames = (frames - mean) * gain + mean + offset
    frames = frames + augmentation.noise_std * jax.random.normal(noise_key, frames.shape)
    return jnp.clip(frames, 0.0, 1.0), landmarks


# --------------------------------------------------------------------------------------------
# Training.


def _mean_shape_error(mean_shape: np.ndarray, landmarks: np.ndarray) -> float:
    return float(metrics.landmark_distance(np.broadcast_to(mean_shape, landmarks.shape), landmarks))


def train_landmark_regressor(
    source_train: Sequence[Mapping[str, Any]],
    source_test: Sequence[Mapping[str, Any]] | None,
    *,
    steps: int = 2000,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    final_learning_rate_fraction: float = 0.05,
    seed: int = 0,
    config: LandmarkRegressorConfig = LandmarkRegressorConfig(),
    augmentation: LandmarkAugmentation | None = LandmarkAugmentation(),
    frame_stride: int = 1,
    eval_batch_size: int = 64,
    extra_eval_sources: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    prng_impl: str = "rbg",
    progress: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """Trains a `LandmarkRegressor` on individual frames of a lip corpus with exact landmarks.

    Loss: the LMD itself (mean Euclidean pixel distance, `lipjax.metrics.landmark_distance`) of
    a batch of randomly drawn frames; Adam with a cosine decay of the learning rate. The output
    bias starts at the training set's mean landmark shape, so step 0 *is* the mean-shape
    baseline and training learns the deviations from it.

    Args:
      source_train, source_test: record sequences (see `collect_landmark_frames`), e.g.
        ``load_split("synthetic_lips", "train", ...)``; ``source_test`` may be None.
      steps: optimisation steps.
      batch_size: frames per step.
      learning_rate: Adam's initial learning rate.
      final_learning_rate_fraction: the cosine schedule ends at this fraction of it.
      seed: seeds initialisation, frame sampling and augmentation.
      config: the network.
      augmentation: per-frame random changes; None = train on the frames as they are.
      frame_stride: use every ``frame_stride``-th frame of each record.
      eval_batch_size: frames per forward pass when measuring errors.
      extra_eval_sources: more splits to measure, by name (e.g. ``{"unseen_speaker": ...}``):
        the report gets ``<name>_error_px``, ``mean_shape_<name>_error_px``, ``num_<name>_frames``
        and ``skipped_<name>_frames_without_landmarks`` for each.
      prng_impl: the JAX PRNG implementation of initialisation and augmentation
        (`jax.random.key`'s ``impl``).
      progress: show tqdm bars.

    Returns:
      ``(params, report)``: the variables ``{"params": ...}`` and a JSON-able dict with the
      train / test LMD in pixels (``train_error_px``, ``test_error_px``), the same for the
      mean-shape baseline (``mean_shape_*_error_px``), their ratio, frame counts, the frames
      skipped for missing landmarks and the settings.
    """
    if steps < 0 or batch_size < 1 or eval_batch_size < 1:
        raise InputError(
            f"steps must be >= 0 and batch sizes >= 1, got steps={steps}, "
            f"batch_size={batch_size}, eval_batch_size={eval_batch_size}"
        )
    if not learning_rate > 0 or not 0 <= final_learning_rate_fraction <= 1:
        raise InputError(
            f"learning_rate must be > 0 and final_learning_rate_fraction in [0, 1], got "
            f"{learning_rate}, {final_learning_rate_fraction}"
        )
    train_frames, train_landmarks, train_skipped = collect_landmark_frames(
        source_train, frame_stride=frame_stride, progress=progress, desc="train frames")
    if train_frames.shape[1:] != config.frame_shape:
        raise ConfigError(
            f"the corpus frames are {train_frames.shape[1:]} but the regressor config expects "
            f"{config.frame_shape}; set frame_height / frame_width to match"
        )
    evaluated = {"test": source_test} if source_test is not None else {}
    evaluated.update(extra_eval_sources or {})
    eval_data = {
        name: collect_landmark_frames(source, frame_stride=frame_stride, progress=progress,
                                      desc=f"{name} frames")
        for name, source in evaluated.items()
    }

    mean_shape = train_landmarks.mean(axis=0)  # [K, 2] pixels
    model = LandmarkRegressor(config)
    # XLA's RngBitGenerator ('rbg') compiles several times faster on CPU than threefry, whose
    # unrolled rounds dominated the start-up of short runs; streams differ between the two.
    init_key, train_key = jax.random.split(jax.random.key(seed, impl=prng_impl))
    # Jitted: eager initialisation dispatches (and compiles) every layer's ops one by one.
    variables = jax.jit(model.init)(init_key, jnp.zeros((1,) + config.frame_shape, jnp.float32))
    variables = jax.tree_util.tree_map(lambda x: x, variables)  # a mutable copy
    variables["params"]["output"]["bias"] = to_normalised(mean_shape, config).reshape(-1)

    schedule = optax.cosine_decay_schedule(learning_rate, max(steps, 1),
                                           alpha=final_learning_rate_fraction)
    optimizer = optax.adam(schedule)
    opt_state = optimizer.init(variables)

    @jax.jit
    def train_step(variables, opt_state, key, frames_u8, landmarks):
        frames = frames_u8.astype(jnp.float32) / 255.0
        if augmentation is not None:
            frames, landmarks = augment_batch(key, frames, landmarks, augmentation=augmentation)

        def loss_fn(variables):
            predicted = to_pixels(model.apply(variables, frames), config)
            return metrics.landmark_distance(predicted, landmarks)

        loss, grads = jax.value_and_grad(loss_fn)(variables)
        updates, opt_state = optimizer.update(grads, opt_state, variables)
        return optax.apply_updates(variables, updates), opt_state, loss

    sampler = np.random.default_rng(seed)
    losses = []
    bar = tqdm.trange(steps, desc="landmark regressor", disable=not progress)
    for step in bar:
        index = sampler.integers(0, len(train_frames), batch_size)
        variables, opt_state, loss = train_step(
            variables, opt_state, jax.random.fold_in(train_key, step),
            jnp.asarray(train_frames[index]), jnp.asarray(train_landmarks[index]))
        losses.append(loss)
        if step % 25 == 0 or step == steps - 1:
            bar.set_postfix(lmd_px=f"{float(loss):.3f}")
    bar.close()

    def error(frames: np.ndarray, landmarks: np.ndarray) -> float:
        predicted = _predict_in_chunks(variables, config, frames, batch_size=eval_batch_size)
        return float(metrics.landmark_distance(predicted, landmarks))

    tail = np.asarray(jax.device_get(losses[-max(1, steps // 10):])) if losses else np.zeros(0)
    report: dict[str, Any] = {
        "train_error_px": error(train_frames, train_landmarks),
        "mean_shape_train_error_px": _mean_shape_error(mean_shape, train_landmarks),
        "num_train_frames": int(len(train_frames)),
        "skipped_train_frames_without_landmarks": train_skipped,
        "final_train_loss_px": float(tail.mean()) if tail.size else None,
        "steps": int(steps),
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "final_learning_rate_fraction": float(final_learning_rate_fraction),
        "seed": int(seed),
        "prng_impl": prng_impl,
        "frame_stride": int(frame_stride),
        "augmentation": None if augmentation is None else dataclasses.asdict(augmentation),
        "config": dataclasses.asdict(config),
        "num_params": int(sum(x.size for x in jax.tree_util.tree_leaves(variables))),
    }
    for name, (frames, landmarks, skipped) in eval_data.items():
        report.update({
            f"{name}_error_px": error(frames, landmarks),
            f"mean_shape_{name}_error_px": _mean_shape_error(mean_shape, landmarks),
            f"num_{name}_frames": int(len(frames)),
            f"skipped_{name}_frames_without_landmarks": skipped,
        })
    if "test" in eval_data:
        report["test_error_over_mean_shape"] = (
            report["test_error_px"] / max(report["mean_shape_test_error_px"], 1e-12))
    return variables, report


# --------------------------------------------------------------------------------------------
# Saving and loading.


def _write_atomic(path: Path, data: bytes) -> None:
    """Writes ``data`` to a temp file next to ``path``, then renames it over ``path``."""
    handle, temp_path = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.chmod(temp_path, 0o644)  # mkstemp makes the file private
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def _json_bytes(payload: Mapping[str, Any]) -> bytes:
    return (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode("utf-8")


def train_synthetic_regressor(
    folder: str | os.PathLike,
    *,
    data_dir: str | os.PathLike,
    steps: int,
    dataset_config: str = "small",
    config: LandmarkRegressorConfig = LandmarkRegressorConfig(),
    progress: bool = True,
) -> dict[str, Any]:
    """Builds `synthetic_lips` if needed, trains a regressor on its train split, saves it to
    `folder` (`save_regressor`) and returns the report (test errors, `train_seconds`)."""
    from lipjax.data.builders import build_dataset, load_split

    name = "synthetic_lips"
    build_dataset(name, data_dir=data_dir, config=dataset_config, progress=progress)
    train, test = (load_split(name, split, data_dir=data_dir, config=dataset_config)
                   for split in ("train", "test"))
    start = time.perf_counter()
    params, report = train_landmark_regressor(train, test, steps=steps, config=config,
                                              progress=progress)
    report["train_seconds"] = round(time.perf_counter() - start, 1)
    report["dataset"] = f"{name}/{dataset_config}"
    save_regressor(folder, params, config, report=report)
    return report


def save_regressor(
    path: str | os.PathLike,
    params: Any,
    config: LandmarkRegressorConfig,
    *,
    report: Mapping[str, Any] | None = None,
) -> Path:
    """Saves a trained regressor to the folder ``path`` (created if needed).

    Files: ``params.msgpack`` (`flax.serialization.to_bytes` of the variables), ``config.json``
    (the `LandmarkRegressorConfig` and the SHA-256 of the params file, so a params file and a
    config from different saves are never paired silently) and, if given, ``report.json``. Each
    is written to a temp file and renamed; the config is written last.

    Returns:
      The folder.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    params_bytes = flax.serialization.to_bytes(jax.device_get(params))
    _write_atomic(folder / _PARAMS_FILE, params_bytes)
    if report is not None:
        _write_atomic(folder / _REPORT_FILE, _json_bytes(report))
    _write_atomic(folder / _CONFIG_FILE, _json_bytes({
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "config": dataclasses.asdict(config),
        "params_sha256": hashlib.sha256(params_bytes).hexdigest(),
    }))
    return folder


def load_regressor(path: str | os.PathLike) -> tuple[Any, LandmarkRegressorConfig]:
    """Loads ``(params, config)`` written by `save_regressor`.

    Raises:
      CheckpointError: the folder or a file is missing, the files do not belong together, or the
        parameters do not fit the config.
    """
    folder = Path(path)
    config_path, params_path = folder / _CONFIG_FILE, folder / _PARAMS_FILE
    missing = [p.name for p in (config_path, params_path) if not p.is_file()]
    if missing:
        raise CheckpointError(
            f"{str(folder)!r} is not a saved landmark regressor (missing {', '.join(missing)}); "
            "train one with experiments/train_landmarks.py --out <folder>"
        )
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, not {_FORMAT!r}")
        if meta.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {meta.get('format_version')!r}")
        config = LandmarkRegressorConfig(**meta["config"])
    except (ValueError, KeyError, TypeError, ConfigError) as error:
        raise CheckpointError(f"cannot read {str(config_path)!r}: {error}") from error
    params_bytes = params_path.read_bytes()
    if hashlib.sha256(params_bytes).hexdigest() != meta.get("params_sha256"):
        raise CheckpointError(
            f"{str(params_path)!r} is not the params file that {str(config_path)!r} was saved "
            "with (checksum mismatch); save the regressor again"
        )
    try:
        state = flax.serialization.msgpack_restore(params_bytes)
    except Exception as error:  # msgpack raises several unrelated types on corrupt input
        raise CheckpointError(f"cannot decode {str(params_path)!r}: {error}") from error
    expected = jax.eval_shape(
        LandmarkRegressor(config).init, jax.random.key(0),
        jax.ShapeDtypeStruct((1,) + config.frame_shape, jnp.float32))
    expected_shapes = jax.tree_util.tree_map(lambda x: tuple(x.shape), expected)
    try:
        got_shapes = jax.tree_util.tree_map(lambda x: tuple(np.shape(x)), state)
    except Exception as error:
        raise CheckpointError(f"{str(params_path)!r} does not hold a parameter tree") from error
    if got_shapes != flax.core.unfreeze(expected_shapes):
        raise CheckpointError(
            f"the parameters in {str(params_path)!r} do not fit the config in "
            f"{str(config_path)!r}; save them together with save_regressor"
        )
    return jax.tree_util.tree_map(jnp.asarray, state), config


# --------------------------------------------------------------------------------------------
# LMD of videos.


def landmark_distance_of_videos(
    detector: MouthLandmarkDetector,
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
        found = np.asarray(detector(_check_float_frames(videos[valid], name)), np.float32)
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
    return float(metrics.landmark_distance(predicted, target_landmarks, usable))
