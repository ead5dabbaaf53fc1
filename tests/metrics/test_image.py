"""Tests of lipjax.metrics against scikit-image, SciPy and NumPy references."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from lipjax import metrics
from lipjax.errors import InputError

skimage_metrics = pytest.importorskip(
    "skimage.metrics", reason="scikit-image is the SSIM reference"
)
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the natural images")

SSIM_TOL = 1e-4  # mean SSIM vs scikit-image (the requirement)
MAP_TOL = 1e-3  # per-pixel map: float32 E[x^2] - E[x]^2 cancellation in flat regions


def ref_ssim(x: np.ndarray, y: np.ndarray, full: bool = False):
    """scikit-image's SSIM in float64 with Wang et al.'s settings."""
    return skimage_metrics.structural_similarity(
        np.asarray(x, np.float64), np.asarray(y, np.float64), gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=1.0, channel_axis=-1, full=full,
    )


def ref_ssim_map_scipy(x: np.ndarray, y: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Independent SSIM map from scipy.ndimage (works for images smaller than the window)."""
    blur = functools.partial(
        ndimage.gaussian_filter, sigma=(sigma, sigma, 0), truncate=3.5, mode="reflect"
    )
    x, y = np.float64(x), np.float64(y)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def natural(name: str, height: int, width: int, top: int = 100, left: int = 120) -> np.ndarray:
    image = getattr(skimage_data, name)().astype(np.float32) / 255.0
    if image.ndim == 2:
        image = image[..., None]
    return image[top : top + height, left : left + width]


def distort(image: np.ndarray, how: str, rng: np.random.Generator) -> np.ndarray:
    if how == "noise":
        out = image + rng.normal(0.0, 0.08, image.shape)
    elif how == "blur":
        out = ndimage.gaussian_filter(image, sigma=(1.2, 1.2, 0))
    elif how == "contrast":
        out = 0.6 * image + 0.25
    elif how == "shift":
        out = np.roll(image, (2, -3), axis=(0, 1))
    else:
        raise AssertionError(how)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------- SSIM


def test_gaussian_window_matches_scipy_taps():
    impulse = np.zeros(31)
    impulse[15] = 1.0
    expected = ndimage.gaussian_filter1d(impulse, 1.5, truncate=3.5, mode="constant")[10:21]
    np.testing.assert_allclose(metrics.gaussian_window(11, 1.5), expected, atol=1e-7)
    assert np.count_nonzero(ndimage.gaussian_filter1d(impulse, 1.5, truncate=3.5)) == 11


@pytest.mark.parametrize("length", [1, 3, 7, 11, 40])
def test_reflected_filter_matrix_equals_scipy_reflect_filtering(rng, length):
    # Lengths below the window need more than one reflection; scipy folds the same way.
    taps = metrics.gaussian_window(11, 1.5)
    signal = rng.random(length)
    expected = ndimage.correlate1d(signal, np.float64(taps), mode="reflect")
    got = metrics.reflected_filter_matrix(length, taps) @ signal
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(
    "name, size",
    [("astronaut", (64, 96)), ("camera", (48, 40)), ("coffee", (11, 11)), ("chelsea", (33, 70))],
)
@pytest.mark.parametrize("how", ["noise", "blur", "contrast", "shift"])
def test_ssim_matches_skimage_on_natural_images(rng, name, size, how):
    x = natural(name, *size)
    y = distort(x, how, rng)
    expected, expected_map = ref_ssim(x, y, full=True)
    assert abs(float(metrics.ssim(x, y)) - expected) < SSIM_TOL
    np.testing.assert_allclose(metrics.ssim_map(x, y), expected_map, atol=MAP_TOL)


