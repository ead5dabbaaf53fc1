"""Tests of lipjax.data.pipeline against in-memory sources and brute-force references."""

from __future__ import annotations

import json
import threading
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lipjax.data.lips import lips_example, lips_lengths
from lipjax.data.pipeline import Pipeline, choose_bucket
from lipjax.errors import BadRecordError, ConfigError, DataError

H, W = 4, 6
BUCKETS = [(4, 6), (6, 10), (8, 16)]


def make_record(
    rng: np.random.Generator, num_tokens: int, num_frames: int, speaker: int = 0
) -> dict:
    """A valid lips record; frame t of the video is filled with a value unique to (record, t)."""
    cuts = np.sort(rng.integers(0, num_frames + 1, size=num_tokens - 1))
    durations = np.diff(np.concatenate([[0], cuts, [num_frames]])).astype(np.int32)
    base = int(rng.integers(0, 256 - num_frames))
    frames = np.broadcast_to(
        (base + np.arange(num_frames, dtype=np.uint8))[:, None, None, None], (num_frames, H, W, 3)
    ).copy()
    frames[:, 0, 0, 0] = rng.integers(0, 256, num_frames)  # make frames of equal base differ
    return {
        "frames": frames,
        "tokens": rng.integers(2, 30, num_tokens).astype(np.int32),
        "durations": durations,
        "landmarks": rng.uniform(0, 5, (num_frames, 20, 2)).astype(np.float32),
        "text": b"bin blue",
        "speaker": np.int32(speaker),
        "id": b"x",
    }


def make_source(seed: int = 0, count: int = 23) -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        num_tokens = int(rng.integers(1, 9))
        num_frames = int(rng.integers(1, 17))
        records.append(make_record(rng, num_tokens, num_frames, speaker=i))
    return records


def brute_force_bucket(num_tokens: int, num_frames: int, buckets) -> tuple[int, int] | None:
    fitting = [(f, t) for t, f in buckets if num_tokens <= t and num_frames <= f]
    if not fitting:
        return None
    f, t = min(fitting)
    return (t, f)


def reference_example(record: dict, max_tokens: int, max_frames: int) -> dict:
    """Independent padding of a record, for comparison (identity excluded)."""
    s, t = len(record["tokens"]), len(record["frames"])
    tokens = np.zeros(max_tokens, np.int32)
    tokens[:s] = record["tokens"]
    durations = np.zeros(max_tokens, np.int32)
    durations[:s] = record["durations"]
    frames = np.zeros((max_frames, H, W, 3), np.float32)
    frames[:t] = record["frames"] / 255.0
    landmarks = np.zeros((max_frames, 20, 2), np.float32)
    landmarks[:t] = record["landmarks"]
    return {
        "tokens": tokens,
        "token_mask": np.array([i < s for i in range(max_tokens)]),
        "durations": durations,
        "frames": frames,
        "frame_mask": np.array([i < t for i in range(max_frames)]),
        "landmarks": landmarks,
        "num_tokens": s,
        "num_frames": t,
        "speaker": int(record["speaker"]),
    }


def take(pipeline: Pipeline, count: int) -> list[dict]:
    return [next(pipeline) for _ in range(count)]


