"""`lipjax evaluate-sync`: LSE-D, LSE-C and the AV offset of the face in a video.

    lipjax evaluate-sync --video talking.mp4 --syncnet syncnet_v2.model
    lipjax evaluate-sync --video generated.mp4 --audio speech.wav --syncnet runs/syncnet_v2 --json

--syncnet is syncnet_python's `syncnet_v2.model` (converted in memory; torch needed) or a
workdir written by `lipjax convert syncnet`. The audio is --audio or the video's own track.
"""

from __future__ import annotations

import argparse

__all__ = ["register_evaluate_sync"]


def _evaluate_sync(args: argparse.Namespace) -> int:
    from lipjax.syncnet.evaluate import evaluate_sync

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
