"""Audio loading and the Wav2Lip-compatible mel spectrogram that drives the DCK talking face.

DCK talking face (IEEE TMM 2022, Sec. III-A) encodes speech with Wav2Lip's audio encoder
(Prajwal et al., ACM MM 2020), which reads, for every video frame, a window of 16 frames of an
80-bin log-mel spectrogram. The spectrogram follows Wav2Lip's (Tacotron-style) recipe:

    y = pre-emphasis(x, 0.97)                          y[n] = x[n] - 0.97 x[n - 1]
    S = |STFT(y)|                                       n_fft 800, hop 200, Hann window 800,
                                                        centred frames, reflect padding
    M = mel_filterbank @ S                              80 Slaney mel bands, 55 - 7600 Hz
    D = 20 log10(max(1e-5, M)) - ref_level_db           ref_level_db = 20
    N = clip(2 * 4 * (D - min_level_db) / -min_level_db - 4, -4, 4)   min_level_db = -100

At 16 kHz with hop 200 there are 80 mel frames per second; video frame `t` at `fps` frames per
second reads mel frames `int(80 * t / fps)` ... `+ 15` (Wav2Lip's training-time indexing).

The other front end, python_speech_features' MFCC that SyncNet v2 reads, is `lipjax.mfcc`.

This is data preparation (NumPy, float64 inside, float32 out); nothing here is jitted.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from pathlib import Path

import librosa
import numpy as np
import scipy.io.wavfile
import scipy.signal
from numpy.typing import ArrayLike

from lipjax.errors import AudioError, ConfigError, VideoError
from lipjax.video import decode_audio_track

__all__ = [
    "MelConfig",
    "check_waveform",
    "load_audio",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_window_starts",
    "mel_windows",
]

# Peak-normalised waveforms whose RMS is below this (about -80 dBFS) carry no usable speech.
DEFAULT_MIN_RMS = 1e-4


@dataclasses.dataclass(frozen=True)
class MelConfig:
    """Parameters of the Wav2Lip mel spectrogram (its `hparams.py` values by default).

    Attributes:
      sample_rate: waveform rate in Hz.
      n_fft: FFT size in samples.
      hop_length: samples between successive frames (200 at 16 kHz = 80 frames per second).
      win_length: Hann window length in samples.
      num_mels: number of mel bands.
      fmin, fmax: mel filterbank frequency range in Hz.
      preemphasis: pre-emphasis coefficient k of y[n] = x[n] - k x[n-1] (0 disables it).
      ref_level_db: reference level subtracted from the dB spectrogram.
      min_level_db: floor of the dB scale; amplitudes are clipped at 10 ** (min_level_db / 20).
      max_abs_value: the normalised spectrogram lies in [-max_abs_value, max_abs_value].
    """

    sample_rate: int = 16000
    n_fft: int = 800
    hop_length: int = 200
    win_length: int = 800
    num_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float = 0.97
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_abs_value: float = 4.0

    def __post_init__(self) -> None:
        if min(self.sample_rate, self.n_fft, self.hop_length, self.win_length, self.num_mels) <= 0:
            raise ConfigError(f"MelConfig sizes must be positive, got {self}")
        if self.win_length > self.n_fft:
            raise ConfigError(
                f"win_length ({self.win_length}) must not exceed n_fft ({self.n_fft})")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ConfigError(
                f"need 0 <= fmin < fmax <= sample_rate / 2, got fmin={self.fmin}, "
                f"fmax={self.fmax}, sample_rate={self.sample_rate}")
        if self.min_level_db >= 0 or self.max_abs_value <= 0:
            raise ConfigError("min_level_db must be negative and max_abs_value positive")

    @property
    def frames_per_second(self) -> float:
        """Mel frames per second of audio (80 for Wav2Lip)."""
        return self.sample_rate / self.hop_length


def check_waveform(
    wav: ArrayLike, *, min_rms: float = DEFAULT_MIN_RMS, min_samples: int = 1, source: str = "audio"
) -> np.ndarray:
    """Validates a mono waveform and returns it as float32 `[N]`.

    Raises:
      AudioError: if it is not 1-D, empty, shorter than `min_samples`, has NaN/inf values, or is
        silent (RMS below `min_rms`; pass `min_rms=0` to accept silence).
    """
    wav = np.asarray(wav)
    if wav.ndim != 1:
        raise AudioError(
            f"{source}: expected a mono waveform [N], got shape {wav.shape}; "
            "average the channels first (load_audio does this)")
    if wav.size == 0:
        raise AudioError(f"{source} is empty (0 samples); check the file or the audio track")
    if not np.issubdtype(wav.dtype, np.floating):
        raise AudioError(f"{source}: expected float samples in [-1, 1], got dtype {wav.dtype}")
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{source} contains NaN or infinite samples; re-export the audio")
    if wav.size < min_samples:
        raise AudioError(
            f"{source} is too short: {wav.size} samples, need at least {min_samples}; "
            "use a longer clip or pad it with silence")
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    if rms < min_rms:
        raise AudioError(
            f"{source} is silent (RMS {rms:.2e} < {min_rms:.0e}); lips cannot follow silence. "
            "Check that the right audio track/file was given and that it is not muted")
    return wav.astype(np.float32, copy=False)


def _read_wav(path: Path) -> tuple[np.ndarray, int] | None:
    """`(samples [N, C] float64 in [-1, 1], rate)` of a wav file SciPy reads, else None."""
    try:
        rate, data = scipy.io.wavfile.read(path)
    except (ValueError, OSError, EOFError):
        return None
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        # Unsigned 8-bit wav is offset binary; signed formats are symmetric about zero.
        offset = (info.max + 1) / 2 if info.min == 0 else 0.0
        scale = (info.max + 1) / 2 if info.min == 0 else float(-info.min)
        data = (data.astype(np.float64) - offset) / scale
    else:
        data = data.astype(np.float64)
    return (data[:, None] if data.ndim == 1 else data), int(rate)


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """Samples `[N, C]` and rate of any audio or media file (SciPy for wav, else FFmpeg)."""
    decoded = _read_wav(path) if path.suffix.lower() == ".wav" else None
    if decoded is not None:
        return decoded
    try:
        samples, rate = decode_audio_track(path)
    except VideoError as e:  # FFmpeg missing or file vanished
        raise AudioError(f"cannot read audio from {str(path)!r}: {e}") from e
    except AudioError as e:
        raise AudioError(
            f"cannot decode audio from {str(path)!r}: it is corrupt or has no audio stream; "
            "convert it to a 16 kHz wav (`ffmpeg -i in -ac 1 -ar 16000 out.wav`)") from e
    return samples.astype(np.float64), rate


def load_audio(
    path: str | os.PathLike, *, sample_rate: int = 16000, min_rms: float = DEFAULT_MIN_RMS
) -> np.ndarray:
    """Loads a wav file, or the audio track of any media file FFmpeg decodes, as mono float32.

    One path for every format: the samples at their own rate and channels (SciPy for wav,
    FFmpeg's float PCM for anything else), the mean of the channels (as Wav2Lip's librosa
    loader does; FFmpeg's own downmix would scale stereo by 1/sqrt(2) per channel, +3 dB), then
    a polyphase resampler (`scipy.signal.resample_poly`) to `sample_rate`. A float file whose
    samples exceed [-1, 1] is scaled into it with a warning.

    Args:
      path: audio or video file.
      sample_rate: output rate in Hz (16 kHz for the Wav2Lip mel).
      min_rms: silence threshold (see `check_waveform`); 0 accepts silent audio.

    Returns:
      float32 `[N]` waveform at `sample_rate`.

    Raises:
      AudioError: missing/unreadable file, no audio stream, empty or silent audio.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{str(path)!r} is a folder, not an audio file")
    if not path.is_file():
        raise AudioError(f"audio file not found: {str(path)!r}; check the path")
    if not os.access(path, os.R_OK):
        raise AudioError(f"cannot read {str(path)!r}: permission denied")
    if sample_rate <= 0:
        raise AudioError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    samples, rate = _decode(path)
    wav = samples.mean(axis=1) if samples.size else samples.reshape(-1)
    peak = float(np.max(np.abs(wav))) if wav.size and np.all(np.isfinite(wav)) else 0.0
    if peak > 1.0:  # a float file outside full scale: scaled, not clipped, and said so
        warnings.warn(f"the audio of {str(path)!r} peaks at {peak:.3g}, beyond full scale "
                      "[-1, 1]; it is scaled down by that factor for the model", stacklevel=2)
        wav = wav / peak
    if rate != sample_rate and wav.size:
        divisor = math.gcd(rate, sample_rate)
        wav = scipy.signal.resample_poly(wav, sample_rate // divisor, rate // divisor)
    return check_waveform(wav, min_rms=min_rms, source=f"audio of {str(path)!r}")


def mel_filterbank(config: MelConfig = MelConfig()) -> np.ndarray:
    """Slaney-normalised mel filterbank `[num_mels, n_fft // 2 + 1]` (float64, librosa's)."""
    return librosa.filters.mel(
        sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.num_mels,
        fmin=config.fmin, fmax=config.fmax, htk=False, norm="slaney", dtype=np.float64)


def mel_spectrogram(
    wav: ArrayLike, config: MelConfig = MelConfig(), *, min_rms: float = DEFAULT_MIN_RMS
) -> np.ndarray:
    """Wav2Lip's normalised log-mel spectrogram of a mono waveform.

    Args:
      wav: float `[N]` waveform at `config.sample_rate`, N >= `config.win_length`.
      config: spectrogram parameters (Wav2Lip's by default).
      min_rms: silence threshold (see `check_waveform`); 0 accepts silent audio.

    Returns:
      float32 `[1 + N // hop_length, num_mels]` (time-major) in
      `[-max_abs_value, max_abs_value]`.

    Raises:
      AudioError: on an empty, too short (< one window), non-finite or silent waveform.
    """
    wav = check_waveform(wav, min_rms=min_rms, min_samples=config.win_length).astype(np.float64)
    if config.preemphasis:
        wav = scipy.signal.lfilter([1.0, -config.preemphasis], [1.0], wav)
    # center=True with reflect padding, as librosa did when Wav2Lip was released (librosa 0.7);
    # newer librosa pads with zeros by default, so the mode is given explicitly.
    spectrum = librosa.stft(
        wav, n_fft=config.n_fft, hop_length=config.hop_length, win_length=config.win_length,
        window="hann", center=True, pad_mode="reflect")
    mel = mel_filterbank(config) @ np.abs(spectrum)
    floor = 10.0 ** (config.min_level_db / 20.0)
    db = 20.0 * np.log10(np.maximum(floor, mel)) - config.ref_level_db
    top = config.max_abs_value
    scaled = 2 * top * (db - config.min_level_db) / -config.min_level_db - top
    normalised = np.clip(scaled, -top, top)
    return np.ascontiguousarray(normalised.T, dtype=np.float32)


def mel_window_starts(
    num_video_frames: int, *, fps: float, mel_fps: float = 80.0, window: int = 16,
    center: bool = False,
) -> np.ndarray:
    """First mel frame of every video frame's window, int64 `[T]` (may be < 0 if `center`).

    `start[t] = int(mel_fps * (t / fps))` as in Wav2Lip's training code, or, with `center=True`,
    the window centred on the frame's start time: `round(mel_fps * t / fps) - window // 2`.
    """
    if not isinstance(num_video_frames, (int, np.integer)) or num_video_frames <= 0:
        raise AudioError(f"num_video_frames must be a positive int, got {num_video_frames!r}")
    if not (fps > 0 and math.isfinite(fps)) or not (mel_fps > 0 and math.isfinite(mel_fps)):
        raise AudioError(f"fps and mel_fps must be positive, got fps={fps}, mel_fps={mel_fps}")
    position = float(mel_fps) * (np.arange(num_video_frames, dtype=np.float64) / float(fps))
    if center:
        return np.round(position).astype(np.int64) - window // 2
    return np.floor(position).astype(np.int64)


def mel_windows(
    mel: ArrayLike,
    num_video_frames: int,
    *,
    fps: float,
    window: int = 16,
    mel_fps: float = 80.0,
    center: bool = False,
) -> np.ndarray:
    """Per-video-frame mel windows, the audio encoder's input.

    Indices before the first or after the last mel frame are clamped to it (edge padding), so
    the last video frames, whose windows reach past the end of the audio, repeat its last frame.

    Args:
      mel: `[M, num_mels]` time-major spectrogram from `mel_spectrogram`.
      num_video_frames: T, the number of video frames to drive.
      fps: video frames per second (any rate: 25, 29.97, 30000/1001, ...).
      window: mel frames per video frame (16 in Wav2Lip: 0.2 s).
      mel_fps: mel frames per second (`MelConfig.frames_per_second`, 80 for Wav2Lip).
      center: centre windows on the frame time instead of starting them there.

    Returns:
      float32 `[T, num_mels, window]` (mel bins, then time), as the audio encoder reads them.

    Raises:
      AudioError: if `mel` is not 2-D or empty, or the audio ends before the last video frame
        begins (it is shorter than the video by more than one frame).
    """
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[0] == 0:
        raise AudioError(
            f"mel must be a non-empty time-major spectrogram [M, num_mels], got {mel.shape}")
    if window <= 0:
        raise AudioError(f"window must be a positive number of mel frames, got {window}")
    num_mel_frames = mel.shape[0]
    starts = mel_window_starts(
        num_video_frames, fps=fps, mel_fps=mel_fps, window=window, center=center)
    last_frame_time = int(np.floor(mel_fps * ((num_video_frames - 1) / fps)))
    if last_frame_time >= num_mel_frames:
        raise AudioError(
            f"audio too short for the video: {num_mel_frames / mel_fps:.2f} s of audio "
            f"({num_mel_frames} mel frames) but {num_video_frames} frames at {fps:g} fps "
            f"({num_video_frames / fps:.2f} s); pad the audio with silence or use only the first "
            f"{int(num_mel_frames * fps / mel_fps)} video frames")
    index = np.clip(starts[:, None] + np.arange(window)[None, :], 0, num_mel_frames - 1)
    return np.ascontiguousarray(np.transpose(mel[index], (0, 2, 1)))


# ----------------------------------------------------------------------------------------------
# MFCC: python_speech_features 0.6 (`python_speech_features.mfcc`), SyncNet v2's audio input
