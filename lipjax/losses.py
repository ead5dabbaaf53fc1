"""Training losses of ParaLip (Liu et al., AAAI 2022, Sec. 3.3), the DCK talking-face model and
Wav2Lip (Prajwal et al., ACM MM 2020).

ParaLip's generator minimises ``L_rec + L_dur + L_ssim + 5 * L_adv`` (weights are config fields,
not set here): an L1 reconstruction loss, a duration loss (Eq. 4), an SSIM loss (Eq. 5) and an
LSGAN adversarial loss; the DCK model uses ``L_adv + 10 * L1``. Wav2Lip trains its lip-sync
expert and scores sync with binary cross-entropy of a probability (`binary_cross_entropy`), and
its visual-quality GAN with BCE on a sigmoid discriminator (`BCE_GAN`); `AdversarialLosses`
pairs a generator's and a discriminator's adversarial loss (`LSGAN`, `BCE_GAN`) for the shared
training step (`lipjax.training.System.adversarial_losses`).

Every loss is a pure function of arrays, masked and normalised by the number of valid items, and
follows the batch / mask convention of `lipjax.metrics` (shared through `masked_mean`): the mask
shape is a prefix of the batch shape, each item is reduced to its mean, invalid items are
selected out (garbage or NaN in padding cannot leak in) and an all-invalid batch gives 0.
"""

from __future__ import annotations

from typing import Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import InputError
from lipjax.metrics import masked_mean, ssim_per_image, zero_invalid

__all__ = [
    "l1_loss",
    "duration_loss",
    "ssim_loss",
    "lsgan_generator_loss",
    "lsgan_discriminator_loss",
    "binary_cross_entropy",
    "bce_generator_loss",
    "bce_discriminator_loss",
    "AdversarialLosses",
    "LSGAN",
    "BCE_GAN",
]

DurationLossKind = Literal["paper", "log_mse"]


def _check_same_shape(a: jax.Array, b: jax.Array, names: str) -> None:
    if a.shape != b.shape:
        raise InputError(f"{names} must have the same shape, got {a.shape} and {b.shape}")


