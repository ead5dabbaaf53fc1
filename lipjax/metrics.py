"""Evaluation metrics for generated lip / face videos: SSIM, PSNR and landmark distance (LMD).

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

from __future__ import annotations

import functools


import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = [
    "masked_mean",
    "zero_invalid",
    "gaussian_window",
    "ssim_map",
    "ssim_per_image",
    "ssim",
    "psnr",
    "landmark_distance",
]


def masked_mean(values: ArrayLike, mask: ArrayLike | None = None) -> jax.Array:
    """Mean of per-item means over the valid items (the convention in the module docstring).

    Args:
      values: ``[*M, ...]`` numbers; everything after the mask dimensions is one item.
      mask: bool ``[*M]`` (a prefix of ``values.shape``), True on valid items; ``None`` = all valid.

    Returns:
      Scalar float32: ``sum_valid(mean_item(values)) / max(num_valid, 1)``; 0 if nothing is valid.
    """
    values = jnp.asarray(values)
    values = values.astype(jnp.promote_types(values.dtype, jnp.float32))
    if mask is None:
        return jnp.mean(values)
    mask = jnp.asarray(mask)
    if mask.shape != values.shape[: mask.ndim]:
        raise InputError(
            f"mask shape {mask.shape} must be a prefix of the batch shape of values "
            f"{values.shape} (e.g. a frame mask [B, T] for a video [B, T, H, W, C]); "
            "pass the mask of the frames, not of the pixels"
        )
    mask = mask.astype(bool)
    item_axes = tuple(range(mask.ndim, values.ndim))
    per_item = jnp.mean(values, axis=item_axes) if item_axes else values
    # where, not multiplication: garbage (inf/NaN) in padding items must not leak into the sum.
    total = jnp.sum(jnp.where(mask, per_item, 0.0))
    count = jnp.sum(mask)
    return total / jnp.maximum(count, 1).astype(total.dtype)


def zero_invalid(x: ArrayLike, mask: ArrayLike | None) -> jax.Array:
    """Replaces invalid items by zeros: ``x`` where the mask is True, 0 elsewhere.

    `masked_mean` already keeps padding out of the *value*; losses apply this to their inputs
    as well so that non-finite padding cannot turn the *gradient* into NaN (0 * inf).

    Args:
      x: ``[*M, ...]`` array.
      mask: bool ``[*M]`` (a prefix of ``x.shape``) or ``None`` (``x`` is returned unchanged).

    Returns:
      ``x`` with every invalid item set to zero (same shape and dtype).
    """
    x = jnp.asarray(x)
    if mask is None:
        return x
    mask = jnp.asarray(mask)
    if mask.shape != x.shape[: mask.ndim]:
        raise InputError(
            f"mask shape {mask.shape} must be a prefix of the batch shape of {x.shape} "
            "(e.g. a frame mask [B, T] for a video [B, T, H, W, C])"
        )
    mask = mask.astype(bool).reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    return jnp.where(mask, x, jnp.zeros((), x.dtype))


def _as_float_images(x: ArrayLike, name: str) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise InputError(
            f"{name} must be floating point frames in [0, 1], got dtype {x.dtype}; "
            "convert uint8 frames with x.astype(np.float32) / 255"
        )
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _check_pair(x: jax.Array, y: jax.Array, min_ndim: int, layout: str) -> None:
    if x.shape != y.shape:
        raise InputError(f"the two inputs must have the same shape, got {x.shape} and {y.shape}")
    if x.ndim < min_ndim:
        raise InputError(f"expected inputs of shape {layout}, got shape {x.shape}")


def _check_positive(name: str, value: float) -> None:
    # Traced values (e.g. a data_range passed through jit) cannot be checked here.
    if isinstance(value, (int, float)) and not value > 0:
        raise InputError(f"{name} must be positive, got {value!r}")


def gaussian_window(window_size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps ``exp(-t^2 / (2 sigma^2))``, ``t = -r..r``, ``r = size // 2``.

    With ``window_size=11, sigma=1.5`` these are exactly the taps of
    ``scipy.ndimage.gaussian_filter(sigma=1.5, truncate=3.5)`` that scikit-image's SSIM uses.

    Returns:
      float32 ``[window_size]`` summing to 1.
    """
    if not isinstance(window_size, int) or window_size < 1 or window_size % 2 == 0:
        raise InputError(f"window_size must be a positive odd int, got {window_size!r}")
    _check_positive("sigma", sigma)
    radius = window_size // 2
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (t / sigma) ** 2)
    return (taps / np.sum(taps)).astype(np.float32)


