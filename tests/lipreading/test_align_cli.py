"""`lipjax data align` end to end on the tiny synthetic corpus: the copy has the original
records with MAS durations, ParaLip trains on it unchanged, and bad inputs stop it before
anything is written."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from lipjax import cli
from lipjax.data.builders import load_split
from lipjax.errors import DataError
from lipjax.lipreading import Aligner
from lipjax.training.loop import train_and_evaluate
from tests._tiny_configs import tiny_paralip_config

pytestmark = pytest.mark.slow
SPLITS = ("test", "test_unseen_speaker", "train")


@pytest.fixture(scope="module")
def lipreader(tiny_lipreader):
    return tiny_lipreader[:2]


def _align(data_dir, workdir, out_dir, *extra):
    return cli.main(["data", "align", "--lipreader", workdir, "--dataset", "synthetic_lips",
                     "--data_dir", data_dir, "--out_dir", out_dir, "--config", "tiny",
                     "--batch_size", "2", "--no_progress", *extra])


@pytest.fixture(scope="module")
def aligned(lipreader, tmp_path_factory):
    data_dir, workdir = lipreader
    out_dir = str(tmp_path_factory.mktemp("aligned") / "copy")
    assert _align(data_dir, workdir, out_dir) == 0
    return out_dir


def test_the_copy_is_the_dataset_with_mas_durations(lipreader, aligned):
    data_dir, workdir = lipreader
    aligner = Aligner(workdir, batch_size=2)
    for split in SPLITS:
        original = load_split("synthetic_lips", split, data_dir=data_dir, config="tiny")
        copy = load_split("synthetic_lips", split, data_dir=aligned, config="tiny")
        assert len(copy) == len(original)
        records = [original[i] for i in range(len(original))]
        expected = aligner.durations(records)
        for i, record in enumerate(records):
            new = copy[i]
            assert new["id"] == record["id"] and new["text"] == record["text"]
            for field in ("tokens", "frames", "landmarks", "mouth"):
                np.testing.assert_array_equal(new[field], record[field])
            np.testing.assert_array_equal(new["durations"], expected[i])
            assert new["durations"].min() >= 1
            assert new["durations"].sum() == len(record["frames"])
    report = json.load(open(os.path.join(aligned, "synthetic_lips", "tiny", "1.1.0",
                                         "alignment.json")))
    assert report["lipreader"] == os.path.abspath(workdir) and set(report["splits"]) == set(SPLITS)
    train = load_split("synthetic_lips", "train", data_dir=data_dir, config="tiny")
    stored = np.concatenate([train[i]["durations"] for i in range(len(train))])
    copy = load_split("synthetic_lips", "train", data_dir=aligned, config="tiny")
    new = np.concatenate([copy[i]["durations"] for i in range(len(copy))])
    agreement = report["splits"]["train"]["vs_stored"]
    assert agreement["tokens"] == stored.size
    assert agreement["abs_error"] == pytest.approx(np.abs(new - stored).mean())


def test_paralip_trains_on_the_copy_unchanged(aligned, tmp_path):
    config = tiny_paralip_config(aligned, num_steps=2)
    config.data.build_if_missing = False   # the copy must be read, never rebuilt
    result = train_and_evaluate(config, str(tmp_path / "paralip"), progress=False)
    assert result["final_step"] == 2 and result["skipped_steps"] == 0


def _fails(capsys, args, match, out_dir):
    assert _align(*args) == 2
    assert match in capsys.readouterr().err
    assert not os.path.exists(os.path.join(out_dir, "synthetic_lips"))


def test_bad_inputs_stop_before_anything_is_written(lipreader, aligned, tmp_path, capsys):
    data_dir, workdir = lipreader
    out = str(tmp_path / "out")
    other = tmp_path / "paralip_workdir"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"system": "lipjax.paralip.ParaLipSystem"}))
    _fails(capsys, (data_dir, str(other), out), "not of a lipreader", out)
    phonemes = tmp_path / "phoneme_lipreader"
    shutil.copytree(workdir, phonemes)
    config = json.loads((phonemes / "config.json").read_text())
    config["data"]["vocabulary"] = "phonemes"
    (phonemes / "config.json").write_text(json.dumps(config))
    _fails(capsys, (data_dir, str(phonemes), out), "tokenised with 'grid_chars'", out)
    _fails(capsys, (data_dir, workdir, data_dir), "the dataset's own --data_dir", out)
    _fails(capsys, (str(tmp_path / "empty"), workdir, out), "is not built", out)
    assert _align(data_dir, workdir, aligned) == 2
    assert "exists already" in capsys.readouterr().err
    assert cli.main(["data", "align", "--lipreader", workdir, "--dataset", "nope",
                     "--data_dir", data_dir, "--out_dir", out]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_records_outside_the_vocabulary_or_too_short_are_named(lipreader):
    _, workdir = lipreader
    aligner = Aligner(workdir, batch_size=2)
    frames = np.zeros((6, 80, 160, 3), np.uint8)
    with pytest.raises(DataError, match="not in the lipreader's vocabulary"):
        aligner.check_record({"frames": frames, "tokens": np.array([1, 40, 1])})
    with pytest.raises(DataError, match="cannot hold"):
        aligner.check_record({"frames": frames[:2], "tokens": np.array([1, 3, 1])})
    with pytest.raises(DataError, match="fit none of the buckets"):
        aligner.check_record({"frames": np.zeros((300, 80, 160, 3), np.uint8),
                              "tokens": np.array([1, 3, 1])})
