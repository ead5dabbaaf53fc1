"""Building `talking_face_pairs`: inputs checked before anything is written, the resumable,
shardable local build, and tfds's Apache Beam path.

    report = build_pairs(PairInputs("videos/", "audios/", "wav2lip_gan.pth"), "data/",
                         PairSettings(per_video=4), shard=(0, 2))
    print(report.summary())

A local build renders the combinations of its shard that are not done yet, one (video, audio)
combination at a time (videos are opened once for all of their consecutive combinations), and
marks each done on disk (`talking_face_pairs_state`): running the same command again resumes
it. Input files that cannot be read (a video or audio that does not decode, a video without a
soundtrack or without a face) are skipped: their combinations are done with no records, and
the status names the file and the reason; the report and the dataset's metadata list them.
When the last combination of the plan is done -- whichever shard finishes it -- the tfds
metadata is written and the dataset reads as built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from lipjax.data.builders.talking_face_pairs import (
    NAME, PairJob, TalkingFacePairs, dataset_folder, share_editor)
from lipjax.data.builders.talking_face_pairs_plan import (
    AUDIO_SUFFIXES, VIDEO_SUFFIXES, Combination, PairPlan, PairSettings, make_plan, media_files)
from lipjax.data.builders.talking_face_pairs_render import (
    UNREADABLE, Skip, load_driving_audio, open_video, render_combination)
from lipjax.data.builders.talking_face_pairs_state import (
    done_names, finalize, is_built, read_statuses, record_path, skipped_inputs, status_path,
    summary, work_folder, write_records, write_status)
from lipjax.errors import CheckpointError, ConfigError, DataError, InputError
from lipjax.files import write_json
from lipjax.lipsync.source import output_frame_count

__all__ = ["PairInputs", "BuildReport", "prepare", "build_pairs", "build_with_beam",
           "render_one"]


@dataclasses.dataclass(frozen=True)
class PairInputs:
    """The folders of real videos (with their soundtracks) and of audios, and the Wav2Lip
    checkpoint (a published `.pth`, or a converted or trained lipjax workdir)."""

    videos: str
    audios: str
    wav2lip: str


@dataclasses.dataclass(frozen=True)
class BuildReport:
    """What a build call did; `summary()` is what `lipjax data build` prints."""

    dataset_dir: str
    shard: tuple[int, int]
    shard_combinations: int
    rendered: int  # combinations rendered by this call
    done: int  # combinations of the whole plan done (any shard)
    total: int
    complete: bool
    splits: dict[str, int]  # records per split (when complete)
    skipped: tuple[dict, ...]  # {"path", "reason"} of every unreadable input seen so far
    output_frames: int  # frames Wav2Lip made in this call
    seconds: float  # wall time of this call's Wav2Lip passes

    def summary(self) -> str:
        index, count = self.shard
        lines = [f"shard {index}/{count}: {self.rendered} of its {self.shard_combinations} "
                 f"combinations rendered now, {self.done} of {self.total} done in all"]
        if self.output_frames:
            lines.append(f"Wav2Lip: {self.output_frames} frames in {self.seconds:.1f} s "
                         f"({self.seconds / self.output_frames:.4f} s per output frame)")
        if self.complete:
            sizes = ", ".join(f"{k}: {v} records" for k, v in sorted(self.splits.items()))
            lines.append(f"built {NAME} in {self.dataset_dir} ({sizes})")
        else:
            lines.append("the dataset is complete when every shard is done (run the other "
                         "shards, or this command again after an interruption)")
        lines.append(f"skipped {len(self.skipped)} unreadable input file(s)"
                     + (":" if self.skipped else ""))
        lines += [f"  {s['path']}: {s['reason']}" for s in self.skipped]
        return "\n".join(lines)


def _fingerprint(path: Path) -> str:
    """sha1 of a checkpoint file, or of a workdir's config and checkpoints (relative paths and
    bytes; its logs may grow without changing the model)."""
    digest = hashlib.sha1()
    files = [path] if path.is_file() else sorted(
        p for p in [path / "config.json", *(path / "checkpoints").rglob("*")] if p.is_file())
    for file in files:
        digest.update(file.relative_to(path.parent if path.is_file() else path).as_posix()
                      .encode())
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _load_editor(checkpoint: str):
    """The Wav2Lip editor of `checkpoint` (CheckpointError / ConfigError when it is not one)."""
    from lipjax.lipsync.editor import load_face_editor
    from lipjax.wav2lip.generator import Wav2LipFaceEditor

    path = Path(checkpoint)
    if not path.exists():
        raise CheckpointError(f"--wav2lip {checkpoint!r} does not exist; give Wav2Lip's .pth or "
                              "a converted or trained Wav2Lip workdir")
    try:
        editor = load_face_editor(path)
    except InputError as error:
        raise CheckpointError(f"--wav2lip {checkpoint!r}: {error}") from error
    if not isinstance(editor, Wav2LipFaceEditor):
        raise ConfigError(f"--wav2lip {checkpoint!r} holds a {type(editor).__name__}, not "
                          "Wav2Lip; the pairs are made by Wav2Lip (DCK paper, Sec. IV)")
    return editor


def _check_existing(work: Path, identity: dict, mode: str) -> None:
    """A build already started in `work` must be this one (same plan, checkpoint and mode)."""
    plan_file = work / "plan.json"
    if not plan_file.exists():
        return
    stored = json.loads(plan_file.read_text())
    if stored.get("mode") != mode:
        raise DataError(f"{work.parent} holds a {stored.get('mode')} build of {NAME}; finish it "
                        f"there or use another --data_dir for a {mode} build")
    if stored.get("plan") != identity:
        changed = [k for k in identity if stored.get("plan", {}).get(k) != identity[k]]
        raise DataError(f"{work.parent} holds a {NAME} build with other {', '.join(changed)}; "
                        "resume it with the same inputs and options, or use another --data_dir")


def prepare(inputs: PairInputs, data_dir: str | os.PathLike, settings: PairSettings, *,
            mode: str = "local", editor: Any = None) -> tuple[PairPlan, Any, dict]:
    """Checks everything before any file is written: the folders and their files, the settings,
    the checkpoint (loaded: a Wav2Lip editor) and an earlier build in `data_dir`.

    Returns:
      `(plan, editor, identity)`; `editor` may be given (loaded from `inputs.wav2lip` before).

    Raises:
      InputError, CheckpointError, ConfigError, DataError: naming what is wrong.
    """
    settings.validate()
    plan = make_plan(media_files(inputs.videos, VIDEO_SUFFIXES, "videos"),
                     media_files(inputs.audios, AUDIO_SUFFIXES, "audios"), settings)
    editor = editor if editor is not None else _load_editor(inputs.wav2lip)
    identity = {**plan.identity(), "wav2lip": _fingerprint(Path(inputs.wav2lip))}
    _check_existing(work_folder(data_dir), identity, mode)
    return plan, editor, identity


def render_one(editor: Any, combo: Combination, open_video_fn: Callable[[str], Any],
               audios: str, settings: PairSettings) -> tuple[list[dict], dict]:
    """The records of `combo` and its status; an unreadable input gives no records and a skip."""
    status = {"records": 0, "frames": 0, "seconds": 0.0, "frames_without_face": 0,
              "skipped": []}
    try:
        video = open_video_fn(combo.video)
    except UNREADABLE as error:
        status["skipped"] = [dataclasses.asdict(Skip(f"videos/{combo.video}", str(error)))]
        return [], status
    try:
        wav_b = load_driving_audio(audios, combo.audio, editor)
        output_frame_count(len(wav_b), sample_rate=editor.sample_rate, fps=video.fps)  # >= 1
    except UNREADABLE as error:
        status["skipped"] = [dataclasses.asdict(Skip(f"audios/{combo.audio}", str(error)))]
        return [], status
    records, stats = render_combination(editor, video, wav_b, combo,
                                        clip_frames=settings.clip_frames,
                                        batch_size=settings.batch_size)
    return records, {**status, **stats, "records": len(records)}


class _VideoCache:
    """The video being paired (open until the next one), or why it could not be opened."""

    def __init__(self, root: str, editor: Any):
        self.root, self.editor = root, editor
        self.name, self.video, self.error = None, None, None

    def __call__(self, name: str):
        if name != self.name:
            self.close()
            self.name = name
            try:
                self.video = open_video(self.root, name, self.editor)
            except UNREADABLE as error:
                self.error = error
        if self.error is not None:
            raise self.error
        return self.video

    def close(self) -> None:
        if self.video is not None:
            self.video.close()
        self.name, self.video, self.error = None, None, None


def _report(data_dir, plan: PairPlan, shard: tuple[int, int], rendered: int, frames: int,
            seconds: float) -> BuildReport:
    """The report of a call; writes the dataset's metadata when the whole plan is done."""
    work = work_folder(data_dir)
    names = done_names(work)
    finished = [c for c in plan.combinations if status_path(work, c).name in names]
    statuses = read_statuses(work, finished)
    complete = len(finished) == len(plan.combinations)
    if complete and not is_built(data_dir):
        finalize(data_dir, plan)
    splits: dict[str, int] = {}
    if complete:
        for combo, status in zip(finished, statuses):
            splits[combo.split] = splits.get(combo.split, 0) + status["records"]
    return BuildReport(os.fspath(dataset_folder(data_dir)), shard, len(plan.shard(*shard)),
                       rendered, len(finished), len(plan.combinations), complete, splits,
                       tuple(skipped_inputs(statuses)), frames, seconds)


