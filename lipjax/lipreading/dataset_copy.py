"""A copy of a built lips dataset whose durations come from a lipreader's alignment.

ParaLip trains on `durations` unchanged; only where they come from differs (ParaLip, AAAI 2022,
Sec. 6). The copy is the same dataset (same name, builder config and version, every split,
every other field and the same example order) in another data folder, written by the dataset's
own tfds builder class with its examples read from the original, so a config switches to it
with `data.data_dir` alone:

    out_dir/<name>/<config>/<version>/   array_record files, dataset_info.json (tfds), and
                                         alignment.json: the lipreader, its step, and how far
                                         the new durations are from the stored ones

Every split is aligned (kept in memory: durations only) before anything is written; tfds then
writes into a temporary folder and renames it, and a failure removes what this call created.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from lipjax.errors import DataError, InputError
from lipjax.files import write_json

__all__ = ["aligned_durations", "write_aligned_copy", "duration_agreement", "check_vocabulary",
           "ALIGNMENT_FILE", "DATASET_VOCABULARIES"]

ALIGNMENT_FILE = "alignment.json"
# The vocabulary each lipjax lips corpus is tokenised with (`config.data.vocabulary` names).
DATASET_VOCABULARIES = {"synthetic_lips": "grid_chars", "grid": "grid_chars",
                        "tcd_timit": "phonemes"}


def check_vocabulary(lipreader_config, name: str) -> None:
    """Raises DataError when dataset `name` is tokenised with another vocabulary than the
    lipreader's `data.vocabulary` (token ids of one mean nothing to the other). Datasets lipjax
    does not know are checked record by record (ids within the vocabulary) instead."""
    expected = DATASET_VOCABULARIES.get(name)
    vocabulary = lipreader_config.data.get("vocabulary", "grid_chars")
    if expected is not None and vocabulary != expected:
        shown = vocabulary if isinstance(vocabulary, str) else dict(vocabulary).get("name")
        raise DataError(f"dataset {name!r} is tokenised with {expected!r} but the lipreader "
                        f"was trained on {shown!r} tokens; train a lipreader on {name} (or a "
                        f"corpus with the same vocabulary) first")


def duration_agreement(predicted: Sequence[np.ndarray], stored: Sequence[np.ndarray]
                       ) -> dict[str, float]:
    """Mean |predicted - stored| frames per token and the fraction of exactly equal tokens,
    over the records whose stored durations are one per token (`tokens`: how many)."""
    pairs = [(np.asarray(p, np.int64), np.asarray(s, np.int64))
             for p, s in zip(predicted, stored) if np.shape(p) == np.shape(s)]
    if not pairs:
        return {"abs_error": float("nan"), "exact": float("nan"), "tokens": 0}
    difference = np.abs(np.concatenate([p - s for p, s in pairs]))
    return {"abs_error": float(difference.mean()), "exact": float(np.mean(difference == 0)),
            "tokens": int(difference.size)}


def aligned_durations(aligner, source: Sequence[Mapping[str, Any]], *, desc: str = "align",
                      progress: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`(MAS durations, stored durations)` of every record of a random-access split, in order
    (each record is read once; a record without durations has an empty array)."""
    stored: list[np.ndarray] = []

    def records():
        for index in tqdm(range(len(source)), desc=desc, disable=not progress, leave=False):
            record = source[index]
            stored.append(np.asarray(record.get("durations", np.zeros(0, np.int32))))
            yield record

    return aligner.durations(records()), stored


def _copy_path(builder, out_dir: str) -> Path:
    config = builder.builder_config.name if builder.builder_config else ""
    return Path(out_dir, builder.name, config, str(builder.version))


