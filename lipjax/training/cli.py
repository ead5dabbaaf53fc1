"""`lipjax train` and `lipjax evaluate`.

    lipjax train --config experiments/configs/paralip_synthetic.py --workdir runs/demo \
        [--set train.num_steps=200 --set loss.adv=0]
    lipjax evaluate --workdir runs/demo [--split test] [--set ...]

Overrides are `--set key=value` (repeatable; `lipjax.overrides`). The flax/absl spelling
`--config.train.num_steps=200` is accepted as an alias, so commands written for
`experiments/train.py` work here unchanged and the other way round.
"""

from __future__ import annotations

import argparse
import json

from lipjax.overrides import add_override_arguments

__all__ = ["register_train", "register_evaluate"]


def _train(args: argparse.Namespace) -> int:
    from lipjax.training.config import load_config
    from lipjax.training.loop import train_and_evaluate

    config = load_config(args.config, args.overrides)
    result = train_and_evaluate(config, args.workdir, progress=not args.no_progress)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from lipjax.training.evaluation import evaluate_workdir

    result = evaluate_workdir(args.workdir, split=args.split, overrides=args.overrides,
                              progress=not args.no_progress)
    print(json.dumps(result, indent=2))
    return 0


def register_train(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax train`."""
    p = subparsers.add_parser("train", help="train a system from a config file",
                              description="Train from an ml_collections config file; a "
                              "workdir with a checkpoint is resumed.")
    p.add_argument("--config", required=True, help="e.g. experiments/configs/paralip_synthetic.py")
    p.add_argument("--workdir", required=True, help="checkpoints, logs and eval JSON go here")
    add_override_arguments(p)
    p.set_defaults(handler=_train)


def register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax evaluate`."""
    p = subparsers.add_parser("evaluate", help="evaluate the latest checkpoint of a workdir")
    p.add_argument("--workdir", required=True, help="a training workdir")
    p.add_argument("--split", default=None, help="dataset split (default: the config's)")
    add_override_arguments(p)
    p.set_defaults(handler=_evaluate)
