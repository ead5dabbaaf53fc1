"""Tests of lipjax.audio: the Wav2Lip mel against an independent NumPy/SciPy computation,
per-frame window indices against a brute-force loop, loading/resampling, and error cases."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from lipjax import audio
from tests._signals import speech_like
from lipjax.errors import AudioError, ConfigError


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
    wav = speech_like(16000)
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
    wav = speech_like(8000)
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
    wav = speech_like(16000)  # 1 s = 25 frames at 25 fps
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
    wav = speech_like(4000)
    scipy.io.wavfile.write(tmp_path / "f.wav", 16000, wav)
    np.testing.assert_array_equal(audio.load_audio(tmp_path / "f.wav"), wav)


def test_load_audio_track_of_a_video(tmp_path):
    video = pytest.importorskip("lipjax.video")
    try:
        video.ffmpeg_exe()
    except Exception as e:  # pragma: no cover - imageio-ffmpeg is a dependency
        pytest.skip(f"no FFmpeg binary: {e}")
    speech = speech_like(16000)
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


def test_every_format_downmixes_by_averaging_and_resamples_alike(tmp_path):
    """Stereo wav and the same stereo in an m4a give the same mono signal: the channel mean
    (not FFmpeg's -3 dB downmix), resampled by the same filter."""
    import scipy.io.wavfile

    from lipjax.video_writer import write_video

    rate = 44100
    t = np.arange(rate) / rate
    left, right = 0.5 * np.sin(2 * np.pi * 300 * t), 0.3 * np.sin(2 * np.pi * 300 * t + 1.0)
    stereo = np.stack([left, right], axis=1).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "stereo.wav", rate, stereo)
    from_wav = audio.load_audio(tmp_path / "stereo.wav", sample_rate=16000)
    expected = scipy.signal.resample_poly(stereo.mean(axis=1).astype(np.float64), 160, 441)
    np.testing.assert_allclose(from_wav, expected, atol=1e-6)
    # The same stereo track inside an mp4 (AAC at 44.1 kHz, 2 channels, via audio_source).
    write_video(tmp_path / "stereo.mp4", np.zeros((25, 16, 16, 3), np.uint8), 25.0,
                audio_source=tmp_path / "stereo.wav")
    from_mp4 = audio.load_audio(tmp_path / "stereo.mp4", sample_rate=16000)
    core = slice(2000, 14000)  # AAC's priming delay and edges aside
    lag = int(np.argmax(np.correlate(from_mp4[:16000], from_wav[core], "valid")))
    rms_wav = np.sqrt(np.mean(from_wav[core] ** 2))
    rms_mp4 = np.sqrt(np.mean(from_mp4[lag:lag + 12000] ** 2))
    assert rms_mp4 == pytest.approx(rms_wav, rel=0.03)  # not +3 dB (a factor 1.41)


def test_a_float_wav_beyond_full_scale_is_scaled_with_a_warning(tmp_path):
    import scipy.io.wavfile

    loud = (50 * np.sin(np.arange(16000) * 0.1)).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "loud.wav", 16000, loud)
    with pytest.warns(UserWarning, match="beyond full scale"):
        wav = audio.load_audio(tmp_path / "loud.wav")
    assert np.max(np.abs(wav)) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(wav, loud / np.max(np.abs(loud)), atol=1e-6)
