"""tensorflow-datasets builder of `talking_face_pairs`: the DCK paper's mixed dataset of real
videos and their Wav2Lip re-synced versions (Ye et al., IEEE TMM 2022, Sec. IV).

    lipjax data build talking_face_pairs --videos DIR --audios DIR --wav2lip CKPT \\
        [--per_video N] [--shard I/N] --data_dir DIR
    source = lipjax.data.builders.load_split("talking_face_pairs", "train", data_dir=DIR)

Each example is one clip of a (real video, audio) combination, in the record format of
`synthetic_talking_faces` that DCK training reads (`lipjax.data.pairs`): `frames_a` (the real
clip) and `frames_b` (Wav2Lip's re-synced clip, same identity and head motion, other lips),
`audio_a` (the video's own audio) and `audio_b` (the audio it was re-synced to), `face_boxes`,
`landmarks_a` / `landmarks_b` (NaN: unknown for real faces), `fps`, `identity` (the video's
index), `pair_id`, and where it comes from: `video`, `audio`, `clip_start` (frame), `region`
(the stored box of the source frames). Frames are `[T, H, W, 3]` with H, W varying per record.
How the clips are made: `talking_face_pairs_render`; which combinations: `talking_face_pairs_plan`.

Two ways to build it, both writing array_record files that `as_data_source()` reads:

* local (`talking_face_pairs_build`): resumable and shardable, one record file per
  combination written by lipjax itself, the dataset's metadata written once every combination
  of every shard is done;
* Apache Beam (`pip install 'lipjax[beam]'`, `--beam "--runner=..."`): tfds's own Beam path,
  this builder's `_split_generators` with a Beam pipeline, for a runner that spreads the work
  over machines (Dataflow, Flink, Spark; the DirectRunner locally).

The build settings, the list of skipped input files and the measured Wav2Lip time are in
`builder.info.metadata` (see `talking_face_pairs_build.finalize`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

from lipjax.data.builders._common import NUM_MOUTH_LANDMARKS, LocalCodePath
from lipjax.data.builders.talking_face_pairs_plan import Combination, PairPlan
from lipjax.errors import DataError

__all__ = ["TalkingFacePairs", "PairJob", "record_features", "render_examples",
           "dataset_folder", "share_editor"]

NAME = "talking_face_pairs"


def record_features() -> tfds.features.FeaturesDict:
    """The features of a pair record (see the module docstring)."""
    frames = tfds.features.Tensor(shape=(None, None, None, 3), dtype=np.uint8, encoding="zlib")
    audio = tfds.features.Tensor(shape=(None,), dtype=np.float32, encoding="zlib")
    marks = tfds.features.Tensor(shape=(None, NUM_MOUTH_LANDMARKS, 2), dtype=np.float32,
                                 encoding="zlib")
    return tfds.features.FeaturesDict({
        "frames_a": frames, "frames_b": frames, "audio_a": audio, "audio_b": audio,
        "landmarks_a": marks, "landmarks_b": marks,
        "face_boxes": tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
        "fps": tfds.features.Scalar(dtype=np.float32),
        "identity": tfds.features.Scalar(dtype=np.int32),
        "pair_id": tfds.features.Text(),
        "video": tfds.features.Text(),
        "audio": tfds.features.Text(),
        "clip_start": tfds.features.Scalar(dtype=np.int32),
        "region": tfds.features.Tensor(shape=(4,), dtype=np.int32),
    })


@dataclasses.dataclass(frozen=True)
class PairJob:
    """What a Beam build renders: the plan, the input folders, the checkpoint, and the build
    folder (`talking_face_pairs_state.WORK_FOLDER`) where each combination's status (records, skipped files, time) is
    written."""

    plan: PairPlan
    videos: str
    audios: str
    wav2lip: str
    work_dir: str


class TalkingFacePairs(LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """Real videos paired with their Wav2Lip re-synced versions (read it with
    `as_data_source()`; build it with `lipjax data build talking_face_pairs`).

    Args:
      job: only for a Beam build (`talking_face_pairs_build.build_with_beam`); reading needs
        none.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(
        name="default", description="Settings of the build are in info.metadata['settings'].")]
    DEFAULT_CONFIG_NAME = "default"

    def __init__(self, *, job: PairJob | None = None, **kwargs: Any):
        self._job = job
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "The DCK paper's mixed dataset: clips of real talking-face videos paired with "
                "Wav2Lip's re-synced versions of them (same identity and head motion, lips of "
                "another audio), with both audios."),
            features=record_features(),
            metadata=tfds.core.MetadataDict(),
            homepage="https://github.com/lipjax/lipjax",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager, pipeline=None):
        del dl_manager, pipeline  # nothing to download; each split is its own Beam branch
        if self._job is None:
            raise DataError(
                "talking_face_pairs is built from your videos and audios with Wav2Lip: run "
                "`lipjax data build talking_face_pairs --videos DIR --audios DIR --wav2lip "
                "CKPT --data_dir DIR` first")
        splits = self._job.plan.split_sizes()
        return {split: self._generate_examples(split) for split in splits}

    def _generate_examples(self, split: str):
        import apache_beam as beam

        combos = [c for c in self._job.plan.combinations if c.split == split]
        return (f"combinations_{split}" >> beam.Create(combos)
                | f"wav2lip_{split}" >> beam.FlatMap(render_examples, job=self._job))


# A Beam worker keeps its Wav2Lip editor and the video it opened last (combinations arrive in
# any order; consecutive ones of the same video reuse its decoded frames and face boxes).
_WORKER: dict[str, Any] = {}


def share_editor(checkpoint: str, editor: Any) -> None:
    """Lets Beam workers in this process use `editor`, already loaded from `checkpoint`."""
    _WORKER.update(checkpoint=checkpoint, editor=editor)


def _worker_editor(checkpoint: str) -> Any:
    from lipjax.lipsync.editor import load_face_editor

    if _WORKER.get("checkpoint") != checkpoint:
        _WORKER["editor"] = load_face_editor(checkpoint)
        _WORKER["checkpoint"] = checkpoint
    return _WORKER["editor"]


def _worker_video(job: PairJob, name: str, editor: Any):
    from lipjax.data.builders.talking_face_pairs_render import open_video

    opened = _WORKER.get("video")
    if opened is not None and opened.name == name and _WORKER.get("videos") == job.videos:
        return opened
    if opened is not None:
        opened.close()
        _WORKER.pop("video")
    opened = open_video(job.videos, name, editor)
    _WORKER.update(video=opened, videos=job.videos)
    return opened


def render_examples(combo: Combination, job: PairJob) -> Iterator[tuple[str, dict]]:
    """A Beam step: the `(pair_id, record)` examples of one combination; its status (records,
    skipped input files, Wav2Lip time) is written to `job.status_dir` as in a local build."""
    from lipjax.data.builders.talking_face_pairs_build import render_one
    from lipjax.data.builders.talking_face_pairs_state import write_status

    editor = _worker_editor(job.wav2lip)
    records, status = render_one(
        editor, combo, lambda name: _worker_video(job, name, editor), job.audios,
        job.plan.settings)
    write_status(Path(job.work_dir), combo, status)
    for record in records:
        yield record["pair_id"], record


def dataset_folder(data_dir: str | os.PathLike) -> Path:
    """Where the built dataset lives under `data_dir` (tfds's data_dir/name/config/version)."""
    return Path(data_dir) / NAME / "default" / str(TalkingFacePairs.VERSION)
