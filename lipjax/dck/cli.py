"""`lipjax talk`: a face video + driving audio -> the same video lip-synced, with a trained DCK
model.

    lipjax talk --checkpoint runs/dck --video face.mp4 --audio speech.wav --out synced.mp4
"""

from __future__ import annotations

import argparse

__all__ = ["register_talk"]


def _talk(args: argparse.Namespace) -> int:
    from lipjax.dck.pipeline import talk

    report = talk(args.checkpoint, args.video, args.audio, args.out, batch_size=args.batch_size,
                  progress=not args.no_progress)
    print(report.summary())
    return 0


def register_talk(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax talk`."""
    parser = subparsers.add_parser(
        "talk", help="lip-sync a face video to an audio track (DCK talking face)")
    parser.add_argument("--checkpoint", required=True, help="a DCK training workdir")
    parser.add_argument("--video", required=True, help="the face video")
    parser.add_argument("--audio", required=True,
                        help="driving audio: a wav file or a media file with an audio track")
    parser.add_argument("--out", required=True, help="mp4 file to write")
    parser.add_argument("--batch_size", type=int, default=16,
                        help="face crops per generator call (default: 16)")
    parser.add_argument("--no_progress", action="store_true", help="hide progress bars")
    parser.set_defaults(handler=_talk)
