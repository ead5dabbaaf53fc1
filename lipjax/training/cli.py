"""`lipjax train` and `lipjax evaluate`.

    lipjax train --config experiments/configs/paralip_synthetic.py --workdir runs/demo \
        [--set train.num_steps=200 --set loss.adv=0]
    lipjax evaluate --workdir runs/demo [--split test] [--set ...]

Overrides are `--set key=value` (repeatable; `lipjax.overrides`). The flax/absl spelling
`--config.train.num_steps=200` is accepted as an alias, so commands written for
`experiments/train.py` work here unchanged and the other way round.

Multi-process training (`lipjax.training.distributed`): the same command on every process, with
`--coordinator HOST:PORT --num_processes N --process_id I` (they set `train.distributed`), or
with none of them under SLURM, `mpirun` or on a Cloud TPU VM slice. Each process's training
then runs in a child process, so that a peer's death ends it with a clear error (exit status 75:
relaunch all processes to resume).

`--workdir` is checked before the config file runs: a file, or a folder that cannot be created
or written, is a one-line error.
"""

from __future__ import annotations

import argparse
import json

from lipjax.overrides import add_override_arguments

__all__ = ["register_train", "register_evaluate"]


def _check_workdir(workdir: str) -> None:
    """A workdir is a folder (existing or not) inside a writable folder: checked before the
    config runs and long before anything is trained."""
    import os

    from lipjax.errors import ConfigError

    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ConfigError(f"--workdir {workdir!r} is a file, not a folder; give a new or an "
                          "existing workdir folder")
    existing = os.path.abspath(workdir)
    while not os.path.exists(existing):  # the deepest part of the path that exists
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(f"--workdir {workdir!r} cannot be created: {existing!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--workdir {workdir!r} is not writable: no permission to write in "
                          f"{existing!r}")


_DISTRIBUTED_FLAGS = ("coordinator", "num_processes", "process_id")


def _apply_distributed_flags(config, args: argparse.Namespace) -> None:
    """`--coordinator/--num_processes/--process_id` into `config.train.distributed`."""
    import ml_collections

    given = {k: getattr(args, k) for k in _DISTRIBUTED_FLAGS if getattr(args, k) is not None}
    if not given:
        return
    with config.unlocked():
        if not isinstance(config.train.get("distributed"), ml_collections.ConfigDict):
            config.train.distributed = ml_collections.ConfigDict(
                {"enabled": None, "coordinator": None, "num_processes": None,
                 "process_id": None}, type_safe=False)
        for key, value in given.items():
            config.train.distributed[key] = value


def _train(args: argparse.Namespace) -> int:
    from lipjax.training import distributed
    from lipjax.training.config import load_config
    from lipjax.training.loop import train_and_evaluate

    _check_workdir(args.workdir)
    config = load_config(args.config, args.overrides)
    _apply_distributed_flags(config, args)
    spec = distributed.resolve(config)  # bad settings fail here, before anything starts

    def run() -> int:
        result = train_and_evaluate(config, args.workdir, progress=not args.no_progress)
        print(json.dumps(result, indent=2, default=str), flush=True)
        return 0

    if spec is None:
        return run()
    return distributed.supervise(run, spec, workdir=args.workdir)


def _evaluate(args: argparse.Namespace) -> int:
    from lipjax.data.cli import check_split_spec
    from lipjax.overrides import apply_overrides
    from lipjax.training.config import validate_config
    from lipjax.training.evaluation import evaluate_workdir
    from lipjax.training.workdir import read_config

    if args.split is not None:
        check_split_spec(args.split)
    validate_config(apply_overrides(read_config(args.workdir), args.overrides))  # before loading
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
    group = p.add_argument_group(
        "multi-process training (jax.distributed)",
        "Run the same command on every process. Under SLURM, mpirun or on a Cloud TPU VM slice "
        "these can be left out (detected); a workdir every process sees is required.")
    group.add_argument("--coordinator", metavar="HOST:PORT",
                       help="address of process 0 and a free port, the same on every process")
    group.add_argument("--num_processes", type=int, metavar="N", help="number of processes")
    group.add_argument("--process_id", type=int, metavar="I", help="this process, 0..N-1")
    add_override_arguments(p)
    p.set_defaults(handler=_train)


def register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax evaluate`."""
    p = subparsers.add_parser("evaluate", help="evaluate the latest checkpoint of a workdir")
    p.add_argument("--workdir", required=True, help="a training workdir")
    p.add_argument("--split", default=None, help="dataset split (default: the config's)")
    add_override_arguments(p)
    p.set_defaults(handler=_evaluate)
