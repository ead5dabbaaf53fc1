"""Tests of the TCD-TIMIT builder on a tiny fake volunteers tree (MLF and per-clip labels)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests._fake_corpora import TCD_FPS, TIMIT_SENTENCES, make_fake_tcd_timit
from lipjax.data.builders import _lip_crops
from lipjax.data.builders.tcd_timit import (
    TcdTimit,
    TcdTimitConfig,
    detect_time_scale,
    find_tcd_timit_clips,
    labels_to_tokens,
    parse_mlf,
)
from lipjax.errors import DataError
from lipjax.text import PHONEMES, SIL, TIMIT_TO_CMU

SEED = 5
NUM_FRAMES = 18


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("tcd_manual")
    videos = make_fake_tcd_timit(root, num_frames=NUM_FRAMES)
    tfds.disable_progress_bar()
    builder = TcdTimit(
        data_dir=str(tmp_path_factory.mktemp("tcd_data")),
        config=TcdTimitConfig(name="toy", seed=SEED),
        file_format="array_record",
    )
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
    source = builder.as_data_source()
    examples = {s: [source[s][i] for i in range(len(source[s]))] for s in ("train", "test")}
    return root, videos, builder, examples


def _reference(labels: str, num_frames: int, fps: float) -> tuple[list[str], list[int]]:
    """Folded symbols and frame counts by frame-centre lookup in the fake's label times (seconds)."""
    raw = labels.split()
    edges = np.linspace(0.013, (num_frames - 0.3) / fps, len(raw) + 1) * fps  # as the fake writes
    symbols, starts = [], []
    for i, label in enumerate(raw):
        phone = TIMIT_TO_CMU[label]
        if symbols and symbols[-1] == phone and (phone == SIL or raw[i - 1].endswith("cl")):
            continue
        symbols.append(phone)
        starts.append(edges[i])
    starts[0] = -np.inf
    counts = [0] * len(symbols)
    for t in range(num_frames):
        counts[max(i for i, s in enumerate(starts) if s < t + 0.5)] += 1
    return symbols, counts


def test_examples_match_the_fake_corpus(built):
    _, videos, builder, examples = built
    by_id = {ex["id"].decode(): ex for split in examples.values() for ex in split}
    assert sorted(by_id) == sorted(f"{v.speaker}_{v.clip_id}" for v in videos)
    assert all(not entries for entries in builder.skipped.values())
    for v in videos:
        ex = by_id[f"{v.speaker}_{v.clip_id}"]
        assert ex["frames"].shape == (NUM_FRAMES, 80, 160, 3) and ex["frames"].dtype == np.uint8
        assert ex["landmarks"].shape == (NUM_FRAMES, 20, 2)
        assert int(ex["durations"].sum()) == NUM_FRAMES
        assert int(ex["speaker"]) == int(v.speaker[:2])
        assert ex["text"].decode() == v.text
        symbols = PHONEMES.decode(ex["tokens"])
        assert [s for s in symbols if s != SIL] == v.text.split()
        # Both label sources (MLF in HTK units, .txt in seconds) give the same timing.
        ref_symbols, ref_counts = _reference(TIMIT_SENTENCES[v.clip_id], NUM_FRAMES, TCD_FPS)
        assert symbols == ref_symbols
        np.testing.assert_array_equal(ex["durations"], ref_counts)


def test_split_is_70_30_per_speaker(built):
    _, videos, _, examples = built
    for speaker in ("01M", "02F"):
        ids = sorted(v.clip_id for v in videos if v.speaker == speaker)
        order = np.random.default_rng([SEED, zlib.crc32(speaker.encode())]).permutation(len(ids))
        num_test = int(np.floor(0.3 * len(ids) + 0.5))
        expected = {f"{speaker}_{ids[i]}" for i in order[:num_test]}
        got = {ex["id"].decode() for ex in examples["test"] if ex["id"].decode().startswith(speaker)}
        assert got == expected
    assert len(examples["train"]) == 6 and len(examples["test"]) == 2


def test_split_sizes_at_scale():
    from pathlib import Path

    clips = [_lip_crops.Clip("01M", 1, f"c{k}", Path("x"), None) for k in range(98)]
    config = TcdTimitConfig(name="x")
    splits = _lip_crops.split_by_speaker(clips, num_test=lambda n: TcdTimit.num_test(n, config), seed=0)
    assert (len(splits["train"]), len(splits["test"])) == (69, 29)


def test_crop_is_centred_on_the_mouth(built):
    _, videos, _, examples = built
    video = videos[0]
    track = _lip_crops.extract_lip_track(video.path, TcdTimitConfig(name="check"))
    assert track.fps == pytest.approx(TCD_FPS, rel=1e-3)
    centres = 0.5 * (track.lip_boxes[:, :2] + track.lip_boxes[:, 2:])
    assert np.abs(centres - video.mouth_centres).max() < 4.0


def test_mlf_parsing_and_units(tmp_path):
    mlf = (
        '#!MLF!#\n"/x/TCDTIMIT/volunteers/03F/Clips/straightcam/sa2.rec"\n'
        "0 5000000 sil\n5000000 10000000 ax\n.\n"
        '"*/no_speaker/sa1.lab"\n0 1 sil\n.\n'
    )
    entries = parse_mlf(mlf)
    assert list(entries) == [("03F", "sa2")]
    assert entries[("03F", "sa2")] == [(0.0, 5e6, "sil"), (5e6, 1e7, "ax")]
    segments = entries[("03F", "sa2")]
    assert detect_time_scale(segments, 1.0) == pytest.approx(1e-7)
    assert detect_time_scale([(0, 1.02, "sil")], 1.0) == 1.0
    assert detect_time_scale([(0, 16100, "sil")], 1.0) == pytest.approx(1 / 16000)
    tokens, durations, text = labels_to_tokens(segments, 30, 30.0)
    assert text == "ah" and PHONEMES.decode(tokens) == [SIL, "ah", SIL]
    assert list(durations) == [15, 15, 0]


def test_bad_labels_raise_and_unlabelled_videos_are_ignored(tmp_path):
    with pytest.raises(DataError, match="xyz"):
        labels_to_tokens([(0, 1, "sil"), (1, 2, "xyz")], 10, 10.0)
    with pytest.raises(DataError, match="only silence"):
        labels_to_tokens([(0, 1, "sil"), (1, 2, "pau")], 10, 10.0)
    clip_dir = tmp_path / "volunteers" / "04M" / "Clips" / "straightcam"
    clip_dir.mkdir(parents=True)
    (clip_dir / "sa1.mp4").write_bytes(b"")
    (clip_dir / "sa2.mp4").write_bytes(b"")
    (clip_dir / "sa2.txt").write_text("0 0.5 sil\n0.5 1.0 iy\n")
    clips = find_tcd_timit_clips(tmp_path)
    assert [(c.speaker, c.speaker_index, c.clip_id) for c in clips] == [("04M", 4, "sa2")]
