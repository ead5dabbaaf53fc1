"""MFCC exactly as `python_speech_features.mfcc` computes it: the audio features of SyncNet v2
and so of the LSE-C / LSE-D lip-sync metrics (`lipjax.metrics.sync`).

Its defaults: 13 cepstra of 26 mel filters, 25 ms windows every 10 ms (rounded half up to
samples), nfft 512, pre-emphasis 0.97, lifter 22, the first cepstrum replaced by the log frame
energy; frames are zero-padded to cover the signal, zero energies floored at machine epsilon.
NumPy / SciPy (float64 inside, float32 out); python_speech_features is only a test dependency.
"""

from __future__ import annotations

import decimal
import math

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike

from lipjax.errors import AudioError, ConfigError

__all__ = ["mfcc", "mfcc_filterbank"]


def _round_half_up(value: float) -> int:
    """Rounds halves up as python_speech_features does (with `decimal`, on the exact float)."""
    return int(decimal.Decimal(value).quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


def mfcc_filterbank(*, sample_rate: int = 16000, num_filters: int = 26, nfft: int = 512,
                    low_freq: float = 0.0, high_freq: float | None = None) -> np.ndarray:
    """python_speech_features' triangular mel filterbank, float64 `[num_filters, nfft // 2 + 1]`.

    `num_filters + 2` points evenly spaced on the mel scale `2595 log10(1 + f / 700)` from
    `low_freq` to `high_freq` (default `sample_rate / 2`) are snapped to FFT bins
    `floor((nfft + 1) f / sample_rate)`; filter j rises linearly from bin b[j] (0) towards b[j+1]
    (1, excluded) and falls from b[j+1] (1) towards b[j+2] (excluded): unnormalised triangles,
    empty where two points share a bin.
    """
    high_freq = sample_rate / 2 if not high_freq else high_freq
    if not 0 <= low_freq < high_freq <= sample_rate / 2 or num_filters < 1 or nfft < 2:
        raise ConfigError(f"need 0 <= low_freq < high_freq <= sample_rate / 2, num_filters >= 1 "
                          f"and nfft >= 2; got {low_freq}, {high_freq}, {sample_rate}, "
                          f"{num_filters}, {nfft}")
    mels = np.linspace(2595 * np.log10(1 + low_freq / 700.0),
                       2595 * np.log10(1 + high_freq / 700.0), num_filters + 2)
    bins = np.floor((nfft + 1) * (700 * (10 ** (mels / 2595.0) - 1)) / sample_rate)
    left, centre, right = bins[:-2, None], bins[1:-1, None], bins[2:, None]
    i = np.arange(nfft // 2 + 1, dtype=np.float64)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where((left <= i) & (i < centre), (i - left) / (centre - left), 0.0)
        falling = np.where((centre <= i) & (i < right), (right - i) / (right - centre), 0.0)
    return rising + falling


def _frames(signal: np.ndarray, frame_len: int, frame_step: int) -> np.ndarray:
    """python_speech_features' `framesig`: 1 frame if the signal fits in one, else
    `1 + ceil((N - frame_len) / frame_step)`, the last one zero-padded; `[frames, frame_len]`."""
    count = 1 if len(signal) <= frame_len else \
        1 + int(math.ceil((1.0 * len(signal) - frame_len) / frame_step))
    padded = np.concatenate([signal, np.zeros((count - 1) * frame_step + frame_len - len(signal))])
    index = np.arange(frame_len)[None, :] + frame_step * np.arange(count)[:, None]
    return padded[index]


def mfcc(wav: ArrayLike, *, sample_rate: int = 16000, num_cepstra: int = 13,
         window_seconds: float = 0.025, step_seconds: float = 0.01, num_filters: int = 26,
         nfft: int = 512, low_freq: float = 0.0, high_freq: float | None = None,
         preemphasis: float = 0.97, cep_lifter: int = 22, append_energy: bool = True
         ) -> np.ndarray:
    """`python_speech_features.mfcc(wav, sample_rate)` (version 0.6) with its defaults, in NumPy.

    The steps (float64 throughout):

      y = [x[0], x[1:] - 0.97 x[:-1]]                  pre-emphasis (the first sample kept)
      frames of round_half_up(0.025 sr) samples every round_half_up(0.01 sr) (400 / 160 at
        16 kHz), no window; 1 frame if N <= 400, else 1 + ceil((N - 400) / 160), zero-padded
      P = |rfft(frame, 512)|^2 / 512                   power spectrum
      E = sum(P); F = P @ mfcc_filterbank().T          frame energy, 26 filter energies; exact
                                                       zeros become float64 eps (2.2e-16)
      c = dct_II_ortho(log F)[:13] * (1 + 11 sin(pi n / 22))    cepstral lifter 22
      c[0] = log E                                     appendEnergy

    Scale matters: `log` of energies, so a waveform x 32768 (16-bit integers, as syncnet_python
    reads its wav) adds 2 log(32768) to c[0] and leaves the others unchanged (away from eps).

    Args:
      wav: `[N]` samples, any real dtype (int16 samples are used as is, like the package).
      sample_rate, num_cepstra, window_seconds, step_seconds, num_filters, nfft, low_freq,
        high_freq (default sample_rate / 2), preemphasis (0 = none), cep_lifter (0 = none),
        append_energy: the package's `samplerate, numcep, winlen, winstep, nfilt, nfft,
        lowfreq, highfreq, preemph, ceplifter, appendEnergy`.

    Returns:
      float32 `[frames, num_cepstra]`, 100 frames per second by default.

    Raises:
      AudioError: not 1-D, empty, or not finite. ConfigError: bad frequencies or sizes.
    """
    signal = np.asarray(wav)
    if signal.ndim != 1 or signal.size == 0 or not np.issubdtype(signal.dtype, np.number):
        raise AudioError(f"mfcc needs a non-empty mono waveform [N], got shape {signal.shape} "
                         f"of {signal.dtype}")
    signal = signal.astype(np.float64)
    if not np.all(np.isfinite(signal)):
        raise AudioError("mfcc: the waveform contains NaN or infinite samples")
    frame_len = _round_half_up(window_seconds * sample_rate)
    frame_step = _round_half_up(step_seconds * sample_rate)
    if frame_len < 1 or frame_step < 1 or not 1 <= num_cepstra <= num_filters:
        raise ConfigError(f"mfcc: need a window and step of >= 1 sample and 1 <= num_cepstra <= "
                          f"num_filters; got {frame_len}, {frame_step}, {num_cepstra}, "
                          f"{num_filters}")
    signal = np.append(signal[0], signal[1:] - preemphasis * signal[:-1])
    power = np.square(np.abs(np.fft.rfft(_frames(signal, frame_len, frame_step), nfft))) / nfft
    bank = mfcc_filterbank(sample_rate=sample_rate, num_filters=num_filters, nfft=nfft,
                           low_freq=low_freq, high_freq=high_freq)
    eps = np.finfo(float).eps  # only exact zeros are replaced, as the package does
    energy, features = (np.where(x == 0, eps, x) for x in (np.sum(power, axis=1), power @ bank.T))
    cepstra = scipy.fft.dct(np.log(features), type=2, axis=1, norm="ortho")[:, :num_cepstra]
    if cep_lifter > 0:
        n = np.arange(num_cepstra)
        cepstra = cepstra * (1 + (cep_lifter / 2.0) * np.sin(np.pi * n / cep_lifter))
    if append_energy:
        cepstra[:, 0] = np.log(energy)
    return cepstra.astype(np.float32)
