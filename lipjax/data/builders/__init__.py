"""tensorflow-datasets builders and the one registry that maps dataset names to them.

Every builder writes array_record files (no TensorFlow needed) and is read by random access
through `builder.as_data_source()[split]`. The builder modules import tensorflow-datasets and,
for the real corpora, video decoders; they are imported only when a dataset is asked for, so
`import lipjax.data.builders` stays cheap and a missing optional module only affects its own
dataset.

Names (the `lipjax data build NAME` argument):
  synthetic_lips           rendered 80x160 lip videos with exact durations and landmarks
  synthetic_talking_faces  pairs of full-frame talking faces with matching audio
  grid                     GRID corpus, from a manual download
  tcd_timit                TCD-TIMIT corpus, from a manual download
  talking_face_pairs       real videos + their Wav2Lip re-synced versions (the DCK paper's
                           mixed dataset), built with its own options (`talking_face_pairs_cli`)

Config overrides (`--set key=value`, the syntax of `lipjax.overrides`, type-checked against the
field) replace fields of a named BuilderConfig. A config with
overrides gets its own name, `<base>_<hash of the overrides>`, hence its own directory, so data
built with different settings never mixes; reading it back needs the same overrides.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import os
from typing import Any, Mapping, Sequence

from lipjax.errors import ConfigError, DataError
from lipjax.overrides import coerce

logger = logging.getLogger(__name__)

__all__ = [
    "BUILDERS",
    "builder_names",
    "builder_class",
    "get_builder",
    "build_dataset",
    "load_split",
    "load_source",
]

# name -> "module:Class"; modules are imported on first use.
BUILDERS: Mapping[str, str] = {
    "synthetic_lips": "lipjax.data.builders.synthetic_lips:SyntheticLips",
    "synthetic_talking_faces": "lipjax.data.builders.synthetic_talking_faces:SyntheticTalkingFaces",
    "grid": "lipjax.data.builders.grid:Grid",
    "tcd_timit": "lipjax.data.builders.tcd_timit:TcdTimit",
    "talking_face_pairs": "lipjax.data.builders.talking_face_pairs:TalkingFacePairs",
}


def builder_names() -> tuple[str, ...]:
    """The dataset names the registry knows, sorted."""
    return tuple(sorted(BUILDERS))


def builder_class(name: str) -> type:
    """Imports and returns the builder class registered under `name`.

    Raises:
      DataError: the name is unknown (the message lists the known names) or its module is not
        importable.
    """
    if name not in BUILDERS:
        raise DataError(
            f"unknown dataset {name!r}; known datasets: {', '.join(builder_names())}."
        )
    module_name, class_name = BUILDERS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            raise DataError(
                f"the builder of dataset {name!r} ({module_name}) is not installed in this "
                "version of lipjax."
            ) from error
        raise
    return getattr(module, class_name)


def _resolve_config(cls: type, config: str | None, overrides: Mapping[str, Any]):
    """Returns the config name or object to hand to the builder, with overrides applied."""
    configs = dict(getattr(cls, "builder_configs", {}) or {})
    if config is not None and config not in configs:
        known = ", ".join(sorted(configs)) or "none (this dataset has no configs)"
        raise ConfigError(f"unknown config {config!r} for this dataset; known configs: {known}.")
    if not overrides:
        return config
    if not configs:
        raise ConfigError("this dataset has no config whose fields could be overridden.")
    base_name = config if config is not None else cls.default_builder_config.name
    base = configs[base_name]
    fields = {f.name: f for f in dataclasses.fields(base)}
    reserved = {"name", "version", "release_notes", "supported_versions", "description", "tags"}
    unknown = sorted(set(overrides) - (set(fields) - reserved))
    if unknown:
        settable = ", ".join(sorted(set(fields) - reserved))
        raise ConfigError(
            f"unknown config field(s) {', '.join(map(repr, unknown))} of config {base_name!r}; "
            f"settable fields: {settable}."
        )
    values = {k: coerce(k, v, getattr(base, k)) for k, v in sorted(overrides.items())}
    digest = hashlib.sha1(
        json.dumps({k: repr(v) for k, v in values.items()}, sort_keys=True).encode()
    ).hexdigest()[:8]
    description = f"{base.description or base_name} (overrides: " + ", ".join(
        f"{k}={v!r}" for k, v in values.items()
    ) + ")"
    return dataclasses.replace(
        base, name=f"{base_name}_{digest}", description=description, **values
    )


def get_builder(
    name: str,
    *,
    data_dir: str | os.PathLike,
    manual_dir: str | os.PathLike | None = None,
    config: str | None = None,
    **config_overrides: Any,
):
    """Constructs the tfds builder of dataset `name` (nothing is read or built).

    Args:
      name: one of `builder_names()`.
      data_dir: the folder that holds (or will hold) the built datasets.
      manual_dir: for real corpora, the folder with the manually downloaded files; checked to
        exist here, passed to the builder by `build_dataset`.
      config: a BuilderConfig name (e.g. 'tiny', 'small'); None = the builder's default.
      **config_overrides: replacements for fields of that config (text is read as the field's
        type, `lipjax.overrides.coerce`).

    Raises:
      DataError: unknown name or missing manual_dir. ConfigError: unknown config or field.
    """
    cls = builder_class(name)
    if manual_dir is not None and not os.path.isdir(manual_dir):
        raise DataError(
            f"manual_dir {os.fspath(manual_dir)!r} does not exist; point --manual_dir at the "
            f"folder holding the downloaded {name} files."
        )
    resolved = _resolve_config(cls, config, config_overrides)
    return cls(data_dir=os.fspath(data_dir), config=resolved, file_format="array_record")


def _build_command(name: str, data_dir, config: str | None, overrides: Mapping[str, Any]) -> str:
    parts = ["lipjax data build", name, "--data_dir", os.fspath(data_dir)]
    if config is not None:
        parts += ["--config", config]
    for key, value in sorted(overrides.items()):
        parts += ["--set", f"{key}={value}"]
    return " ".join(parts)


def build_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike,
    manual_dir: str | os.PathLike | None = None,
    config: str | None = None,
    progress: bool = True,
    **config_overrides: Any,
):
    """Builds (downloads nothing; generates or converts) dataset `name` into `data_dir`.

    An already built dataset is reused. tfds writes to a temporary folder and renames it when
    done, so an interrupted build leaves nothing that looks built.

    Returns:
      The prepared tfds builder.
    """
    import tensorflow_datasets as tfds

    builder = get_builder(
        name, data_dir=data_dir, manual_dir=manual_dir, config=config, **config_overrides
    )
    (tfds.enable_progress_bar if progress else tfds.disable_progress_bar)()
    download_config = tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else os.fspath(manual_dir),
        try_download_gcs=False,  # everything is built locally; never reach the network
    )
    builder.download_and_prepare(download_config=download_config, file_format="array_record")
    return builder


def load_split(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike,
    config: str | None = None,
    **config_overrides: Any,
) -> Sequence[Mapping[str, Any]]:
    """Opens one split of a built dataset as a random-access data source.

    Returns:
      A sequence: `len(source)` examples, `source[i]` a dict of NumPy arrays (text as bytes).

    Raises:
      DataError: the dataset is not built in `data_dir` (the message gives the
        `lipjax data build` command to run) or has no such split.
    """
    builder = get_builder(name, data_dir=data_dir, config=config, **config_overrides)
    if not builder.is_prepared():
        config_name = builder.builder_config.name if builder.builder_config else "default"
        raise DataError(
            f"dataset {name!r} (config {config_name}) is not built in {os.fspath(data_dir)!r}; "
            "build it first with: "
            f"{_build_command(name, data_dir, config, config_overrides)}"
        )
    splits = sorted(builder.info.splits.keys())
    base_split = split.split("[")[0]
    if base_split not in splits:
        raise DataError(f"dataset {name!r} has no split {split!r}; splits: {', '.join(splits)}.")
    return builder.as_data_source(split=split)


def load_source(data_config: Mapping[str, Any], split: str) -> Sequence[Mapping[str, Any]]:
    """The split a training config's `data` section names, building the dataset first when
    `data.build_if_missing` allows it and it is missing (the synthetic corpora).

    Fields read: name, data_dir, builder_config, builder_overrides, build_if_missing,
    manual_dir.
    """
    kwargs = dict(data_dir=data_config["data_dir"], config=data_config.get("builder_config"),
                  **dict(data_config.get("builder_overrides", {}) or {}))
    try:
        return load_split(data_config["name"], split, **kwargs)
    except DataError:
        if not data_config.get("build_if_missing", False):
            raise
    logger.info("building dataset %s into %s", data_config["name"], data_config["data_dir"])
    build_dataset(data_config["name"], manual_dir=data_config.get("manual_dir"), **kwargs)
    return load_split(data_config["name"], split, **kwargs)
