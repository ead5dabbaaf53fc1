"""The one override syntax of lipjax: `key.sub=value`, type-checked against the field it sets.

Used by every command that takes a config: `lipjax train --set train.num_steps=10` (and its
alias `--config.train.num_steps=10`, the flax/absl spelling), `lipjax evaluate --set ...`,
`lipjax data build --set num_speakers=3` (fields of a dataset's builder config), and the Python
API (`lipjax.training.load_config(path, ["loss.adv=0"])`).

A value is read as the type of the field it replaces:

  int     an integer literal (`10`, `-3`); `2.5`, `abc` and `true` are errors
  float   any number (`1e-4`, `3`, `inf`); range checks come after (`validate_config`)
  bool    true / false / yes / no / 1 / 0 (any case)
  str     the text as given (quotes optional)
  tuple   a Python tuple or list literal (`(1, 2)`, `[1, 2]`)
  None    (a field without a type yet) a Python literal if it parses, else the text

An unknown field is an error that lists the fields next to it, so a misspelling never passes.
"""

from __future__ import annotations

import argparse
import ast
from typing import Any, Sequence

import ml_collections

from lipjax.errors import ConfigError

__all__ = ["parse_override", "parse_overrides", "coerce", "apply_overrides",
           "add_override_arguments", "config_flag_aliases"]

_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")
_ALIAS_PREFIX = "--config."


def parse_override(item: str) -> tuple[str, str]:
    """`"train.num_steps=10"` -> `("train.num_steps", "10")` (the value stays text)."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"an override is key=value (e.g. train.num_steps=10), got {item!r}")
    return key.strip(), value.strip()


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """Several `key=value` items -> `{key: text}` (a key given twice keeps its last value)."""
    return dict(parse_override(item) for item in items)


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _number(key: str, text: str, kind: type) -> int | float:
    value = _literal(text)
    if kind is float and isinstance(value, str):
        try:
            value = float(value)  # inf, nan: let validation say what is wrong with them
        except ValueError:
            pass
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (
        kind is float and isinstance(value, float))
    if not ok:
        example = "10" if kind is int else "1e-4"
        raise ConfigError(f"config field {key!r} is {'an integer' if kind is int else 'a number'}"
                          f" (e.g. {key}={example}); got {text!r}")
    return kind(value)


def coerce(key: str, value: Any, default: Any) -> Any:
    """`value` (text from a command line, or an already typed Python value) as the type of the
    field's current value `default`.

    Raises:
      ConfigError: naming the field, its type and the value that does not fit.
    """
    if not isinstance(value, str):
        value = repr(value) if not isinstance(default, str) else str(value)
    if isinstance(default, bool):
        lowered = value.lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise ConfigError(f"config field {key!r} is true or false; got {value!r}")
    if isinstance(default, (int, float)):
        return _number(key, value, type(default))
    if isinstance(default, str):
        parsed = _literal(value)
        return parsed if isinstance(parsed, str) else value
    if isinstance(default, (tuple, list)):
        parsed = _literal(value)
        if not isinstance(parsed, (tuple, list)):
            raise ConfigError(f"config field {key!r} is a sequence such as (1, 2); got {value!r}")
        return type(default)(parsed)
    if isinstance(default, (dict, ml_collections.ConfigDict)):
        raise ConfigError(f"{key!r} is a config section; set its fields ({key}.<field>=...), "
                          f"not the section")
    return _literal(value)  # None (untyped) or an object: the literal as written


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Sequence[str]) -> ml_collections.ConfigDict:
    """A copy of `config` with `["train.num_steps=10", ...]` applied, each type-checked.

    Raises:
      ConfigError: malformed item, unknown field (listing its siblings) or a value of the wrong
        type. `config` itself is never changed.
    """
    config = ml_collections.ConfigDict(config.to_dict())
    for item in overrides:
        key, text = parse_override(item)
        *parents, leaf = key.split(".")
        node = config
        for depth, part in enumerate(parents):
            if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
                where = ".".join(parents[:depth]) or "the config"
                raise ConfigError(f"unknown config field {key!r}: {where} has no section "
                                  f"{part!r} (sections and fields: {sorted(node.keys())})")
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"unknown config field {key!r}; fields here: "
                              f"{sorted(node.keys())}")
        value = coerce(key, text, node[leaf])
        with node.ignore_type():
            node[leaf] = value
    return config


def config_flag_aliases(argv: Sequence[str]) -> list[str]:
    """Rewrites `--config.key=value` (and `--config.key value`) into `--set key=value`."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item.startswith(_ALIAS_PREFIX):
            key, sep, value = item[len(_ALIAS_PREFIX):].partition("=")
            if not sep and i + 1 < len(items):
                i += 1
                value = items[i]
            out += ["--set", f"{key}={value}"]
        else:
            out.append(item)
        i += 1
    return out


def add_override_arguments(parser: argparse.ArgumentParser, *, what: str = "config") -> None:
    """`--set KEY=VALUE` (repeatable) and `--no_progress`."""
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help=f"override a {what} field, type-checked (repeatable; alias "
                             "--config.KEY=VALUE)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
