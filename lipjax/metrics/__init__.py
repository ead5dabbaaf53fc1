"""Evaluation metrics for generated lip / face videos: SSIM, PSNR (whole frame or a region),
landmark distance (LMD) and the lip-sync errors LSE-D / LSE-C (`sync`: a sync network's
embeddings, host-side, not under the mask convention below), in one place; systems only choose
which to report.

ParaLip (Liu et al., AAAI 2022, Sec. 4.2) and the DCK talking-face paper report PSNR, SSIM and
LMD. Every function here is pure and jit-able (hyperparameters are keyword-only Python values;
mark them static, e.g. ``jax.jit(functools.partial(ssim, window_size=7))``).

Batch and mask convention (shared by every function here and in `lipjax.losses`):

* An input has *batch dimensions* followed by the dimensions of one *item*: an image
  ``[H, W, C]`` for SSIM / PSNR / L1, a landmark set ``[K, 2]`` for LMD, a scalar for durations
  and per-frame discriminator outputs. A single image ``[H, W, C]``, a batch ``[B, H, W, C]`` and a
  video batch ``[B, T, H, W, C]`` are all valid.
* Each item is first reduced to one number (its mean SSIM, its PSNR, its mean landmark distance,
  its mean absolute error, ...). The result is the mean of those numbers over the *valid* items.
* ``mask`` is bool (non-zero = valid) with a shape that is a prefix of the batch shape, e.g.
  ``[B, T]`` (frame mask) or ``[B]`` (sequence mask) for a video ``[B, T, H, W, C]``. ``None``
  means every item is valid. Invalid items never influence the value: they are selected out with
  ``jnp.where``, so padding frames may hold any garbage, even NaN, without changing the result.
* If no item is valid the result is ``0.0`` (the sum over nothing divided by ``max(count, 1)``),
  never NaN, so an empty batch cannot poison a training step. When averaging metrics over many
  batches, weight each batch by its number of valid items.
"""

from lipjax.metrics.image import (
    gaussian_window,
    masked_pixel_psnr,
    psnr,
    reflected_filter_matrix,
    sharpness_ratio,
    ssim,
    ssim_map,
    ssim_per_image,
)
from lipjax.metrics.landmarks import (
    landmark_distance,
    landmark_distance_of_videos,
    video_landmark_distance,
)
from lipjax.metrics.reduce import masked_mean, zero_invalid
from lipjax.metrics.sync import (
    LipSyncResult,
    SyncInputs,
    SyncNetwork,
    lip_sync_error,
    offset_distances,
    pairwise_distance,
    shift_audio,
    sync_scores,
)

__all__ = [
    "masked_mean",
    "zero_invalid",
    "gaussian_window",
    "reflected_filter_matrix",
    "ssim_map",
    "ssim_per_image",
    "ssim",
    "psnr",
    "masked_pixel_psnr",
    "sharpness_ratio",
    "landmark_distance",
    "video_landmark_distance",
    "landmark_distance_of_videos",
    "LipSyncResult",
    "SyncInputs",
    "SyncNetwork",
    "pairwise_distance",
    "offset_distances",
    "sync_scores",
    "lip_sync_error",
    "shift_audio",
]
