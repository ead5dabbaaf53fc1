"""`lipjax evaluate-sync`: LSE-D, LSE-C and the AV offset of the face in a video.

    lipjax evaluate-sync --video talking.mp4 --syncnet syncnet_v2.model
    lipjax evaluate-sync --video generated.mp4 --audio speech.wav --syncnet runs/syncnet_v2 --json

--syncnet is syncnet_python's `syncnet_v2.model` (converted in memory; torch needed) or a
workdir written by `lipjax convert syncnet`. The audio is --audio or the video's own track.
The video and the audio are checked before the network is read; errors are one line.
"""

from __future__ import annotations

import argparse

__all__ = ["register_evaluate_sync"]


def _check_inputs(args: argparse.Namespace) -> None:
    """The video and the audio, before the network is loaded (or converted)."""
    from lipjax.audio import load_audio
    from lipjax.video import video_fps

    video_fps(args.video)  # missing, a folder, unreadable, not a video
    load_audio(args.video if args.audio is None else args.audio)  # no track, silent, ...


def _evaluate_sync(args: argparse.Namespace) -> int:
    from lipjax.convert.cli import one_line_errors
    from lipjax.syncnet.evaluate import evaluate_sync

    _check_inputs(args)
    with one_line_errors():
        report = evaluate_sync(args.video, syncnet=args.syncnet, audio_path=args.audio,
                               progress=not args.no_progress)
    print(report.to_json() if args.json else report.summary())
    return 0


def register_evaluate_sync(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax evaluate-sync`."""
    parser = subparsers.add_parser(
        "evaluate-sync", help="LSE-D / LSE-C lip-sync scores of a video (SyncNet v2)",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True, help="the video with the face to measure")
    parser.add_argument("--audio", default=None,
                        help="audio to measure against (default: the video's own track)")
    parser.add_argument("--syncnet", required=True,
                        help="syncnet_v2.model, or a workdir from `lipjax convert syncnet`")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no_progress", action="store_true", help="hide progress bars")
    parser.set_defaults(handler=_evaluate_sync)
