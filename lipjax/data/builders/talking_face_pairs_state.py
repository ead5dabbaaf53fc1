"""`talking_face_pairs`, the state of a build on disk: record files, per-combination status
files, and the tfds metadata written when every combination is done.

Layout under `--data_dir` (shards may share it, e.g. on a network file system, or write their
own copies whose files are gathered into one folder afterwards):

    talking_face_pairs/default/1.0.0/        the dataset tfds reads
        talking_face_pairs-<split>.array_record-<k>-of-<n>   the records of combination k
        dataset_info.json, features.json, metadata.json      once every combination is done
    talking_face_pairs_build/
        plan.json                             inputs, settings and checkpoint of this build
        done/<split>-<k>.json                 combination k is done: records, skipped files, time

A combination is done when its status file exists. The records file is written first, then the
status, both atomically (`lipjax.files`): a build killed at any point has finished
combinations (both files) and unfinished ones (at most a records file, rewritten when resumed),
never a half-written file. Split sizes come from the status files, checked against the record
files, so a gathered copy missing a file is refused instead of read short.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Sequence

from lipjax.data.builders.talking_face_pairs import NAME, TalkingFacePairs, dataset_folder
from lipjax.data.builders.talking_face_pairs_plan import Combination, PairPlan
from lipjax.errors import DataError
from lipjax.files import atomic_path, write_json

__all__ = ["WORK_FOLDER", "work_folder", "record_path", "status_path", "write_records",
           "write_status", "done_names", "read_statuses", "skipped_inputs", "summary",
           "finalize", "is_built"]

WORK_FOLDER = f"{NAME}_build"


def work_folder(data_dir: str | os.PathLike) -> Path:
    """The build folder (plan and status files) under `data_dir`."""
    return Path(data_dir) / WORK_FOLDER


def is_built(data_dir: str | os.PathLike) -> bool:
    """Whether the dataset's metadata is written (tfds reads it as built)."""
    return (dataset_folder(data_dir) / "dataset_info.json").is_file()


def _template(dataset: Path, split: str) -> Any:
    import tensorflow_datasets as tfds
    from etils import epath

    return tfds.core.ShardedFileTemplate(
        data_dir=epath.Path(dataset), template="{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
        dataset_name=NAME, split=split, filetype_suffix="array_record")


def record_path(dataset: Path, combo: Combination) -> Path:
    """The records file of `combo`: file `file_index` of its split, named as tfds names them."""
    return Path(_template(dataset, combo.split).sharded_filepath(
        shard_index=combo.file_index, num_shards=combo.split_files))


def status_path(work: Path, combo: Combination) -> Path:
    """The status file that marks `combo` done."""
    return work / "done" / f"{combo.split}-{combo.file_index:05d}.json"


def write_records(path: Path, records: Sequence[dict], features: Any) -> None:
    """Serialises `records` with the dataset's `features` into one array_record file,
    atomically (an empty list makes an empty file)."""
    from array_record.python.array_record_module import ArrayRecordWriter

    def write(temp_path: str) -> None:
        writer = ArrayRecordWriter(temp_path, "group_size:1")  # as tfds writes them
        try:
            for record in records:
                writer.write(features.serialize_example(record))
        finally:
            writer.close()

    atomic_path(path, write)


def write_status(work: Path, combo: Combination, status: dict) -> None:
    """Marks `combo` done (atomically) in build folder `work`: its record count, skipped inputs
    and time."""
    write_json(status_path(work, combo), {"combination": combo.index, "video": combo.video,
                                          "audio": combo.audio, **status})


def done_names(work: Path) -> set[str]:
    """The names of the status files written so far."""
    folder = work / "done"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def read_statuses(work: Path, combos: Sequence[Combination]) -> list[dict]:
    """The status of each of `combos` (all must be done)."""
    return [json.loads(status_path(work, c).read_text()) for c in combos]


def skipped_inputs(statuses: Sequence[dict]) -> list[dict]:
    """`{"path", "reason"}` of every unreadable input file named in `statuses`, sorted."""
    skipped: dict[str, str] = {}
    for status in statuses:
        for skip in status["skipped"]:
            skipped.setdefault(skip["path"], skip["reason"])
    return [{"path": p, "reason": r} for p, r in sorted(skipped.items())]


def summary(plan: PairPlan, statuses: Sequence[dict]) -> dict:
    """The build's `info.metadata`: settings, counts, skipped files and Wav2Lip time."""
    frames = sum(s["frames"] for s in statuses)
    seconds = sum(s["seconds"] for s in statuses)
    skipped = skipped_inputs(statuses)
    return {
        "settings": dataclasses.asdict(plan.settings),
        "num_videos": len(plan.videos), "num_audios": len(plan.audios),
        "combinations": len(statuses),
        "combinations_without_records": sum(s["records"] == 0 for s in statuses),
        "records": sum(s["records"] for s in statuses),
        "output_frames": frames, "wav2lip_seconds": seconds,
        "seconds_per_output_frame": seconds / frames if frames else None,
        "frames_without_face": sum(s["frames_without_face"] for s in statuses),
        "skipped": skipped, "num_skipped": len(skipped),
    }


def _split_infos(dataset: Path, work: Path, plan: PairPlan, statuses: Sequence[dict]) -> list:
    """tfds SplitInfos from the status files, each record file checked to hold its count."""
    import tensorflow_datasets as tfds
    from array_record.python.array_record_module import ArrayRecordReader

    lengths: dict[str, list[int]] = {s: [] for s in plan.split_sizes()}
    sizes = dict.fromkeys(lengths, 0)
    for combo, status in zip(plan.combinations, statuses):
        path = record_path(dataset, combo)
        if not path.is_file():
            raise DataError(f"{path} is missing although combination {combo.index} "
                            f"({combo.video} + {combo.audio}) is marked done; copy it from the "
                            f"shard that built it, or delete {status_path(work, combo)} to "
                            "build it again")
        reader = ArrayRecordReader(os.fspath(path))
        count = reader.num_records()
        reader.close()
        if count != status["records"]:
            raise DataError(f"{path} holds {count} records but its status "
                            f"{status_path(work, combo)} says {status['records']}; delete both "
                            "to build that combination again")
        lengths[combo.split].append(count)
        sizes[combo.split] += path.stat().st_size
    return [tfds.core.SplitInfo(name=s, shard_lengths=lengths[s], num_bytes=sizes[s],
                                filename_template=_template(dataset, s)) for s in lengths]


def finalize(data_dir: str | os.PathLike, plan: PairPlan) -> dict:
    """Writes the dataset's tfds metadata (every combination must be done); returns
    `info.metadata`. Idempotent: shards finishing together write the same files."""
    import tensorflow_datasets as tfds

    dataset, work = dataset_folder(data_dir), work_folder(data_dir)
    statuses = read_statuses(work, plan.combinations)
    infos = _split_infos(dataset, work, plan, statuses)
    for stale in dataset.glob(f".{NAME}-*.tmp"):  # left by builds killed while writing
        stale.unlink(missing_ok=True)
    builder = TalkingFacePairs(data_dir=os.fspath(data_dir), file_format="array_record")
    meta = summary(plan, statuses)
    builder.info.metadata.update(meta)
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.info.write_to_directory(dataset)  # dataset_info.json last: then it reads as built
    return meta
