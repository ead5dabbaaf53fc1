"""`lipjax lip`: text + an identity lip image -> an mp4 lip video, with a trained ParaLip.

    lipjax lip --checkpoint runs/paralip --text "bin blue at f two now" --identity lip.png \
        --out out.mp4 [--durations 3,2,...]
"""

from __future__ import annotations

import argparse

__all__ = ["register_lip"]


def _lip(args: argparse.Namespace) -> int:
    import numpy as np

    from lipjax.errors import InputError
    from lipjax.paralip.generate import LipGenerator
    from lipjax.video import read_image, write_video

    identity = read_image(args.identity)  # before the model loads: bad input fails fast
    durations = None
    if args.durations:
        try:
            durations = np.asarray([int(x) for x in args.durations.split(",")], np.int32)
        except ValueError:
            raise InputError(f"--durations must be comma-separated integers, got "
                             f"{args.durations!r}") from None
    generator = LipGenerator.from_checkpoint(args.checkpoint)
    frames = generator(args.text, identity, durations=durations)
    write_video(args.out, frames, generator.fps)
    print(f"wrote {args.out}: {len(frames)} frames at {generator.fps:g} fps")
    return 0


def register_lip(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax lip`."""
    lip = subparsers.add_parser("lip", help="generate a lip video from text (ParaLip)")
    lip.add_argument("--checkpoint", required=True, help="a ParaLip training workdir")
    lip.add_argument("--text", required=True, help="the sentence to say")
    lip.add_argument("--identity", required=True, help="identity lip image (PNG/JPEG)")
    lip.add_argument("--out", required=True, help="mp4 file to write")
    lip.add_argument("--durations", default=None,
                     help="comma-separated frames per token of the encoded text (GRID "
                          "characters: with the <sil> at both ends; a stored token list: one "
                          "per token; default: predicted)")
    lip.set_defaults(handler=_lip)
