"""TensorBoard worth opening: a tiny ParaLip and a tiny DCK run write image previews, the
config and the learning rate / skipped-step scalars; read back from the event files."""

from __future__ import annotations

import glob
import os
import struct

import numpy as np
import pytest

from lipjax.training.loop import train_and_evaluate
from tests._tiny_configs import tiny_paralip_config
from tests.dck._tiny import tiny_config

pytestmark = pytest.mark.slow


def read_events(folder: str) -> list:
    """Every Event of the TensorBoard files in `folder` (TFRecord framing: length, crc, data,
    crc), parsed with tensorboardX's own protos."""
    from tensorboardX.proto.event_pb2 import Event

    events = []
    for path in sorted(glob.glob(os.path.join(folder, "**", "events.out.tfevents.*"),
                                 recursive=True)):
        with open(path, "rb") as f:
            data = f.read()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = Event()
            event.ParseFromString(data[offset + 12:offset + 12 + length])
            events.append(event)
            offset += 12 + length + 4
    return events


def _summaries(events) -> dict[str, list]:
    out: dict[str, list] = {}
    for event in events:
        for value in event.summary.value:
            out.setdefault(value.tag, []).append(value)
    return out


def _check_run(workdir: str, system: str) -> None:
    values = _summaries(read_events(os.path.join(workdir, "tensorboard")))
    for tag in (f"preview/{system}", f"preview_strip/{system}"):
        image = values[tag][-1].image
        assert image.width > 16 and image.height > 16 and image.encoded_image_string[:4] == \
            b"\x89PNG"
    assert any(tag.startswith("config") for tag in values)
    assert "train/learning_rate/generator" in values and "train/skipped/generator" in values
    gifs = glob.glob(os.path.join(workdir, "previews", "*.gif"))
    assert gifs
    from PIL import Image

    with Image.open(gifs[0]) as gif:
        assert gif.n_frames >= 2


def test_paralip_run_writes_previews(tmp_path):
    config = tiny_paralip_config(str(tmp_path / "data"), num_steps=2)
    config.train.eval_every = 2
    train_and_evaluate(config, str(tmp_path / "run"), progress=False)
    _check_run(str(tmp_path / "run"), "ParaLipSystem")


def test_dck_run_writes_previews(tmp_path):
    config = tiny_config(str(tmp_path / "data"), parallel="shard_map")
    config.train.tensorboard = True
    config.train.eval_every = 2
    train_and_evaluate(config, str(tmp_path / "run"), progress=False)
    _check_run(str(tmp_path / "run"), "DCKSystem")
