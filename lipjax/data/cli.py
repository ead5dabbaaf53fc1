"""`lipjax data build` and `lipjax data show`.

    lipjax data build NAME --data_dir DIR [--manual_dir DIR] [--config tiny] [--set key=value ...]
    lipjax data show NAME --data_dir DIR [--split test] [--examples 4] [--out sheet.png]
"""

from __future__ import annotations

import argparse

from lipjax.overrides import add_override_arguments, parse_overrides

__all__ = ["register_data"]


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="dataset name, e.g. synthetic_lips, grid")
    parser.add_argument("--data_dir", required=True, help="folder of the built datasets")
    parser.add_argument("--config", default=None, help="builder config, e.g. tiny or small")
    add_override_arguments(parser, what="builder config")


def _data_build(args: argparse.Namespace) -> int:
    from lipjax.data.builders import build_dataset

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

    if args.examples <= 0 or args.frames <= 0:
        raise InputError("--examples and --frames must be positive")
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
    if len({f.shape for f in tiles}) != 1:
        raise DataError("frames of different sizes cannot share one contact sheet")
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


def register_data(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax data build` and `lipjax data show`."""
    data = subparsers.add_parser("data", help="build and inspect datasets")
    actions = data.add_subparsers(dest="data_command", metavar="{build,show}", required=True)

    build = actions.add_parser("build", help="build a dataset (array_record files)")
    _add_dataset_arguments(build)
    build.add_argument("--manual_dir", default=None, help="folder of a manually downloaded corpus")
    build.set_defaults(handler=_data_build)

    show = actions.add_parser("show", help="write a PNG contact sheet of a few examples")
    _add_dataset_arguments(show)
    show.add_argument("--split", default="test", help="split to show (default: test)")
    show.add_argument("--examples", type=int, default=4, help="examples, one per row")
    show.add_argument("--frames", type=int, default=6, help="frames per example")
    show.add_argument("--out", default="sheet.png", help="PNG file to write")
    show.set_defaults(handler=_data_show)
