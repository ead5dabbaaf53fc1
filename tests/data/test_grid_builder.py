"""Tests of the GRID builder (and the shared lip-crop helpers) on a tiny fake GRID tree."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._fake_corpora import make_fake_grid
from lipjax import face
from lipjax.data.builders import _lip_crops
from lipjax.data.builders.grid import Grid, GridConfig, align_to_tokens, find_grid_clips, parse_align
from lipjax.errors import DataError
from lipjax.text import GRID_CHARS, SIL

SEED = 3


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid_manual")
    videos = make_fake_grid(root, videos_per_speaker=3, num_frames=16)
    tfds.disable_progress_bar()
    builder = Grid(
        data_dir=str(tmp_path_factory.mktemp("grid_data")),
        config=GridConfig(name="toy", test_per_speaker=1, seed=SEED),
        file_format="array_record",
    )
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
    source = builder.as_data_source()
    examples = {
        split: [source[split][i] for i in range(len(source[split]))] for split in ("train", "test")
    }
    return root, videos, builder, examples


def _by_id(examples):
    return {ex["id"].decode(): ex for split in examples.values() for ex in split}


def _reference_durations(align_text: str, num_frames: int) -> tuple[list[str], list[int]]:
    """Frame-centre assignment, frame by frame: frame t belongs to the segment s < t + 0.5 <= e."""
    words = [(float(a) / 1000, float(b) / 1000, w) for a, b, w in
             (line.split() for line in align_text.splitlines()) if w not in ("sil", "sp")]
    symbols = [SIL]
    spans = [(-np.inf, words[0][0])]
    for i, (start, end, word) in enumerate(words):
        if i:
            symbols.append(" ")
            spans.append((words[i - 1][1], start))
        for k, char in enumerate(word):
            symbols.append(char)
            spans.append((start + (end - start) * k / len(word), start + (end - start) * (k + 1) / len(word)))
    symbols.append(SIL)
    spans.append((words[-1][1], np.inf))
    counts = [0] * len(symbols)
    for t in range(num_frames):
        centre = t + 0.5
        counts[next(i for i, (a, b) in enumerate(spans) if a < centre <= b)] += 1
    return symbols, counts


def test_examples_match_the_fake_corpus(built):
    root, videos, _, examples = built
    by_id = _by_id(examples)
    good = [v for v in videos if not v.corrupt]
    assert sorted(by_id) == sorted(f"{v.speaker}_{v.clip_id}" for v in good)
    for v in good:
        ex = by_id[f"{v.speaker}_{v.clip_id}"]
        num_frames = v.num_frames
        assert ex["frames"].shape == (num_frames, 80, 160, 3) and ex["frames"].dtype == np.uint8
        assert ex["landmarks"].shape == (num_frames, 20, 2) and np.isnan(ex["landmarks"]).all()
        assert ex["tokens"].dtype == np.int32 and ex["durations"].dtype == np.int32
        assert int(ex["durations"].sum()) == num_frames
        assert ex["text"].decode() == v.text
        assert GRID_CHARS.decode_text(ex["tokens"]) == v.text
        assert int(ex["speaker"]) == int(v.speaker[1:])
        align = next(root.rglob(f"{v.speaker}/**/{v.clip_id}.align"), None) or next(
            (root / "alignments" / v.speaker).glob(f"{v.clip_id}.align"))
        symbols, counts = _reference_durations(align.read_text(), num_frames)
        assert GRID_CHARS.decode(ex["tokens"]) == symbols
        np.testing.assert_array_equal(ex["durations"], counts)


def test_corrupt_video_is_skipped_and_counted(built):
    _, _, builder, _ = built
    skipped = [entry for entries in builder.skipped.values() for entry in entries]
    assert len(skipped) == 1 and skipped[0].startswith("s2_lrbg9a:")


def test_split_follows_the_documented_rule(built):
    _, videos, _, examples = built
    for speaker in ("s1", "s2"):
        ids = sorted(v.clip_id for v in videos if v.speaker == speaker)
        order = np.random.default_rng([SEED, zlib.crc32(speaker.encode())]).permutation(len(ids))
        num_test = min(1, int(np.floor(0.5 * len(ids))))
        expected_test = {f"{speaker}_{ids[i]}" for i in order[:num_test]} - {"s2_lrbg9a"}
        got_test = {ex["id"].decode() for ex in examples["test"] if ex["id"].decode().startswith(speaker)}
        got_train = {ex["id"].decode() for ex in examples["train"] if ex["id"].decode().startswith(speaker)}
        assert got_test == expected_test
        assert not got_test & got_train


def test_crop_is_centred_on_the_mouth(built):
    _, videos, _, examples = built
    by_id = _by_id(examples)
    config = GridConfig(name="check")
    video = next(v for v in videos if not v.corrupt)
    track = _lip_crops.extract_lip_track(video.path, config)
    np.testing.assert_array_equal(track.frames, by_id[f"{video.speaker}_{video.clip_id}"]["frames"])
    centres = 0.5 * (track.lip_boxes[:, :2] + track.lip_boxes[:, 2:])
    assert np.abs(centres - video.mouth_centres).max() < 4.0
    # The lip box sits in the lower third of the face box.
    from lipjax.video import read_video

    frames, _ = read_video(video.path)
    face_boxes = face.smooth_boxes(*face.detect_face_boxes(frames), window=config.smoothing_window)
    relative_y = (centres[:, 1] - face_boxes[:, 1]) / (face_boxes[:, 3] - face_boxes[:, 1])
    assert (relative_y > 2 / 3).all() and (relative_y < 1).all()


def test_split_sizes_at_grid_scale():
    clips = [_lip_crops.Clip(s, i, f"c{k:04d}", Path("x"), None)
             for i, (s, n) in enumerate([("s1", 1000), ("s2", 998), ("s3", 10)]) for k in range(n)]
    config = GridConfig(name="x")
    splits = _lip_crops.split_by_speaker(clips, num_test=lambda n: Grid.num_test(n, config), seed=0)
    tests = {s: sum(c.speaker == s for c in splits["test"]) for s in ("s1", "s2", "s3")}
    assert tests == {"s1": 255, "s2": 255, "s3": 5}
    assert len(splits["train"]) + len(splits["test"]) == len(clips)
    again = _lip_crops.split_by_speaker(clips, num_test=lambda n: Grid.num_test(n, config), seed=0)
    assert [c.clip_id for c in again["test"]] == [c.clip_id for c in splits["test"]]


def test_layout_variants_and_parsing(tmp_path):
    for rel in ("s4/a1.mpg", "alignments/s4/a1.align", "video/s5/b2.mpg", "align/s5/b2.align",
                "s6/c3.mpg", "alignments/s6/align/c3.align", "s7/no_align.mpg", "loose.mpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("0 1000 sil\n1000 3000 bin\n")
    found = {(c.speaker, c.clip_id, c.speaker_index) for c in find_grid_clips(tmp_path)}
    assert found == {("s4", "a1", 4), ("s5", "b2", 5), ("s6", "c3", 6)}
    with pytest.raises(DataError):
        parse_align("0 1000\n")
    with pytest.raises(DataError):
        parse_align("0 1000 sil\n1000 2000 sp\n")
    with pytest.raises(DataError):
        align_to_tokens(parse_align("0 1000 sil\n1000 2000 bin!\n"), 2)


def test_space_without_pause_gets_zero_frames():
    tokens, durations, text = align_to_tokens(
        parse_align("0 2000 sil\n2000 5000 bin\n5000 9000 blue\n9000 10000 sil\n"), 10)
    assert text == "bin blue"
    assert list(durations) == [2, 1, 1, 1, 0, 1, 1, 1, 1, 1]
    assert GRID_CHARS.decode(tokens)[4] == " "


@settings(max_examples=30, deadline=None)
@given(
    gaps=st.lists(st.floats(0, 10), min_size=1, max_size=12),
    num_frames=st.integers(0, 60),
    jitter=st.floats(-3, 3),
)
def test_boundaries_to_durations_properties(gaps, num_frames, jitter):
    edges = np.concatenate([[0.0], np.cumsum(gaps)])
    edges = edges * (num_frames / max(edges[-1], 1e-9)) + jitter  # labels may overshoot
    durations = _lip_crops.boundaries_to_durations(edges, num_frames)
    assert durations.dtype == np.int32 and len(durations) == len(gaps)
    assert (durations >= 0).all() and int(durations.sum()) == num_frames
    clipped = np.maximum.accumulate(np.clip(edges, 0, num_frames))
    clipped[0], clipped[-1] = 0, num_frames
    clipped = np.maximum.accumulate(clipped)
    assert np.all(np.abs(durations - np.diff(clipped)) < 1 + 1e-9)


def test_landmark_path_centres_on_landmarks_and_maps_them_into_the_crop(built):
    """A stand-in landmarker (the true mouth: a 20-point ellipse) drives the crop and the stored
    landmarks, which must land at the same relative place inside the 80x160 crop."""
    _, videos, _, _ = built
    video = next(v for v in videos if not v.corrupt)
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    ellipse = np.stack([10 * np.cos(angles), 4 * np.sin(angles)], axis=-1)  # 20 px wide

    def landmarker(frames, face_boxes):
        assert len(frames) == len(face_boxes) == video.num_frames
        return (video.mouth_centres[:, None, :] + ellipse).astype(np.float32)

    config = GridConfig(name="lm", landmark_width_scale=2.0, smoothing_window=1)
    track = _lip_crops.extract_lip_track(video.path, config, landmarker=landmarker)
    centres = 0.5 * (track.lip_boxes[:, :2] + track.lip_boxes[:, 2:])
    np.testing.assert_allclose(centres, video.mouth_centres, atol=1e-3)
    np.testing.assert_allclose(track.lip_boxes[:, 2] - track.lip_boxes[:, 0], 40.0, atol=1e-3)
    # In the crop (40 px box -> 160 px: x4), the ellipse is centred and 80 px wide.
    assert track.landmarks.shape == (video.num_frames, 20, 2)
    np.testing.assert_allclose(track.landmarks.mean(axis=1), [[80.0, 40.0]] * video.num_frames, atol=2.5)
    np.testing.assert_allclose(np.ptp(track.landmarks[..., 0], axis=1), 80.0, atol=0.5)