def _check_out_dir(data_dir: str, out_dir: str, builder) -> None:
    if os.path.realpath(out_dir) == os.path.realpath(data_dir):
        raise InputError(f"--out_dir {out_dir!r} is the dataset's own --data_dir; the copy "
                         "needs another folder (the original stays as it is)")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(f"--out_dir {out_dir!r} is a file, not a folder")
    existing = _copy_path(builder, out_dir)
    if existing.exists():
        raise InputError(f"{str(existing)!r} exists already; remove it or choose another "
                         "--out_dir")
    parent = os.path.abspath(out_dir)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out_dir {out_dir!r} is not writable ({parent!r})")


def _copy_builder_class(original: type, durations: Mapping[str, list[np.ndarray]],
                        sources: Mapping[str, Sequence[Mapping[str, Any]]]) -> type:
    """The dataset's builder class, generating the original examples with new durations."""

    class AlignedCopy(original, skip_registration=True):  # type: ignore[misc, valid-type]
        name = original.name
        MANUAL_DOWNLOAD_INSTRUCTIONS = None

        def _split_generators(self, dl_manager):
            del dl_manager
            return {split: self._aligned(split) for split in durations}

        def _aligned(self, split: str):
            source, new = sources[split], durations[split]
            for index in range(len(source)):
                record = dict(source[index])
                key = record["id"].decode() if isinstance(record["id"], bytes) else record["id"]
                record["durations"] = new[index]
                yield key, record

    AlignedCopy.__module__ = original.__module__  # tfds reads the builder's code path there
    return AlignedCopy


def write_aligned_copy(aligner, name: str, *, data_dir: str, out_dir: str,
                       config: str | None = None, overrides: Mapping[str, Any] | None = None,
                       progress: bool = True) -> dict[str, Any]:
    """Aligns every split of a built dataset with `aligner` (`lipjax.lipreading.Aligner`) and
    writes the copy into `out_dir`.

    Returns:
      The report written to `alignment.json` (also: `path`, the copy's folder).

    Raises:
      DataError: the dataset is not built, or a record the lipreader cannot align (named).
      InputError: `out_dir` is `data_dir`, not writable, or already holds this copy.
    """
    import tensorflow_datasets as tfds

    from lipjax.data.builders import get_builder, load_split

    start = time.perf_counter()
    check_vocabulary(aligner.config, name)
    builder = get_builder(name, data_dir=data_dir, config=config, **dict(overrides or {}))
    splits = sorted(builder.info.splits.keys()) if builder.is_prepared() else []
    sources = {s: load_split(name, s, data_dir=data_dir, config=config, **dict(overrides or {}))
               for s in splits or ["train"]}  # not built: load_split names the build command
    _check_out_dir(data_dir, out_dir, builder)
    durations: dict[str, list[np.ndarray]] = {}
    report: dict[str, Any] = {"lipreader": os.path.abspath(aligner.workdir),
                              "lipreader_step": aligner.step, "dataset": name,
                              "source": os.path.abspath(_copy_path(builder, data_dir)),
                              "splits": {}}
    for split, source in sources.items():
        try:
            durations[split], stored = aligned_durations(aligner, source, desc=f"align {split}",
                                                         progress=progress)
        except DataError as error:
            raise DataError(f"{name} {split}: {error}") from None
        report["splits"][split] = {"examples": len(source),
                                   "vs_stored": duration_agreement(durations[split], stored)}
    created = not os.path.exists(out_dir)
    try:
        cls = _copy_builder_class(type(builder), durations, sources)
        copy = cls(data_dir=out_dir, config=builder.builder_config, file_format="array_record")
        (tfds.enable_progress_bar if progress else tfds.disable_progress_bar)()
        copy.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False),
            file_format="array_record")
        report["seconds"] = round(time.perf_counter() - start, 1)
        path = _copy_path(builder, out_dir)
        write_json(path / ALIGNMENT_FILE, report, indent=2)
    except BaseException:
        shutil.rmtree(out_dir if created else _copy_path(builder, out_dir), ignore_errors=True)
        raise
    return {**report, "path": str(path)}
