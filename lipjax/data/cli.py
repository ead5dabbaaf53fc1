"""`lipjax data build` and `lipjax data show`.

    lipjax data build NAME --data_dir DIR [--manual_dir DIR] [--config tiny] [--set key=value ...]
    lipjax data build talking_face_pairs --videos DIR --audios DIR --wav2lip CKPT
        [--per_video N] [--shard I/N] [--beam [OPTIONS]] --data_dir DIR
    lipjax data show NAME --data_dir DIR [--split test] [--examples 4] [--out sheet.png]

Inputs are checked before tfds touches the disk: `--data_dir` must be (or be creatable as) a
writable folder, a corpus downloaded by hand (grid, tcd_timit) needs `--manual_dir`, a
non-empty folder, and `data show` needs a writable `--out` .png and at most
`MAX_SHEET_ITEMS` examples and frames. A build that fails anyway (e.g. `--set num_speakers=0`
yields no examples) removes every folder it created under `--data_dir`; folders that existed
before are never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

from lipjax.overrides import add_override_arguments, parse_overrides

__all__ = ["register_data", "MAX_SHEET_ITEMS", "check_split_spec"]

MAX_SHEET_ITEMS = 64  # examples (rows) and frames (columns) of a contact sheet, each
_SCANNED_DEPTH = 3  # data_dir/name/config/version: where tfds creates folders
# A tfds split: a name with an optional slice, e.g. test, train[:80%], train[10:20]; "+" joins.
_SPLIT_PART = re.compile(r"^(\w+)(?:\[(-?\d+%?)?:(-?\d+%?)?\])?$")


def _empty_slice(start: str | None, end: str | None) -> bool:
    """Whether `[start:end]` surely selects nothing (negative ends count from the back)."""
    if end in ("0", "0%"):
        return True
    if not (start and end) or start.endswith("%") != end.endswith("%"):
        return False
    first, last = int(start.rstrip("%")), int(end.rstrip("%"))
    return first >= 0 and last >= 0 and first >= last


def check_split_spec(split: str) -> None:
    """A split as tfds reads it (`name`, `name[a:b]` with counts or percentages, parts joined by
    "+"), checked before any dataset is opened.

    Raises:
      InputError: another syntax, or a slice that selects nothing (e.g. `train[:0]`)."""
    from lipjax.errors import InputError

    for part in split.split("+"):
        match = _SPLIT_PART.match(part.strip())
        if not match:
            raise InputError(f"--split {split!r} is not a split: give a name with an optional "
                             "slice, e.g. test, train[:80%] or train[10:20] (parts joined by +)")
        if _empty_slice(match.group(2), match.group(3)):
            raise InputError(f"--split {split!r} selects no examples ({part.strip()}); widen "
                             "the slice")


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="dataset name, e.g. synthetic_lips, grid")
    parser.add_argument("--data_dir", required=True, help="folder of the built datasets")
    parser.add_argument("--config", default=None, help="builder config, e.g. tiny or small")
    add_override_arguments(parser, what="builder config")


def _deepest_existing(path: str) -> str:
    """The deepest part of `path` that exists (the folder a new path would be created in)."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    return existing


def _check_data_dir(data_dir: str) -> None:
    from lipjax.errors import DataError

    existing = _deepest_existing(data_dir)
    if not os.path.isdir(existing):
        raise DataError(f"--data_dir {data_dir!r} cannot be a folder: {existing!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"--data_dir {data_dir!r} is not writable: no permission to write in "
                        f"{existing!r}")


