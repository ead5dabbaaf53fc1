"""Training the mouth-landmark regressor on a lip corpus with exact landmarks.

The regressor (`lipjax.landmarks.model`) learns from individual frames of `synthetic_lips` (or
any corpus whose records carry landmarks), with augmentation that moves the landmarks with the
pixels; `train_synthetic_regressor` builds the corpus, trains and saves in one call (what
`experiments/train_landmarks.py` and `make demo` run).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

from lipjax.errors import ConfigError, DataError, InputError
from lipjax.face import NUM_MOUTH_LANDMARKS
from lipjax.landmarks.detectors import predict_in_chunks
from lipjax.landmarks.io import save_regressor
from lipjax.landmarks.model import (
    LandmarkRegressor,
    LandmarkRegressorConfig,
    to_normalised,
    to_pixels,
)
from lipjax.metrics import landmark_distance

__all__ = [
    "MIRROR_PERMUTATION",
    "LandmarkAugmentation",
    "collect_landmark_frames",
    "augment_batch",
    "train_landmark_regressor",
    "train_synthetic_regressor",
]

# Index of each mouth landmark's mirror image under a horizontal flip (dlib 48-67 order):
# outer corners 48 <-> 54, 49 <-> 53, 50 <-> 52, 55 <-> 59, 56 <-> 58 (51, 57 on the axis);
# inner corners 60 <-> 64, 61 <-> 63, 65 <-> 67 (62, 66 on the axis).
MIRROR_PERMUTATION = (6, 5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 16, 15, 14, 13, 12, 19, 18, 17)


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


def _mean_shape_error(mean_shape: np.ndarray, landmarks: np.ndarray) -> float:
    return float(landmark_distance(np.broadcast_to(mean_shape, landmarks.shape), landmarks))


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
    # XLA's RngBitGenerator ('rbg') compiles several times faster on CPU than threefry, whose
    # unrolled rounds dominated the start-up of short runs; streams differ between the two.
    init_key, train_key = jax.random.split(jax.random.key(seed, impl=prng_impl))
    variables = _init_at_mean_shape(config, mean_shape, init_key)
    schedule = optax.cosine_decay_schedule(learning_rate, max(steps, 1),
                                           alpha=final_learning_rate_fraction)
    optimizer = optax.adam(schedule)
    opt_state = optimizer.init(variables)
    train_step = _make_train_step(config, optimizer, augmentation)

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

    settings = {
        "steps": int(steps), "batch_size": int(batch_size), "learning_rate": float(learning_rate),
        "final_learning_rate_fraction": float(final_learning_rate_fraction),
        "seed": int(seed), "prng_impl": prng_impl, "frame_stride": int(frame_stride),
        "augmentation": None if augmentation is None else dataclasses.asdict(augmentation),
        "config": dataclasses.asdict(config),
    }
    report = _error_report(variables, config, mean_shape, (train_frames, train_landmarks,
                                                          train_skipped), eval_data,
                           losses=losses, eval_batch_size=eval_batch_size)
    report.update(settings)
    return variables, report


def _error_report(variables: Any, config: LandmarkRegressorConfig, mean_shape: np.ndarray,
                  train: tuple[np.ndarray, np.ndarray, int],
                  eval_data: Mapping[str, tuple[np.ndarray, np.ndarray, int]], *,
                  losses: Sequence[jax.Array], eval_batch_size: int) -> dict[str, Any]:
    """LMD of the trained regressor and of the mean shape on every split, with frame counts."""

    def error(frames: np.ndarray, landmarks: np.ndarray) -> float:
        predicted = predict_in_chunks(variables, config, frames, batch_size=eval_batch_size)
        return float(landmark_distance(predicted, landmarks))

    tail = np.asarray(jax.device_get(losses[-max(1, len(losses) // 10):])) if losses else \
        np.zeros(0)
    train_frames, train_landmarks, train_skipped = train
    report: dict[str, Any] = {
        "train_error_px": error(train_frames, train_landmarks),
        "mean_shape_train_error_px": _mean_shape_error(mean_shape, train_landmarks),
        "num_train_frames": int(len(train_frames)),
        "skipped_train_frames_without_landmarks": train_skipped,
        "final_train_loss_px": float(tail.mean()) if tail.size else None,
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
    return report


def _init_at_mean_shape(config: LandmarkRegressorConfig, mean_shape: np.ndarray,
                        key: jax.Array) -> Any:
    """Initial variables whose output bias is `mean_shape` (step 0 = the mean-shape baseline)."""
    # Jitted: eager initialisation dispatches (and compiles) every layer's ops one by one.
    variables = jax.jit(LandmarkRegressor(config).init)(
        key, jnp.zeros((1,) + config.frame_shape, jnp.float32))
    variables = jax.tree_util.tree_map(lambda x: x, variables)  # a mutable copy
    variables["params"]["output"]["bias"] = to_normalised(mean_shape, config).reshape(-1)
    return variables


def _make_train_step(config: LandmarkRegressorConfig, optimizer: optax.GradientTransformation,
                     augmentation: LandmarkAugmentation | None):
    """Jitted `(variables, opt_state, key, frames uint8, landmarks) -> (variables, opt_state,
    LMD loss)`: one Adam step on the LMD of an augmented batch."""
    model = LandmarkRegressor(config)

    @jax.jit
    def train_step(variables, opt_state, key, frames_u8, landmarks):
        frames = frames_u8.astype(jnp.float32) / 255.0
        if augmentation is not None:
            frames, landmarks = augment_batch(key, frames, landmarks, augmentation=augmentation)

        def loss_fn(variables):
            return landmark_distance(to_pixels(model.apply(variables, frames), config), landmarks)

        loss, grads = jax.value_and_grad(loss_fn)(variables)
        updates, opt_state = optimizer.update(grads, opt_state, variables)
        return optax.apply_updates(variables, updates), opt_state, loss

    return train_step


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
