"""Formant speech synthesis driven by a mouth-shape timeline.

The `synthetic_talking_faces` corpus needs audio from which the mouth shape can be predicted, as
in real speech, where the DCK talking-face model (IEEE TMM 2022) learns lip motion from a
Wav2Lip mel spectrogram. This module renders 16 kHz mono speech from the *same* per-frame mouth
parameters and sound classes that drive the face renderer, with a classic source-filter
(Klatt-style cascade) synthesiser:

* voiced source: a Rosenberg glottal pulse train (its derivative, i.e. with lip radiation) whose
  pitch follows a speaker-specific base frequency, a declination and a slow random contour;
* vocal tract: a cascade of four time-varying formant resonators. F1 rises with mouth opening,
  F2 rises with lip spreading (width) and falls with rounding, F3 follows F2 weakly;
* fricatives: white noise through a band-pass whose centre frequency follows the lip shape
  (rounded -> low "sh"-like, spread -> high "s"-like);
* plosives: silent closure, then a short decaying noise burst at the release;
* nasals: a low "murmur" resonance (~260 Hz) with weak upper formants;
* silence: nothing but an optional tiny noise floor.

All controls are per video frame and are interpolated linearly to the sample rate (values at frame
centres), so nothing jumps within a clip: no clicks. Time-varying filters are run in short blocks
with their state carried across blocks (the filters and sources are in `speech_dsp`).

Arrays are NumPy: this is offline data generation, not model code.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import scipy.signal

from lipjax.data.synthetic.speech_dsp import (
    frame_to_samples,
    glottal_source,
    peak_normalised,
    run_ends,
    smooth_random_curve,
    time_varying_resonator,
)
from lipjax.errors import InputError

__all__ = [
    "SAMPLE_RATE",
    "SPEECH_CLASSES",
    "Voice",
    "sample_voice",
    "num_samples",
    "formant_frequencies",
    "fricative_centre",
    "synthesize_speech",
]

SAMPLE_RATE = 16000
"""Hz; the rate of Wav2Lip's mel spectrogram, which the DCK audio encoder consumes."""

SPEECH_CLASSES = ("silence", "vowel", "approximant", "nasal", "fricative", "plosive")
"""Sound classes understood by `synthesize_speech` (the values of `mouth.SOUND_CLASSES`)."""

_N_PARAMS = 5  # opening, width, rounding, teeth, tongue (see lipjax.data.synthetic.mouth)

# Relative source amplitudes of each class: (voicing, nasal murmur, frication noise).
_CLASS_GAINS: dict[str, tuple[float, float, float]] = {
    "silence": (0.0, 0.0, 0.0),
    "vowel": (1.0, 0.0, 0.02),
    "approximant": (0.7, 0.0, 0.02),
    "nasal": (0.0, 0.8, 0.0),
    "fricative": (0.12, 0.0, 0.5),
    "plosive": (0.0, 0.0, 0.0),  # closure; the burst is added at the release
}


@dataclasses.dataclass(frozen=True)
class Voice:
    """A synthetic speaker.

    Attributes:
      pitch_hz: base fundamental frequency (men ~100-130 Hz, women ~180-230 Hz).
      pitch_range_semitones: depth of the slow random intonation contour.
      declination_semitones: pitch drop from the start to the end of the utterance.
      formant_scale: multiplies all formant frequencies (shorter vocal tract -> > 1).
      open_quotient: fraction of a glottal cycle with the glottis open (Rosenberg pulse).
      breathiness: aspiration noise mixed into voiced sounds, relative to voicing.
      jitter: relative size of the fast random pitch perturbation.
    """

    pitch_hz: float = 120.0
    pitch_range_semitones: float = 2.0
    declination_semitones: float = 2.0
    formant_scale: float = 1.0
    open_quotient: float = 0.6
    breathiness: float = 0.04
    jitter: float = 0.01

    def __post_init__(self):
        if not 40.0 <= self.pitch_hz <= 500.0:
            raise InputError(f"Voice.pitch_hz must be in [40, 500] Hz, got {self.pitch_hz}")
        if not 0.5 <= self.formant_scale <= 2.0:
            raise InputError(f"Voice.formant_scale must be in [0.5, 2], got {self.formant_scale}")
        if not 0.1 <= self.open_quotient <= 0.9:
            raise InputError(
                f"Voice.open_quotient must be in [0.1, 0.9], got {self.open_quotient}"
            )


