"""lipjax.wav2lip.data (and lipjax.data.clip_windows): the expert's and the generator's windows
from pair records: Wav2Lip's conventions (BGR / 255 crops of the record's boxes, mel window of
frame t starting at t), static shapes, masks for short clips, balanced non-overlapping
off-sync windows, a reference window elsewhere in the clip, bad records."""

from __future__ import annotations

import numpy as np
import pytest

from lipjax.audio import MelConfig, mel_spectrogram, mel_windows
from lipjax.data.clip_windows import other_window_start, window_starts
from lipjax.data.pairs import MelCache
from lipjax.errors import BadRecordError
from lipjax.face import crop_and_resize
from lipjax.wav2lip.data import (expert_example, expert_example_shapes, wav2lip_example,
                                 wav2lip_example_shapes)
from tests._fake_corpora import fake_pair_record

W = 3  # windows per clip


def _expert(record, *, training=True, seed=0, windows=W):
    return expert_example(record, max_tokens=1, max_frames=windows,
                          rng=np.random.default_rng(seed), training=training)


def _generator(record, *, training=True, seed=0, windows=W):
    return wav2lip_example(record, max_tokens=1, max_frames=windows,
                           rng=np.random.default_rng(seed), training=training)


def _mels(record, tag):
    mel = mel_spectrogram(record[f"audio_{tag}"], MelConfig(), min_rms=0.0)
    return mel_windows(mel, len(record["face_boxes"]), fps=float(record["fps"]), window=16)


def _bgr(record, tag, t):
    crop = crop_and_resize(record[f"frames_{tag}"][t], record["face_boxes"][t], (96, 96))
    return crop[..., ::-1].astype(np.float32) / 255


def _check_shapes(example, shapes):
    assert set(example) == set(shapes)
    for key, (shape, dtype) in shapes.items():
        assert example[key].shape == shape and example[key].dtype == dtype, key


def test_expert_windows_follow_wav2lip_and_are_balanced():
    record = fake_pair_record(num_frames=24, seed=1)
    example = _expert(record)
    _check_shapes(example, expert_example_shapes(W))
    assert example["window_mask"].all() and example["off_mask"].all()  # one label 1, one 0
    np.testing.assert_array_equal(example["clip"], [0] * W + [1] * W)
    for slot in range(2 * W):
        tag = "ab"[example["clip"][slot]]
        start, off = example["start"][slot], example["off_start"][slot]
        assert 0 <= start <= 24 - 5 and 0 <= off <= 24 - 5
        assert abs(int(off) - int(start)) >= 5                  # never overlapping
        mels = _mels(record, tag)
        np.testing.assert_allclose(example["mel_sync"][slot], mels[start], atol=1e-6)
        np.testing.assert_allclose(example["mel_off"][slot], mels[off], atol=1e-6)
        for t in (0, 4):
            np.testing.assert_allclose(example["faces"][slot, t], _bgr(record, tag, start + t),
                                       atol=1e-6)


def test_short_clips_are_masked_and_too_short_records_refused():
    example = _expert(fake_pair_record(num_frames=7), windows=4)   # starts 0, 1, 2
    np.testing.assert_array_equal(example["window_mask"], [1, 1, 1, 0] * 2)
    assert not example["off_mask"].any()            # 7 frames: no second, disjoint window
    assert (example["start"][~example["window_mask"]] == -1).all()
    assert not example["faces"][~example["window_mask"]].any()
    with pytest.raises(BadRecordError, match="fewer than one 5-frame window"):
        _expert(fake_pair_record(num_frames=4))
    broken = fake_pair_record(num_frames=12)
    del broken["audio_b"]
    with pytest.raises(BadRecordError, match="audio_b"):
        _generator(broken)
    silent = fake_pair_record(num_frames=12)
    silent["audio_a"] = silent["audio_a"][:100]                     # shorter than the video
    with pytest.raises(BadRecordError, match="clip a"):
        _expert(silent)


def test_generator_windows_reference_and_mouth_boxes():
    record = fake_pair_record(num_frames=20, seed=2)
    example = _generator(record)
    _check_shapes(example, wav2lip_example_shapes(W))
    for slot in range(2 * W):
        tag = "ab"[example["clip"][slot]]
        start, ref = example["start"][slot], example["reference_start"][slot]
        assert abs(int(ref) - int(start)) >= 5
        mels = _mels(record, tag)
        np.testing.assert_allclose(example["mel"][slot], mels[start:start + 5], atol=1e-6)
        np.testing.assert_allclose(example["reference"][slot, 2], _bgr(record, tag, ref + 2),
                                   atol=1e-6)
        np.testing.assert_allclose(example["target"][slot, 3], _bgr(record, tag, start + 3),
                                   atol=1e-6)
    areas = example["mouth_mask"].sum(axis=(-2, -1))
    assert (areas > 0).all() and (areas < 96 * 96).all()
    # A clip of 7 frames has no disjoint window: the reference is another, overlapping one.
    short = _generator(fake_pair_record(num_frames=7), windows=1)
    assert short["reference_start"][0] != short["start"][0]


def test_evaluation_windows_are_deterministic_and_spread():
    record = fake_pair_record(num_frames=30, seed=3)
    a, b = _expert(record, training=False, seed=0), _expert(record, training=False, seed=9)
    np.testing.assert_array_equal(a["start"][:W], [0, 12, 25])        # 26 starts, evenly
    np.testing.assert_array_equal(a["start"], b["start"])
    starts, mask = window_starts(30, 3, window=5, rng=np.random.default_rng(0), training=True)
    assert mask.all() and len(set(starts)) == 3 and (np.diff(starts) > 0).all()
    assert other_window_start(0, 9, window=5, min_gap=5, rng=np.random.default_rng(0)) == -1


def test_mel_windows_are_cached_per_clip():
    cache = MelCache(4)
    record = fake_pair_record(num_frames=12, seed=4)
    first = expert_example(record, max_tokens=1, max_frames=2, rng=np.random.default_rng(0),
                           training=True, mel_cache=cache)
    record["audio_a"] = record["audio_a"] * 0   # a cached clip is not recomputed
    again = expert_example(record, max_tokens=1, max_frames=2, rng=np.random.default_rng(0),
                           training=True, mel_cache=cache)
    np.testing.assert_array_equal(first["mel_sync"], again["mel_sync"])