def _start(data_dir, identity: dict, mode: str) -> Path:
    """Creates the folders of a build and records its plan (once). A Beam build leaves the
    dataset folder to tfds, which writes it elsewhere and renames it when complete."""
    work = work_folder(data_dir)
    (work / "done").mkdir(parents=True, exist_ok=True)
    if mode == "local":
        dataset_folder(data_dir).mkdir(parents=True, exist_ok=True)
    if not (work / "plan.json").exists():
        write_json(work / "plan.json", {"mode": mode, "plan": identity})
    return work


def build_pairs(inputs: PairInputs, data_dir: str | os.PathLike,
                settings: PairSettings = PairSettings(), *, shard: tuple[int, int] = (0, 1),
                progress: bool = True, editor: Any = None) -> BuildReport:
    """Renders shard `shard = (I, N)` of the plan into `data_dir` (see the module docstring):
    only combinations not done yet, so running it again resumes an interrupted build. When the
    whole plan is done (this shard was the last), the dataset's metadata is written.

    Args:
      inputs: the video and audio folders and the Wav2Lip checkpoint.
      data_dir: the datasets folder (as for every `lipjax data build`).
      settings: what to build (see `PairSettings`); a resumed build must pass the same.
      shard: `(I, N)`, `0 <= I < N`.
      progress: a tqdm bar over this shard's combinations.
      editor: the Wav2Lip editor of `inputs.wav2lip`, if already loaded.

    Raises:
      InputError, CheckpointError, ConfigError, DataError: before anything is written.
    """
    index, count = shard
    if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
        raise InputError(f"shard must be (I, N) with 0 <= I < N, got {shard!r}")
    plan, editor, identity = prepare(inputs, data_dir, settings, editor=editor)
    if is_built(data_dir):
        return _report(data_dir, plan, shard, 0, 0, 0.0)
    work = _start(data_dir, identity, "local")
    features = TalkingFacePairs(data_dir=os.fspath(data_dir)).info.features
    mine = plan.shard(index, count)
    names = done_names(work)
    todo = [c for c in mine if status_path(work, c).name not in names]
    videos = _VideoCache(inputs.videos, editor)
    frames, seconds = 0, 0.0
    try:
        with tqdm(total=len(mine), initial=len(mine) - len(todo), unit="pair",
                  desc=f"{NAME} shard {index}/{count}", disable=not progress) as bar:
            for combo in todo:
                records, status = render_one(editor, combo, videos, inputs.audios, settings)
                write_records(record_path(dataset_folder(data_dir), combo), records, features)
                write_status(work, combo, status)
                frames, seconds = frames + status["frames"], seconds + status["seconds"]
                bar.update(1)
    finally:
        videos.close()
    return _report(data_dir, plan, shard, len(todo), frames, seconds)


