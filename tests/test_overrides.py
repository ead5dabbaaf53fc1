"""Tests of lipjax.overrides: the one `key=value` override syntax, type-checked."""

from __future__ import annotations

import argparse

import ml_collections
import pytest

from lipjax.errors import ConfigError
from lipjax.overrides import (
    add_override_arguments,
    apply_overrides,
    coerce,
    config_flag_aliases,
    parse_overrides,
)


def test_parse_overrides():
    assert parse_overrides(["a=1", " b = x=y "]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["=3"])


@pytest.mark.parametrize(
    "value, default, expected",
    [("3", 1, 3), ("-3", 1, -3), ("0.5", 1.0, 0.5), ("2", 1.0, 2.0), ("1e30", 1.0, 1e30),
     ("inf", 1.0, float("inf")), ("true", False, True), ("no", True, False), ("1", False, True),
     ("(1, 2)", (0, 0), (1, 2)), ("[1, 2]", (0, 0), (1, 2)), ("abc", "x", "abc"),
     ("'abc'", "x", "abc"), ("abc", None, "abc"), ("None", None, None), ("3", None, 3),
     (4, 1, 4), (2, 1.0, 2.0)],
)
def test_values_take_the_field_type(value, default, expected):
    result = coerce("field", value, default)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("value, default", [
    ("1.5", 1), ("2.0", 1), ("abc", 1), ("true", 1), ("fast", 1e-3), ("maybe", True),
    ("(1,", (0,)), ("3", (0,)), ("{}", ml_collections.ConfigDict({"a": 1})),
])
def test_values_of_the_wrong_type_are_errors_naming_the_field(value, default):
    with pytest.raises(ConfigError, match="'field'"):
        coerce("field", value, default)


def _config():
    return ml_collections.ConfigDict({
        "train": {"num_steps": 10, "parallel": "pmap", "frames_per_example": None},
        "optim": {"generator": {"learning_rate": 1e-3}},
        "data": {"buckets": [(4, 8)]},
    })


def test_apply_overrides_sets_typed_values_on_a_copy():
    config = _config()
    new = apply_overrides(config, ["train.num_steps=20", "optim.generator.learning_rate=2e-4",
                                   "train.frames_per_example=8", "data.buckets=[(4, 8), (8, 16)]"])
    assert new.train.num_steps == 20 and new.optim.generator.learning_rate == 2e-4
    assert new.train.frames_per_example == 8 and new.data.buckets == [(4, 8), (8, 16)]
    assert config.train.num_steps == 10  # the input is unchanged


@pytest.mark.parametrize("item, match", [
    ("train.num_step=3", "unknown config field 'train.num_step'.*num_steps"),
    ("trian.num_steps=3", "no section 'trian'"),
    ("train.num_steps=abc", "'train.num_steps' is an integer"),
    ("train.num_steps=2.5", "integer"),
    ("optim.generator.learning_rate=fast", "is a number"),
    ("optim=3", "is a config section"),
    ("train.num_steps", "key=value"),
])
def test_bad_overrides_are_config_errors(item, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides(_config(), [item])


def test_config_flag_aliases_become_set_overrides():
    argv = ["train", "--config", "c.py", "--config.train.num_steps=5", "--config.loss.adv", "0",
            "--workdir", "w"]
    assert config_flag_aliases(argv) == ["train", "--config", "c.py", "--set",
                                         "train.num_steps=5", "--set", "loss.adv=0",
                                         "--workdir", "w"]
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_override_arguments(parser)
    args = parser.parse_args(config_flag_aliases(["--config", "c.py", "--config.a.b=1",
                                                  "--set", "c=2"]))
    assert args.config == "c.py" and args.overrides == ["a.b=1", "c=2"]
