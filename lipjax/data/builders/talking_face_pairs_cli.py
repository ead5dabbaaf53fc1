"""`lipjax data build talking_face_pairs`: the options of the DCK paper's pair dataset.

    lipjax data build talking_face_pairs --videos DIR --audios DIR --wav2lip CKPT \\
        [--per_video N] [--shard I/N] [--beam [BEAM_OPTIONS]] --data_dir DIR

Everything is checked before anything is written (`talking_face_pairs_build.prepare`); a
mistake is a one-line error and exit status 2 (`lipjax.cli`). This module imports nothing heavy
at import time: `lipjax --help` stays fast.
"""

from __future__ import annotations

import argparse

__all__ = ["add_pair_arguments", "uses_pair_arguments", "build_pairs_command", "PAIR_OPTIONS"]

PAIR_OPTIONS = ("videos", "audios", "wav2lip", "per_video", "shard", "seed", "clip_frames",
                "test_fraction", "wav2lip_batch_size", "beam")


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the talking_face_pairs options to `lipjax data build`."""
    group = parser.add_argument_group(
        "talking_face_pairs (real videos + Wav2Lip re-synced versions, DCK paper Sec. IV)")
    group.add_argument("--videos", default=None, help="folder of real talking-face videos "
                       "(with their soundtracks; searched recursively)")
    group.add_argument("--audios", default=None, help="folder of audios to re-sync them to "
                       "(audio files, or videos whose soundtrack is used)")
    group.add_argument("--wav2lip", default=None, metavar="CKPT",
                       help="Wav2Lip checkpoint: wav2lip.pth / wav2lip_gan.pth, or a converted "
                       "or trained lipjax workdir")
    group.add_argument("--per_video", type=int, default=None, metavar="N",
                       help="audios per video, drawn with --seed (default: every audio, as in "
                       "the paper)")
    group.add_argument("--shard", default=None, metavar="I/N",
                       help="build shard I of N (0-based); shards may run on other machines "
                       "and the dataset is complete when all are done")
    group.add_argument("--seed", type=int, default=None, help="seed of the pairing and of the "
                       "test videos (default 0)")
    group.add_argument("--clip_frames", type=int, default=None,
                       help="frames per record at most (default 75)")
    group.add_argument("--test_fraction", type=float, default=None,
                       help="share of the videos held out as the test split (default 0.1)")
    group.add_argument("--wav2lip_batch_size", type=int, default=None,
                       help="face crops per Wav2Lip call (default 16)")
    group.add_argument("--beam", nargs="?", const="--runner=DirectRunner", default=None,
                       metavar="BEAM_OPTIONS",
                       help="build with tfds's Apache Beam path (pip install 'lipjax[beam]'), "
                       "e.g. --beam '--runner=DataflowRunner --project=P ...'; without a value "
                       "the local DirectRunner")


def uses_pair_arguments(args: argparse.Namespace) -> bool:
    """Whether any talking_face_pairs option was given."""
    return any(getattr(args, name, None) is not None for name in PAIR_OPTIONS)


def _settings(args: argparse.Namespace):
    from lipjax.data.builders.talking_face_pairs_plan import PairSettings

    given = {"per_video": args.per_video, "seed": args.seed, "clip_frames": args.clip_frames,
             "test_fraction": args.test_fraction, "batch_size": args.wav2lip_batch_size}
    return PairSettings(**{k: v for k, v in given.items() if v is not None})


def _check(args: argparse.Namespace) -> None:
    from lipjax.errors import InputError

    if args.name != "talking_face_pairs":
        raise InputError(f"--{', --'.join(n for n in PAIR_OPTIONS if getattr(args, n) is not None)}"
                         f" belong to talking_face_pairs, not {args.name!r}")
    missing = [f"--{n}" for n in ("videos", "audios", "wav2lip") if getattr(args, n) is None]
    if missing:
        raise InputError(f"talking_face_pairs needs {', '.join(missing)} (see lipjax data build "
                         "--help)")
    if args.config is not None or args.overrides or args.manual_dir is not None:
        raise InputError("talking_face_pairs takes no --config, --set or --manual_dir; its "
                         "options are --per_video, --seed, --clip_frames, --test_fraction")
    if args.beam is not None and args.shard is not None:
        raise InputError("--shard is for local builds; a Beam runner spreads the work itself")


def build_pairs_command(args: argparse.Namespace) -> int:
    """Runs `lipjax data build talking_face_pairs`; prints the report."""
    _check(args)
    from lipjax.data.builders.talking_face_pairs_build import (
        PairInputs, build_pairs, build_with_beam)
    from lipjax.data.builders.talking_face_pairs_plan import parse_shard

    shard = parse_shard(args.shard) if args.shard is not None else (0, 1)
    inputs = PairInputs(args.videos, args.audios, args.wav2lip)
    if args.beam is not None:
        report = build_with_beam(inputs, args.data_dir, _settings(args), beam_options=args.beam)
    else:
        report = build_pairs(inputs, args.data_dir, _settings(args), shard=shard,
                             progress=not getattr(args, "no_progress", False))
    print(report.summary())
    return 0
