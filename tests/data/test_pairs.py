"""Tests of lipjax.data.pairs: the talking-face pair transform against NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

from lipjax.audio import MelConfig, mel_spectrogram
from lipjax.data import pairs
from lipjax.errors import BadRecordError
from tests._fake_corpora import PAIR_CROP_SIZE as SIZE, PAIR_FPS as FPS, fake_pair_record



# ---------------------------------------------------------------------------------------------
# A hand-made pair record with known content.


def _reference_crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Box cut by slicing, halved by 2x2 block means, in [0, 1]."""
    x0, y0, x1, y1 = (int(v) for v in box)
    region = frame[y0:y1, x0:x1].astype(np.float64)
    blocks = region.reshape(SIZE, 2, SIZE, 2, 3).mean(axis=(1, 3))
    return blocks / 255.0


def _reference_window(audio: np.ndarray, t: int, *, center: bool) -> np.ndarray:
    mel = mel_spectrogram(audio, MelConfig(), min_rms=0.0)  # [M, 80]
    start = int(round(80.0 * t / FPS)) - 8 if center else int(np.floor(80.0 * t / FPS))
    rows = np.clip(np.arange(start, start + 16), 0, mel.shape[0] - 1)
    return mel[rows].T


def _example(record, frames, *, training=True, seed=0, center=False, cache=None):
    return pairs.pair_example(record, max_tokens=1, max_frames=frames,
                            rng=np.random.default_rng(seed), training=training,
                            image_size=SIZE, center_mel_windows=center, mel_cache=cache)


@pytest.mark.parametrize("center", [False, True])
def test_pair_example_matches_numpy_in_both_directions(center):
    record = fake_pair_record()
    ex = _example(record, 4, center=center, cache=pairs.MelCache())
    assert ex["source"].shape == ex["target"].shape == (8, SIZE, SIZE, 3)
    assert ex["mel"].shape == (8, 80, 16)
    np.testing.assert_array_equal(ex["direction"], [0] * 4 + [1] * 4)
    assert ex["frame_mask"].all()
    assert int(ex["identity"]) == 3
    for slot in (1, 6):  # one frame of each direction
        t = int(ex["frame_index"][slot])
        src, tgt = pairs.DIRECTIONS[int(ex["direction"][slot])]
        box = record["face_boxes"][t]
        np.testing.assert_allclose(ex["source"][slot],
                                   _reference_crop(record[f"frames_{src}"][t], box), atol=1 / 255)
        np.testing.assert_allclose(ex["target"][slot],
                                   _reference_crop(record[f"frames_{tgt}"][t], box), atol=1 / 255)
        np.testing.assert_allclose(ex["mel"][slot],
                                   _reference_window(record[f"audio_{tgt}"], t, center=center),
                                   atol=1e-5)
        # A frame-pixel landmark x maps to crop pixel (x - x0 + 0.5) / 2 - 0.5.
        expected = (record[f"landmarks_{tgt}"][t] - box[:2] + 0.5) / 2 - 0.5
        np.testing.assert_allclose(ex["target_landmarks"][slot], expected, atol=1e-4)
    # Source and target differ in the content of the two clips (the directions are not swapped).
    assert not np.allclose(ex["source"][1], ex["target"][1])


def test_frame_choice_training_evaluation_and_padding():
    record = fake_pair_record(num_frames=10)
    a = _example(record, 4, seed=1)
    b = _example(record, 4, seed=1)
    np.testing.assert_array_equal(a["frame_index"], b["frame_index"])  # same rng, same frames
    for d in range(2):
        idx = a["frame_index"][4 * d:4 * d + 4]
        assert len(set(idx.tolist())) == 4 and np.all(np.diff(idx) > 0) and idx.max() < 10
    seeds = {tuple(_example(record, 4, seed=s)["frame_index"]) for s in range(6)}
    assert len(seeds) > 1  # the choice depends on the rng
    ev = _example(record, 4, training=False)
    np.testing.assert_array_equal(ev["frame_index"], [0, 3, 6, 9] * 2)
    # A clip shorter than F: every frame once, then padding.
    short = _example(fake_pair_record(num_frames=3), 5, training=True)
    np.testing.assert_array_equal(short["frame_mask"], [True] * 3 + [False] * 2 + [True] * 3
                                  + [False] * 2)
    np.testing.assert_array_equal(short["frame_index"], [0, 1, 2, -1, -1] * 2)
    assert not short["source"][3:5].any() and not short["mouth_mask"][3:5].any()


def test_mouth_mask_covers_both_mouths():
    record = fake_pair_record()
    ex = _example(record, 2)
    for slot in range(4):
        rows, cols = np.nonzero(ex["mouth_mask"][slot])
        for key in ("source_landmarks", "target_landmarks"):
            x, y = ex[key][slot][:, 0], ex[key][slot][:, 1]
            inside = (x >= cols.min() - 1) & (x <= cols.max() + 1)
            inside &= (y >= rows.min() - 1) & (y <= rows.max() + 1)
            assert inside.all()


def test_bad_records_raise_bad_record_error():
    record = fake_pair_record()
    with pytest.raises(BadRecordError, match="face_boxes"):
        pairs.pair_lengths({**record, "face_boxes": record["face_boxes"][:-1]})
    with pytest.raises(BadRecordError, match="frames_b"):
        pairs.pair_lengths({k: v for k, v in record.items() if k != "frames_b"})
    with pytest.raises(BadRecordError, match="audio"):  # AudioError: audio far too short
        _example({**record, "audio_b": record["audio_b"][:1000]}, 2)
    assert pairs.pair_lengths(record) == (1, 1)


def test_face_crop_landmark_records_match_pair_example_crops():
    record = fake_pair_record(num_frames=4)
    crops = pairs.face_crop_landmark_records([record], image_size=SIZE)
    assert len(crops) == 2  # clips a and b
    example = _example(record, 4, training=False)  # every frame, in order
    for tag, clip in zip("ab", crops):
        assert clip["frames"].dtype == np.uint8 and clip["frames"].shape == (4, SIZE, SIZE, 3)
        rows = slice(0, 4) if tag == "a" else slice(4, 8)
        # Direction a->b has source a; direction b->a has source b (DIRECTIONS order).
        np.testing.assert_allclose(clip["frames"] / 255.0, example["source"][rows], atol=1e-6)
        np.testing.assert_allclose(clip["landmarks"], example["source_landmarks"][rows],
                                   atol=1e-5)
