"""Test signals shared by the audio tests."""

import numpy as np


def speech_like(num_samples: int, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A few decaying harmonics with a changing pitch plus a little noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / sample_rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wav = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    wav = wav + 0.01 * rng.standard_normal(num_samples)
    return (0.5 * wav / np.max(np.abs(wav))).astype(np.float32)
