"""The `lipjax` console script.

    lipjax data build NAME --data_dir DIR [--manual_dir DIR] [--config tiny] [--set key=value ...]
    lipjax data show NAME --data_dir DIR [--split test] [--examples 4] [--out sheet.png]

Subcommands are added by *registrars*: functions `register(subparsers) -> None` that add one
parser with `subparsers.add_parser(...)` and set `handler=<function(args) -> int>` through
`parser.set_defaults`. `REGISTRARS` lists them as "module:function" strings; a new subcommand
(train, evaluate, lip, talk) is one registrar in its own module plus one line here. Registrars
should keep imports of heavy modules (jax, tfds) inside their handlers so `lipjax --help` is fast.

Errors raised on purpose (`lipjax.errors.LipjaxError`) are printed as one line without a
traceback and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Sequence

from lipjax import __version__
from lipjax.errors import InputError, LipjaxError

__all__ = ["REGISTRARS", "build_parser", "main", "register_data", "register_lip", "read_image"]

Registrar = Callable[[argparse._SubParsersAction], None]

# "module:function" of every subcommand registrar, in the order shown by --help.
REGISTRARS: list[str] = [
    "lipjax.cli:register_data",
    "lipjax.train.commands:register_train",
    "lipjax.train.commands:register_evaluate",
    "lipjax.cli:register_lip",
    "lipjax.talk:register_talk",
]

_EXIT_ERROR = 2


# ----------------------------------------------------------------------------------------------
# lipjax data ...


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="dataset name, e.g. synthetic_lips, grid")
    parser.add_argument("--data_dir", required=True, help="folder of the built datasets")
    parser.add_argument("--config", default=None, help="builder config, e.g. tiny or small")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the builder config (repeatable)",
    )


def _data_build(args: argparse.Namespace) -> int:
    from lipjax.data.builders import build_dataset, parse_overrides

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

    from lipjax.data.builders import load_split, parse_overrides
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
    build.add_argument("--no_progress", action="store_true", help="hide progress bars")
    build.set_defaults(handler=_data_build)

    show = actions.add_parser("show", help="write a PNG contact sheet of a few examples")
    _add_dataset_arguments(show)
    show.add_argument("--split", default="test", help="split to show (default: test)")
    show.add_argument("--examples", type=int, default=4, help="examples, one per row")
    show.add_argument("--frames", type=int, default=6, help="frames per example")
    show.add_argument("--out", default="sheet.png", help="PNG file to write")
    show.set_defaults(handler=_data_show)


# ----------------------------------------------------------------------------------------------
# lipjax lip


def read_image(path: str):
    """An RGB uint8 image from a file; InputError if it cannot be read."""
    import os

    import cv2

    if not os.path.isfile(path):
        raise InputError(f"image {path} does not exist")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read {path} as an image (PNG or JPEG expected)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _lip(args: argparse.Namespace) -> int:
    import numpy as np

    from lipjax.inference import LipGenerator
    from lipjax.video import write_video

    generator = LipGenerator.from_checkpoint(args.checkpoint)
    durations = None
    if args.durations:
        durations = np.asarray([int(x) for x in args.durations.split(",")], np.int32)
    frames = generator(args.text, read_image(args.identity), durations=durations)
    write_video(args.out, frames, generator.fps)
    print(f"wrote {args.out}: {len(frames)} frames at {generator.fps:g} fps")
    return 0


def register_lip(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax lip`: text + identity lip image -> mp4 with a trained ParaLip."""
    lip = subparsers.add_parser("lip", help="generate a lip video from text (ParaLip)")
    lip.add_argument("--checkpoint", required=True, help="a training workdir")
    lip.add_argument("--text", required=True, help="the sentence to say")
    lip.add_argument("--identity", required=True, help="identity lip image (PNG/JPEG)")
    lip.add_argument("--out", required=True, help="mp4 file to write")
    lip.add_argument("--durations", default=None,
                     help="comma-separated frames per token, <sil> at both ends included "
                          "(default: predicted)")
    lip.set_defaults(handler=_lip)


# ----------------------------------------------------------------------------------------------
# Entry point.


def build_parser(registrars: Sequence[str] = tuple(REGISTRARS)) -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="lipjax",
        description="Talking-face generation in JAX: ParaLip text-to-lip and DCK lip sync.",
    )
    parser.add_argument("--version", action="version", version=f"lipjax {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for spec in registrars:
        module_name, function_name = spec.split(":")
        register: Registrar = getattr(importlib.import_module(module_name), function_name)
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `lipjax` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except LipjaxError as error:
        print(f"lipjax: error: {error}", file=sys.stderr)
        return _EXIT_ERROR
    except KeyboardInterrupt:
        print("lipjax: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
