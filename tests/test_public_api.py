"""The public surface: every name a package exports lazily (`lipjax/_lazy.py`) resolves, and
`dir(lipjax)` lists only the documented API (no private names, no `annotations`)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import lipjax


def _packages() -> list[str]:
    names = ["lipjax"]
    for info in pkgutil.walk_packages(lipjax.__path__, prefix="lipjax."):
        if info.ispkg:
            names.append(info.name)
    return names


@pytest.mark.parametrize("package", _packages())
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    missing = [name for name in getattr(module, "__all__", ()) if not hasattr(module, name)]
    assert not missing, f"{package} exports names that do not exist: {missing}"


def test_dir_lipjax_is_the_documented_api():
    names = dir(lipjax)
    assert not [n for n in names if n.startswith("_")]
    assert "annotations" not in names and "importlib" not in names
    for name in ("ParaLipSystem", "DCKSystem", "Wav2LipSystem", "SyncNetColorSystem",
                 "LipreaderSystem", "train_and_evaluate", "talk", "lipreading", "wav2lip"):
        assert name in names, name