def reflected_filter_matrix(length: int, taps: np.ndarray) -> np.ndarray:
    """The ``[length, length]`` matrix of 'same' 1-D filtering with half-sample reflection.

    Row ``i`` holds the taps centred on ``i``; taps that fall outside ``[0, length)`` are folded
    back (``d c b a | a b c d``, scipy.ndimage's ``mode='reflect'``), so ``M @ x`` filters ``x``.
    """
    taps = np.asarray(taps, np.float64)
    radius = taps.shape[0] // 2
    rows = np.repeat(np.arange(length), taps.shape[0])
    cols = rows + np.tile(np.arange(taps.shape[0]) - radius, length)
    # Reflect until inside (more than one fold only when the window exceeds the signal).
    while np.any((cols < 0) | (cols >= length)):
        cols = np.where(cols < 0, -cols - 1, cols)
        cols = np.where(cols >= length, 2 * length - cols - 1, cols)
    matrix = np.zeros((length, length), np.float64)
    np.add.at(matrix, (rows, cols), np.tile(taps, length))
    return matrix.astype(np.float32)


def _filter_hw(x: jax.Array, taps: np.ndarray) -> jax.Array:
    """Separable filtering of ``[..., H, W, C]`` over H then W, 'same' size, reflected border.

    Each pass is one matrix product with `reflected_filter_matrix`: a dense matmul and its
    transpose (the gradient) run ~10x faster on the CPU than a sum of shifted slices
    (`benchmarks/ssim_filter.py`), and it is exact float32 (HIGHEST precision, no TF32 on GPUs).
    """
    height, width = x.shape[-3], x.shape[-2]
    along_h = jnp.asarray(reflected_filter_matrix(height, taps))
    along_w = jnp.asarray(reflected_filter_matrix(width, taps))
    highest = jax.lax.Precision.HIGHEST
    x = jnp.einsum("Hh,...hwc->...Hwc", along_h, x, precision=highest)
    return jnp.einsum("Ww,...hwc->...hWc", along_w, x, precision=highest)


