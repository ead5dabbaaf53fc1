"""The demo's small checkpoints: trained generators shipped with the project, so that `make demo`
shows videos and metrics in minutes instead of training for most of an hour.

A checkpoint folder (`experiments/demo_checkpoints/`) holds, per model `<name>`:

  <name>.npz          the generator's variables (`params` in float16, `batch_stats` in float32),
                      flattened to `collection/module/.../leaf` keys
  <name>.config.json  the config it was trained with
  landmarks/          the LMD landmark regressor (`lipjax.landmarks.save_regressor`)
  MANIFEST.json       the SHA-256 and size of every file, what trained each model (config,
                      steps, seconds) and the command that regenerates the folder

float16 halves the files (every one stays under 5 MB); the demo evaluates the weights as shipped,
so the metrics it prints are those of the float16-rounded generator. `verify_checkpoints` checks
every file against the manifest before anything is loaded; `restore_workdir` writes one model as
a lipjax workdir (`lipjax.convert.workdir.write_converted_workdir`), which `lip`, `talk` and
`evaluate` accept like a trained run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

import ml_collections
import numpy as np

from lipjax.errors import CheckpointError
from lipjax.files import atomic_path, write_atomic, write_json

__all__ = ["DEFAULT_FOLDER", "MANIFEST", "REGENERATE_COMMAND", "export_generator",
           "export_regressor", "write_manifest", "verify_checkpoints", "load_generator",
           "restore_workdir"]

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "experiments" / "demo_checkpoints"
MANIFEST = "MANIFEST.json"
REGENERATE_COMMAND = "make demo-checkpoints"
LANDMARKS = "landmarks"
_SEP = "/"
_STORED_DTYPE = {"params": np.float16}   # other collections (BatchNorm statistics): float32


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + _SEP))
        else:
            flat[name] = np.asarray(value)
    return flat


def _unflatten(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(_SEP)
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def export_generator(variables: Mapping[str, Any], config: ml_collections.ConfigDict,
                     folder: str | os.PathLike, name: str) -> list[Path]:
    """Writes `<name>.npz` (float16 params) and `<name>.config.json` into `folder`; returns the
    two paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flat = {}
    for collection, tree in variables.items():
        dtype = _STORED_DTYPE.get(collection, np.float32)
        for key, value in _flatten(tree, collection + _SEP).items():
            flat[key] = value.astype(dtype)
    weights, config_path = folder / f"{name}.npz", folder / f"{name}.config.json"

    def write(temp_path: str) -> None:
        with open(temp_path, "wb") as f:
            np.savez(f, **flat)

    atomic_path(weights, write)
    write_atomic(config_path, config.to_json_best_effort(indent=2, sort_keys=True))
    return [weights, config_path]


def export_regressor(regressor: str | os.PathLike, folder: str | os.PathLike) -> list[Path]:
    """Copies a saved landmark regressor into `folder/landmarks/`; returns the copied files."""
    target = Path(folder) / LANDMARKS
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(Path(regressor).iterdir()):
        if source.is_file():
            shutil.copyfile(source, target / source.name)
            copied.append(target / source.name)
    return copied


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str | os.PathLike, models: Mapping[str, Mapping[str, Any]]) -> Path:
    """`MANIFEST.json` over every file under `folder`, with `models` (what trained each)."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {
        "regenerate": REGENERATE_COMMAND,
        "models": dict(models),
        "files": {p.relative_to(folder).as_posix(): {"sha256": _sha256(p),
                                                      "bytes": p.stat().st_size}
                  for p in files},
    }
    write_json(folder / MANIFEST, manifest, indent=2, sort_keys=True)
    return folder / MANIFEST


def verify_checkpoints(folder: str | os.PathLike = DEFAULT_FOLDER) -> dict[str, Any]:
    """The manifest of `folder`, after checking every file it lists.

    Raises:
      CheckpointError: no manifest, or a listed file is missing or has another SHA-256 (naming
        each such file and the command that regenerates the folder).
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{os.fspath(folder)!r} holds no demo checkpoints ({MANIFEST} is "
                              f"missing); regenerate them with `{REGENERATE_COMMAND}`")
    try:
        manifest = json.loads(path.read_text())
        listed = manifest["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{os.fspath(path)!r} is not a demo manifest ({error}); "
                              f"regenerate it with `{REGENERATE_COMMAND}`") from None
    bad = []
    for name, entry in sorted(listed.items()):
        file = folder / name
        if not file.is_file():
            bad.append(f"{name} is missing")
        elif _sha256(file) != entry.get("sha256"):
            bad.append(f"{name} has another SHA-256 than the manifest's")
    if bad:
        raise CheckpointError(f"demo checkpoints in {os.fspath(folder)!r} are damaged: "
                              f"{'; '.join(bad)}. Restore them with `git checkout -- "
                              f"{os.fspath(folder)}` or regenerate them with "
                              f"`{REGENERATE_COMMAND}`")
    return manifest


def load_generator(folder: str | os.PathLike, name: str
                   ) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
    """`(config, variables)` of model `name` (variables in float32, as the model computes)."""
    folder = Path(folder)
    weights, config_path = folder / f"{name}.npz", folder / f"{name}.config.json"
    if not (weights.is_file() and config_path.is_file()):
        raise CheckpointError(f"no demo model {name!r} in {os.fspath(folder)!r} (expected "
                              f"{weights.name} and {config_path.name})")
    config = ml_collections.ConfigDict(json.loads(config_path.read_text()))
    with np.load(weights) as stored:
        flat = {key: stored[key].astype(np.float32) for key in stored.files}
    return config, _unflatten(flat)


def restore_workdir(folder: str | os.PathLike, name: str, out: str | os.PathLike,
                    overrides: Sequence[str] = ()) -> Path:
    """Writes model `name` of `folder` as a workdir at `out` (see the module docstring), its
    config changed by `overrides` (`lipjax.overrides` syntax, e.g. `data.data_dir=cache`)."""
    from lipjax.convert.workdir import write_converted_workdir
    from lipjax.overrides import apply_overrides

    config, variables = load_generator(folder, name)
    return write_converted_workdir(out, apply_overrides(config, overrides), variables)