@settings(max_examples=10, deadline=None)
@given(
    height=st.integers(11, 40),
    width=st.integers(11, 40),
    channels=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
)
def test_ssim_matches_skimage_on_random_images(height, width, channels, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((height, width, channels), dtype=np.float32)
    # A correlated pair, so that SSIM is far from 0 and every term matters.
    y = np.clip(0.7 * x + 0.3 * rng.random(x.shape), 0.0, 1.0).astype(np.float32)
    assert abs(float(metrics.ssim(x, y)) - ref_ssim(x, y)) < SSIM_TOL


@pytest.mark.parametrize("shape", [(5, 7, 2), (1, 1, 1), (12, 3, 3)])
def test_ssim_map_reflects_border_like_scipy_on_small_images(rng, shape):
    x = rng.random(shape, dtype=np.float32)
    y = rng.random(shape, dtype=np.float32)
    np.testing.assert_allclose(metrics.ssim_map(x, y), ref_ssim_map_scipy(x, y), atol=MAP_TOL)
    per_image = metrics.ssim_per_image(x, y, crop_border=False)
    np.testing.assert_allclose(per_image, ref_ssim_map_scipy(x, y).mean(), atol=SSIM_TOL)


def test_ssim_is_one_for_identical_images_and_symmetric(rng):
    x = natural("astronaut", 32, 32)
    y = distort(x, "noise", rng)
    np.testing.assert_allclose(metrics.ssim(x, x), 1.0, atol=1e-6)
    np.testing.assert_allclose(metrics.ssim(x, y), metrics.ssim(y, x), atol=1e-6)


# Jitted once at module level: one compilation serves every parametrisation below.
ssim_value_and_grad = jax.jit(jax.value_and_grad(metrics.ssim))
ssim_map_grad = jax.jit(jax.grad(lambda a, b: jnp.sum(metrics.ssim_map(a, b))))


@pytest.mark.parametrize("level_x, level_y", [(0.5, 0.5), (0.0, 0.0), (0.2, 0.9), (1.0, 0.0)])
def test_ssim_gradient_is_finite_on_flat_images(level_x, level_y):
    x = jnp.full((2, 16, 16, 3), level_x, jnp.float32)
    y = jnp.full((2, 16, 16, 3), level_y, jnp.float32)
    value, grad = ssim_value_and_grad(x, y)
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad))
    expected = ref_ssim(np.asarray(x[0]), np.asarray(y[0]))
    assert abs(float(value) - expected) < SSIM_TOL
    map_grad = ssim_map_grad(x, y)
    assert np.all(np.isfinite(map_grad))


def test_ssim_video_is_mean_over_valid_frames_and_ignores_padding(rng):
    b, t, h, w, c = 2, 4, 16, 20, 3
    x = rng.random((b, t, h, w, c), dtype=np.float32)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    mask = np.array([[True, True, True, False], [True, False, False, False]])
    per_frame = [ref_ssim(x[i, j], y[i, j]) for i in range(b) for j in range(t) if mask[i, j]]
    value = float(metrics.ssim(x, y, mask))
    assert abs(value - np.mean(per_frame)) < SSIM_TOL
    # Padding frames full of garbage (NaN, huge values) must not change anything.
    x_bad, y_bad = x.copy(), y.copy()
    x_bad[~mask] = np.nan
    y_bad[~mask] = 1e6
    assert float(metrics.ssim(x_bad, y_bad, mask)) == pytest.approx(value, abs=1e-7)
    # A per-sequence mask [B] works with the same rule.
    seq = np.array([False, True])
    expected_seq = np.mean([ref_ssim(x[1, j], y[1, j]) for j in range(t)])
    assert abs(float(metrics.ssim(x, y, seq)) - expected_seq) < SSIM_TOL
    # Without a mask every frame counts.
    all_frames = np.mean([ref_ssim(x[i, j], y[i, j]) for i in range(b) for j in range(t)])
    assert abs(float(metrics.ssim(x, y)) - all_frames) < SSIM_TOL


def test_all_masked_gives_zero_with_finite_gradient(rng):
    x = jnp.asarray(rng.random((2, 3, 12, 12, 1), dtype=np.float32))
    mask = jnp.zeros((2, 3), bool)
    assert float(metrics.ssim(x, x, mask)) == 0.0
    assert float(metrics.psnr(x, x * 0.5, mask)) == 0.0
    assert float(metrics.landmark_distance(x[..., 0, :2, :1], x[..., 1, :2, :1], mask)) == 0.0
    grad = jax.jit(jax.grad(metrics.ssim))(x, x, mask)
    assert np.all(grad == 0.0)


def test_ssim_crop_border_matches_manual_crop(rng):
    x = rng.random((3, 20, 24, 2), dtype=np.float32)
    y = rng.random((3, 20, 24, 2), dtype=np.float32)
    full = np.asarray(metrics.ssim_map(x, y, window_size=7, sigma=1.0))
    expected = full[:, 3:-3, 3:-3].mean(axis=(1, 2, 3))
    np.testing.assert_allclose(
        metrics.ssim_per_image(x, y, window_size=7, sigma=1.0), expected, atol=1e-6
    )
    np.testing.assert_allclose(
        metrics.ssim_per_image(x, y, crop_border=False), np.asarray(metrics.ssim_map(x, y)).mean(
            axis=(1, 2, 3)), atol=1e-6,
    )


