"""Tests of lipjax.data.synthetic.speech (formant synthesis from a mouth timeline)."""

import librosa
import numpy as np
import pytest

from lipjax.data.synthetic import mouth, speech, speech_dsp
from lipjax.errors import InputError
from lipjax.text import GRID_WORDS, SIL


def _timeline(rng, text=None):
    """A GRID sentence -> (params [T, 5], per-frame classes [T])."""
    if text is None:
        text = " ".join(rng.choice(words) for words in GRID_WORDS.values())
    symbols = [SIL, *text, SIL]
    durations = np.asarray(
        [rng.integers(4, 8) if s == SIL else rng.integers(0, 2) if s == " " else rng.integers(1, 4)
         for s in symbols], dtype=np.int32)
    params = mouth.mouth_trajectory(symbols, durations, target_jitter=0.05, rng=rng)
    classes = np.repeat([mouth.SOUND_CLASSES[s] for s in symbols], durations)
    return params, classes


def _synth(params, classes, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    return speech.synthesize_speech(params, classes, voice=speech.sample_voice(rng), rng=rng, **kwargs)


@pytest.mark.parametrize("num_frames, fps", [(1, 25.0), (37, 25.0), (50, 29.97), (11, 30.0)])
def test_sample_count(num_frames, fps):
    params = np.full((num_frames, 5), 0.5, np.float32)
    audio = _synth(params, ["vowel"] * num_frames, fps=fps)
    assert audio.shape == (int(round(num_frames * 16000 / fps)),)
    assert audio.dtype == np.float32


def test_finite_peak_and_silence(rng):
    params, classes = _timeline(rng)
    audio = _synth(params, classes, peak=0.5, noise_floor=1e-4)
    assert np.isfinite(audio).all()
    assert 0.49 < np.abs(audio).max() < 0.51
    hop = 640  # samples per frame at 25 fps
    silent = np.asarray([c == "silence" for c in classes])
    interior = silent & np.roll(silent, 1) & np.roll(silent, -1)
    interior[[0, -1]] = silent[[0, -1]] & silent[[1, -2]]
    assert interior.sum() >= 4  # leading/trailing <sil> runs of >= 4 frames
    frames = audio[: len(classes) * hop].reshape(len(classes), hop)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    assert rms[interior].max() < 1e-3
    speaking = np.asarray([c == "vowel" for c in classes])
    assert np.median(rms[speaking]) > 0.03
    # Without a noise floor, silence is digital zero.
    clean = _synth(params, classes, noise_floor=0.0)[: len(classes) * hop].reshape(len(classes), hop)
    assert np.all(clean[interior] == 0.0)


def test_no_clicks(rng):
    """Sample-to-sample steps stay far below the peak: no discontinuities at frame borders."""
    params, classes = _timeline(rng)
    classes = np.where(classes == "plosive", "vowel", classes)  # bursts are meant to be abrupt
    audio = _synth(params, classes, noise_floor=0.0).astype(np.float64)
    steps = np.abs(np.diff(audio))
    borders = np.arange(640, audio.shape[0], 640) - 1
    assert steps[borders].max() < 0.25
    assert steps[borders].max() < 4 * np.quantile(steps, 0.99)


def test_deterministic(rng):
    params, classes = _timeline(rng)
    np.testing.assert_array_equal(_synth(params, classes, seed=3), _synth(params, classes, seed=3))
    assert not np.array_equal(_synth(params, classes, seed=3), _synth(params, classes, seed=4))


def test_time_varying_resonator_matches_recursion(rng):
    """Block filtering equals the per-sample recursion y = a x + b y[-1] + c y[-2]."""
    n, block = 1000, 64
    x = rng.standard_normal(n)
    freq, bandwidth = np.linspace(300.0, 900.0, n), np.full(n, 80.0)
    out = speech_dsp.time_varying_resonator(x, freq, bandwidth, sample_rate=16000, block=block)
    mid = np.minimum(np.arange(0, n, block) + block // 2, n - 1)
    ref, y1, y2 = np.zeros(n), 0.0, 0.0
    for i in range(n):
        f, bw = freq[mid[i // block]], bandwidth[mid[i // block]]
        c = -np.exp(-2 * np.pi * bw / 16000)
        b = 2 * np.exp(-np.pi * bw / 16000) * np.cos(2 * np.pi * f / 16000)
        ref[i] = (1 - b - c) * x[i] + b * y1 + c * y2
        y1, y2 = ref[i], y1
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_formants_follow_mouth_shape():
    base = np.array([0.5, 0.5, 0.3, 0.3, 0.3])
    def vary(k, values):
        p = np.repeat(base[None], len(values), 0)
        p[:, k] = values
        return speech.formant_frequencies(p)
    grid = np.linspace(0, 1, 5)
    assert np.all(np.diff(vary(0, grid)[:, 0]) > 0)  # F1 rises with opening
    assert np.all(np.diff(vary(1, grid)[:, 1]) > 0)  # F2 rises with spreading
    assert np.all(np.diff(vary(2, grid)[:, 1]) < 0)  # F2 falls with rounding
    np.testing.assert_allclose(
        speech.formant_frequencies(base[None], formant_scale=1.2), 1.2 * speech.formant_frequencies(base[None]))


def test_vowel_spectrum_peaks_near_f1():
    """An open vowel's strongest harmonic region sits near the F1 the model predicts."""
    params = np.tile([[0.9, 0.6, 0.1, 0.35, 0.2]], (25, 1)).astype(np.float32)
    rng = np.random.default_rng(0)
    voice = speech.Voice(pitch_hz=110.0, pitch_range_semitones=0.0, declination_semitones=0.0)
    audio = speech.synthesize_speech(params, ["vowel"] * 25, voice=voice, rng=rng, noise_floor=0.0)
    spectrum = np.abs(np.fft.rfft(audio[4000:12000] * np.hanning(8000)))
    freqs = np.fft.rfftfreq(8000, 1 / 16000)
    band = (freqs > 150) & (freqs < 1500)
    f1 = speech.formant_frequencies(params[:1])[0, 0]
    assert abs(freqs[band][np.argmax(spectrum[band])] - f1) < 150


def test_audio_predicts_mouth_opening():
    """Ridge regression from per-frame log-mel features to mouth opening generalises to new
    sentences (the property the DCK audio encoder relies on)."""
    rng = np.random.default_rng(1)
    features, targets = [], []
    for _ in range(24):
        params, classes = _timeline(rng)
        audio = _synth(params, classes, seed=int(rng.integers(1 << 30)))
        # One log-mel column per video frame, centred on the frame (hop = 640 samples at 25 fps).
        shifted = np.pad(audio[320:], (0, 1280))
        mel = librosa.feature.melspectrogram(y=shifted, sr=16000, n_fft=1280, hop_length=640,
                                             n_mels=40, fmin=55, fmax=7600)
        logmel = np.log(mel[:, : len(params)].T + 1e-6)
        context = np.concatenate([np.roll(logmel, 1, 0), logmel, np.roll(logmel, -1, 0)], axis=1)
        features.append(context)
        targets.append(params[:, 0])
    x_train, y_train = np.concatenate(features[:16]), np.concatenate(targets[:16])
    x_test, y_test = np.concatenate(features[16:]), np.concatenate(targets[16:])
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mean) / std, (x_test - mean) / std
    weights = np.linalg.solve(a.T @ a + 10.0 * np.eye(a.shape[1]), a.T @ (y_train - y_train.mean()))
    prediction = b @ weights + y_train.mean()
    r2 = 1.0 - ((prediction - y_test) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum()
    print(f"held-out R^2 of mouth opening from log-mel: {r2:.3f}")
    assert r2 > 0.5


def test_bad_input():
    params = np.full((4, 5), 0.5)
    voice, rng = speech.Voice(), np.random.default_rng(0)
    with pytest.raises(InputError, match="one class per frame"):
        speech.synthesize_speech(params, ["vowel"] * 3, voice=voice, rng=rng)
    with pytest.raises(InputError, match="unknown sound classes"):
        speech.synthesize_speech(params, ["vowel"] * 3 + ["click"], voice=voice, rng=rng)
    with pytest.raises(InputError, match=r"\[T, 5\]"):
        speech.synthesize_speech(np.zeros((4, 3)), ["vowel"] * 4, voice=voice, rng=rng)
    with pytest.raises(InputError, match="NaN"):
        speech.synthesize_speech(np.full((4, 5), np.nan), ["vowel"] * 4, voice=voice, rng=rng)
    with pytest.raises(InputError, match="pitch_hz"):
        speech.Voice(pitch_hz=5.0)
