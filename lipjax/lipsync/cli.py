"""`lipjax talk`: a face video (or still image) + driving audio -> the same video lip-synced,
with a trained DCK model or Wav2Lip (a converted workdir or a published .pth file).

    lipjax talk --checkpoint runs/dck --video face.mp4 --audio speech.wav --out synced.mp4
    lipjax talk --checkpoint wav2lip_gan.pth --video face.jpg --fps 25 --audio speech.wav \
        --out synced.mp4 --pads 0 10 0 0 --resize_factor 2

Face-box options follow Wav2Lip's `inference.py` (`--pads`, `--box`, `--nosmooth`,
`--resize_factor`, `--fps` for a still image); without them each model's own defaults apply.
"""

from __future__ import annotations

import argparse
import dataclasses

__all__ = ["register_talk"]


def _face_boxes(args: argparse.Namespace, editor):
    """The editor's face-box defaults with the options given on the command line."""
    changes = {}
    if args.pads is not None:
        changes["pads"] = tuple(args.pads)
    if args.box is not None:
        changes["fixed_box"] = tuple(args.box)
    if args.nosmooth:
        changes["smooth"] = False
    return dataclasses.replace(editor.face_boxes, **changes) if changes else None


def _talk(args: argparse.Namespace) -> int:
    from lipjax.lipsync.editor import load_face_editor
    from lipjax.lipsync.pipeline import check_output_path, talk

    check_output_path(args.out, args.video, args.audio)  # before the model loads
    editor = load_face_editor(args.checkpoint)
    report = talk(editor, args.video, args.audio, args.out, batch_size=args.batch_size,
                  progress=not args.no_progress, face_boxes=_face_boxes(args, editor),
                  fps=args.fps, resize_factor=args.resize_factor)
    print(report.summary())
    return 0


def register_talk(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax talk`."""
    parser = subparsers.add_parser(
        "talk", help="lip-sync a face video to an audio track (DCK or Wav2Lip)")
    parser.add_argument("--checkpoint", required=True,
                        help="a DCK or Wav2Lip workdir, or Wav2Lip's wav2lip(_gan).pth")
    parser.add_argument("--video", required=True, help="the face video, or a still image")
    parser.add_argument("--audio", required=True,
                        help="driving audio: a wav file or a media file with an audio track")
    parser.add_argument("--out", required=True, help="mp4 file to write")
    parser.add_argument("--batch_size", type=int, default=16,
                        help="face crops per generator call (default: 16)")
    parser.add_argument("--pads", type=int, nargs=4, metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        default=None, help="pixels added to the detected face box (Wav2Lip: "
                                           "0 10 0 0)")
    parser.add_argument("--box", type=int, nargs=4, metavar=("Y1", "Y2", "X1", "X2"),
                        default=None, help="a fixed face box for every frame (no detection)")
    parser.add_argument("--nosmooth", action="store_true", help="do not smooth boxes over time")
    parser.add_argument("--resize_factor", type=int, default=1,
                        help="downscale the frames by this factor first (default 1)")
    parser.add_argument("--fps", type=float, default=25.0,
                        help="frame rate for a still-image --video (default 25)")
    parser.add_argument("--no_progress", action="store_true", help="hide progress bars")
    parser.set_defaults(handler=_talk)