# ---------------------------------------------------------------------------------------- PSNR


def test_psnr_matches_numpy_per_frame_mean(rng):
    x = rng.random((2, 3, 8, 10, 3), dtype=np.float32)
    y = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
    mask = np.array([[True, True, False], [False, True, True]])
    mse = ((x.astype(np.float64) - y) ** 2).mean(axis=(2, 3, 4))
    per_frame = 10 * np.log10(1.0 / mse)
    np.testing.assert_allclose(metrics.psnr(x, y, mask), per_frame[mask].mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics.psnr(x, y), per_frame.mean(), rtol=1e-5)
    np.testing.assert_allclose(
        metrics.psnr(x * 255, y * 255, data_range=255.0), per_frame.mean(), rtol=1e-4
    )
    x_bad = x.copy()
    x_bad[~mask] = np.inf
    np.testing.assert_allclose(metrics.psnr(x_bad, y, mask), per_frame[mask].mean(), rtol=1e-5)


def test_psnr_of_identical_images_is_capped_by_the_mse_floor(rng):
    x = rng.random((4, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(metrics.psnr(x, x), 100.0, rtol=1e-6)
    np.testing.assert_allclose(metrics.psnr(x, x, mse_floor=1e-6), 60.0, rtol=1e-6)


# ----------------------------------------------------------------------------------------- LMD


def test_landmark_distance_matches_numpy_loop(rng):
    b, t, k = 2, 5, 20
    pred = rng.normal(0, 3, (b, t, k, 2)).astype(np.float32)
    target = rng.normal(0, 3, (b, t, k, 2)).astype(np.float32)
    mask = rng.random((b, t)) < 0.6
    mask[0, 0] = True
    distances = []
    for i in range(b):
        for j in range(t):
            if mask[i, j]:
                for n in range(k):
                    dx, dy = pred[i, j, n] - target[i, j, n]
                    distances.append(np.hypot(dx, dy))
    np.testing.assert_allclose(
        metrics.landmark_distance(pred, target, mask), np.mean(distances), rtol=1e-5
    )
    pred_bad = pred.copy()
    pred_bad[~mask] = np.nan
    np.testing.assert_allclose(
        metrics.landmark_distance(pred_bad, target, mask), np.mean(distances), rtol=1e-5
    )


def test_landmark_distance_gradient_is_finite_where_landmarks_coincide(rng):
    target = jnp.asarray(rng.normal(size=(1, 2, 4, 2)), jnp.float32)
    pred = target.at[0, 0, 0].add(jnp.array([3.0, 4.0]))
    assert float(metrics.landmark_distance(pred, target)) == pytest.approx(5.0 / 8)
    grad = jax.grad(metrics.landmark_distance)(pred, target)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[0, 0, 0], np.array([3.0, 4.0]) / 5 / 8, rtol=1e-6)
    np.testing.assert_allclose(grad[0, 1], 0.0)


# ------------------------------------------------------------------------------ shared helpers


@settings(max_examples=15, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    mask_ndim=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_masked_mean_matches_numpy(shape, mask_ndim, seed):
    rng = np.random.default_rng(seed)
    mask_ndim = min(mask_ndim, len(shape))
    values = rng.normal(size=shape).astype(np.float32)
    mask = rng.random(shape[:mask_ndim]) < 0.5
    per_item = values.reshape(mask.shape + (-1,)).mean(axis=-1)
    expected = per_item[mask].mean() if mask.any() else 0.0
    np.testing.assert_allclose(metrics.masked_mean(values, mask), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics.masked_mean(values), values.mean(), rtol=1e-5, atol=1e-6)
    zeroed = np.asarray(metrics.zero_invalid(values, mask))
    np.testing.assert_array_equal(zeroed[mask], values[mask])
    assert np.all(zeroed[~mask] == 0)


def test_jit_matches_eager(rng):
    x = rng.random((2, 3, 16, 16, 3), dtype=np.float32)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    mask = np.array([[True, False, True], [True, True, False]])
    landmarks = rng.normal(size=(2, 3, 5, 2)).astype(np.float32)
    for fn, args in [
        (metrics.ssim, (x, y, mask)),
        (functools.partial(metrics.ssim, window_size=7, crop_border=False), (x, y, mask)),
        (metrics.psnr, (x, y, mask)),
        (metrics.landmark_distance, (landmarks, landmarks[::-1], mask)),
    ]:
        np.testing.assert_allclose(jax.jit(fn)(*args), fn(*args), rtol=1e-6)


def test_bad_input_raises_input_error(rng):
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    with pytest.raises(InputError, match="same shape"):
        metrics.ssim(x, x[:, :15])
    with pytest.raises(InputError, match="prefix"):
        metrics.ssim(x, x, np.ones((3,), bool))
    with pytest.raises(InputError, match="floating point"):
        metrics.psnr((x * 255).astype(np.uint8), x)
    with pytest.raises(InputError, match="smaller than"):
        metrics.ssim(x[:, :8], x[:, :8])
    with pytest.raises(InputError, match="odd"):
        metrics.ssim_map(x, x, window_size=10)
    with pytest.raises(InputError, match="data_range"):
        metrics.psnr(x, x, data_range=0.0)
    with pytest.raises(InputError, match=r"\[\.\.\., H, W, C\]"):
        metrics.ssim_map(x[0, 0], x[0, 0])


def test_masked_pixel_psnr_vs_numpy(rng):
    x = rng.uniform(0, 1, (2, 3, 8, 8, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (2, 3, 8, 8, 3)).astype(np.float32)
    region = rng.random((2, 3, 8, 8)) < 0.4
    region[1, 2] = False  # empty region: left out
    frames = np.ones((2, 3), bool)
    frames[0, 1] = False
    values = []
    for b in range(2):
        for t in range(3):
            if frames[b, t] and region[b, t].any():
                mse = ((x[b, t] - y[b, t]) ** 2)[region[b, t]].mean()
                values.append(10 * np.log10(1.0 / mse))
    got = metrics.masked_pixel_psnr(x, y, region, frames)
    np.testing.assert_allclose(got, np.mean(values), rtol=1e-5)


# ----------------------------------------------------------------------------------- sharpness
def ref_gradient_magnitude(image: np.ndarray) -> float:
    """Mathieu et al.'s |x[i,j] - x[i-1,j]| + |x[i,j] - x[i,j-1]|, looped over interior pixels."""
    image = np.float64(image)
    height, width, channels = image.shape
    total = 0.0
    for i in range(1, height):
        for j in range(1, width):
            for c in range(channels):
                total += (abs(image[i, j, c] - image[i - 1, j, c])
                          + abs(image[i, j, c] - image[i, j - 1, c]))
    return total / ((height - 1) * (width - 1) * channels)


def test_sharpness_ratio_matches_a_pixel_loop_and_ignores_padding(rng):
    x = rng.uniform(0, 1, (2, 3, 6, 7, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (2, 3, 6, 7, 3)).astype(np.float32)
    mask = np.array([[True, True, False], [True, False, False]])
    x[0, 2] = np.nan  # padding may hold anything
    expected = np.mean([ref_gradient_magnitude(x[b, t]) / (ref_gradient_magnitude(y[b, t]) + 1e-6)
                        for b in range(2) for t in range(3) if mask[b, t]])
    got = jax.jit(metrics.sharpness_ratio)(x, y, mask)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sharpness_ratio_is_one_for_the_target_and_falls_with_blur():
    image = natural("astronaut", 64, 64)
    blurred = [np.clip(ndimage.gaussian_filter(image, sigma=(s, s, 0)), 0, 1) for s in (0.7, 1.5)]
    np.testing.assert_allclose(metrics.sharpness_ratio(image, image), 1.0, rtol=1e-4)  # eps
    ratios = [float(metrics.sharpness_ratio(b, image)) for b in blurred]
    assert 0.0 < ratios[1] < ratios[0] < 1.0, ratios
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 0.1, image.shape), 0, 1)
    assert float(metrics.sharpness_ratio(noisy.astype(np.float32), image)) > 1.0


def test_sharpness_ratio_rejects_bad_input(rng):
    x = rng.uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    with pytest.raises(InputError, match="2x2"):
        metrics.sharpness_ratio(x[:, :1], x[:, :1])
    with pytest.raises(InputError, match="eps"):
        metrics.sharpness_ratio(x, x, eps=0.0)
    with pytest.raises(InputError, match="255"):
        metrics.sharpness_ratio(x * 255, x)