def l1_loss(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> jax.Array:
    """Reconstruction loss: mean absolute error over the elements of the valid frames.

    ParaLip's ``L_rec`` and the DCK model's L1 term. Every valid frame has the same number of
    elements, so this is ``sum_valid |pred - target| / (num_valid_frames * H * W * C)``.

    Args:
      pred, target: float ``[B, T, H, W, C]`` videos (any shape works, see the convention).
      mask: bool frame mask ``[B, T]`` (a prefix of the batch shape); ``None`` = all valid.

    Returns:
      Scalar float32; 0 if no frame is valid.
    """
    pred = jnp.asarray(pred)
    target = jnp.asarray(target)
    _check_same_shape(pred, target, "pred and target")
    diff = zero_invalid(pred, mask) - zero_invalid(target, mask)
    return masked_mean(jnp.abs(diff), mask)


def duration_loss(
    pred_log_dur: ArrayLike,
    target_dur: ArrayLike,
    mask: ArrayLike,
    *,
    kind: DurationLossKind = "paper",
    sequence_weight: float = 1.0,
) -> jax.Array:
    """Duration predictor loss, in the paper's form or the official code's form.

    ``kind="paper"`` (ParaLip Eq. 4): with predicted durations in frames
    ``d_hat = exp(pred_log_dur) - 1`` (kept differentiable, not rounded),

        token term    = sum_valid |d_hat - d| / num_valid_tokens
        sequence term = sum_b |sum_s d_hat[b, s] - sum_s d[b, s]| / num_valid_sequences
        loss          = token term + sequence_weight * sequence term

    where the sums over s run over valid tokens and a sequence is valid if it has a valid token.
    The sequence term is normalised by the number of sequences (the paper's per-sequence
    total-length error), not by their frame counts, so it is in frames like the token term.

    ``kind="log_mse"`` (the official ParaLip / FastSpeech code): mean over valid tokens of
    ``(pred_log_dur - log(d + 1))^2``.

    Args:
      pred_log_dur: float ``[B, S]`` predicted ``log(d + 1)`` per token.
      target_dur: int ``[B, S]`` target durations in frames.
      mask: bool ``[B, S]``, True on valid (non-padding) tokens.
      kind: ``"paper"`` or ``"log_mse"``.
      sequence_weight: weight of the sequence-level term (``"paper"`` only; 1 in the paper).

    Returns:
      Scalar float32; 0 if no token is valid.
    """
    if kind not in ("paper", "log_mse"):
        raise InputError(f"duration loss kind must be 'paper' or 'log_mse', got {kind!r}")
    pred_log_dur = jnp.asarray(pred_log_dur)
    pred_log_dur = pred_log_dur.astype(jnp.promote_types(pred_log_dur.dtype, jnp.float32))
    target = jnp.asarray(target_dur).astype(pred_log_dur.dtype)
    mask = jnp.asarray(mask)
    if pred_log_dur.ndim != 2:
        raise InputError(f"pred_log_dur must be [B, S], got shape {pred_log_dur.shape}")
    _check_same_shape(pred_log_dur, target, "pred_log_dur and target_dur")
    _check_same_shape(pred_log_dur, mask, "pred_log_dur and mask")
    mask = mask.astype(bool)
    pred_log_dur = zero_invalid(pred_log_dur, mask)
    target = zero_invalid(target, mask)
    if kind == "log_mse":
        return masked_mean((pred_log_dur - jnp.log1p(target)) ** 2, mask)
    pred_dur = jnp.expm1(pred_log_dur)  # 0 on padding tokens, which were zeroed above
    token_term = masked_mean(jnp.abs(pred_dur - target), mask)
    pred_total = jnp.sum(pred_dur, axis=-1)
    target_total = jnp.sum(target, axis=-1)
    sequence_term = masked_mean(jnp.abs(pred_total - target_total), jnp.any(mask, axis=-1))
    return token_term + sequence_weight * sequence_term


def ssim_loss(
    pred: ArrayLike,
    target: ArrayLike,
    frame_mask: ArrayLike | None = None,
    *,
    crop_border: bool = False,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_range: float = 1.0,
) -> jax.Array:
    """Structural dissimilarity ``mean(1 - SSIM map)`` over the valid frames (ParaLip Eq. 5).

    Uses `lipjax.metrics.ssim_per_image` (11x11 Gaussian window by default), so it is exactly
    ``1 - lipjax.metrics.ssim(...)`` for the same ``crop_border``. By default the whole map is
    averaged (``crop_border=False``) so that border pixels are supervised too; the reflected
    border keeps the map well defined there. Gradients are finite on flat frames.

    Args:
      pred, target: float ``[B, T, H, W, C]`` videos in ``[0, data_range]`` (or ``[..., H, W, C]``).
      frame_mask: bool ``[B, T]`` (a prefix of the batch shape); ``None`` = all valid.
      crop_border: leave the ``(window_size - 1) // 2`` border strip out, as the metric does.
      window_size, sigma, k1, k2, data_range: as in `lipjax.metrics.ssim_map`.

    Returns:
      Scalar float32 in ``[0, 2]``; 0 if no frame is valid.
    """
    per_frame = ssim_per_image(
        zero_invalid(pred, frame_mask), zero_invalid(target, frame_mask),
        crop_border=crop_border, window_size=window_size, sigma=sigma, k1=k1, k2=k2,
        data_range=data_range,
    )
    return masked_mean(1.0 - per_frame, frame_mask)


def lsgan_generator_loss(d_fake: ArrayLike, mask: ArrayLike | None = None) -> jax.Array:
    """LSGAN generator loss ``mean((D(fake) - 1)^2)`` over valid frames (Mao et al., 2017).

    Args:
      d_fake: float discriminator outputs on generated frames, ``[B, T]`` or ``[B, T, 1]`` (any
        trailing dimensions, e.g. patch outputs, are averaged per frame).
      mask: bool frame mask ``[B, T]``; ``None`` = all valid.

    Returns:
      Scalar float32; 0 if no frame is valid.
    """
    return masked_mean((zero_invalid(d_fake, mask) - 1.0) ** 2, mask)


def lsgan_discriminator_loss(
    d_real: ArrayLike, d_fake: ArrayLike, mask: ArrayLike | None = None
) -> jax.Array:
    """LSGAN discriminator loss ``mean((D(real) - 1)^2) + mean(D(fake)^2)`` over valid frames.

    Args:
      d_real: float discriminator outputs on real frames, ``[B, T]`` or ``[B, T, 1]``.
      d_fake: float outputs on generated frames, same shape (pass them with stop-gradient on the
        generator side).
      mask: bool frame mask ``[B, T]`` applied to both; ``None`` = all valid.

    Returns:
      Scalar float32; 0 if no frame is valid.
    """
    d_real = jnp.asarray(d_real)
    d_fake = jnp.asarray(d_fake)
    _check_same_shape(d_real, d_fake, "d_real and d_fake")
    d_real, d_fake = zero_invalid(d_real, mask), zero_invalid(d_fake, mask)
    return masked_mean((d_real - 1.0) ** 2, mask) + masked_mean(d_fake**2, mask)


# The smallest normal float32: probabilities are floored here before the log (see below).
_TINY = float(jnp.finfo(jnp.float32).tiny)


def binary_cross_entropy(prob: ArrayLike, target: ArrayLike,
                         mask: ArrayLike | None = None) -> jax.Array:
    """PyTorch `F.binary_cross_entropy` of probabilities, the mean over valid items of
    ``-(y log p + (1 - y) log(1 - p))``.

    Wav2Lip's expert loss (BCE of the cosine similarity of its non-negative, unit embeddings,
    in [0, 1], against 1 in sync / 0 off sync), its generator's sync loss (the same against 1)
    and its quality discriminator's loss. `p` is clipped to [0, 1] (a cosine can exceed 1 by
    rounding) and floored at the smallest normal float32 inside each log, so the loss and its
    gradient stay finite where PyTorch clamps the log at -100 (here: at -87.3).

    Args:
      prob: float probabilities `[B, ...]`.
      target: labels in [0, 1], broadcastable to `prob`.
      mask: bool mask, a prefix of `prob`'s shape; None = all valid.

    Returns:
      Scalar float32; 0 if nothing is valid.
    """
    prob = jnp.clip(zero_invalid(jnp.asarray(prob, jnp.float32), mask), 0.0, 1.0)
    target = jnp.broadcast_to(jnp.asarray(target, jnp.float32), prob.shape)
    log_p = jnp.log(jnp.maximum(prob, _TINY))
    log_not_p = jnp.log(jnp.maximum(1.0 - prob, _TINY))
    return masked_mean(-(target * log_p + (1.0 - target) * log_not_p), mask)


def bce_generator_loss(d_fake: ArrayLike, mask: ArrayLike | None = None) -> jax.Array:
    """Wav2Lip's perceptual (adversarial) generator loss: BCE of the sigmoid discriminator's
    `D(fake)` (probabilities) against 1, the non-saturating GAN loss. Masking as
    `lsgan_generator_loss`."""
    return binary_cross_entropy(d_fake, 1.0, mask)


def bce_discriminator_loss(d_real: ArrayLike, d_fake: ArrayLike,
                           mask: ArrayLike | None = None) -> jax.Array:
    """Wav2Lip's quality-discriminator loss: BCE(D(real), 1) + BCE(D(fake), 0) on probabilities
    (its two terms are backpropagated one after the other before one optimiser step: a sum).
    Shapes and masking as `lsgan_discriminator_loss`."""
    d_real, d_fake = jnp.asarray(d_real), jnp.asarray(d_fake)
    _check_same_shape(d_real, d_fake, "d_real and d_fake")
    return binary_cross_entropy(d_real, 1.0, mask) + binary_cross_entropy(d_fake, 0.0, mask)


class AdversarialLosses(NamedTuple):
    """A GAN's two losses on discriminator outputs.

    Attributes:
      generator: `(d_fake, mask) -> scalar`, what the generator minimises.
      discriminator: `(d_real, d_fake, mask) -> scalar`, what the discriminator minimises.
    """

    generator: Callable[[jax.Array, jax.Array], jax.Array]
    discriminator: Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


LSGAN = AdversarialLosses(lsgan_generator_loss, lsgan_discriminator_loss)
BCE_GAN = AdversarialLosses(bce_generator_loss, bce_discriminator_loss)
