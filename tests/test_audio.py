"""Tests of lipjax.audio: the Wav2Lip mel against an independent NumPy/SciPy computation,
per-frame window indices against a brute-force loop, loading/resampling, and error cases."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from lipjax import audio
from lipjax.errors import AudioError, ConfigError


def _speech_like(num_samples: int, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A few decaying harmonics with a changing pitch plus a little noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / sample_rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wav = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    wav = wav + 0.01 * rng.standard_normal(num_samples)
    return (0.5 * wav / np.max(np.abs(wav))).astype(np.float32)


def _reference_mel(wav: np.ndarray) -> np.ndarray:
    """Wav2Lip's formula written out by hand: framed FFT with reflect padding, no librosa.stft."""
    n_fft, hop = 800, 200
    x = wav.astype(np.float64)
    x = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])  # pre-emphasis
    x = np.pad(x, n_fft // 2, mode="reflect")  # centred frames
    num_frames = 1 + (len(x) - n_fft) // hop
    window = scipy.signal.get_window("hann", n_fft, fftbins=True)  # periodic Hann
    frames = np.stack([x[i * hop: i * hop + n_fft] * window for i in range(num_frames)])
    magnitude = np.abs(np.fft.rfft(frames, axis=1)).T  # [401, frames]
    bank = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600, norm="slaney")
    mel = bank @ magnitude
    db = 20 * np.log10(np.maximum(1e-5, mel)) - 20
    return np.clip(8 * (db + 100) / 100 - 4, -4, 4).T


