"""Tests of lipjax.losses against NumPy / scikit-image references."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lipjax import losses, metrics
from lipjax.errors import InputError

skimage_metrics = pytest.importorskip(
    "skimage.metrics", reason="scikit-image is the SSIM reference"
)


def video_pair(rng, shape=(2, 4, 12, 14, 3)):
    x = rng.random(shape, dtype=np.float32)
    y = np.clip(x + rng.normal(0, 0.1, shape), 0, 1).astype(np.float32)
    return x, y


FRAME_MASK = np.array([[True, True, True, False], [True, True, False, False]])


def with_garbage(x: np.ndarray, mask: np.ndarray, value: float = np.nan) -> np.ndarray:
    out = x.copy()
    out[~mask] = value
    return out


def assert_finite_tree(tree):
    for leaf in jax.tree_util.tree_leaves(tree):
        assert np.all(np.isfinite(leaf))


# ------------------------------------------------------------------------------------------ L1


def test_l1_loss_matches_numpy_and_ignores_padding(rng):
    pred, target = video_pair(rng)
    diffs = [np.abs(pred[i, j] - target[i, j]) for i, j in zip(*np.nonzero(FRAME_MASK))]
    expected = np.concatenate([d.ravel() for d in diffs]).mean()
    np.testing.assert_allclose(losses.l1_loss(pred, target, FRAME_MASK), expected, rtol=1e-5)
    np.testing.assert_allclose(
        losses.l1_loss(pred, target), np.abs(pred - target).mean(), rtol=1e-5
    )
    bad_pred, bad_target = with_garbage(pred, FRAME_MASK), with_garbage(target, FRAME_MASK, 1e9)
    value, grad = jax.value_and_grad(losses.l1_loss)(bad_pred, bad_target, FRAME_MASK)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert_finite_tree(grad)
    assert np.all(np.asarray(grad)[~FRAME_MASK] == 0)


@settings(max_examples=10, deadline=None)
@given(
    batch=st.integers(1, 3), frames=st.integers(1, 4), height=st.integers(1, 5),
    channels=st.sampled_from([1, 3]), seed=st.integers(0, 2**16),
)
def test_l1_loss_random_shapes(batch, frames, height, channels, seed):
    rng = np.random.default_rng(seed)
    shape = (batch, frames, height, 2 * height, channels)
    pred, target = rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)
    mask = rng.random((batch, frames)) < 0.5
    expected = np.abs(pred - target)[mask].mean() if mask.any() else 0.0
    np.testing.assert_allclose(losses.l1_loss(pred, target, mask), expected, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------------ duration


def duration_case(rng):
    lengths = [5, 3, 0]  # the last sequence is all padding
    b, s = len(lengths), 6
    mask = np.arange(s)[None, :] < np.array(lengths)[:, None]
    target = np.where(mask, rng.integers(0, 9, (b, s)), 0).astype(np.int32)
    pred = rng.normal(1.5, 0.7, (b, s)).astype(np.float32)
    return pred, target, mask


def paper_duration_numpy(pred, target, mask, sequence_weight=1.0):
    token_errors, sequence_errors = [], []
    for b in range(pred.shape[0]):
        pred_total = target_total = 0.0
        for s in range(pred.shape[1]):
            if mask[b, s]:
                d_hat = np.exp(np.float64(pred[b, s])) - 1
                token_errors.append(abs(d_hat - target[b, s]))
                pred_total += d_hat
                target_total += target[b, s]
        if mask[b].any():
            sequence_errors.append(abs(pred_total - target_total))
    return np.mean(token_errors) + sequence_weight * np.mean(sequence_errors)


def test_duration_loss_paper_matches_numpy_loop(rng):
    pred, target, mask = duration_case(rng)
    np.testing.assert_allclose(
        losses.duration_loss(pred, target, mask), paper_duration_numpy(pred, target, mask),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        losses.duration_loss(pred, target, mask, sequence_weight=0.25),
        paper_duration_numpy(pred, target, mask, 0.25), rtol=1e-5,
    )


def test_duration_loss_paper_gradient_matches_analytic(rng):
    pred, target, mask = duration_case(rng)
    grad = np.asarray(jax.grad(losses.duration_loss)(pred, target, mask))
    d_hat = np.exp(np.float64(pred)) - 1
    token_sign = np.sign(d_hat - target)
    totals = np.where(mask, d_hat, 0).sum(-1) - np.where(mask, target, 0).sum(-1)
    n_tokens, n_sequences = mask.sum(), mask.any(-1).sum()
    expected = np.exp(np.float64(pred)) * (
        token_sign / n_tokens + np.sign(totals)[:, None] / n_sequences
    )
    np.testing.assert_allclose(grad, np.where(mask, expected, 0.0), rtol=1e-4, atol=1e-7)


def test_duration_loss_log_mse_matches_numpy(rng):
    pred, target, mask = duration_case(rng)
    expected = ((pred - np.log(target + 1.0)) ** 2)[mask].mean()
    np.testing.assert_allclose(
        losses.duration_loss(pred, target, mask, kind="log_mse"), expected, rtol=1e-5
    )


@pytest.mark.parametrize("kind", ["paper", "log_mse"])
def test_duration_loss_ignores_padding_garbage_and_all_masked_is_zero(rng, kind):
    pred, target, mask = duration_case(rng)
    clean = losses.duration_loss(pred, target, mask, kind=kind)
    bad_pred = with_garbage(pred, mask, np.inf)
    bad_target = np.where(mask, target, -7).astype(np.int32)
    value, grad = jax.value_and_grad(losses.duration_loss)(bad_pred, bad_target, mask, kind=kind)
    np.testing.assert_allclose(value, clean, rtol=1e-6)
    assert_finite_tree(grad)
    none = np.zeros_like(mask)
    value, grad = jax.value_and_grad(losses.duration_loss)(pred, target, none, kind=kind)
    assert float(value) == 0.0 and np.all(np.asarray(grad) == 0)


def test_duration_loss_is_zero_at_the_target(rng):
    _, target, mask = duration_case(rng)
    pred = np.log1p(target).astype(np.float32)
    for kind in ("paper", "log_mse"):
        assert float(losses.duration_loss(pred, target, mask, kind=kind)) < 1e-5


def test_duration_loss_rejects_bad_input(rng):
    pred, target, mask = duration_case(rng)
    with pytest.raises(InputError, match="kind"):
        losses.duration_loss(pred, target, mask, kind="l2")
    with pytest.raises(InputError, match="same shape"):
        losses.duration_loss(pred, target[:, :3], mask)
    with pytest.raises(InputError, match=r"\[B, S\]"):
        losses.duration_loss(pred[0], target[0], mask[0])


# ---------------------------------------------------------------------------------------- SSIM


def test_ssim_loss_is_one_minus_metric_and_matches_skimage(rng):
    pred, target = video_pair(rng, (2, 4, 16, 20, 3))
    np.testing.assert_allclose(
        losses.ssim_loss(pred, target, FRAME_MASK, crop_border=True),
        1.0 - metrics.ssim(pred, target, FRAME_MASK), atol=1e-6,
    )
    # Default: the whole (reflect-bordered) map is averaged, skimage's full map uncropped.
    per_frame = []
    for i, j in zip(*np.nonzero(FRAME_MASK)):
        _, full = skimage_metrics.structural_similarity(
            np.float64(pred[i, j]), np.float64(target[i, j]), gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, data_range=1.0, channel_axis=-1, full=True,
        )
        per_frame.append(1.0 - full.mean())
    np.testing.assert_allclose(
        losses.ssim_loss(pred, target, FRAME_MASK), np.mean(per_frame), atol=1e-4
    )


def test_ssim_loss_finite_gradient_on_flat_frames_and_garbage_padding(rng):
    loss_and_grad = jax.jit(jax.value_and_grad(losses.ssim_loss))
    flat = jnp.full((2, 4, 12, 14, 3), 0.5, jnp.float32)
    value, grad = loss_and_grad(flat, flat, np.ones_like(FRAME_MASK))
    assert abs(float(value)) < 1e-6
    assert_finite_tree(grad)
    pred, target = video_pair(rng)
    clean = losses.ssim_loss(pred, target, FRAME_MASK)
    bad = with_garbage(pred, FRAME_MASK)
    value, grad = loss_and_grad(bad, target, FRAME_MASK)
    np.testing.assert_allclose(value, clean, atol=1e-6)
    assert_finite_tree(grad)
    assert float(losses.ssim_loss(pred, target, np.zeros_like(FRAME_MASK))) == 0.0


# --------------------------------------------------------------------------------------- LSGAN


def test_lsgan_losses_match_formulas(rng):
    d_real = rng.normal(size=(2, 4)).astype(np.float32)
    d_fake = rng.normal(size=(2, 4)).astype(np.float32)
    m = FRAME_MASK
    np.testing.assert_allclose(
        losses.lsgan_generator_loss(d_fake, m), ((d_fake - 1) ** 2)[m].mean(), rtol=1e-6
    )
    np.testing.assert_allclose(
        losses.lsgan_discriminator_loss(d_real, d_fake, m),
        ((d_real - 1) ** 2)[m].mean() + (d_fake**2)[m].mean(), rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.lsgan_discriminator_loss(d_real, d_fake),
        ((d_real - 1) ** 2).mean() + (d_fake**2).mean(), rtol=1e-6,
    )
    # [B, T, 1] outputs give the same values as [B, T].
    np.testing.assert_allclose(
        losses.lsgan_generator_loss(d_fake[..., None], m), losses.lsgan_generator_loss(d_fake, m)
    )
    # Garbage on padding frames changes neither value nor gradient finiteness.
    bad_real, bad_fake = with_garbage(d_real, m, np.inf), with_garbage(d_fake, m)
    value, grads = jax.value_and_grad(losses.lsgan_discriminator_loss, argnums=(0, 1))(
        bad_real, bad_fake, m
    )
    np.testing.assert_allclose(value, losses.lsgan_discriminator_loss(d_real, d_fake, m))
    assert_finite_tree(grads)
    assert float(losses.lsgan_generator_loss(d_fake, np.zeros_like(m))) == 0.0
    # Optimal values: D(real) = 1, D(fake) = 0 gives 0 for D; D(fake) = 1 gives 0 for G.
    assert float(losses.lsgan_discriminator_loss(np.ones((2, 4)), np.zeros((2, 4)))) == 0.0
    assert float(losses.lsgan_generator_loss(np.ones((2, 4)))) == 0.0


def test_losses_reject_mismatched_shapes(rng):
    pred, target = video_pair(rng)
    with pytest.raises(InputError, match="same shape"):
        losses.l1_loss(pred, target[:, :3])
    with pytest.raises(InputError, match="prefix"):
        losses.l1_loss(pred, target, FRAME_MASK.T)
    with pytest.raises(InputError, match="same shape"):
        losses.lsgan_discriminator_loss(np.zeros((2, 4)), np.zeros((2, 4, 1)))


def test_jit_matches_eager(rng):
    pred, target = video_pair(rng)
    log_dur, dur, token_mask = duration_case(rng)
    d_real, d_fake = rng.normal(size=(2, 2, 4, 1)).astype(np.float32)
    cases = [
        (losses.l1_loss, (pred, target, FRAME_MASK)),
        (losses.duration_loss, (log_dur, dur, token_mask)),
        (functools.partial(losses.duration_loss, kind="log_mse"), (log_dur, dur, token_mask)),
        (losses.ssim_loss, (pred, target, FRAME_MASK)),
        (losses.lsgan_generator_loss, (d_fake, FRAME_MASK)),
        (losses.lsgan_discriminator_loss, (d_real, d_fake, FRAME_MASK)),
    ]
    # 1 - SSIM loses relative precision to cancellation: jit and eager round differently.
    for fn, args in cases:
        np.testing.assert_allclose(jax.jit(fn)(*args), fn(*args), rtol=1e-5, atol=1e-7)
