"""Tests of lipjax.metrics.sync: LSE-D / LSE-C / AV offset against a brute-force NumPy
transcription of syncnet_python (`calc_pdist` + `evaluate`), the offset's sign on embeddings with
a known shift, and `lip_sync_error`'s batching and errors with a tiny hand-made network."""

from __future__ import annotations

import numpy as np
import pytest

from lipjax.errors import AudioError, InputError
from lipjax.metrics.sync import JittedSyncNetwork
from lipjax.metrics import (LipSyncResult, SyncInputs, SyncNetwork, lip_sync_error,
                            offset_distances, pairwise_distance, shift_audio, sync_scores)


def _reference(video: np.ndarray, audio: np.ndarray, vshift: int = 15):
    """syncnet_python, loop for loop, in float64: (mdist, LSE-D, LSE-C, offset)."""
    win_size = vshift * 2 + 1
    padded = np.concatenate([np.zeros((vshift, audio.shape[1])), audio,
                             np.zeros((vshift, audio.shape[1]))])
    dists = []
    for i in range(len(video)):
        repeated = np.repeat(video[[i]], win_size, axis=0)
        dists.append(np.sqrt(np.sum((repeated - padded[i:i + win_size] + 1e-6) ** 2, axis=1)))
    mdist = np.mean(np.stack(dists, 1), 1)
    minidx = int(np.argmin(mdist))
    median = np.sort(mdist)[(len(mdist) - 1) // 2]  # torch.median: the lower middle value
    return mdist, mdist[minidx], median - mdist[minidx], vshift - minidx


@pytest.mark.parametrize("frames, dim, vshift", [(40, 16, 15), (7, 1024, 15), (12, 3, 2)])
def test_scores_equal_the_brute_force_transcription(frames, dim, vshift, rng):
    video = rng.standard_normal((frames, dim)).astype(np.float32)
    audio = rng.standard_normal((frames, dim)).astype(np.float32)
    mdist, lse_d, lse_c, offset = _reference(video.astype(np.float64),
                                             audio.astype(np.float64), vshift)
    result = sync_scores(video, audio, vshift=vshift)
    np.testing.assert_allclose(result.per_offset_distances, mdist, rtol=1e-5)
    np.testing.assert_allclose(result.lse_d, lse_d, rtol=1e-5)
    np.testing.assert_allclose(result.lse_c, lse_c, rtol=1e-4, atol=1e-5)
    assert int(result.offset) == offset and result.num_windows == frames
    assert result.per_offset_distances.shape == (2 * vshift + 1,)


@pytest.mark.parametrize("lag", [-4, -1, 0, 3, 9])
def test_offset_sign_on_embeddings_with_a_known_shift(lag, rng):
    # audio[i + lag] belongs to video[i]: the audio comes `lag` frames late, offset = -lag.
    frames, dim = 60, 32
    content = rng.standard_normal((frames + 40, dim)).astype(np.float32)
    video = content[20:20 + frames]
    audio = content[20 - lag:20 - lag + frames] + 0.05 * rng.standard_normal((frames, dim))
    result = sync_scores(video, audio.astype(np.float32))
    assert int(result.offset) == -lag
    assert float(result.lse_c) > 1.0  # a clear minimum
    assert int(_reference(video, audio)[3]) == -lag


def test_pairwise_distance_adds_eps_to_the_difference():
    x = np.zeros((2, 4), np.float32)
    np.testing.assert_allclose(pairwise_distance(x, x), [2e-6, 2e-6], rtol=1e-5)  # sqrt(4) eps
    a, b = np.array([[3.0, 0.0]]), np.array([[0.0, 4.0]])
    np.testing.assert_allclose(pairwise_distance(a, b), [np.hypot(3 + 1e-6, -4 + 1e-6)])


def test_pairwise_distance_equals_torch(rng):
    torch = pytest.importorskip("torch", reason="compares with torch's pairwise_distance")
    x1, x2 = rng.standard_normal((2, 31, 1024)).astype(np.float32)
    x2[:3] = x1[:3]  # equal rows: only eps remains
    expected = torch.nn.functional.pairwise_distance(torch.from_numpy(x1), torch.from_numpy(x2))
    np.testing.assert_allclose(pairwise_distance(x1, x2), expected.numpy(), rtol=1e-5,
                               atol=1e-9)


def test_offset_distances_pad_with_zeros(rng):
    video = rng.standard_normal((3, 4)).astype(np.float32)
    audio = rng.standard_normal((3, 4)).astype(np.float32)
    dists = np.asarray(offset_distances(video, audio, vshift=2))
    assert dists.shape == (3, 5)
    np.testing.assert_allclose(dists[0, 0], np.linalg.norm(video[0] + 1e-6), rtol=1e-5)
    np.testing.assert_allclose(dists[1, 3], np.linalg.norm(video[1] - audio[2] + 1e-6),
                               rtol=1e-5)


@pytest.mark.parametrize("video, audio", [((5, 8), (4, 8)), ((0, 8), (0, 8)), ((5,), (5,))])
def test_embeddings_must_be_paired(video, audio):
    with pytest.raises(InputError):
        sync_scores(np.zeros(video), np.zeros(audio))


class _ToyNetwork:
    """A sync 'network' whose video embedding of frame i is its crops' brightness over 3 frames
    and whose audio embedding is the amplitude of 3 chunks of 100 samples: a signal written
    into both with a known lag is found again by the metric, through batching."""

    fps = 10.0
    sample_rate = 1000
    crop_size = 4
    batch_size = 4
    distance = staticmethod(pairwise_distance)

    def prepare(self, crops, wav):
        count = min(len(crops), len(wav) // 100) - 3
        if count < 1:
            raise AudioError("too short")
        amplitude = np.abs(wav[:len(wav) // 100 * 100]).reshape(-1, 100).max(axis=1)
        return SyncInputs(crops.mean(axis=(1, 2, 3)) / 255.0, amplitude, count)

    def windows(self, inputs, index):
        window = index[:, None] + np.arange(3)[None, :]
        return inputs.video[window], inputs.audio[window]

    def embed(self, video, audio):
        assert len(video) <= self.batch_size
        return video.astype(np.float32), audio.astype(np.float32)


def _toy_inputs(lag: int, frames: int = 30, seed: int = 0):
    signal = np.random.default_rng(seed).uniform(0.1, 0.9, frames + 20)
    crops = np.repeat(np.round(signal[10:10 + frames] * 255), 4 * 4 * 3)
    crops = crops.reshape(frames, 4, 4, 3).astype(np.uint8)
    wav = np.repeat(signal[10 - lag:10 - lag + frames], 100).astype(np.float32)
    return crops, wav


@pytest.mark.parametrize("lag", [-2, 0, 5])
def test_lip_sync_error_with_a_toy_network(lag):
    network = _ToyNetwork()
    assert isinstance(network, SyncNetwork)
    crops, wav = _toy_inputs(lag)
    result = lip_sync_error(crops, wav, network, fps=10)
    assert isinstance(result, LipSyncResult)
    assert result.offset == -lag and result.num_windows == 27
    assert result.lse_d == pytest.approx(float(result.per_offset_distances.min()))
    assert result.lse_c > 0.1
    if lag == 0:  # elsewhere the frames near the ends meet the zero padding
        assert result.lse_d < 0.02
    assert isinstance(result.lse_d, float) and result.per_offset_distances.shape == (31,)


def test_lip_sync_error_rejects_bad_inputs():
    network = _ToyNetwork()
    crops, wav = _toy_inputs(0)
    with pytest.raises(InputError, match="resample"):
        lip_sync_error(crops, wav, network, fps=25)
    with pytest.raises(InputError, match="uint8"):
        lip_sync_error(crops.astype(np.float32), wav, network, fps=10)
    with pytest.raises(AudioError):
        lip_sync_error(crops, wav[:250], network, fps=10)
    with pytest.raises(AudioError):
        lip_sync_error(crops, np.full(3000, np.nan, np.float32), network, fps=10)
    with pytest.raises(InputError, match="SyncNetwork"):
        lip_sync_error(crops, wav, "not a network", fps=10)


@pytest.mark.parametrize("shift", [-6, -1, 0, 3, 6])
def test_shift_audio_moves_the_audio_by_k_frames_and_lse_reports_k(shift):
    crops, wav = _toy_inputs(0, frames=40)               # in sync
    frames, audio = shift_audio(crops, wav, shift, margin=6, fps=10, sample_rate=1000)
    assert len(frames) == 28 and len(audio) == 2800
    np.testing.assert_array_equal(frames, crops[6:34])
    np.testing.assert_array_equal(audio, wav[(6 + shift) * 100:(34 + shift) * 100])
    # Positive: the audio leads (the sound of frame i is at audio frame i - shift).
    assert lip_sync_error(frames, audio, _ToyNetwork(), fps=10).offset == shift


def test_shift_audio_rejects_what_it_cannot_cut():
    crops, wav = _toy_inputs(0, frames=12)
    with pytest.raises(InputError, match="margin"):
        shift_audio(crops, wav, 4, margin=3, fps=10, sample_rate=1000)
    with pytest.raises(InputError, match="leaves nothing"):
        shift_audio(crops, wav, 0, margin=6, fps=10, sample_rate=1000)
    with pytest.raises(InputError, match="covering"):
        shift_audio(crops, wav[:1000], 0, margin=2, fps=10, sample_rate=1000)


class _SumTowers(JittedSyncNetwork):
    """A JittedSyncNetwork whose 'towers' sum each window: padding must not leak into it."""

    network_name = "toy"

    def towers(self, variables, video, audio):
        scale = variables["params"]["scale"]
        return (scale * video.reshape(len(video), -1).sum(-1, keepdims=True),
                scale * audio.reshape(len(audio), -1).sum(-1, keepdims=True))


def test_jitted_sync_network_pads_to_one_batch_shape_and_checks_its_inputs():
    variables = {"params": {"scale": np.float32(2.0)}, "batch_stats": {}}
    network = _SumTowers(variables, module=None, batch_size=4)
    rng = np.random.default_rng(0)
    for count in (1, 3, 4):  # one compiled shape for every count
        video, audio = rng.normal(size=(count, 5, 2, 2)), rng.normal(size=(count, 3))
        v, a = network.embed(video, audio)
        np.testing.assert_allclose(v[:, 0], 2 * video.reshape(count, -1).sum(-1), rtol=1e-5)
        np.testing.assert_allclose(a[:, 0], 2 * audio.sum(-1), rtol=1e-5)
    assert network._embed._cache_size() == 1
    with pytest.raises(InputError, match="1 .. 4"):
        network.embed(np.zeros((5, 1)), np.zeros((5, 1)))
    with pytest.raises(InputError, match="toy variables"):
        _SumTowers({"params": {}}, module=None, batch_size=4)
    with pytest.raises(InputError, match="positive int"):
        _SumTowers(variables, module=None, batch_size=0)