def test_mel_matches_hand_written_formula():
    wav = _speech_like(16000)
    mel = audio.mel_spectrogram(wav)
    assert mel.dtype == np.float32
    assert mel.shape == (1 + 16000 // 200, 80)
    reference = _reference_mel(wav)
    np.testing.assert_allclose(mel, reference, atol=2e-4)
    # The speech-like signal spans the dynamic range without saturating everywhere.
    assert -4 <= mel.min() < -1 and 0 < mel.max() <= 4


def test_mel_filterbank_is_slaney_55_7600():
    bank = audio.mel_filterbank()
    assert bank.shape == (80, 401)
    freqs = np.arange(401) * 16000 / 800
    support = freqs[np.any(bank > 0, axis=0)]
    assert support.min() >= 55 - 20 and support.max() <= 7600 + 20
    # Slaney normalisation: each triangle has area 2 / bandwidth (height 2 / (f_hi - f_lo)),
    # so wider (higher) bands are lower.
    assert bank[-1].max() < bank[0].max()


def test_mel_of_scaled_signal_shifts_db():
    """Scaling the waveform by 10 adds 20 dB = 1.6 normalised units where nothing clips."""
    wav = _speech_like(8000)
    low = audio.mel_spectrogram(wav * 0.05)
    high = audio.mel_spectrogram(wav * 0.5)
    unclipped = (low > -3.9) & (high < 3.9)
    assert unclipped.mean() > 0.5
    np.testing.assert_allclose(high[unclipped] - low[unclipped], 1.6, atol=1e-3)


def _brute_force_starts(num_frames: int, fps: float) -> list[int]:
    starts = []
    for frame_index in range(num_frames):
        starts.append(int(80.0 * (frame_index / fps)))
    return starts


@pytest.mark.parametrize("fps", [25.0, 29.97, 30000 / 1001])
def test_window_starts_match_wav2lip_loop(fps):
    starts = audio.mel_window_starts(500, fps=fps)
    assert starts.tolist() == _brute_force_starts(500, fps)


@pytest.mark.parametrize("fps", [25.0, 29.97])
def test_windows_match_brute_force_with_edge_padding(fps, rng):
    num_video_frames = 40
    num_samples = int(round(num_video_frames * 16000 / fps))
    mel = rng.standard_normal((1 + num_samples // 200, 80)).astype(np.float32)
    windows = audio.mel_windows(mel, num_video_frames, fps=fps)
    assert windows.shape == (num_video_frames, 80, 16) and windows.dtype == np.float32
    for t in range(num_video_frames):
        start = int(80.0 * (t / fps))
        for j in range(16):
            source = min(start + j, mel.shape[0] - 1)  # edge padding at the end
            np.testing.assert_array_equal(windows[t, :, j], mel[source])
    # The last window really does reach past the end (so the padding was exercised).
    assert int(80.0 * ((num_video_frames - 1) / fps)) + 15 >= mel.shape[0]


def test_centred_windows_pad_the_start(rng):
    mel = rng.standard_normal((100, 80)).astype(np.float32)
    windows = audio.mel_windows(mel, 20, fps=25.0, center=True)
    for t in range(20):
        start = int(round(80 * t / 25.0)) - 8
        expected = mel[np.clip(np.arange(start, start + 16), 0, 99)].T
        np.testing.assert_array_equal(windows[t], expected)
    np.testing.assert_array_equal(windows[0, :, :8], np.repeat(mel[:1].T, 8, axis=1))


def test_window_on_real_mel_for_a_25fps_video():
    wav = _speech_like(16000)  # 1 s = 25 frames at 25 fps
    mel = audio.mel_spectrogram(wav)
    windows = audio.mel_windows(mel, 25, fps=25.0)
    np.testing.assert_array_equal(windows[5], mel[16:32].T)  # int(80 * 5 / 25) = 16


def test_audio_shorter_than_video_is_an_error(rng):
    mel = rng.standard_normal((81, 80)).astype(np.float32)  # 1 s of audio
    audio.mel_windows(mel, 26, fps=25.0)  # one frame longer: tolerated (edge padding)
    with pytest.raises(AudioError, match="too short.*pad the audio"):
        audio.mel_windows(mel, 50, fps=25.0)


@pytest.mark.parametrize(
    "wav, match",
    [
        (np.zeros(0, np.float32), "empty"),
        (np.zeros(16000, np.float32), "silent"),
        (np.full(16000, 1e-6, np.float32), "silent"),
        (np.full(100, 0.5, np.float32), "too short"),
        (np.array([0.1, np.nan] * 500, np.float32), "NaN"),
        (np.zeros((2, 800), np.float32), "mono"),
    ],
)
def test_mel_rejects_bad_waveforms(wav, match):
    with pytest.raises(AudioError, match=match):
        audio.mel_spectrogram(wav)


def test_silence_accepted_on_request():
    mel = audio.mel_spectrogram(np.zeros(1600, np.float32), min_rms=0)
    np.testing.assert_array_equal(mel, -4.0)  # 20 log10(1e-5) - 20 = -120 dB clips to -4


def test_mel_config_validation():
    with pytest.raises(ConfigError, match="fmax"):
        audio.MelConfig(fmax=9000.0)
    with pytest.raises(ConfigError, match="win_length"):
        audio.MelConfig(win_length=1024)
    assert audio.MelConfig().frames_per_second == 80.0


def test_load_wav_resamples_and_downmixes(tmp_path):
    rate = 22050
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, tone], axis=1)
    scipy.io.wavfile.write(tmp_path / "a.wav", rate, (stereo * 32767).astype(np.int16))
    wav = audio.load_audio(tmp_path / "a.wav")
    assert wav.dtype == np.float32 and wav.shape == (16000,)
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    # Away from the filter's edge transients the resampled tone equals the 16 kHz tone.
    np.testing.assert_allclose(wav[200:-200], expected[200:-200], atol=2e-3)


def test_load_float_wav_at_16k_is_exact(tmp_path):
    wav = _speech_like(4000)
    scipy.io.wavfile.write(tmp_path / "f.wav", 16000, wav)
    np.testing.assert_array_equal(audio.load_audio(tmp_path / "f.wav"), wav)


def test_load_audio_track_of_a_video(tmp_path):
    video = pytest.importorskip("lipjax.video")
    try:
        video.ffmpeg_exe()
    except Exception as e:  # pragma: no cover - imageio-ffmpeg is a dependency
        pytest.skip(f"no FFmpeg binary: {e}")
    speech = _speech_like(16000)
    frames = np.full((25, 32, 32, 3), 0.5, np.float32)
    path = video.write_video(tmp_path / "v.mp4", frames, 25.0, audio=speech, sample_rate=16000)
    wav = audio.load_audio(path)
    assert abs(wav.shape[0] - 16000) < 2048  # AAC priming/padding may shift the length a little
    # Lossy AAC: compare the mel spectrograms, not the samples.
    n = min(wav.shape[0], 16000)
    diff = np.abs(audio.mel_spectrogram(wav[:n]) - audio.mel_spectrogram(speech[:n]))
    assert np.median(diff) < 0.3


def test_load_audio_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        audio.load_audio(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioError, match="cannot decode"):
        audio.load_audio(tmp_path / "junk.wav")
    scipy.io.wavfile.write(tmp_path / "silent.wav", 16000, np.zeros(16000, np.int16))
    with pytest.raises(AudioError, match="silent"):
        audio.load_audio(tmp_path / "silent.wav")
    scipy.io.wavfile.write(tmp_path / "empty.wav", 16000, np.zeros(0, np.int16))
    with pytest.raises(AudioError, match="empty"):
        audio.load_audio(tmp_path / "empty.wav")


# ----------------------------------------------------------------------------------------------
# mfcc: against python_speech_features itself (the test dependency SyncNet v2's LSE relies on)

# Our float64 computation is cast to float32 at the end; the package returns float64. The
# differences are float32 rounding: measured max |diff| / max |ref| 6e-8 on every case below.
_MFCC_RTOL = 1e-5


def _mfcc_signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "speech_1s": _speech_like(16000),
        "speech_int16": (_speech_like(16003, seed=1) * 32767).astype(np.int16),
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
    wav = _speech_like(sample_rate, sample_rate=sample_rate, seed=2)
    ref = psf.mfcc(wav, sample_rate)
    ours = audio.mfcc(wav, sample_rate=sample_rate)
    np.testing.assert_allclose(ours, ref, rtol=_MFCC_RTOL, atol=_MFCC_RTOL * np.abs(ref).max())
    np.testing.assert_array_equal(audio.mfcc_filterbank(sample_rate=sample_rate),
                                  psf.get_filterbanks(26, 512, sample_rate, 0, None))


def test_mfcc_frame_count_and_scale():
    # 1 + ceil((N - 400) / 160) frames; x 32768 changes only c0, by 2 log(32768).
    wav = _speech_like(16000 + 7)
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
