"""Lip-sync error: LSE-D and LSE-C (Prajwal et al., Wav2Lip, ACM MM 2020, Sec. 4.1), the
audio-visual sync metrics most talking-face papers report, as joonson/syncnet_python computes
them (its `SyncNetInstance.evaluate`, MIT licence) with SyncNet v2.

The procedure, split into a pure part on embeddings and a model part:

* A sync network cuts one video window and one audio window per usable video frame and embeds
  each (`SyncNetwork`; SyncNet v2: `lipjax.syncnet.SyncNetV2Sync`, 5 frames of 224 x 224 BGR
  0..255 face crops at 25 fps and 20 MFCC frames starting at 4 x the frame index, for
  `min(len(frames), floor(len(audio) / 640)) - 5` frames, in batches of 20).
* `offset_distances`: for each video frame i, the distance from its video embedding to the audio
  embeddings of frames i - vshift .. i + vshift (vshift = 15), the audio embeddings zero-padded
  at both ends; SyncNet v2's distance is `torch.nn.functional.pairwise_distance`, which is
  `|| v - a + eps ||_2` with eps = 1e-6 added to the difference (`pairwise_distance` here).
* `sync_scores`: `mdist` = the mean over frames at each offset (2 vshift + 1 = 31 values);
  **LSE-D** = min(mdist) (lower is better), **AV offset** = vshift - argmin(mdist) in frames
  (positive: the audio leads, the sound of video frame i is at audio frame i - offset),
  **LSE-C** = median(mdist) - min(mdist) (higher is better; torch's median: the lower middle
  value, the exact middle for an odd count).

`lip_sync_error(face_crops, wav, network, fps=25)` runs the whole procedure. Face detection and
cropping are not part of it (`lipjax.syncnet.evaluate_sync` does them for a video file).
`shift_audio(frames, wav, shift, margin=...)` makes a video whose audio is moved by a known
number of frames, to check a network's offsets (a shift of k reads as AV offset k).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = [
    "DEFAULT_VSHIFT",
    "PAIRWISE_EPS",
    "LipSyncResult",
    "SyncInputs",
    "SyncNetwork",
    "JittedSyncNetwork",
    "pairwise_distance",
    "offset_distances",
    "sync_scores",
    "embed_windows",
    "lip_sync_error",
    "shift_audio",
]

DEFAULT_VSHIFT = 15
PAIRWISE_EPS = 1e-6

Distance = Callable[[jax.Array, jax.Array], jax.Array]


class LipSyncResult(NamedTuple):
    """LSE of one video (see the module docstring).

    Attributes:
      lse_d: LSE-D, the smallest mean distance over offsets (lower = better sync).
      lse_c: LSE-C, median minus smallest mean distance (higher = more confident sync).
      offset: AV offset in video frames, `vshift - argmin`.
      per_offset_distances: `[2 vshift + 1]` mean distance at offsets -vshift .. vshift
        (index j: audio frame i + j - vshift against video frame i).
      num_windows: the windows (usable video frames) measured.
    """

    lse_d: Any
    lse_c: Any
    offset: Any
    per_offset_distances: Any
    num_windows: int


def pairwise_distance(x1: ArrayLike, x2: ArrayLike, *, eps: float = PAIRWISE_EPS) -> jax.Array:
    """`torch.nn.functional.pairwise_distance(x1, x2, p=2, eps)`: `|| x1 - x2 + eps ||_2` over
    the last axis (eps is added to the difference, not to the norm); inputs broadcast.

    Returns:
      float32 `[...]`, the broadcast shape without the last axis.
    """
    x1, x2 = jnp.asarray(x1, jnp.float32), jnp.asarray(x2, jnp.float32)
    return jnp.sqrt(jnp.sum(jnp.square(x1 - x2 + eps), axis=-1))


def _check_embeddings(video: jax.Array, audio: jax.Array) -> None:
    if video.ndim != 2 or video.shape != audio.shape or video.shape[0] == 0:
        raise InputError(f"need video and audio embeddings of one shape [T, D] with T >= 1, got "
                         f"{video.shape} and {audio.shape}")


def offset_distances(video: ArrayLike, audio: ArrayLike, *, vshift: int = DEFAULT_VSHIFT,
                     distance: Distance = pairwise_distance) -> jax.Array:
    """syncnet_python's `calc_pdist`: distances of every video frame to the audio around it.

    Args:
      video, audio: float `[T, D]` embeddings, one per window (frame i of each belong together).
      vshift: the largest offset tried, in frames.
      distance: `(v [..., D], a [..., D]) -> [...]` (default `pairwise_distance`).

    Returns:
      float32 `[T, 2 vshift + 1]`: entry (i, j) = distance(video[i], padded[i + j]) where padded
      is `audio` with vshift zero vectors before and after, i.e. audio frame i + j - vshift.
    """
    video, audio = jnp.asarray(video, jnp.float32), jnp.asarray(audio, jnp.float32)
    _check_embeddings(video, audio)
    if vshift < 0:
        raise InputError(f"vshift must be >= 0, got {vshift}")
    padded = jnp.pad(audio, ((vshift, vshift), (0, 0)))
    index = jnp.arange(video.shape[0])[:, None] + jnp.arange(2 * vshift + 1)[None, :]
    return distance(video[:, None, :], padded[index])


def sync_scores(video: ArrayLike, audio: ArrayLike, *, vshift: int = DEFAULT_VSHIFT,
                distance: Distance = pairwise_distance) -> LipSyncResult:
    """LSE-D, LSE-C and the AV offset of a video's embeddings (pure; jit with static vshift and
    distance).

    Args:
      video, audio: float `[T, D]`, one row per window.
      vshift, distance: as in `offset_distances`.

    Returns:
      A `LipSyncResult` of scalar jax arrays (float32 lse_d / lse_c, int32 offset) and the
      `[2 vshift + 1]` mean distances; `num_windows` = T.
    """
    mdist = jnp.mean(offset_distances(video, audio, vshift=vshift, distance=distance), axis=0)
    # Minimum and median from one sorted copy, so that LSE-C >= 0 even where XLA recomputes
    # mdist per consumer with another summation order; torch.median is the lower middle value.
    ordered = jnp.sort(mdist)
    lse_d = ordered[0]
    offset = (vshift - jnp.argmin(mdist)).astype(jnp.int32)  # the first minimum, as torch.min
    return LipSyncResult(lse_d=lse_d, lse_c=ordered[(mdist.shape[0] - 1) // 2] - lse_d,
                         offset=offset, per_offset_distances=mdist,
                         num_windows=int(jnp.shape(video)[0]))


class SyncInputs(NamedTuple):
    """A video and its audio in a sync network's own form.

    Attributes:
      video: per-frame video features, e.g. SyncNet v2's uint8 BGR crops `[T, 224, 224, 3]`.
      audio: audio features, e.g. SyncNet v2's MFCC `[M, 13]`.
      num_windows: how many (video window, audio window) pairs can be cut; window i belongs to
        video frame i.
    """

    video: np.ndarray
    audio: np.ndarray
    num_windows: int


@runtime_checkable
class SyncNetwork(Protocol):
    """What a lip-sync network provides to be measured by `lip_sync_error`.

    Attributes:
      fps: the one video frame rate it reads (SyncNet v2: 25).
      sample_rate: the audio rate it reads, in Hz (SyncNet v2: 16000).
      crop_size: the side of the square face crops it reads (SyncNet v2: 224); `prepare`
        resizes crops of other sizes, so this only tells a pipeline what to cut.
      batch_size: windows per `embed` call (SyncNet v2: 20).
    """

    fps: float
    sample_rate: int
    crop_size: int
    batch_size: int

    def prepare(self, crops: np.ndarray, wav: np.ndarray) -> SyncInputs:
        """Face crops (uint8 RGB `[T, H, W, 3]`) and a float waveform `[N]` at `sample_rate` ->
        the network's inputs; raises AudioError / InputError when no window can be cut."""

    def windows(self, inputs: SyncInputs, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The video and audio windows of frames `index` (int `[n]`): `([n, ...], [n, ...])`."""

    def embed(self, video: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows (n <= batch_size) -> float32 embeddings `([n, D], [n, D])`."""

    def distance(self, video: jax.Array, audio: jax.Array) -> jax.Array:
        """Distance of embeddings `[..., D]` -> `[...]` (SyncNet v2: `pairwise_distance`)."""


class JittedSyncNetwork:
    """The model part shared by the Flax sync networks (`SyncNetV2Sync`, `SyncNetColorSync`):
    weights checked and placed once, both towers jitted on batches of exactly `batch_size`
    windows (the last one zero-padded), so a video of any length compiles once. A subclass sets
    `network_name`, passes its default module and implements `towers`.

    Raises (constructor):
      InputError: variables without `params` / `batch_stats`, or a batch size below 1.
    """

    network_name = "sync network"

    def __init__(self, variables: Mapping[str, Any], *, module: Any, batch_size: int):
        if not isinstance(variables, Mapping) or not {"params", "batch_stats"} <= set(variables):
            raise InputError(f"{self.network_name} variables are {{'params': ..., "
                             "'batch_stats': ...}, e.g. from a lipjax.convert loader or a "
                             "trained workdir")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InputError(f"batch_size must be a positive int, got {batch_size!r}")
        self.module = module
        self.batch_size = batch_size
        self.variables = jax.device_put({k: variables[k] for k in ("params", "batch_stats")})
        self._embed = jax.jit(self.towers)

    def towers(self, variables: Mapping[str, Any], video: jax.Array, audio: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
        """`(video [B, D], audio [B, D])` embeddings of `batch_size` windows (traced once)."""
        raise NotImplementedError

    def embed(self, video: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Up to `batch_size` windows -> float32 `([n, D], [n, D])` (video, audio)."""
        count = len(video)
        if count != len(audio) or not 1 <= count <= self.batch_size:
            raise InputError(f"need 1 .. {self.batch_size} video and audio windows each, got "
                             f"{len(video)} and {len(audio)}")
        pad = self.batch_size - count
        video = np.asarray(video, np.float32)
        audio = np.asarray(audio, np.float32)
        video = np.pad(video, ((0, pad),) + ((0, 0),) * (video.ndim - 1))
        audio = np.pad(audio, ((0, pad),) + ((0, 0),) * (audio.ndim - 1))
        v, a = jax.device_get(self._embed(self.variables, jnp.asarray(video), jnp.asarray(audio)))
        return np.asarray(v[:count]), np.asarray(a[:count])


def embed_windows(network: SyncNetwork, inputs: SyncInputs) -> tuple[np.ndarray, np.ndarray]:
    """Every window of `inputs` embedded, `batch_size` at a time, in frame order.

    Returns:
      float32 `(video [num_windows, D], audio [num_windows, D])`.
    """
    video, audio = [], []
    for begin in range(0, inputs.num_windows, network.batch_size):
        index = np.arange(begin, min(begin + network.batch_size, inputs.num_windows))
        v, a = network.embed(*network.windows(inputs, index))
        video.append(np.asarray(v, np.float32))
        audio.append(np.asarray(a, np.float32))
    return np.concatenate(video), np.concatenate(audio)


def _as_network(network_or_variables: SyncNetwork | Mapping[str, Any]) -> SyncNetwork:
    if isinstance(network_or_variables, SyncNetwork):
        return network_or_variables
    if isinstance(network_or_variables, Mapping) and "params" in network_or_variables:
        # SyncNet v2 variables (e.g. from lipjax.convert.load_syncnet_v2). The model lives in
        # the lipjax.syncnet package, which builds on this one: imported only here.
        from lipjax.syncnet.network import SyncNetV2Sync

        return SyncNetV2Sync(network_or_variables)
    raise InputError(f"expected a SyncNetwork or SyncNet v2 variables ({{'params': ..., "
                     f"'batch_stats': ...}}), got {type(network_or_variables).__name__}")


@functools.partial(jax.jit, static_argnames=("vshift", "distance"))
def _jitted_scores(video: jax.Array, audio: jax.Array, *, vshift: int,
                   distance: Distance) -> LipSyncResult:
    return sync_scores(video, audio, vshift=vshift, distance=distance)


def lip_sync_error(
    frames: ArrayLike,
    wav: ArrayLike,
    network_or_variables: SyncNetwork | Mapping[str, Any],
    *,
    fps: float,
    vshift: int = DEFAULT_VSHIFT,
) -> LipSyncResult:
    """LSE-D, LSE-C and the AV offset of face crops and their audio.

    Args:
      frames: face crops, uint8 RGB `[T, H, W, 3]` (any size; the network resizes and reorders
        channels itself: SyncNet v2 reads 224 x 224 BGR).
      wav: float mono waveform `[N]` at the network's sample rate (16 kHz for SyncNet v2).
      network_or_variables: a `SyncNetwork`, or SyncNet v2 Flax variables.
      fps: the frames' rate; must be the network's (25 for SyncNet v2).
      vshift: the largest AV offset tried, in frames.

    Returns:
      `LipSyncResult` with Python floats / int and a float32 NumPy `[2 vshift + 1]`.

    Raises:
      InputError: frames not uint8 `[T, H, W, 3]`, another frame rate, or a bad network.
      AudioError: the audio is not a finite mono waveform, or too short for one window.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise InputError(f"frames must be uint8 RGB face crops [T, H, W, 3], got {frames.shape} "
                         f"of {frames.dtype}")
    network = _as_network(network_or_variables)
    if not math.isclose(float(fps), float(network.fps), rel_tol=1e-6):
        raise InputError(f"{type(network).__name__} reads {network.fps:g} fps video, got "
                         f"{fps:g} fps; resample the video first (e.g. `ffmpeg -i in.mp4 -r "
                         f"{network.fps:g} out.mp4`; `lipjax evaluate-sync` does it itself)")
    from lipjax.audio import check_waveform  # here: lipjax.audio loads librosa (about 1 s)

    wav = check_waveform(wav, min_rms=0.0, source="the audio of lip_sync_error")
    video, audio = embed_windows(network, network.prepare(frames, wav))
    result = jax.device_get(_jitted_scores(video, audio, vshift=vshift,
                                           distance=network.distance))
    return LipSyncResult(lse_d=float(result.lse_d), lse_c=float(result.lse_c),
                         offset=int(result.offset),
                         per_offset_distances=np.asarray(result.per_offset_distances),
                         num_windows=len(video))


def shift_audio(frames: ArrayLike, wav: ArrayLike, shift: int, *, margin: int, fps: float,
                sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A video whose audio is moved `shift` frames against its picture, cut from one that is in
    sync, without padding: frames `margin .. T - margin` and the audio of frames
    `margin + shift .. T - margin + shift`.

    The sound of (kept) video frame i is then at audio frame i - shift, so `lip_sync_error`
    of the result reports AV offset `shift` (positive: the audio leads) for a network that
    finds the true alignment. Every shift of one video with the same margin keeps the same
    frames, so their scores compare like with like.

    Args:
      frames: `[T, ...]` video frames (or face crops), in sync with `wav`.
      wav: `[N]` its audio at `sample_rate`, N >= T * sample_rate / fps (samples past the
        end of frame T are not used).
      shift: frames the audio is moved; |shift| <= margin.
      margin: frames cut at each end of the video (the largest |shift| to compare).
      fps, sample_rate: the video's frame rate and the audio's rate.

    Returns:
      `(frames [T - 2 margin, ...], wav [round((T - 2 margin) * sample_rate / fps)])`.

    Raises:
      InputError: |shift| > margin, or a video of 2 margin frames or fewer, or audio shorter
        than the video.
    """
    frames, wav = np.asarray(frames), np.asarray(wav)
    count = len(frames)
    if not 0 <= abs(int(shift)) <= int(margin):
        raise InputError(f"need |shift| <= margin, got shift {shift} and margin {margin}")
    if count <= 2 * margin:
        raise InputError(f"a video of {count} frames leaves nothing after cutting {margin} "
                         "frames at each end")
    per_frame = float(sample_rate) / float(fps)
    if wav.ndim != 1 or len(wav) < round(count * per_frame):
        raise InputError(f"wav must be a mono waveform [N] covering the {count} frames "
                         f"({round(count * per_frame)} samples), got shape {wav.shape}")
    begin = round((margin + shift) * per_frame)
    length = round((count - 2 * margin) * per_frame)
    return frames[margin:count - margin], wav[begin:begin + length]