def sample_voice(
    rng: np.random.Generator,
    *,
    pitch_range_hz: tuple[float, float] = (90.0, 230.0),
) -> Voice:
    """Draws a random speaker; higher voices get proportionally shorter vocal tracts."""
    lo, hi = pitch_range_hz
    if not 40.0 <= lo <= hi <= 500.0:
        raise InputError(f"pitch_range_hz must satisfy 40 <= lo <= hi <= 500, got {pitch_range_hz}")
    pitch = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    # Formants of adult voices scale by ~+15-20 % from low (male) to high (female) pitch.
    relative = (np.log(pitch) - np.log(90.0)) / (np.log(230.0) - np.log(90.0))
    return Voice(
        pitch_hz=pitch,
        pitch_range_semitones=float(rng.uniform(1.0, 3.5)),
        declination_semitones=float(rng.uniform(0.5, 3.0)),
        formant_scale=float(np.clip(1.0 + 0.17 * relative + rng.normal(0.0, 0.03), 0.85, 1.3)),
        open_quotient=float(rng.uniform(0.5, 0.7)),
        breathiness=float(rng.uniform(0.01, 0.08)),
        jitter=float(rng.uniform(0.003, 0.015)),
    )


def num_samples(num_frames: int, *, fps: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Audio samples covering `num_frames` video frames: `round(num_frames * sample_rate / fps)`."""
    return int(round(num_frames * sample_rate / fps))


def _check_params(params: np.ndarray) -> np.ndarray:
    params = np.asarray(params, dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != _N_PARAMS or params.shape[0] == 0:
        raise InputError(
            f"mouth params must be [T, {_N_PARAMS}] with T >= 1 (opening, width, rounding, teeth, "
            f"tongue), got shape {params.shape}"
        )
    if not np.all(np.isfinite(params)):
        raise InputError("mouth params contain NaN or inf; pass values in [0, 1]")
    return np.clip(params, 0.0, 1.0)


def formant_frequencies(params: np.ndarray, *, formant_scale: float = 1.0) -> np.ndarray:
    """Mouth parameters -> the first four formant frequencies.

    A crude articulatory-to-acoustic map with the textbook tendencies: F1 grows with jaw/lip
    opening; F2 grows with lip spreading (and a fronted tongue) and falls with lip rounding; F3
    follows the lip shape weakly; F4 is fixed by the tract length.

    Args:
      params: `[T, 5]` mouth parameters (opening, width, rounding, teeth, tongue) in [0, 1].
      formant_scale: vocal-tract-length factor of the speaker.

    Returns:
      float64 `[T, 4]` formant frequencies in Hz.
    """
    p = _check_params(params)
    opening, width, rounding, _, tongue = p.T
    f1 = 260.0 + 560.0 * opening
    f2 = np.clip(1350.0 + 1100.0 * (width - 0.4) - 650.0 * rounding + 150.0 * tongue, 650.0, 2500.0)
    f3 = 2550.0 + 250.0 * (width - 0.5) - 300.0 * rounding
    f4 = np.full_like(f1, 3600.0)
    return np.stack([f1, f2, f3, f4], axis=-1) * formant_scale


def fricative_centre(params: np.ndarray) -> np.ndarray:
    """Centre frequency (Hz) of frication noise, `[T]`: low for rounded, high for spread lips."""
    p = _check_params(params)
    _, width, rounding, teeth, _ = p.T
    return np.clip(2200.0 + 3800.0 * width - 1200.0 * rounding + 600.0 * teeth, 1500.0, 7000.0)


def _check_synthesis_inputs(
    params: np.ndarray, classes: Sequence[str], *, fps: float, sample_rate: int, peak: float,
    noise_floor: float,
) -> tuple[np.ndarray, list[str]]:
    """`synthesize_speech`'s clipped params `[T, 5]` and its `T` classes as a list, validated."""
    p = _check_params(params)
    classes = list(classes)
    if len(classes) != p.shape[0]:
        raise InputError(
            f"got {len(classes)} sound classes for {p.shape[0]} frames; pass one class per frame"
        )
    unknown = sorted(set(classes) - set(SPEECH_CLASSES))
    if unknown:
        raise InputError(f"unknown sound classes {unknown}; allowed: {list(SPEECH_CLASSES)}")
    if fps <= 0 or sample_rate <= 0:
        raise InputError(f"fps and sample_rate must be positive, got {fps} and {sample_rate}")
    if not 0.0 < peak <= 1.0:
        raise InputError(f"peak must be in (0, 1], got {peak}")
    if noise_floor < 0.0:
        raise InputError(f"noise_floor must be >= 0, got {noise_floor}")
    return p, classes


@dataclasses.dataclass(frozen=True)
class _Controls:
    """Per-sample synthesis controls, piecewise linear between frame centres (no jumps).

    Attributes:
      voicing, murmur, frication: `[n]` gains of the glottal, nasal and noise sources.
      formants: `[n, 4]` oral formant frequencies, Hz.
      noise_centre: `[n]` centre frequency of the frication band-pass, Hz.
    """

    voicing: np.ndarray
    murmur: np.ndarray
    frication: np.ndarray
    formants: np.ndarray
    noise_centre: np.ndarray


def _sample_controls(
    p: np.ndarray, classes: list[str], voice: Voice, n: int, *, fps: float, sample_rate: int
) -> _Controls:
    """Source gains and filter frequencies of every frame `[T]`, interpolated to `n` samples."""
    gains = np.array([_CLASS_GAINS[c] for c in classes])  # [T, 3] voicing, murmur, frication
    loudness = 0.35 + 0.65 * p[:, 0]  # a wider mouth radiates more energy
    formants = formant_frequencies(p, formant_scale=voice.formant_scale)  # [T, 4]

    def up(values: np.ndarray) -> np.ndarray:
        return frame_to_samples(values, n, fps=fps, sample_rate=sample_rate)

    return _Controls(voicing=up(gains[:, 0] * loudness), murmur=up(gains[:, 1]),
                     frication=up(gains[:, 2]), formants=up(formants),
                     noise_centre=up(fricative_centre(p)))


def _voiced_source(
    rng: np.random.Generator, n: int, voice: Voice, *, sample_rate: int
) -> np.ndarray:
    """Glottal pulses `[n]` with the voice's pitch, declination, intonation and jitter."""
    t = np.arange(n) / sample_rate
    duration_s = n / sample_rate
    intonation = smooth_random_curve(rng, n, cutoff_hz=1.5, sample_rate=sample_rate)
    fast_jitter = smooth_random_curve(rng, n, cutoff_hz=12.0, sample_rate=sample_rate)
    contour = (  # semitones around the base pitch
        voice.pitch_range_semitones * intonation
        - voice.declination_semitones * (t / max(duration_s, 1e-9) - 0.5)
        + 12.0 * voice.jitter * fast_jitter
    )
    f0 = voice.pitch_hz * 2.0 ** (contour / 12.0)
    return glottal_source(f0, open_quotient=voice.open_quotient, sample_rate=sample_rate)


def _oral_and_nasal(
    glottal: np.ndarray, aspiration: np.ndarray, formants: np.ndarray, voice: Voice, *,
    sample_rate: int, block: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Voiced output of the vocal tract `[n]` and of the nasal murmur `[n]`, each peak 1."""
    n = glottal.shape[0]
    bandwidths = np.array([80.0, 110.0, 160.0, 250.0])
    tract = glottal + aspiration
    for k in range(4):
        tract = time_varying_resonator(
            tract, formants[:, k], np.full(n, bandwidths[k]), sample_rate=sample_rate, block=block
        )
    nasal = time_varying_resonator(
        glottal, np.full(n, 260.0 * voice.formant_scale), np.full(n, 100.0),
        sample_rate=sample_rate, block=block,
    )
    nasal = nasal + 0.15 * tract  # weak oral formants leak through the murmur
    # Gain-match the voiced paths so that class gains, not filter gains, set the balance.
    return peak_normalised(tract), peak_normalised(nasal)


def _frication(
    white: np.ndarray, noise_centre: np.ndarray, *, sample_rate: int, block: int
) -> np.ndarray:
    """High-passed noise through a wide band-pass that follows the lip shape, `[n]`, peak 1."""
    hp_b, hp_a = scipy.signal.butter(2, 1000.0, btype="highpass", fs=sample_rate)
    hissy = scipy.signal.lfilter(hp_b, hp_a, white)
    hiss = time_varying_resonator(
        hissy, noise_centre, 0.5 * noise_centre, sample_rate=sample_rate, block=block
    )
    return peak_normalised(hiss)


def _plosive_bursts(
    classes: list[str], hiss: np.ndarray, *, fps: float, sample_rate: int, burst_ms: float
) -> np.ndarray:
    """Decaying noise bursts `[n]` at each plosive release (the end of each run of plosives)."""
    n = hiss.shape[0]
    bursts = np.zeros(n)
    burst_len = max(1, int(round(burst_ms * 1e-3 * sample_rate)))
    envelope = np.exp(-np.arange(burst_len) / (0.3 * burst_len))
    envelope[: min(16, burst_len)] *= np.linspace(0.0, 1.0, min(16, burst_len))  # 1 ms attack
    for end in run_ends(np.asarray([c == "plosive" for c in classes])):
        start = num_samples(end + 1, fps=fps, sample_rate=sample_rate) - burst_len // 3
        start = int(np.clip(start, 0, max(n - burst_len, 0)))
        seg = slice(start, min(start + burst_len, n))
        bursts[seg] += 0.8 * envelope[: seg.stop - seg.start] * hiss[seg] / max(
            np.max(np.abs(hiss[seg])), 1e-12
        )
    return bursts


def synthesize_speech(
    params: np.ndarray,
    classes: Sequence[str],
    *,
    voice: Voice,
    rng: np.random.Generator,
    fps: float = 25.0,
    sample_rate: int = SAMPLE_RATE,
    peak: float = 0.5,
    noise_floor: float = 1e-4,
    burst_ms: float = 12.0,
    block_ms: float = 4.0,
) -> np.ndarray:
    """Renders speech for a per-frame mouth timeline.

    Args:
      params: `[T, 5]` per-frame mouth parameters (opening, width, rounding, teeth, tongue) in
        [0, 1], e.g. from `mouth.mouth_trajectory`.
      classes: `T` per-frame sound classes, each one of `SPEECH_CLASSES`.
      voice: the speaker (`sample_voice`).
      rng: source of all randomness (pitch contour, noise); the same state gives the same audio.
      fps: video frame rate the timeline is sampled at.
      sample_rate: output rate in Hz.
      peak: the absolute peak of the result (before the noise floor); speech frames reach it.
      noise_floor: standard deviation of a white background noise (0 for exact digital silence).
      burst_ms: length of a plosive release burst.
      block_ms: time-varying filters update their coefficients this often.

    Returns:
      float32 `[round(T * sample_rate / fps)]` mono waveform in [-1, 1].

    Raises:
      InputError: on a malformed timeline or out-of-range settings.
    """
    p, classes = _check_synthesis_inputs(params, classes, fps=fps, sample_rate=sample_rate,
                                         peak=peak, noise_floor=noise_floor)
    n = num_samples(p.shape[0], fps=fps, sample_rate=sample_rate)
    block = max(1, int(round(block_ms * 1e-3 * sample_rate)))
    controls = _sample_controls(p, classes, voice, n, fps=fps, sample_rate=sample_rate)

    # Random draws in a fixed order (pitch contour, frication noise, aspiration, noise floor):
    # the same rng state must give the same audio.
    glottal = _voiced_source(rng, n, voice, sample_rate=sample_rate)
    white = rng.standard_normal(n)
    aspiration = voice.breathiness * rng.standard_normal(n) * 0.5

    tract, nasal = _oral_and_nasal(glottal, aspiration, controls.formants, voice,
                                   sample_rate=sample_rate, block=block)
    hiss = _frication(white, controls.noise_centre, sample_rate=sample_rate, block=block)
    bursts = _plosive_bursts(classes, hiss, fps=fps, sample_rate=sample_rate, burst_ms=burst_ms)

    audio = controls.voicing * tract + controls.murmur * nasal + controls.frication * hiss + bursts
    top = np.max(np.abs(audio))
    if top > 0.0:
        audio = audio * (peak / top)
    if noise_floor > 0.0:
        audio = audio + noise_floor * rng.standard_normal(n)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)
