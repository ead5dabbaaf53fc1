"""`lipjax lip`: text + an identity lip image -> an mp4 lip video, with a trained ParaLip.

    lipjax lip --checkpoint runs/paralip --text "bin blue at f two now" --identity lip.png \
        --out out.mp4 [--durations 3,2,...]

Every input is checked before the model's weights are read: `--durations` (whole numbers of
frames, 0..1024 each, one per token), `--out` (a writable .mp4 path that is not a folder), the
workdir (a ParaLip one), the text (symbols of the model's vocabulary) and the identity image
(RGB, the model's 2:1 aspect ratio: crop the lips, it is never squashed).
"""

from __future__ import annotations

import argparse
import re

__all__ = ["register_lip"]

_WHOLE_NUMBER = re.compile(r"^\s*\d+\s*$")


def _parse_durations(text: str | None, max_frames: int) -> list[int] | None:
    """`--durations 3,2,4` -> `[3, 2, 4]`; InputError naming the valid range otherwise."""
    from lipjax.errors import InputError

    if text is None:
        return None
    items = text.split(",")
    rule = (f"--durations takes comma-separated whole numbers of frames, each in "
            f"0..{max_frames}, one per token of the text (e.g. 3,2,4)")
    if not all(_WHOLE_NUMBER.match(item) for item in items):
        raise InputError(f"{rule}; got {text!r}")
    values = [int(item) for item in items]
    if max(values) > max_frames or sum(values) > max_frames:
        raise InputError(f"{rule}, summing to at most {max_frames}; got a largest value of "
                         f"{max(values)} and a sum of {sum(values)}")
    return values


def _lip(args: argparse.Namespace) -> int:
    from lipjax.errors import InputError
    from lipjax.paralip.generate import (
        DEFAULT_FRAME_BUCKETS,
        DEFAULT_TOKEN_BUCKETS,
        LipGenerator,
        check_durations,
        check_identity,
        paralip_config,
    )
    from lipjax.paralip.system import model_config
    from lipjax.text import get_vocabulary
    from lipjax.video import check_output_video, read_image, write_video

    # Every check runs before the model's weights are read: bad input fails fast.
    max_frames = max(DEFAULT_FRAME_BUCKETS)
    durations = _parse_durations(args.durations, max_frames)
    check_output_video(args.out, args.identity)
    config = paralip_config(args.checkpoint)
    model = model_config(config)
    identity = check_identity(read_image(args.identity), model.image_height, model.image_width)
    tokens = get_vocabulary(config.data.get("vocabulary", "grid_chars")).encode_sentence(args.text)
    if len(tokens) > max(DEFAULT_TOKEN_BUCKETS):
        raise InputError(f"the text is {len(tokens)} tokens long, more than the "
                         f"{max(DEFAULT_TOKEN_BUCKETS)} `lip` takes; split it into sentences")
    if durations is not None:
        durations = check_durations(durations, len(tokens), max_frames)
    generator = LipGenerator.from_checkpoint(args.checkpoint)
    frames = generator(args.text, identity, durations=durations)
    write_video(args.out, frames, generator.fps)
    print(f"wrote {args.out}: {len(frames)} frames at {generator.fps:g} fps")
    return 0


def register_lip(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax lip`."""
    lip = subparsers.add_parser("lip", help="generate a lip video from text (ParaLip)",
                                description=__doc__.split("\n\n")[0])
    lip.add_argument("--checkpoint", required=True, help="a ParaLip training workdir")
    lip.add_argument("--text", required=True, help="the sentence to say")
    lip.add_argument("--identity", required=True,
                     help="identity lip image (PNG/JPEG) with the model's 2:1 aspect ratio "
                          "(160x80); another size of that shape is resized")
    lip.add_argument("--out", required=True, help="mp4 file to write (its folder must exist)")
    lip.add_argument("--durations", default=None,
                     help="comma-separated frames per token of the encoded text, each 0..1024 "
                          "(GRID characters: with the <sil> at both ends; a stored token list: "
                          "one per token; default: predicted)")
    lip.set_defaults(handler=_lip)
