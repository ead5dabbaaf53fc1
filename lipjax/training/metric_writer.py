"""`MetricWriter`: a run's scalars, images and config, to TensorBoard (tensorboardX, no
TensorFlow needed) and its scalars to `metrics.jsonl` too."""

from __future__ import annotations

import json
import os
from typing import Any

import ml_collections
import numpy as np

__all__ = ["MetricWriter"]


class MetricWriter:
    """Writes to `workdir/metrics.jsonl` and, with `tensorboard`, to `workdir/tensorboard/`.

    Args:
      workdir: the run's folder (must exist).
      tensorboard: also write TensorBoard event files.
    """

    def __init__(self, workdir: str, *, tensorboard: bool = True):
        self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, scalars: dict[str, float], *, prefix: str = "") -> None:
        """Scalars under `prefix` (e.g. "train/", "eval/") at `step`."""
        scalars = {f"{prefix}{k}": float(v) for k, v in scalars.items()}
        self._jsonl.write(json.dumps({"step": int(step), **scalars}) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, v, int(step))

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """A uint8 (or float in [0, 1]) `[H, W, 3]` image summary."""
        if self._tb is not None:
            self._tb.add_image(tag, np.asarray(image), int(step), dataformats="HWC")

    def config(self, config: ml_collections.ConfigDict, *, step: int = 0) -> None:
        """The run's config as text (JSON) and its scalar fields as hyperparameters."""
        if self._tb is None:
            return
        text = config.to_json_best_effort(indent=2)
        self._tb.add_text("config", "```\n" + text + "\n```", int(step))
        flat = _scalar_fields(json.loads(text))
        self._tb.add_hparams(flat, {}, name="hparams", global_step=int(step))

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def _scalar_fields(tree: Any, prefix: str = "") -> dict[str, Any]:
    """`{"train.num_steps": 100, ...}`: the bool / number / string leaves of a config."""
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(_scalar_fields(value, f"{prefix}{key}."))
    elif isinstance(tree, (bool, int, float, str)):
        out[prefix[:-1]] = tree
    return out
