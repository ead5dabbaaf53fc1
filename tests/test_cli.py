"""Tests of the `lipjax` command line and the dataset registry it drives."""

from __future__ import annotations

import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest

import lipjax
from lipjax import cli
from lipjax.data import builders
from lipjax.errors import ConfigError, DataError

def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    assert "data" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["data", "show", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "--examples" in out and "--split" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lipjax {lipjax.__version__}"


def test_unknown_dataset_exits_2_listing_names(capsys, tmp_path):
    code, _, err = run_main(capsys, "data", "build", "nope", "--data_dir", str(tmp_path))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for name in ("synthetic_lips", "synthetic_talking_faces", "grid", "tcd_timit"):
        assert name in err


def test_console_script_exit_status(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lipjax.cli", "data", "show", "nope", "--data_dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("lipjax: error: unknown dataset 'nope'")


def test_config_overrides_name_their_own_variant(tmp_path):
    plain = builders.get_builder("synthetic_lips", data_dir=tmp_path, config="tiny")
    assert plain.builder_config.name == "tiny"
    first = builders.get_builder("synthetic_lips", data_dir=tmp_path, config="tiny", seed="3")
    again = builders.get_builder("synthetic_lips", data_dir=tmp_path, config="tiny", seed=3)
    other = builders.get_builder("synthetic_lips", data_dir=tmp_path, config="tiny", seed=4)
    assert first.builder_config.seed == 3 and other.builder_config.seed == 4
    assert first.builder_config.name == again.builder_config.name != other.builder_config.name
    assert first.builder_config.name.startswith("tiny_")
    assert first.builder_config.num_speakers == plain.builder_config.num_speakers
    with pytest.raises(ConfigError, match="settable fields: .*seed"):
        builders.get_builder("synthetic_lips", data_dir=tmp_path, config="tiny", bogus=1)
    with pytest.raises(ConfigError, match="known configs: small, small_varied_timing, tiny"):
        builders.get_builder("synthetic_lips", data_dir=tmp_path, config="huge")


def test_unbuilt_dataset_says_how_to_build(tmp_path, capsys):
    command = "lipjax data build synthetic_lips --data_dir .* --config tiny"
    with pytest.raises(DataError, match=command):
        builders.load_split("synthetic_lips", "train", data_dir=tmp_path, config="tiny")
    code, _, err = run_main(
        capsys, "data", "show", "synthetic_lips", "--data_dir", str(tmp_path), "--config", "tiny",
        "--set", "seed=5",
    )
    assert code == 2 and "--set seed=5" in err


def test_missing_manual_dir_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="manual_dir"):
        builders.get_builder("grid", data_dir=tmp_path, manual_dir=tmp_path / "absent")


@pytest.fixture(scope="module")
def tiny_lips_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = cli.main(
            ["data", "build", "synthetic_lips", "--data_dir", str(data_dir), "--config", "tiny",
             "--no_progress"]
        )
    assert code == 0
    return data_dir


@pytest.mark.slow
def test_data_show_writes_a_contact_sheet(tiny_lips_dir, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    code, stdout, err = run_main(
        capsys, "data", "show", "synthetic_lips", "--data_dir", str(tiny_lips_dir),
        "--config", "tiny", "--split", "train", "--examples", "2", "--frames", "3",
        "--out", str(out),
    )
    assert code == 0, err
    assert "wrote" in stdout
    sheet = cv2.imread(str(out), cv2.IMREAD_COLOR)[..., ::-1]
    label, gap = 14, 2
    assert sheet.shape == (2 * (80 + label + gap) - gap, 3 * (160 + gap) - gap, 3)
    source = builders.load_split("synthetic_lips", "train", data_dir=tiny_lips_dir, config="tiny")
    for row in range(2):
        frames = source[row]["frames"]
        chosen = np.linspace(0, len(frames) - 1, 3).round().astype(int)
        for column, t in enumerate(chosen):
            top, left = row * (80 + label + gap) + label, column * (160 + gap)
            tile = sheet[top : top + 80, left : left + 160]
            # the frame is there, apart from the drawn landmarks
            assert (tile == frames[t]).all(axis=-1).mean() > 0.8
        assert sheet[row * (80 + label + gap) : row * (80 + label + gap) + label].any()  # label


@pytest.mark.slow
def test_data_show_unknown_split(tiny_lips_dir, capsys, tmp_path):
    code, _, err = run_main(
        capsys, "data", "show", "synthetic_lips", "--data_dir", str(tiny_lips_dir),
        "--config", "tiny", "--split", "validation", "--out", str(tmp_path / "x.png"),
    )
    assert code == 2 and "splits:" in err and "train" in err
    assert not (tmp_path / "x.png").exists()
