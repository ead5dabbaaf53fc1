"""Signal-processing building blocks of the formant synthesiser in `speech`.

Interpolation of per-frame controls to the sample rate, a Klatt two-pole resonator whose
frequency and bandwidth change block by block without discontinuities, a Rosenberg glottal pulse
train, slow random curves (intonation, jitter) and small array helpers. NumPy/SciPy only.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

__all__ = [
    "frame_to_samples",
    "time_varying_resonator",
    "glottal_source",
    "smooth_random_curve",
    "run_ends",
    "peak_normalised",
]


def frame_to_samples(values: np.ndarray, n: int, *, fps: float, sample_rate: int) -> np.ndarray:
    """Linearly interpolates per-frame values (at frame centres) to `n` samples, `[n, ...]`."""
    values = np.asarray(values, dtype=np.float64)
    centres = (np.arange(values.shape[0]) + 0.5) * sample_rate / fps
    t = np.arange(n, dtype=np.float64)
    flat = values.reshape(values.shape[0], -1)
    out = np.stack([np.interp(t, centres, flat[:, k]) for k in range(flat.shape[1])], axis=-1)
    return out.reshape((n,) + values.shape[1:])


def _resonator_coefficients(
    freq: np.ndarray, bandwidth: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Klatt (1980) two-pole resonator y = a x + b y[-1] + c y[-2], unit gain at DC."""
    period = 1.0 / sample_rate
    c = -np.exp(-2.0 * np.pi * bandwidth * period)
    b = 2.0 * np.exp(-np.pi * bandwidth * period) * np.cos(2.0 * np.pi * freq * period)
    return 1.0 - b - c, b, c


def time_varying_resonator(
    x: np.ndarray, freq: np.ndarray, bandwidth: np.ndarray, *, sample_rate: int, block: int
) -> np.ndarray:
    """Filters `x` with a resonator whose frequency/bandwidth (per sample) change every `block`."""
    starts = np.arange(0, x.shape[0], block)
    mid = np.minimum(starts + block // 2, x.shape[0] - 1)
    a, b, c = _resonator_coefficients(freq[mid], bandwidth[mid], sample_rate)
    out = np.empty_like(x)
    y1 = y2 = 0.0  # the last two outputs, carried across blocks
    for k, s in enumerate(starts):
        # Direct-form-II-transposed state that continues y = a x + b y[-1] + c y[-2] exactly
        # with this block's coefficients, so a coefficient change causes no discontinuity.
        state = np.array([b[k] * y1 + c[k] * y2, c[k] * y1])
        seg, _ = scipy.signal.lfilter([a[k]], [1.0, -b[k], -c[k]], x[s:s + block], zi=state)
        out[s:s + block] = seg
        y1, y2 = seg[-1], (seg[-2] if seg.shape[0] > 1 else y1)
    return out


def glottal_source(f0: np.ndarray, *, open_quotient: float, sample_rate: int) -> np.ndarray:
    """Differentiated Rosenberg pulse train for a per-sample f0 `[n]`, peak-normalised."""
    phase = np.cumsum(f0 / sample_rate)
    phi = phase - np.floor(phase)
    rise = 0.66 * open_quotient  # opening phase; the rest of the open phase closes faster
    flow = np.where(
        phi < rise,
        0.5 * (1.0 - np.cos(np.pi * phi / rise)),
        np.where(phi < open_quotient, np.cos(0.5 * np.pi * (phi - rise) / (open_quotient - rise)), 0.0),
    )
    derivative = np.diff(flow, prepend=0.0)
    return derivative / max(np.max(np.abs(derivative)), 1e-12)


def smooth_random_curve(
    rng: np.random.Generator, n: int, *, cutoff_hz: float, sample_rate: int
) -> np.ndarray:
    """Zero-mean, unit-peak random curve `[n]` band-limited to `cutoff_hz` (sum of sinusoids)."""
    t = np.arange(n) / sample_rate
    freqs = rng.uniform(0.2 * cutoff_hz, cutoff_hz, size=4)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=4)
    weights = rng.uniform(0.5, 1.0, size=4)
    curve = (weights[:, None] * np.sin(2.0 * np.pi * freqs[:, None] * t[None] + phases[:, None])).sum(0)
    return curve / weights.sum()


def run_ends(mask: np.ndarray) -> np.ndarray:
    """Indices of the last element of every run of True in a bool `[T]`."""
    padded = np.concatenate([mask, [False]])
    return np.flatnonzero(padded[:-1] & ~padded[1:])


def peak_normalised(x: np.ndarray) -> np.ndarray:
    """`x` scaled to a peak magnitude of 1 (unchanged when silent)."""
    return x / max(np.max(np.abs(x)), 1e-12)