def build_with_beam(inputs: PairInputs, data_dir: str | os.PathLike,
                    settings: PairSettings = PairSettings(), *,
                    beam_options: str = "--runner=DirectRunner", editor: Any = None
                    ) -> BuildReport:
    """Builds the whole plan with tfds's Apache Beam path (`pip install 'lipjax[beam]'`):
    `beam_options` are Beam's command-line options (e.g. `--runner=DataflowRunner --project=..
    --temp_location=gs://..`; workers need lipjax and read the inputs from paths they can see).
    The runner spreads and retries the work; resuming is the runner's job, not lipjax's.

    Raises:
      ConfigError: Apache Beam is not installed. The errors of `build_pairs`.
    """
    import tensorflow_datasets as tfds

    try:
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError as error:
        raise ConfigError("the Beam path needs Apache Beam: pip install 'lipjax[beam]'"
                          ) from error
    plan, editor, identity = prepare(inputs, data_dir, settings, mode="beam", editor=editor)
    if is_built(data_dir):
        return _report(data_dir, plan, (0, 1), 0, 0, 0.0)
    work = _start(data_dir, identity, "beam")
    wav2lip = os.path.abspath(inputs.wav2lip)
    share_editor(wav2lip, editor)  # a runner in this process (DirectRunner) reuses it
    job = PairJob(plan, os.path.abspath(inputs.videos), os.path.abspath(inputs.audios),
                  wav2lip, os.fspath(work.absolute()))
    builder = TalkingFacePairs(data_dir=os.fspath(data_dir), job=job, file_format="array_record")
    builder.download_and_prepare(file_format="array_record", download_config=(
        tfds.download.DownloadConfig(beam_options=PipelineOptions(shlex.split(beam_options)),
                                     try_download_gcs=False)))
    statuses = read_statuses(work, plan.combinations)
    builder.info.metadata.update(summary(plan, statuses))
    builder.info.write_to_directory(builder.data_dir)
    frames, seconds = sum(s["frames"] for s in statuses), sum(s["seconds"] for s in statuses)
    return _report(data_dir, plan, (0, 1), len(statuses), frames, seconds)
