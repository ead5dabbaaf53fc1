"""Atomic file writes: a file is either absent, its old version or complete, never half-written.

Every writer in lipjax (configs, evaluation JSON, saved regressors, contact sheets) goes through
here: the bytes go to a temporary file in the destination's folder, which is renamed over the
destination when complete (a rename within one file system is atomic).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["write_atomic", "write_json", "atomic_path"]


def atomic_path(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Calls `write(temp_path)` for a temporary file next to `path`, then renames it to `path`.

    The temporary file is removed if `write` raises (or is interrupted); `path` is untouched.
    """
    path = Path(path)
    handle, temp_path = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temp_path)
        os.chmod(temp_path, 0o644)  # mkstemp makes the file private
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Writes `data` (str as UTF-8) to `path` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data

    def write(temp_path: str) -> None:
        with open(temp_path, "wb") as f:
            f.write(payload)

    atomic_path(path, write)


def write_json(path: str | os.PathLike, payload: Mapping[str, Any], **dumps_kwargs: Any) -> None:
    """Writes `payload` as indented, key-sorted JSON to `path` atomically."""
    options = {"indent": 2, "sort_keys": True, **dumps_kwargs}
    write_atomic(path, json.dumps(payload, **options) + "\n")
