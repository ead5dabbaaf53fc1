"""`lipjax talk`: a face video (or still image) + driving audio -> the same video lip-synced,
with a trained DCK model or Wav2Lip (a converted workdir or a published .pth file).

    lipjax talk --checkpoint runs/dck --video face.mp4 --audio speech.wav --out synced.mp4
    lipjax talk --checkpoint wav2lip_gan.pth --video face.jpg --fps 25 --audio speech.wav \
        --out synced.mp4 --pads 0 10 0 0 --resize_factor 2

Face-box options follow Wav2Lip's `inference.py` (`--pads`, `--box`, `--nosmooth`,
`--resize_factor`, `--fps` for a still image); without them each model's own defaults apply.

Exit status: 0 when every frame was lip-synced; 2 on an error (one line on stderr, nothing
written); 3 when the video was written but some frames had no detected face and were passed
through unchanged (they are named on stderr). `--allow_missing_faces` accepts such frames
(exit 0); `--box` fixes one face box and skips detection entirely.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from lipjax.video_writer import X264_PRESETS

__all__ = ["register_talk", "EXIT_MISSING_FACES"]

EXIT_MISSING_FACES = 3  # the video was written, but some frames had no detected face


def _face_box_changes(args: argparse.Namespace) -> dict:
    """The face-box options given on the command line (the model's defaults for the rest)."""
    changes = {}
    if args.pads is not None:
        changes["pads"] = tuple(args.pads)
    if args.box is not None:
        changes["fixed_box"] = tuple(args.box)
    if args.nosmooth:
        changes["smooth"] = False
    if args.whole_frame_search:
        changes["local_search"] = False
    return changes


def _talk(args: argparse.Namespace) -> int:
    from lipjax.convert.cli import one_line_errors
    from lipjax.lipsync.pipeline import MissingFacesWarning, talk

    with one_line_errors(), warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFacesWarning)  # reported below, in one line
        report = talk(args.checkpoint, args.video, args.audio, args.out,
                      batch_size=args.batch_size, progress=not args.no_progress,
                      face_boxes=_face_box_changes(args), fps=args.fps,
                      resize_factor=args.resize_factor, preset=args.preset,
                      missing_faces="pass" if args.allow_missing_faces else "report")
    print(report.summary())
    if report.frames_without_face and not args.allow_missing_faces:
        print(f"lipjax: warning: {report.missing_faces_note()}; pass --allow_missing_faces to "
              f"accept them (exit status {EXIT_MISSING_FACES})", file=sys.stderr)
        return EXIT_MISSING_FACES
    return 0


def register_talk(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax talk`."""
    parser = subparsers.add_parser(
        "talk", help="lip-sync a face video to an audio track (DCK or Wav2Lip)",
        description=__doc__.split("\n\n")[0],
        epilog="exit status: 0 every frame lip-synced; 2 error (nothing written); 3 written, "
               "but some frames had no detected face and were passed through unchanged "
               "(--allow_missing_faces accepts them: exit 0).")
    parser.add_argument("--checkpoint", required=True,
                        help="a DCK or Wav2Lip workdir, or Wav2Lip's wav2lip(_gan).pth")
    parser.add_argument("--video", required=True, help="the face video, or a still image")
    parser.add_argument("--audio", required=True,
                        help="driving audio: a wav file or a media file with an audio track")
    parser.add_argument("--out", required=True,
                        help="video file to write (.mp4, .m4v, .mov or .mkv; its folder must "
                             "exist)")
    parser.add_argument("--batch_size", type=int, default=16,
                        help="face crops per generator call, 1..1024 (default: 16)")
    parser.add_argument("--pads", type=int, nargs=4, metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        default=None, help="pixels added to the detected face box (Wav2Lip: "
                                           "0 10 0 0)")
    parser.add_argument("--box", type=int, nargs=4, metavar=("Y1", "Y2", "X1", "X2"),
                        default=None, help="a fixed face box for every frame (no detection)")
    parser.add_argument("--nosmooth", action="store_true", help="do not smooth boxes over time")
    parser.add_argument("--whole_frame_search", action="store_true",
                        help="search every whole frame for the face (slower); by default a "
                             "frame is searched near the previous frame's face")
    parser.add_argument("--preset", default="medium", choices=X264_PRESETS,
                        help="x264 speed preset of the output (default: medium; veryfast "
                             "encodes about twice as fast, a little less faithfully)")
    parser.add_argument("--resize_factor", type=int, default=1,
                        help="downscale the frames by this factor first (default 1)")
    parser.add_argument("--fps", type=float, default=25.0,
                        help="frame rate for a still-image --video, in (0, 1000] (default 25)")
    parser.add_argument("--allow_missing_faces", action="store_true",
                        help="frames without a detected face are written unchanged either way; "
                             "with this flag that is not reported with exit status 3")
    parser.add_argument("--no_progress", action="store_true", help="hide progress bars")
    parser.set_defaults(handler=_talk)