@functools.partial(jax.jit, static_argnames=("window_size", "sigma"))
def _ssim_map(
    x: jax.Array, y: jax.Array, c1: ArrayLike, c2: ArrayLike, *, window_size: int, sigma: float
) -> jax.Array:
    # Jitted as a whole: called eagerly, one compilation per shape instead of one per small op.
    # (Co)variances are invariant to shifting x and y by constants. Centring each image channel
    # on its mean before forming E[x^2] - E[x]^2 shrinks the float32 cancellation error several
    # fold; the local means are shifted back afterwards.
    offset_x = jax.lax.stop_gradient(jnp.mean(x, axis=(-3, -2), keepdims=True))
    offset_y = jax.lax.stop_gradient(jnp.mean(y, axis=(-3, -2), keepdims=True))
    xc, yc = x - offset_x, y - offset_y
    # One filtering pass for all five local moments.
    taps = gaussian_window(window_size, sigma)
    moments = _filter_hw(jnp.stack([xc, yc, xc * xc, yc * yc, xc * yc]), taps)
    mu_xc, mu_yc, mean_xx, mean_yy, mean_xy = moments
    var_x = mean_xx - mu_xc * mu_xc
    var_y = mean_yy - mu_yc * mu_yc
    cov_xy = mean_xy - mu_xc * mu_yc
    mu_x, mu_y = mu_xc + offset_x, mu_yc + offset_y
    numerator = (2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return numerator / denominator


def ssim_map(
    x: ArrayLike,
    y: ArrayLike,
    *,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_range: float = 1.0,
) -> jax.Array:
    """Per-pixel structural similarity (Wang et al., 2004) with a Gaussian window.

    Local means, variances and the covariance are Gaussian-weighted averages (separable filter,
    ``window_size`` taps, standard deviation ``sigma``; population, not sample, statistics).
    Channels are independent. The map has the size of the input: near the border the window
    reads the image reflected half-sample symmetrically (scipy ``mode='reflect'``). With the
    defaults this is scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, full=True)`` map. Because ``C1, C2 > 0`` the map
    and its gradient are finite on flat (constant) images.

    Args:
      x, y: float ``[..., H, W, C]`` images, values in ``[0, data_range]``.
      window_size: odd number of filter taps (11 in the SSIM paper and ParaLip Eq. 5).
      sigma: standard deviation of the Gaussian window, in pixels.
      k1, k2: stabilising constants; ``C1 = (k1 * data_range)^2``, ``C2 = (k2 * data_range)^2``.
      data_range: the dynamic range of the pixel values (1 for frames in ``[0, 1]``).

    Returns:
      float32 ``[..., H, W, C]`` SSIM values (1 where the images agree).
    """
    x = _as_float_images(x, "x")
    y = _as_float_images(y, "y")
    _check_pair(x, y, 3, "[..., H, W, C]")
    _check_positive("data_range", data_range)
    if not (k1 >= 0 and k2 >= 0):
        raise InputError(f"k1 and k2 must be non-negative, got k1={k1!r}, k2={k2!r}")
    gaussian_window(window_size, sigma)  # validates both before tracing
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    return _ssim_map(x, y, c1, c2, window_size=window_size, sigma=float(sigma))


def ssim_per_image(
    x: ArrayLike,
    y: ArrayLike,
    *,
    crop_border: bool = True,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_range: float = 1.0,
) -> jax.Array:
    """Mean SSIM of every image: the mean of its `ssim_map` over H, W and C.

    Border convention: with ``crop_border=True`` (scikit-image's choice) a strip of
    ``(window_size - 1) // 2`` pixels on each side, where the window reaches into the reflected
    border, is left out of the mean; this needs ``H, W >= window_size``. With
    ``crop_border=False`` every pixel counts.

    Args:
      x, y: float ``[..., H, W, C]`` images.
      crop_border: whether to leave the border strip out of the mean.
      window_size, sigma, k1, k2, data_range: as in `ssim_map`.

    Returns:
      float32 ``[...]``, one SSIM per image.
    """
    values = ssim_map(
        x, y, window_size=window_size, sigma=sigma, k1=k1, k2=k2, data_range=data_range
    )
    if crop_border:
        height, width = values.shape[-3], values.shape[-2]
        if height < window_size or width < window_size:
            raise InputError(
                f"images of {height}x{width} are smaller than the {window_size}x{window_size} "
                "SSIM window; pass a smaller odd window_size or crop_border=False"
            )
        pad = (window_size - 1) // 2
        values = values[..., pad : height - pad, pad : width - pad, :]
    return jnp.mean(values, axis=(-3, -2, -1))


def ssim(
    x: ArrayLike,
    y: ArrayLike,
    mask: ArrayLike | None = None,
    *,
    crop_border: bool = True,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_range: float = 1.0,
) -> jax.Array:
    """Mean SSIM over the valid images (the SSIM column of ParaLip Tables 1-2).

    Each image's SSIM is the mean of its `ssim_map` (by default without the
    ``(window_size - 1) // 2`` border strip, as scikit-image does, see `ssim_per_image`); the
    result is the mean of those over valid images. With the defaults one image's value equals
    ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1)``.

    Args:
      x, y: float ``[..., H, W, C]`` images, e.g. videos ``[B, T, H, W, C]``.
      mask: bool, a prefix of the batch shape (e.g. frame mask ``[B, T]``); ``None`` = all valid.
      crop_border, window_size, sigma, k1, k2, data_range: as in `ssim_per_image`.

    Returns:
      Scalar float32; 0 if no image is valid.
    """
    per_image = ssim_per_image(
        x, y, crop_border=crop_border, window_size=window_size, sigma=sigma, k1=k1, k2=k2,
        data_range=data_range,
    )
    return masked_mean(per_image, mask)


def psnr(
    x: ArrayLike,
    y: ArrayLike,
    mask: ArrayLike | None = None,
    *,
    data_range: float = 1.0,
    mse_floor: float = 1e-10,
) -> jax.Array:
    """Peak signal-to-noise ratio, computed per image and averaged over the valid images.

    ``PSNR = 10 log10(data_range^2 / max(MSE, mse_floor))`` with the MSE of one image (over H, W
    and C). Averaging per-frame PSNRs (not the PSNR of the mean MSE) is the usual video-metric
    convention. Identical images would have infinite PSNR; the MSE floor caps it at
    ``10 log10(data_range^2 / mse_floor)`` (100 dB by default) so that the mean stays finite.

    Args:
      x, y: float ``[..., H, W, C]`` images in ``[0, data_range]``, e.g. ``[B, T, H, W, C]``.
      mask: bool, a prefix of the batch shape (e.g. frame mask ``[B, T]``); ``None`` = all valid.
      data_range: the dynamic range of the pixel values.
      mse_floor: smallest MSE used in the logarithm.

    Returns:
      Scalar float32 in dB; 0 if no image is valid.
    """
    x = _as_float_images(x, "x")
    y = _as_float_images(y, "y")
    _check_pair(x, y, 3, "[..., H, W, C]")
    _check_positive("data_range", data_range)
    _check_positive("mse_floor", mse_floor)
    mse = jnp.mean((x - y) ** 2, axis=(-3, -2, -1))
    per_image = 10.0 * jnp.log10(data_range**2 / jnp.maximum(mse, mse_floor))
    return masked_mean(per_image, mask)


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
    _check_pair(pred, target, 2, "[..., K, 2]")
    dtype = jnp.promote_types(jnp.result_type(pred, target), jnp.float32)
    diff = pred.astype(dtype) - target.astype(dtype)
    squared = jnp.sum(diff * diff, axis=-1)
    # sqrt has an infinite derivative at 0; route zeros around it so gradients stay finite.
    nonzero = squared > 0
    distance = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, squared, 1.0)), 0.0)
    return masked_mean(distance, mask)
