"""One tiny lipreader (3 steps on the tiny synthetic corpus) for every lipreading test."""

from __future__ import annotations

import pytest

from tests.lipreading._tiny import train_tiny_lipreader


@pytest.fixture(scope="session")
def tiny_lipreader(tmp_path_factory):
    """`(data_dir, workdir, training result)`."""
    data_dir = str(tmp_path_factory.mktemp("lipreading_data"))
    workdir = str(tmp_path_factory.mktemp("lipreader"))
    return data_dir, workdir, train_tiny_lipreader(data_dir, workdir, num_steps=3)
