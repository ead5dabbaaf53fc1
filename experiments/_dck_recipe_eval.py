"""Stage 5 of `dck_recipe.py`: DCK, Wav2Lip and the input frame on the held-out test pairs of
`synthetic_talking_faces`, in the layout of the DCK paper's Table II; not part of lipjax.

Every test pair (sentences never seen in training) gives two directions, d = (source clip ->
target clip): each row predicts the target clip's face crops from the source clip and the target
clip's audio, and is compared with the target clip itself (the ground truth the synthetic corpus
has, which the paper gets from its test videos):

* "dck": the DCK generator on the source crops and the target's mel windows;
* "wav2lip": the trained Wav2Lip over the source clip's full frames with the target's audio
  (`lipjax.lipsync.lip_sync`, the corpus's face boxes), then cut like DCK's crops;
* "input_frame": the source crop unchanged.

Every frame of both directions: PSNR, SSIM of the crops, PSNR of the mouth region, LMD (mouth
landmarks of the prediction found by a face-crop landmark regressor against the target's exact
ones; `lmd_exact` of the input frame uses its exact landmarks), and per clip LSE-D / LSE-C
through the lip-sync expert of stage 1 (`lipjax.metrics.lip_sync_error`); "ground_truth" is
the target clip (LSE only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

ROWS = ("dck", "wav2lip", "input_frame")
LABELS = {"dck": "DCK (Wav2Lip pairs, frozen audio)", "wav2lip": "Wav2Lip",
          "input_frame": "input frame", "ground_truth": "ground truth"}
FRAME_METRICS = ("psnr", "ssim", "psnr_mouth", "lmd")


def wav2lip_record(editor: Any, record: Mapping[str, Any], *, batch_size: int = 16) -> dict:
    """`record` with each clip's frames replaced by Wav2Lip's edit of them driven by the *other*
    clip's audio: frames_a := W(frames_a, audio_b) (Wav2Lip's prediction of clip b), frames_b :=
    W(frames_b, audio_a); uint8 `[T, H, W, 3]`, the face boxes of the record."""
    from lipjax.data.pairs import DIRECTIONS
    from lipjax.lipsync.pipeline import lip_sync

    boxes = np.asarray(record["face_boxes"], np.float32)
    detected = np.ones(len(boxes), bool)
    out = dict(record)
    for source, target in DIRECTIONS:
        mel = editor.mel_windows(np.asarray(record[f"audio_{target}"], np.float32), len(boxes),
                                 fps=float(record["fps"]))
        out[f"frames_{source}"], _ = lip_sync(editor, np.asarray(record[f"frames_{source}"]),
                                              mel, boxes, detected, batch_size=batch_size)
    return out


def frame_metrics(prediction, example: Mapping[str, np.ndarray], detect) -> dict[str, tuple]:
    """`{metric: (mean over the valid frames, frame count)}` of crops `[N, S, S, 3]` against
    `example`'s targets (`pair_example` layout)."""
    from lipjax import metrics

    mask, target = example["frame_mask"], example["target"]
    n = int(mask.sum())
    found = np.asarray(detect(prediction))
    return {"psnr": (float(metrics.psnr(prediction, target, mask)), n),
            "ssim": (float(metrics.ssim(prediction, target, mask)), n),
            "psnr_mouth": (float(metrics.masked_pixel_psnr(prediction, target,
                                                           example["mouth_mask"], mask)), n),
            "lmd": (float(metrics.landmark_distance(found, example["target_landmarks"], mask)),
                    n)}


class _Sums:
    """Frame-weighted means of the frame metrics and clip means of LSE, per row."""

    def __init__(self):
        self.frames: dict[str, dict[str, list]] = {}
        self.lse: dict[str, list[dict]] = {}

    def add_frames(self, row: str, values: Mapping[str, tuple]) -> None:
        for key, (value, n) in values.items():
            self.frames.setdefault(row, {}).setdefault(key, []).append((value * n, n))

    def add_lse(self, row: str, scores: dict) -> None:
        self.lse.setdefault(row, []).append(scores)

    def table(self) -> dict[str, dict[str, float]]:
        rows: dict[str, dict[str, float]] = {}
        for row, values in self.frames.items():
            rows[row] = {k: sum(v for v, _ in parts) / max(1, sum(n for _, n in parts))
                         for k, parts in values.items()}
        for row, scores in self.lse.items():
            rows.setdefault(row, {}).update(
                lse_d=float(np.mean([s["lse_d"] for s in scores])),
                lse_c=float(np.mean([s["lse_c"] for s in scores])),
                offset_within_1=float(np.mean([abs(s["offset"]) <= 1 for s in scores])),
                clips=len(scores))
        return rows