def assert_batches_equal(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert sorted(x) == sorted(y)
        for key in x:
            assert x[key].dtype == y[key].dtype, key
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def identity_frame_index(record: dict, identity: np.ndarray) -> int:
    """Which frame of the record the identity image is (frames are distinct)."""
    frames = record["frames"] / np.float32(255)
    matches = [t for t, frame in enumerate(frames) if np.array_equal(frame, identity)]
    assert len(matches) >= 1
    return matches[0]


# ----------------------------------------------------------------------------------------------


def test_lips_example_padding_exact(rng):
    record = make_record(rng, 5, 9)
    example = lips_example(record, max_tokens=7, max_frames=12, rng=rng, training=False)
    expected = reference_example(record, 7, 12)
    for key, value in expected.items():
        np.testing.assert_array_equal(example[key], value, err_msg=key)
    assert example["tokens"].dtype == np.int32 and example["durations"].dtype == np.int32
    assert example["frames"].dtype == np.float32 and example["token_mask"].dtype == bool
    np.testing.assert_array_equal(example["identity"], record["frames"][0] / np.float32(255))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(1, 40),
    st.lists(st.tuples(st.integers(1, 20), st.integers(1, 40)), min_size=1, max_size=5),
)
def test_choose_bucket_is_smallest_fitting(num_tokens, num_frames, buckets):
    chosen = choose_bucket(num_tokens, num_frames, buckets)
    expected = brute_force_bucket(num_tokens, num_frames, buckets)
    assert (None if chosen is None else tuple(buckets[chosen])) == expected


def test_eval_batches_match_source_and_cover_epoch():
    source = make_source()
    pipeline = Pipeline(
        source, batch_size=3, buckets=BUCKETS, training=False, num_epochs=1,
        process_index=0, process_count=1, prefetch=0,
    )
    seen = []
    for batch in pipeline:
        max_tokens, max_frames = batch["tokens"].shape[1], batch["frames"].shape[1]
        assert batch["frames"].shape == (3, max_frames, H, W, 3)
        assert batch["identity"].shape == (3, H, W, 3)
        for slot in range(3):
            index = int(batch["index"][slot])
            if not batch["example_mask"][slot]:
                assert index == -1
                assert not batch["frame_mask"][slot].any() and not batch["token_mask"][slot].any()
                assert not batch["frames"][slot].any()
                continue
            seen.append(index)
            record = source[index]
            s, t = len(record["tokens"]), len(record["frames"])
            # every example sits in the smallest bucket it fits
            assert (max_tokens, max_frames) == brute_force_bucket(s, t, BUCKETS)
            for key, value in reference_example(record, max_tokens, max_frames).items():
                np.testing.assert_array_equal(batch[key][slot], value, err_msg=key)
            first_frame = record["frames"][0] / np.float32(255)
            np.testing.assert_array_equal(batch["identity"][slot], first_frame)
    assert sorted(seen) == list(range(len(source)))  # evaluation keeps every record once
    assert pipeline.stats["usable"] == len(source)


def test_deterministic_and_epochs_differ():
    source = make_source()
    kwargs = dict(batch_size=2, buckets=BUCKETS, seed=3, process_index=0, process_count=1)
    first = Pipeline(source, **kwargs)
    per_epoch = first.num_batches(0)
    a = take(first, 2 * per_epoch)
    b = take(Pipeline(source, **kwargs, prefetch=0), 2 * per_epoch)
    assert_batches_equal(a, b)
    epoch0 = np.concatenate([x["index"] for x in a[:per_epoch]])
    epoch1 = np.concatenate([x["index"] for x in a[per_epoch:]])
    assert not np.array_equal(epoch0, epoch1)
    other_seed = take(Pipeline(source, **{**kwargs, "seed": 4}), per_epoch)
    assert not np.array_equal(epoch0, np.concatenate([x["index"] for x in other_seed]))
    first.close()


@pytest.mark.parametrize("training", [True, False])
def test_two_processes_see_disjoint_shards_covering_the_epoch(training):
    source = make_source(count=31)
    common = dict(batch_size=2, buckets=BUCKETS, seed=1, training=training, num_epochs=1)
    shards = [
        list(Pipeline(source, **common, process_index=p, process_count=2, prefetch=p))
        for p in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) > 0
    for batch0, batch1 in zip(*shards):  # every step: same bucket on both processes
        assert batch0["frames"].shape == batch1["frames"].shape
        assert batch0["tokens"].shape == batch1["tokens"].shape
    ids = [np.concatenate([b["index"][b["example_mask"]] for b in shard]) for shard in shards]
    assert not set(ids[0]) & set(ids[1])
    assert len(set(ids[0])) == len(ids[0]) and len(set(ids[1])) == len(ids[1])
    # The union is the epoch that one process with the global batch would see.
    single = Pipeline(source, **{**common, "batch_size": 4}, process_index=0, process_count=1)
    epoch = np.concatenate([b["index"][b["example_mask"]] for b in single])
    assert set(ids[0]) | set(ids[1]) == set(epoch)
    if not training:
        assert set(epoch) == set(range(len(source)))


