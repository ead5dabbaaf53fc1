"""`lipjax data align`: a dataset copy whose durations come from a trained lipreader.

    lipjax data align --lipreader runs/lipreader --dataset synthetic_lips \
        --data_dir data_cache --out_dir data_cache_mas [--config small] [--set key=value ...]

Then ParaLip trains on the copy with its usual config and one override:

    lipjax train --config experiments/configs/paralip_synthetic.py --workdir runs/paralip_mas \
        --set data.data_dir=data_cache_mas --set data.build_if_missing=False

Checked before anything is aligned: the lipreader workdir (a lipreader's, with a checkpoint),
the dataset (known, built in --data_dir), --out_dir (not --data_dir, writable, without this
copy yet); every record is checked against the lipreader's vocabulary and buckets while it is
aligned, before anything is written. The training, evaluation and timing of the lipreader use
the shared `lipjax train` / `lipjax evaluate`.
"""

from __future__ import annotations

import argparse
import json

from lipjax.overrides import add_override_arguments, parse_overrides

__all__ = ["register_align"]


def _align(args: argparse.Namespace) -> int:
    from lipjax.data.builders import builder_class
    from lipjax.errors import InputError
    from lipjax.lipreading.align import Aligner, lipreader_workdir_config
    from lipjax.lipreading.dataset_copy import check_vocabulary, write_aligned_copy

    if args.batch_size < 1:
        raise InputError(f"--batch_size must be >= 1, got {args.batch_size}")
    builder_class(args.dataset)  # an unknown name fails here, naming the known ones
    check_vocabulary(lipreader_workdir_config(args.lipreader), args.dataset)
    aligner = Aligner(args.lipreader, batch_size=args.batch_size)
    report = write_aligned_copy(aligner, args.dataset, data_dir=args.data_dir,
                                out_dir=args.out_dir, config=args.config,
                                overrides=parse_overrides(args.overrides),
                                progress=not args.no_progress)
    print(json.dumps(report, indent=2))
    print(f"wrote {report['path']}; train on it with --set data.data_dir={args.out_dir} "
          "--set data.build_if_missing=False")
    return 0


def register_align(actions: argparse._SubParsersAction) -> None:
    """Registers `align` under `lipjax data` (`actions` is its sub-command group)."""
    p = actions.add_parser(
        "align", help="copy a dataset with durations from a CTC lipreader + MAS",
        description="Durations without audio (ParaLip Sec. 6): the lipreader's outputs for each "
                    "video's tokens, a softmax over them, monotonic alignment search; writes a "
                    "copy of the dataset (same name, config, version) into --out_dir.")
    p.add_argument("--lipreader", required=True, help="workdir of a trained lipreader")
    p.add_argument("--dataset", required=True, help="dataset name, e.g. synthetic_lips, grid")
    p.add_argument("--data_dir", required=True, help="folder of the built dataset")
    p.add_argument("--out_dir", required=True,
                   help="data folder for the copy (another folder than --data_dir)")
    p.add_argument("--config", default=None, help="builder config, e.g. tiny or small")
    p.add_argument("--batch_size", type=int, default=8, help="videos aligned at once")
    add_override_arguments(p, what="builder config")
    p.set_defaults(handler=_align)