def evaluate_recipe(dck_workdir: str, wav2lip_workdir: str, expert_workdir: str,
                    regressor: str, test: Sequence[Mapping[str, Any]], *,
                    progress: bool = True) -> dict[str, Any]:
    """Table II rows (see the module docstring) and sample crops of the first test pair."""
    import jax
    from tqdm.auto import tqdm

    from _dck_common import clip_lse, direction_clips, generator_fn
    from lipjax import metrics
    from lipjax.landmarks.detectors import regressor_landmark_fn
    from lipjax.lipsync.editor import load_face_editor
    from lipjax.training.workdir import restore_generator
    from lipjax.wav2lip import SyncNetColorSystem

    restored = restore_generator(dck_workdir)
    system = restored.system_class.from_config(restored.config)
    generate = generator_fn(system)
    editor = load_face_editor(wav2lip_workdir)
    network = SyncNetColorSystem.sync_network(restore_generator(expert_workdir), batch_size=64)
    detect = jax.jit(regressor_landmark_fn(regressor))
    frames = max(len(np.asarray(test[i]["face_boxes"])) for i in range(len(test)))
    sums, samples = _Sums(), None
    for index in tqdm(range(len(test)), desc="recipe: evaluate test pairs", disable=not progress):
        record = test[index]
        options = dict(max_tokens=1, max_frames=frames, rng=np.random.default_rng(0),
                       training=False)
        example = system.example_fn(record, **options)
        predictions = {
            "dck": np.asarray(generate(restored.variables, example["source"][None],
                                       example["mel"][None])[0]),
            "wav2lip": system.example_fn(wav2lip_record(editor, record), **options)["source"],
            "input_frame": example["source"]}
        for row, crops in {**predictions, "ground_truth": example["target"]}.items():
            if row != "ground_truth":
                sums.add_frames(row, frame_metrics(crops, example, detect))
            for clip, audio in direction_clips(crops, example["frame_mask"], record):
                sums.add_lse(row, clip_lse(network, clip, audio))
        exact = example["frame_mask"]
        sums.add_frames("input_frame", {"lmd_exact": (float(metrics.landmark_distance(
            example["source_landmarks"], example["target_landmarks"], exact)), int(exact.sum()))})
        if samples is None:  # the valid frames of direction a -> b
            valid = example["frame_mask"][:frames]
            samples = {row: crops[:frames][valid] for row, crops in
                       {**predictions, "ground_truth": example["target"]}.items()}
    return {"table": sums.table(), "test_pairs": len(test), "frames_per_direction": frames,
            "dck_step": restored.step, "samples": samples}


def plot_recipe(result: Mapping[str, Any], samples: Mapping[str, np.ndarray], path: str) -> None:
    """Left: the crops of 5 frames of the first test pair (direction a -> b) per row; right:
    PSNR, mouth PSNR and LSE-C of each row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lipjax.files import atomic_path

    names = list(samples)
    count = len(next(iter(samples.values())))
    picks = np.linspace(0, count - 1, 5).round().astype(int)
    figure = plt.figure(figsize=(13, 4.6))
    grid = figure.add_gridspec(len(names), 8)
    for r, name in enumerate(names):
        for c, t in enumerate(picks):
            ax = figure.add_subplot(grid[r, c])
            ax.imshow(np.clip(samples[name][t], 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(LABELS[name].split(" (")[0], fontsize=8)
            if r == 0:
                ax.set_title(f"frame {t}", fontsize=8)
    table = result["table"]
    for k, (key, title) in enumerate((("psnr", "PSNR (dB)"), ("psnr_mouth", "mouth PSNR (dB)"),
                                      ("lse_c", "LSE-C (higher: in sync)"))):
        ax = figure.add_subplot(grid[k, 5:])
        rows = [r for r in (*ROWS, "ground_truth") if key in table.get(r, {})]
        ax.barh([LABELS[r].split(" (")[0] for r in rows], [table[r][key] for r in rows],
                color=[f"C{i}" for i in range(len(rows))])
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    figure.suptitle("DCK recipe on synthetic_talking_faces: held-out test pairs "
                    f"({result['test_pairs']} pairs, both directions)", fontsize=10)
    figure.tight_layout()
    atomic_path(path, lambda temp: figure.savefig(temp, format="png", dpi=100))
    plt.close(figure)