@pytest.mark.parametrize("cut", [1, 4, 6, 9])
def test_resume_equals_uninterrupted(cut):
    source = make_source(count=14)
    kwargs = dict(
        batch_size=2, buckets=BUCKETS, seed=7, process_index=0, process_count=1, prefetch=2
    )
    reference = Pipeline(source, **kwargs)
    per_epoch = reference.num_batches(0)
    total = 3 * per_epoch
    assert 1 < per_epoch < 9  # cuts fall mid-epoch, at and across epoch boundaries
    expected = take(reference, total)
    reference.close()

    interrupted = Pipeline(source, **kwargs)
    head = take(interrupted, cut)
    saved = json.loads(json.dumps(interrupted.state()))
    interrupted.close()
    resumed = Pipeline(source, **kwargs, state=saved)
    assert_batches_equal(head + take(resumed, total - cut), expected)

    # restore() on a pipeline that has moved on rewinds it as well.
    resumed.restore(saved)
    assert_batches_equal(take(resumed, total - cut), expected[cut:])
    resumed.close()


def test_restore_rejects_other_settings():
    source = make_source(count=8)
    pipeline = Pipeline(source, batch_size=2, buckets=BUCKETS, process_index=0, process_count=1)
    state = pipeline.state()
    other = Pipeline(
        source, batch_size=2, buckets=BUCKETS, seed=5, process_index=0, process_count=1
    )
    with pytest.raises(ConfigError, match="seed"):
        other.restore(state)
    with pytest.raises(ConfigError):
        other.restore({"epoch": 0})


class FlakySource(list):
    """A list whose listed indices fail to read (always, or from the n-th read on)."""

    def __init__(self, records, broken=(), broken_after=None):
        super().__init__(records)
        self.broken, self.broken_after, self.reads = set(broken), broken_after or {}, {}

    def __getitem__(self, index):
        self.reads[index] = self.reads.get(index, 0) + 1
        if index in self.broken or self.reads[index] > self.broken_after.get(index, 1 << 30):
            raise OSError(f"corrupt record {index}")
        return super().__getitem__(index)


def test_bad_records_are_skipped_counted_and_warned(rng):
    records = make_source(count=12)
    records[1] = {**records[1], "frames": np.zeros((0, H, W, 3), np.uint8)}  # zero frames
    records[3] = {**records[3], "durations": records[3]["durations"] + 1}  # wrong sum
    records[5] = {**records[5], "landmarks": records[5]["landmarks"][:1, :5]}  # shape mismatch
    records[7] = {k: v for k, v in records[7].items() if k != "tokens"}  # missing field
    records[10] = make_record(rng, 3, 40)  # longer than every bucket
    source = FlakySource(records, broken={9})
    with pytest.warns(UserWarning) as caught:
        pipeline = Pipeline(
            source, batch_size=2, buckets=BUCKETS, training=False, num_epochs=1,
            process_index=0, process_count=1,
        )
    messages = " ".join(str(w.message) for w in caught)
    assert "5 of 12 bad records" in messages and "longer than every bucket" in messages
    stats = pipeline.stats
    assert stats["bad_records"] == 5 and stats["too_long"] == 1 and stats["usable"] == 6
    seen = np.concatenate([b["index"][b["example_mask"]] for b in pipeline])
    assert sorted(seen) == [0, 2, 4, 6, 8, 11]


