"""Helpers of the DCK experiments (`dck_translation.py`, `dck_table1.py`); not part of lipjax.

* `BoxedSource`: a `synthetic_talking_faces` split whose face boxes are moved (the translation
  test of the DCK paper, Sec. V, Fig. 8: the face moved upwards in its crop; or random jitter);
* `shift_robust_regressor`: the face-crop mouth-landmark regressor of the models' LMD, trained
  on crops moved by up to `REGRESSOR_JITTER` of the box so that it also reads moved crops;
* `evaluate_all_frames`: `DCKSystem.evaluate` over every frame of both directions of a split;
* `synced_clips` + `clip_lse`: the lip-synced test videos and their LSE-D / LSE-C through the
  lip-sync expert trained on the corpus (`lipjax.metrics.lip_sync_error`);
* `eval_curves`, `training_wall_seconds`: learning curves and training time of workdirs.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, Mapping

import cv2
import numpy as np

from lipjax.data.synthetic.talking_faces import jitter_boxes

__all__ = [
    "RATES", "REGRESSOR_JITTER", "EXPERT_FACE_SIDE", "translate_boxes", "BoxedSource",
    "mouth_centre_spread", "shift_robust_regressor", "Evaluator", "evaluate_all_frames",
    "direction_clips", "synced_clips", "generator_fn", "expert_view", "clip_lse", "eval_curves",
    "training_wall_seconds",
]

# Fig. 8 of the DCK paper: the face moved upwards by these fractions of the frame height.
RATES = (0.0, 0.05, 0.10, 0.15, 0.20)
# The LMD regressor's training crops move by up to this fraction of the box (beyond RATES).
REGRESSOR_JITTER = 0.25
# The expert (wav2lip_expert_synthetic.py) saw 48-pixel faces (96 x 128 frames) resized to 96.
EXPERT_FACE_SIDE = 48


def translate_boxes(boxes: np.ndarray, rate: float) -> np.ndarray:
    """Face boxes `[T, 4]` (x0, y0, x1, y1) moved down by `rate` times their height, so that the
    face moves *up* in its crop by `rate` of the crop height (DCK paper, Fig. 8)."""
    boxes = np.asarray(boxes, np.float64)
    down = rate * (boxes[:, 3] - boxes[:, 1])
    return (boxes + np.stack([0 * down, down, 0 * down, down], axis=1)).astype(np.float32)


class BoxedSource(Sequence):
    """A split whose records' `face_boxes` are replaced by `move(boxes, index)`; the frames,
    landmarks (frame pixels) and audio are unchanged, so crops, crop landmarks and mouth
    regions all follow the moved boxes (`lipjax.data.pairs`)."""

    def __init__(self, source: Sequence[Mapping[str, Any]],
                 move: Callable[[np.ndarray, int], np.ndarray]):
        self._source, self._move = source, move

    @classmethod
    def translated(cls, source, rate: float) -> "BoxedSource":
        return cls(source, lambda boxes, _: translate_boxes(boxes, rate))

    @classmethod
    def jittered(cls, source, jitter: float, seed: int = 0) -> "BoxedSource":
        return cls(source, lambda boxes, i: jitter_boxes(
            boxes, jitter, np.random.default_rng([seed, i])))

    def __len__(self) -> int:
        return len(self._source)

    def __iter__(self):  # array_record sources raise ValueError, not IndexError, past the end
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        record = dict(self._source[index])
        record["face_boxes"] = self._move(np.asarray(record["face_boxes"]), int(index))
        return record


def mouth_centre_spread(source: Sequence[Mapping[str, Any]], size: int) -> list[float]:
    """Standard deviation (x, y) of the mouth centre in the `size` crops of every frame of
    clip a of every record: how much the mouth moves within its crop."""
    from lipjax.data.pairs import crop_landmarks

    centres = [crop_landmarks(m, b, size).mean(axis=0)
               for r in (source[i] for i in range(len(source)))
               for m, b in zip(np.asarray(r["landmarks_a"]), np.asarray(r["face_boxes"]))]
    return [float(v) for v in np.std(centres, axis=0)]


def shift_robust_regressor(train, test, out: str, *, size: int, steps: int,
                           progress: bool = True) -> dict:
    """Trains (or reuses, when `out` holds one) the face-crop landmark regressor on the train
    crops moved by up to `REGRESSOR_JITTER`; returns its report, with its test error on crops
    translated by each of `RATES` (the detector's own share of an LMD)."""
    report_path = os.path.join(out, "report.json")
    if os.path.isfile(report_path):
        with open(report_path, encoding="utf-8") as f:
            return json.load(f)
    from lipjax.data.pairs import face_crop_landmark_records
    from lipjax.landmarks import save_regressor, train_landmark_regressor
    from lipjax.landmarks.model import LandmarkRegressorConfig

    records = face_crop_landmark_records(BoxedSource.jittered(train, REGRESSOR_JITTER),
                                         image_size=size)
    moved = {f"test_rate_{rate:.2f}": face_crop_landmark_records(
        BoxedSource.translated(test, rate), image_size=size) for rate in RATES}
    params, report = train_landmark_regressor(
        records, moved.pop("test_rate_0.00"), steps=steps,
        config=LandmarkRegressorConfig(frame_height=size, frame_width=size),
        extra_eval_sources=moved, progress=progress)
    report["crop_jitter_of_training_crops"] = REGRESSOR_JITTER
    save_regressor(out, params, LandmarkRegressorConfig(frame_height=size, frame_width=size),
                   report=report)
    return report


class Evaluator:
    """A restored DCK workdir evaluated on every frame of any split (one compilation)."""

    def __init__(self, workdir: str, regressor: str | None, *, max_frames: int = 75):
        import jax

        from lipjax.training import steps
        from lipjax.training.evaluation import config_devices
        from lipjax.training.parallel import DataParallel
        from lipjax.training.workdir import restore_generator

        overrides = [f"evaluation.landmark_regressor={regressor}"] if regressor else []
        self.restored = restore_generator(workdir, overrides=overrides)
        config = self.config = self.restored.config
        config.data.buckets = [(1, max_frames)]    # >= the longest clip: every frame
        config.data.eval_batch_size = jax.local_device_count()
        self.system = self.restored.system_class.from_config(config)
        self.dp = DataParallel(config.train.parallel, devices=config_devices(config))
        self.eval_step = self.dp.wrap(steps.eval_step, static_kwargs={"system": self.system},
                                      donate_state=False)
        self.variables = self.dp.replicate(jax.device_get(self.restored.variables))

    def __call__(self, source, *, progress: bool = False) -> dict[str, float]:
        from lipjax.training.evaluation import evaluate

        return evaluate(self.system, self.variables, source, self.config, dp=self.dp,
                        eval_step=self.eval_step, replicated=True, progress=progress)


def evaluate_all_frames(workdir: str, source, regressor: str | None) -> dict[str, float]:
    """`DCKSystem.evaluate`'s means over every frame of both directions of `source`."""
    return Evaluator(workdir, regressor)(source, progress=True)


def direction_clips(crops: np.ndarray, frame_mask: np.ndarray, record: Mapping[str, Any]
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
    """`[(crops of direction d's valid frames, the target clip's audio)]` for both directions
    of a pair example (`pair_example` layout: direction d fills half d of the frame axis)."""
    from lipjax.data.pairs import DIRECTIONS

    count = len(frame_mask) // 2
    return [(crops[d * count:(d + 1) * count][frame_mask[d * count:(d + 1) * count]],
             np.asarray(record[f"audio_{target}"], np.float32))
            for d, (_, target) in enumerate(DIRECTIONS)]


def synced_clips(system, variables, record: Mapping[str, Any], *, max_frames: int = 75):
    """Both directions of a pair as videos: for direction d (source clip -> target clip),
    `{"model", "input", "target"}` float32 crops `[T, S, S, 3]` and the target clip's audio.

    The model gets the source clip's crops and the target clip's audio frame by frame, so its
    output should be in sync with that audio; "input" (the source crops) is not.
    """
    batch = system.example_fn(record, max_tokens=1, max_frames=max_frames,
                              rng=np.random.default_rng(0), training=False)
    frames = np.asarray(generator_fn(system)(variables, batch["source"][None], batch["mel"][None]))
    mask = np.asarray(batch["frame_mask"])
    views = {name: direction_clips(crops, mask, record) for name, crops in
             (("model", frames[0]), ("input", batch["source"]), ("target", batch["target"]))}
    return [{**{name: clips[d][0] for name, clips in views.items()},
             "audio": views["model"][d][1]} for d in range(2)]


_GENERATORS: dict[int, Callable] = {}


def generator_fn(system) -> Callable:
    """The generator's jitted forward pass (one per system)."""
    import jax

    if id(system) not in _GENERATORS:
        _GENERATORS[id(system)] = jax.jit(
            lambda v, s, m: system.generator.apply(v, s, m, train=False).frame)
    return _GENERATORS[id(system)]


def expert_view(crops: np.ndarray) -> np.ndarray:
    """Float face crops in [0, 1] `[T, S, S, 3]` -> uint8 `[T, 48, 48, 3]`, the resolution of
    the faces the expert was trained on (`lip_sync_error` then resizes them to its 96)."""
    crops = np.clip(np.round(np.asarray(crops, np.float32) * 255.0), 0, 255).astype(np.uint8)
    side = (EXPERT_FACE_SIDE, EXPERT_FACE_SIDE)
    return np.stack([cv2.resize(c, side, interpolation=cv2.INTER_AREA) for c in crops])


def clip_lse(network, crops: np.ndarray, audio: np.ndarray) -> dict[str, float]:
    """LSE-D, LSE-C and AV offset of one video (float crops in [0, 1]) and its audio."""
    from lipjax.metrics import lip_sync_error

    result = lip_sync_error(expert_view(crops), audio, network, fps=25.0)
    return {"lse_d": result.lse_d, "lse_c": result.lse_c, "offset": result.offset}


def eval_curves(workdir: str, keys: Sequence[str]) -> dict[str, list[list[float]]]:
    """`{key: [[step, value], ...]}` from a workdir's `eval_<step>.json` files, by step."""
    curves: dict[str, list[list[float]]] = {k: [] for k in keys}
    paths = glob.glob(os.path.join(workdir, "eval_*.json"))
    for step, path in sorted((int(re.search(r"eval_(\d+)\.json$", p).group(1)), p)
                             for p in paths):
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
        for k in keys:
            if k in values:
                curves[k].append([step, float(values[k])])
    return curves


def training_wall_seconds(workdir: str, step: int) -> float:
    """Seconds the training loop ran up to `step`, summed over its logged windows
    (`metrics.jsonl`: each train line covers the steps since the previous one at its
    `train/throughput/examples_per_s`; compilation, evaluations and checkpoints inside the loop
    included, start-up before it not). A resumed run's repeated steps count once (the last
    run's lines win); `config.json` cannot date the start, it is rewritten on every resume."""
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
        batch = int(json.load(f)["data"]["batch_size"])
    rates: dict[int, float] = {}
    with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            if "train/throughput/examples_per_s" in entry and entry["step"] <= step:
                rates[int(entry["step"])] = float(entry["train/throughput/examples_per_s"])
    seconds, previous = 0.0, 0
    for logged in sorted(rates):
        seconds += (logged - previous) * batch / rates[logged]
        previous = logged
    return seconds
