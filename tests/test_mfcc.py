"""Tests of lipjax.mfcc against python_speech_features itself (SyncNet v2's features)."""

from __future__ import annotations

import numpy as np
import pytest

from lipjax import mfcc as audio
from lipjax.errors import AudioError, ConfigError
from tests._signals import speech_like


# ----------------------------------------------------------------------------------------------
# mfcc: against python_speech_features itself (the test dependency SyncNet v2's LSE relies on)

# Our float64 computation is cast to float32 at the end; the package returns float64. The
# differences are float32 rounding: measured max |diff| / max |ref| 6e-8 on every case below.
_MFCC_RTOL = 1e-5


def _mfcc_signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "speech_1s": speech_like(16000),
        "speech_int16": (speech_like(16003, seed=1) * 32767).astype(np.int16),
        "noise_odd_length": 0.1 * rng.standard_normal(9_601),
        "one_frame": 0.3 * rng.standard_normal(400),
        "shorter_than_a_frame": 0.3 * rng.standard_normal(57),
        "just_over_a_frame": 0.3 * rng.standard_normal(401),
        "silence_then_tone": np.concatenate([np.zeros(1600), np.sin(np.arange(3000) * 0.3)]),
    }


@pytest.mark.parametrize("name", sorted(_mfcc_signals()))
def test_mfcc_equals_python_speech_features(name):
    psf = pytest.importorskip("python_speech_features",
                              reason="python_speech_features is a test dependency ([test] extra)")
    wav = _mfcc_signals()[name]
    ref = psf.mfcc(wav, 16000)
    ours = audio.mfcc(wav)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    scale = np.max(np.abs(ref))
    np.testing.assert_allclose(ours, ref, rtol=_MFCC_RTOL, atol=_MFCC_RTOL * scale)


@pytest.mark.filterwarnings("ignore:The 'warn' function is deprecated")  # the package's own
@pytest.mark.parametrize("sample_rate", [8000, 22050])
def test_mfcc_other_rates_and_the_filterbank(sample_rate):
    psf = pytest.importorskip("python_speech_features",
                              reason="python_speech_features is a test dependency ([test] extra)")
    wav = speech_like(sample_rate, sample_rate=sample_rate, seed=2)
    ref = psf.mfcc(wav, sample_rate)
    ours = audio.mfcc(wav, sample_rate=sample_rate)
    np.testing.assert_allclose(ours, ref, rtol=_MFCC_RTOL, atol=_MFCC_RTOL * np.abs(ref).max())
    np.testing.assert_array_equal(audio.mfcc_filterbank(sample_rate=sample_rate),
                                  psf.get_filterbanks(26, 512, sample_rate, 0, None))


def test_mfcc_frame_count_and_scale():
    # 1 + ceil((N - 400) / 160) frames; x 32768 changes only c0, by 2 log(32768).
    wav = speech_like(16000 + 7)
    feats = audio.mfcc(wav)
    assert feats.shape == (1 + int(np.ceil((len(wav) - 400) / 160)), 13)
    scaled = audio.mfcc(wav.astype(np.float64) * 32768)
    np.testing.assert_allclose(scaled[:, 0] - feats[:, 0], 2 * np.log(32768), atol=1e-4)
    np.testing.assert_allclose(scaled[:, 1:], feats[:, 1:], atol=1e-4)


@pytest.mark.parametrize("wav, error", [
    (np.zeros((2, 400)), AudioError), (np.zeros(0), AudioError),
    (np.array([0.0, np.nan] * 300), AudioError), (np.array(["a"] * 500), AudioError)])
def test_mfcc_rejects_bad_waveforms(wav, error):
    with pytest.raises(error):
        audio.mfcc(wav)


def test_mfcc_rejects_bad_settings():
    with pytest.raises(ConfigError):
        audio.mfcc(np.ones(800), high_freq=9000)
    with pytest.raises(ConfigError):
        audio.mfcc(np.ones(800), num_cepstra=30)
