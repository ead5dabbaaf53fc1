"""Writing imported weights as a lipjax workdir, so that `lip`, `talk`, `evaluate` and
`restore_generator` use them like a trained run.

The workdir holds `config.json` (a training config of the system, with the sizes of the
published model) and one checkpoint at step 0 whose state is `{"step", "generator": {"params",
"batch_stats"}}`: the generator's variables only (an imported model has no optimiser state).
Everything is written into a temporary folder next to `out`, which is renamed to `out` when
complete; an existing `out` is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from lipjax.errors import InputError
from lipjax.training.checkpoint import Checkpointer
from lipjax.training.workdir import CHECKPOINTS_DIR, write_config

__all__ = ["write_converted_workdir"]


def write_converted_workdir(out: str | os.PathLike, config: ml_collections.ConfigDict,
                            variables: Any) -> Path:
    """Writes `config` and the generator `variables` as a workdir at `out` (which must not
    exist yet, or be an empty folder).

    Raises:
      InputError: `out` exists and is not an empty folder, or its parent folder is missing.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{os.fspath(out)!r} already exists; convert into a new folder")
    if not out.parent.is_dir():
        raise InputError(f"the folder {os.fspath(out.parent)!r} of --out does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_config(staging, config)
        state = {"step": np.zeros((), np.int32),
                 "generator": {name: jax.device_get(value) for name, value in variables.items()}}
        checkpointer = Checkpointer(staging / CHECKPOINTS_DIR, async_save=False)
        checkpointer.save(0, state, config=config)
        checkpointer.close()
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
