"""Image metrics of generated frames: SSIM and PSNR, over whole images or a pixel region.

ParaLip (Liu et al., AAAI 2022, Sec. 4.2) and the DCK talking-face paper report PSNR and SSIM.
Every function is pure and jit-able; hyperparameters are keyword-only Python values (mark them
static, e.g. ``jax.jit(functools.partial(ssim, window_size=7))``). Batches and masks follow the
convention of `lipjax.metrics` (a mask is a prefix of the batch shape; each image is reduced,
then valid images are averaged).

Input checks: frames must be floating point (uint8 frames are an InputError that says to
divide by 255). Where the values are concrete (not traced under `jax.jit` or `jax.grad`), the
valid images must also be finite and lie within the data range, with slack for a generator's
overshoot: a value below `-0.5 * data_range` or above `1.5 * data_range` is an InputError (frames
in 0..255 measured with `data_range=1` would otherwise give about -40 dB without a word).
Padding images (outside the mask) are never checked, as the mask convention promises.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lipjax.errors import InputError
from lipjax.metrics.reduce import check_pair, masked_mean

__all__ = [
    "gaussian_window",
    "reflected_filter_matrix",
    "ssim_map",
    "ssim_per_image",
    "ssim",
    "psnr",
    "masked_pixel_psnr",
    "sharpness_ratio",
]


def _as_float_images(x: ArrayLike, name: str) -> jax.Array:
    dtype = getattr(x, "dtype", None)
    dtype = np.asarray(x).dtype if dtype is None else np.dtype(dtype)
    if not np.issubdtype(dtype, np.number) and dtype != np.bool_:
        raise InputError(f"{name} must be an array of frames in [0, 1], got {type(x).__name__} "
                         f"of dtype {dtype}")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise InputError(
            f"{name} must be floating point frames in [0, 1], got dtype {x.dtype}; "
            "convert uint8 frames with x.astype(np.float32) / 255"
        )
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


# Slack around [0, data_range] before values count as another scale (a generator overshoots a
# little; frames in 0..255 or [-1, 1] are far outside).
_RANGE_SLACK = 0.5


def _traced(*values: object) -> bool:
    return any(isinstance(v, jax.core.Tracer) for v in values)


def _check_values(name: str, x: jax.Array, mask: ArrayLike | None, data_range: float) -> None:
    """Concrete inputs only: the valid images of `x` are finite and within the data range."""
    if _traced(x, mask, data_range):
        return
    values = np.asarray(x)
    if mask is not None:
        keep = np.asarray(mask).astype(bool)
        if keep.shape != values.shape[:keep.ndim]:
            return  # masked_mean raises the shape error
        values = values[keep]
    if values.size == 0:
        return
    if not np.all(np.isfinite(values)):
        raise InputError(f"{name} has NaN or infinite values in valid images; fix the frames, or "
                         "mark those images invalid with the mask")
    low, high = float(values.min()), float(values.max())
    scale = float(data_range)
    if low < -_RANGE_SLACK * scale or high > (1 + _RANGE_SLACK) * scale:
        raise InputError(
            f"{name} has values in [{low:.4g}, {high:.4g}], far outside [0, {scale:g}] "
            f"(data_range={scale:g}): divide frames in 0..255 by 255 (or pass "
            "data_range=255), and map frames in [-1, 1] with (x + 1) / 2")


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
    x, y = _image_pair(x, y, None, data_range)
    return _checked_ssim_map(x, y, window_size=window_size, sigma=sigma, k1=k1, k2=k2,
                             data_range=data_range)


def _image_pair(x: ArrayLike, y: ArrayLike, mask: ArrayLike | None, data_range: float
                ) -> tuple[jax.Array, jax.Array]:
    """Both inputs as float arrays of one shape `[..., H, W, C]`, their valid images checked."""
    x = _as_float_images(x, "x")
    y = _as_float_images(y, "y")
    check_pair(x, y, 3, "[..., H, W, C]")
    _check_positive("data_range", data_range)
    _check_values("x", x, mask, data_range)
    _check_values("y", y, mask, data_range)
    return x, y


def _checked_ssim_map(x: jax.Array, y: jax.Array, *, window_size: int, sigma: float,
                      k1: float, k2: float, data_range: float) -> jax.Array:
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
    x, y = _image_pair(x, y, None, data_range)
    return _ssim_per_image(x, y, crop_border=crop_border, window_size=window_size, sigma=sigma,
                           k1=k1, k2=k2, data_range=data_range)


def _ssim_per_image(x: jax.Array, y: jax.Array, *, crop_border: bool, window_size: int,
                    sigma: float, k1: float, k2: float, data_range: float) -> jax.Array:
    values = _checked_ssim_map(x, y, window_size=window_size, sigma=sigma, k1=k1, k2=k2,
                               data_range=data_range)
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
    x, y = _image_pair(x, y, mask, data_range)
    per_image = _ssim_per_image(
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
    x, y = _image_pair(x, y, mask, data_range)
    _check_positive("mse_floor", mse_floor)
    mse = jnp.mean((x - y) ** 2, axis=(-3, -2, -1))
    per_image = 10.0 * jnp.log10(data_range**2 / jnp.maximum(mse, mse_floor))
    return masked_mean(per_image, mask)


def masked_pixel_psnr(x: ArrayLike, y: ArrayLike, pixel_mask: ArrayLike,
                      frame_mask: ArrayLike, *, data_range: float = 1.0,
                      mse_floor: float = 1e-10) -> jax.Array:
    """PSNR over the masked pixels of each image (e.g. the mouth region), averaged over valid
    images.

    A full-crop PSNR of a lip-synced face is dominated by the unchanged rest of the face; the
    DCK system reports this one over a box around the mouth as well.

    Args:
      x, y: float `[..., H, W, C]` images.
      pixel_mask: bool `[..., H, W]`, the region to compare.
      frame_mask: bool `[...]`, valid images; images with an empty region are left out.
      data_range, mse_floor: as in `psnr`.

    Returns:
      Scalar float32 in dB (0 if nothing is valid).
    """
    x, y = _image_pair(x, y, frame_mask, data_range)
    _check_region_masks(x.shape, np.shape(pixel_mask), np.shape(frame_mask))
    _check_positive("mse_floor", mse_floor)
    region = jnp.asarray(pixel_mask, jnp.float32)
    squared = jnp.mean((x - y) ** 2, axis=-1) * region
    pixels = jnp.sum(region, axis=(-2, -1))
    mse = jnp.sum(squared, axis=(-2, -1)) / jnp.maximum(pixels, 1.0)
    per_image = 10.0 * jnp.log10(data_range**2 / jnp.maximum(mse, mse_floor))
    return masked_mean(per_image, jnp.asarray(frame_mask, bool) & (pixels > 0))


def sharpness_ratio(x: ArrayLike, y: ArrayLike, mask: ArrayLike | None = None, *,
                    data_range: float = 1.0, eps: float = 1e-6) -> jax.Array:
    """How sharp generated images are against their targets: the ratio of their mean gradient
    magnitudes, per image, averaged over the valid images.

    The gradient magnitude is Mathieu, Couprie and LeCun's (ICLR 2016, the "blurry predictions"
    ParaLip Sec. 3.3 cites): ``|x[i, j] - x[i-1, j]| + |x[i, j] - x[i, j-1]|`` over the interior
    pixels and the channels. 1 = as much edge content as the target; below 1 = blurrier (the
    mean of several plausible frames, what L1 and SSIM favour); above 1 = noisier. It says
    nothing about where the edges are: read it next to PSNR / SSIM / LMD. It stands in for
    ParaLip Table 4's FID, whose Inception weights a run here cannot download.

    Args:
      x: float ``[..., H, W, C]`` generated images, ``H, W >= 2``.
      y: float ``[..., H, W, C]`` target images of the same shape.
      mask: bool, a prefix of the batch shape; ``None`` = all valid.
      data_range: the dynamic range of the pixel values (for the input checks only).
      eps: added to the target's gradient magnitude (a flat target gives a large ratio, not
        an infinite one).

    Returns:
      Scalar float32; 0 if no image is valid.
    """
    x, y = _image_pair(x, y, mask, data_range)
    if x.shape[-3] < 2 or x.shape[-2] < 2:
        raise InputError(f"sharpness_ratio needs images of at least 2x2 pixels, got "
                         f"{x.shape[-3]}x{x.shape[-2]}")
    _check_positive("eps", eps)

    def gradient_magnitude(images: jax.Array) -> jax.Array:
        rows = jnp.abs(images[..., 1:, 1:, :] - images[..., :-1, 1:, :])
        columns = jnp.abs(images[..., 1:, 1:, :] - images[..., 1:, :-1, :])
        return jnp.mean(rows + columns, axis=(-3, -2, -1))

    return masked_mean(gradient_magnitude(x) / (gradient_magnitude(y) + eps), mask)


def _check_region_masks(image_shape: tuple[int, ...], pixel_shape: tuple[int, ...],
                        frame_shape: tuple[int, ...]) -> None:
    if pixel_shape != image_shape[:-1]:
        raise InputError(f"pixel_mask must be [..., H, W] = {image_shape[:-1]} (one flag per "
                         f"pixel of the images {image_shape}), got {pixel_shape}")
    if frame_shape != image_shape[:len(frame_shape)] or len(frame_shape) > len(image_shape) - 3:
        raise InputError(f"frame_mask must be a prefix of the batch shape {image_shape[:-3]} of "
                         f"the images {image_shape}, got {frame_shape}")