def _check_manual_dir(name: str, manual_dir: str | None) -> None:
    """A corpus downloaded by hand needs --manual_dir: an existing, non-empty folder."""
    from lipjax.data.builders import builder_class
    from lipjax.errors import DataError

    instructions = getattr(builder_class(name), "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    if manual_dir is None:
        if instructions:
            raise DataError(f"{name!r} is built from files you download: pass --manual_dir "
                            f"FOLDER. {' '.join(instructions.split())}")
        return
    if os.path.exists(manual_dir) and not os.path.isdir(manual_dir):
        raise DataError(f"--manual_dir {manual_dir!r} is a file; give the folder holding the "
                        f"downloaded {name} files")
    if os.path.isdir(manual_dir) and not any(os.scandir(manual_dir)):
        raise DataError(f"--manual_dir {manual_dir!r} is empty; unpack the downloaded {name} "
                        "files into it first")


def _tree(root: Path) -> set[Path]:
    """Every path under `root` down to `_SCANNED_DEPTH` levels (and `root` if it exists)."""
    found, level = ({root} if root.exists() else set()), [root]
    for _ in range(_SCANNED_DEPTH):
        level = [child for folder in level if folder.is_dir() for child in folder.iterdir()]
        found.update(level)
    return found


@contextlib.contextmanager
def _removed_on_error(data_dir: str) -> Iterator[None]:
    """Undoes a failed build: removes what it created under `data_dir` (top-most new paths),
    nothing that existed before. tfds's own assertions become a DataError."""
    from lipjax.errors import DataError

    root = Path(data_dir)
    before = _tree(root)
    try:
        yield
    except BaseException as error:
        created = _tree(root) - before
        for path in sorted(p for p in created if p.parent not in created):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if isinstance(error, AssertionError):  # tfds: "No examples were yielded", ...
            raise DataError(f"building failed, nothing was kept: {error}; check the --set "
                            "values and --manual_dir") from error
        raise


def _data_build(args: argparse.Namespace) -> int:
    from lipjax.data.builders import build_dataset
    from lipjax.data.builders.talking_face_pairs_cli import build_pairs_command, uses_pair_arguments

    _check_data_dir(args.data_dir)
    if args.name == "talking_face_pairs" or uses_pair_arguments(args):
        return build_pairs_command(args)  # resumable: keeps its partial work when interrupted
    _check_manual_dir(args.name, args.manual_dir)
    with _removed_on_error(args.data_dir):
        builder = build_dataset(
            args.name,
            data_dir=args.data_dir,
            manual_dir=args.manual_dir,
            config=args.config,
            progress=not args.no_progress,
            **parse_overrides(args.overrides),
        )
    splits = sorted(builder.info.splits.items())
    sizes = ", ".join(f"{name}: {split.num_examples}" for name, split in splits)
    print(f"built {builder.info.full_name} in {builder.data_dir} ({sizes})")
    return 0


def _pick(record: dict, *keys: str):
    """The first of `keys` present in `record` (lips records vs talking-face pairs)."""
    return next((record[k] for k in keys if k in record), None)


def _data_show(args: argparse.Namespace) -> int:
    import numpy as np

    from lipjax.data.builders import load_split
    from lipjax.data.contact_sheet import contact_sheet, save_png
    from lipjax.errors import DataError, InputError

    if not (1 <= args.examples <= MAX_SHEET_ITEMS and 1 <= args.frames <= MAX_SHEET_ITEMS):
        raise InputError(f"--examples and --frames must each be in 1..{MAX_SHEET_ITEMS}, got "
                         f"{args.examples} and {args.frames}")
    _check_png_path(args.out)
    check_split_spec(args.split)
    source = load_split(
        args.name, args.split, data_dir=args.data_dir, config=args.config,
        **parse_overrides(args.overrides),
    )
    if len(source) == 0:
        raise DataError(f"split {args.split!r} of {args.name!r} is empty")
    tiles, points, labels = [], [], []
    for index in range(min(args.examples, len(source))):
        record = source[index]
        frames = _pick(record, "frames", "frames_a")
        if frames is None:
            raise DataError(
                f"{args.name!r} records have no frames to show (fields: {sorted(record)})"
            )
        landmarks = _pick(record, "landmarks", "landmarks_a")
        text = _pick(record, "text", "text_a")
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text or "")
        chosen = np.unique(np.linspace(0, len(frames) - 1, args.frames).round().astype(int))
        chosen = np.resize(chosen, args.frames)  # a video shorter than --frames repeats frames
        for column, t in enumerate(chosen):
            tiles.append(np.asarray(frames[t]))
            if landmarks is not None:
                points.append(np.asarray(landmarks[t], np.float32))
            labels.append(f"#{index} {text}" if column == 0 else f"frame {t}")
    if len({f.shape for f in tiles}) != 1:  # e.g. talking_face_pairs' per-clip face regions:
        height, width = np.max([f.shape[:2] for f in tiles], axis=0)  # pad right and bottom,
        tiles = [np.pad(f, ((0, height - f.shape[0]), (0, width - f.shape[1]), (0, 0)))
                 for f in tiles]  # which keeps the landmarks' pixel coordinates
    sheet = contact_sheet(
        np.stack(tiles),
        np.stack(points) if len(points) == len(tiles) else None,
        columns=args.frames,
        labels=labels,
    )
    save_png(args.out, sheet)
    rows = len(tiles) // args.frames
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]} pixels, {rows} examples)")
    return 0


def _check_png_path(out: str) -> None:
    """--out of `data show`: a .png file name (its folders are created) that can be written."""
    from lipjax.errors import InputError

    if Path(out).suffix.lower() != ".png":
        raise InputError(f"--out {out!r} must be a .png file (the contact sheet is a PNG)")
    if os.path.isdir(out):
        raise InputError(f"--out {out!r} is a folder; give a file name such as "
                         f"{os.path.join(out, 'sheet.png')!r}")
    existing = _deepest_existing(os.path.dirname(os.path.abspath(out)))
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write --out {out!r}: {existing!r} is not a writable folder")


def register_data(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax data build` and `lipjax data show`."""
    data = subparsers.add_parser("data", help="build and inspect datasets")
    actions = data.add_subparsers(dest="data_command", metavar="{build,show,align}", required=True)

    build = actions.add_parser("build", help="build a dataset (array_record files)")
    _add_dataset_arguments(build)
    build.add_argument("--manual_dir", default=None, help="folder of a manually downloaded corpus")
    from lipjax.data.builders.talking_face_pairs_cli import add_pair_arguments

    add_pair_arguments(build)
    build.set_defaults(handler=_data_build)

    show = actions.add_parser("show", help="write a PNG contact sheet of a few examples")
    _add_dataset_arguments(show)
    show.add_argument("--split", default="test", help="split to show (default: test)")
    show.add_argument("--examples", type=int, default=4,
                      help=f"examples, one per row (1..{MAX_SHEET_ITEMS})")
    show.add_argument("--frames", type=int, default=6,
                      help=f"frames per example (1..{MAX_SHEET_ITEMS})")
    show.add_argument("--out", default="sheet.png", help="PNG file to write")
    show.set_defaults(handler=_data_show)

    from lipjax.lipreading.cli import register_align  # durations from a lipreader (no JAX here)

    register_align(actions)