def test_record_failing_after_measuring_is_masked_not_fatal():
    records = make_source(count=6)
    source = FlakySource(records, broken_after={2: 1})  # readable once (while measuring) only
    pipeline = Pipeline(
        source, batch_size=3, buckets=[(8, 16)], training=False, num_epochs=1,
        process_index=0, process_count=1, prefetch=0,
    )
    with pytest.warns(UserWarning, match="record 2"):
        batches = list(pipeline)
    flat_index = np.concatenate([b["index"] for b in batches])
    flat_mask = np.concatenate([b["example_mask"] for b in batches])
    assert sorted(flat_index[flat_mask]) == [0, 1, 3, 4, 5] and flat_mask.sum() == 5
    assert pipeline.stats["failed_in_transform"] == 1


def test_lips_lengths_reasons(rng):
    record = make_record(rng, 3, 5)
    assert lips_lengths(record) == (3, 5)
    with pytest.raises(BadRecordError, match="sum"):
        lips_lengths({**record, "durations": record["durations"] * 2})
    with pytest.raises(BadRecordError, match="zero frames"):
        lips_lengths({**record, "frames": record["frames"][:0]})


def test_identity_frame_valid_in_training_first_in_eval():
    source = make_source(count=16)
    common = dict(batch_size=4, buckets=BUCKETS, process_index=0, process_count=1, num_epochs=3)
    chosen = []
    for batch in Pipeline(source, **common, training=True):
        for slot in np.flatnonzero(batch["example_mask"]):
            record = source[int(batch["index"][slot])]
            t = identity_frame_index(record, batch["identity"][slot])
            assert t < len(record["frames"]) and batch["frame_mask"][slot, t]
            chosen.append(t)
    assert max(chosen) > 0  # not always the first frame
    for batch in Pipeline(source, **common, training=False):
        for slot in np.flatnonzero(batch["example_mask"]):
            record = source[int(batch["index"][slot])]
            first_frame = record["frames"][0] / np.float32(255)
            np.testing.assert_array_equal(batch["identity"][slot], first_frame)


def prefetch_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "lipjax-prefetch" and t.is_alive()}


def test_prefetch_propagates_exception_and_shuts_down():
    source = make_source(count=12)
    before = prefetch_threads()

    def exploding(record, **kwargs):
        if int(record["speaker"]) == 5:
            raise RuntimeError("boom in the transform")
        return lips_example(record, **kwargs)

    pipeline = Pipeline(
        source, batch_size=1, buckets=[(8, 16)], example_fn=exploding, training=False,
        num_epochs=1, process_index=0, process_count=1, prefetch=2,
    )
    with pytest.raises(RuntimeError, match="boom in the transform"):
        for _ in pipeline:
            pass
    assert pipeline.state()["batch"] == 5  # batches 0-4 were handed out before the failure
    assert prefetch_threads() <= before


def test_close_stops_a_running_prefetch_thread():
    before = prefetch_threads()
    pipeline = Pipeline(
        make_source(count=12), batch_size=1, buckets=[(8, 16)], process_index=0,
        process_count=1, prefetch=1,
    )
    next(pipeline)
    with pipeline:
        next(pipeline)
        assert len(prefetch_threads() - before) == 1
    assert prefetch_threads() <= before
    assert pipeline.state()["batch"] == 2  # and iteration can go on from there
    assert next(pipeline)["tokens"].shape == (1, 8)
    del pipeline  # dropped without close(): garbage collection stops the thread
    import gc

    gc.collect()
    assert prefetch_threads() <= before


def test_too_small_dataset_is_a_clear_error():
    pipeline = Pipeline(
        make_source(count=3), batch_size=8, buckets=[(8, 16)], process_index=0, process_count=1,
        prefetch=0,
    )
    with pytest.raises(DataError, match="smaller batch"):
        next(pipeline)


