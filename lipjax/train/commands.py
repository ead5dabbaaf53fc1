"""`lipjax train` and `lipjax evaluate`: the console-script form of experiments/train.py.

    lipjax train --config experiments/configs/paralip_synthetic.py --workdir runs/demo \
        [--set train.num_steps=200 --set loss.adv=0]
    lipjax evaluate --workdir runs/demo [--split test] [--set ...]

Config files are ml_collections `get_config()` files, as for the absl mains in experiments/.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import runpy
from typing import Sequence

import ml_collections

from lipjax.errors import ConfigError

__all__ = ["load_config_file", "apply_overrides", "register_train", "register_evaluate"]


def load_config_file(path: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """Runs `get_config()` of a config file and applies `key.sub=value` overrides."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} does not exist (see experiments/configs/)")
    module = runpy.run_path(path)
    if "get_config" not in module:
        raise ConfigError(f"config file {path} defines no get_config()")
    return apply_overrides(module["get_config"](), overrides)


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Sequence[str]) -> ml_collections.ConfigDict:
    """`["train.num_steps=10", "loss.adv=0"]` -> a copy of `config` with those fields set.

    Values are parsed as Python literals where possible (numbers, tuples, lists, None, bools),
    else taken as strings; an unknown field is a ConfigError listing its siblings.
    """
    config = ml_collections.ConfigDict(config.to_dict())
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        *parents, leaf = key.split(".")
        node = config
        for p in parents:
            if p not in node:
                raise ConfigError(f"unknown config field {key!r}: no {p!r} in "
                                  f"{sorted(node.keys())}")
            node = node[p]
        if leaf not in node:
            raise ConfigError(f"unknown config field {key!r}; fields here: "
                              f"{sorted(node.keys())}")
        old = node[leaf]
        if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(old, tuple) and isinstance(value, list):
            value = tuple(value)
        with node.ignore_type():
            node[leaf] = value
    return config


def _train(args: argparse.Namespace) -> int:
    from lipjax.train.loop import train_and_evaluate

    config = load_config_file(args.config, args.overrides)
    result = train_and_evaluate(config, args.workdir, progress=not args.no_progress)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from lipjax.train.evaluation import evaluate_workdir

    result = evaluate_workdir(args.workdir, split=args.split, overrides=args.overrides,
                              progress=not args.no_progress)
    print(json.dumps(result, indent=2))
    return 0


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field (repeatable)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")


def register_train(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a system from a config file",
                              description="Train from an ml_collections config file; a "
                              "workdir with a checkpoint is resumed.")
    p.add_argument("--config", required=True, help="e.g. experiments/configs/paralip_synthetic.py")
    p.add_argument("--workdir", required=True, help="checkpoints, logs and eval JSON go here")
    _add_overrides(p)
    p.set_defaults(handler=_train)


def register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate the latest checkpoint of a workdir")
    p.add_argument("--workdir", required=True, help="a training workdir")
    p.add_argument("--split", default=None, help="dataset split (default: the config's)")
    _add_overrides(p)
    p.set_defaults(handler=_evaluate)
