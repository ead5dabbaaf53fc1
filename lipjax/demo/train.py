"""The demo's training: the LMD landmark regressor, ParaLip and the DCK model, from nothing.

`make demo-train` runs it and then the showcase; `make demo-checkpoints` runs it and exports the
three models into `experiments/demo_checkpoints/` (`lipjax.demo.checkpoints`), which is what the
quick `make demo` loads.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Sequence

from lipjax.demo.showcase import CONFIGS

__all__ = ["TrainedModel", "LANDMARK_STEPS", "PARALIP_CONFIG", "DCK_CONFIG", "train_landmarks",
           "train_system"]

LANDMARK_STEPS = 600  # the LMD regressor (lipjax.landmarks); BUILD_NOTES has its error
PARALIP_CONFIG = "paralip_demo"
DCK_CONFIG = "dck_synthetic"


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """A model the demo trained: its folder and what to report about the training."""

    path: str
    report: dict[str, Any]


def train_landmarks(out: str, data_dir: str, steps: int, progress: bool) -> TrainedModel:
    """Trains the mouth-landmark regressor that ParaLip's LMD uses into `out/landmarks`."""
    from lipjax.landmarks import train_synthetic_regressor

    folder = os.path.join(out, "landmarks")
    report = train_synthetic_regressor(folder, data_dir=data_dir, steps=steps, progress=progress)
    return TrainedModel(folder, {k: v for k, v in report.items()
                                 if "error" in k or k in ("steps", "train_seconds")})


def train_system(config_name: str, run_name: str, out: str, data_dir: str, steps: int | None,
                 progress: bool, extra_overrides: Sequence[str] = ()) -> TrainedModel:
    """Trains experiments/configs/<config_name>.py into out/<run_name>."""
    from lipjax.training.config import load_config
    from lipjax.training.loop import train_and_evaluate

    overrides = ([f"data.data_dir={data_dir}"] + ([f"train.num_steps={steps}"] if steps else [])
                 + list(extra_overrides))
    config = load_config(os.path.join(CONFIGS, f"{config_name}.py"), overrides)
    workdir = os.path.join(out, run_name)
    start = time.perf_counter()
    result = train_and_evaluate(config, workdir, progress=progress)
    return TrainedModel(workdir, {
        "config": f"experiments/configs/{config_name}.py", "steps": result["final_step"],
        "train_seconds": round(time.perf_counter() - start, 1),
        "train_examples_per_s": result["throughput_examples_per_s"],
        "generator_params": result["generator_params"]})