@pytest.mark.slow
def test_with_synthetic_lips_builder(tmp_path):
    pytest.importorskip(
        "lipjax.data.builders.synthetic_lips", reason="synthetic_lips builder not written yet"
    )
    from lipjax.data.builders import build_dataset, load_split

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_dataset("synthetic_lips", data_dir=tmp_path, config="tiny", progress=False)
    source = load_split("synthetic_lips", "train", data_dir=tmp_path, config="tiny")
    lengths = [lips_lengths(source[i]) for i in range(len(source))]
    max_tokens = max(s for s, _ in lengths)
    max_frames = max(t for _, t in lengths)
    pipeline = Pipeline(
        source, batch_size=2, buckets=[(max_tokens, max_frames)], training=False, num_epochs=1,
        process_index=0, process_count=1,
    )
    batch = next(pipeline)
    assert batch["frames"].shape == (2, max_frames, 80, 160, 3)
    assert batch["landmarks"].shape == (2, max_frames, 20, 2)
    for slot in range(2):
        record = source[int(batch["index"][slot])]
        for key, value in reference_example_any(record, max_tokens, max_frames).items():
            np.testing.assert_array_equal(batch[key][slot], value, err_msg=key)
    pipeline.close()


def reference_example_any(record: dict, max_tokens: int, max_frames: int) -> dict:
    s, t = len(record["tokens"]), len(record["frames"])
    frames = np.zeros((max_frames,) + record["frames"].shape[1:], np.float32)
    frames[:t] = record["frames"] / 255.0
    tokens = np.zeros(max_tokens, np.int32)
    tokens[:s] = record["tokens"]
    return {"frames": frames, "tokens": tokens, "num_frames": t}


def worker_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("lipjax-read") and t.is_alive()}


@pytest.mark.parametrize("training", [True, False])
def test_workers_give_the_same_batches_and_read_in_parallel(training):
    source = make_source(count=23)
    kwargs = dict(batch_size=4, buckets=BUCKETS, seed=5, training=training, num_epochs=2,
                  process_index=0, process_count=1)
    serial = list(Pipeline(source, **kwargs, prefetch=0))
    threads_seen: set[str] = set()

    def recording(record, **kw):
        threads_seen.add(threading.current_thread().name)
        time.sleep(0.002)  # slower than submitting a batch: the pool must use several threads
        return lips_example(record, **kw)

    before = worker_threads()
    pipeline = Pipeline(source, **kwargs, workers=3, example_fn=recording)
    parallel = list(pipeline)
    assert_batches_equal(serial, parallel)
    assert len({n for n in threads_seen if n.startswith("lipjax-read")}) >= 2
    pipeline.close()
    assert worker_threads() <= before


def test_workers_mask_a_failing_record_and_count_it_once():
    records = make_source(count=6)
    source = FlakySource(records, broken_after={2: 1})
    pipeline = Pipeline(source, batch_size=3, buckets=[(8, 16)], training=False, num_epochs=1,
                        process_index=0, process_count=1, prefetch=0, workers=3)
    with pytest.warns(UserWarning, match="record 2"):
        batches = list(pipeline)
    flat_index = np.concatenate([b["index"] for b in batches])
    flat_mask = np.concatenate([b["example_mask"] for b in batches])
    assert sorted(flat_index[flat_mask]) == [0, 1, 3, 4, 5]
    assert pipeline.stats["failed_in_transform"] == 1
    pipeline.close()


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_positive_int(workers):
    with pytest.raises(ConfigError, match="workers"):
        Pipeline(make_source(count=4), batch_size=1, buckets=BUCKETS, workers=workers,
                 process_index=0, process_count=1)


def test_default_workers_one_on_the_cpu_else_the_cpus_up_to_the_limit(monkeypatch):
    import os

    import jax

    from lipjax.data.pipeline import default_workers

    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert default_workers() == 1
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert default_workers() == 4 and default_workers(limit=8) == 8
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert default_workers() == 2
