"""DCK paper Table I (Ye et al., IEEE TMM 2022, Sec. V-D) on synthetic_talking_faces: the full
model, without DCKs, without blending and the input-frame baseline.

    lipjax train --config experiments/configs/dck_synthetic_jitter.py --workdir runs/dck/full
    (--workdir runs/dck/no_dck --set model.use_dck=False; runs/dck/no_blend
     --set model.use_blending=False)
    lipjax train --config experiments/configs/wav2lip_expert_synthetic.py \
        --workdir runs/wav2lip_expert_synthetic
    python experiments/dck_table1.py full=runs/dck/full no_dck=runs/dck/no_dck \
        no_blend=runs/dck/no_blend --expert runs/wav2lip_expert_synthetic \
        --regressor runs/dck/face_landmarks_moved

Each run's latest checkpoint is evaluated on every frame of both directions of the 6 test pairs
(12 directed clips; sentences never seen in training): PSNR and SSIM of the 64x64 face crops, PSNR of the mouth
region, LMD through the face-crop landmark regressor (`dck_translation.py` trains it when the
folder is empty), and LSE-D / LSE-C of the lip-synced test videos (the model's output for the
source clip's frames and the target clip's audio) through the lip-sync expert trained on this
corpus (`lipjax.metrics.lip_sync_error`; the crops brought to the expert's 48-pixel faces).
"input frame" returns the source crop unchanged (its LSE: the source clip's mouth with the
target's audio); "ground truth" is the target clip itself (LSE only). Also plots every run's
evaluation PSNR and mouth PSNR against the step (the training loop's `eval_<step>.json`) and
reports the steps and wall time of each run. Writes benchmarks/results/dck_table1.{json,png}.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from tqdm.auto import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "experiments"))

from _dck_common import (  # noqa: E402
    Evaluator,
    clip_lse,
    eval_curves,
    shift_robust_regressor,
    synced_clips,
    training_wall_seconds,
)
from dck_translation import parse_runs  # noqa: E402
from lipjax.data.builders import load_source  # noqa: E402
from lipjax.files import write_json  # noqa: E402
from lipjax.training.workdir import read_config  # noqa: E402

LABELS = {"full": "full (DCK + blending)", "no_dck": "without DCK (spatial attention)",
          "no_blend": "without blending", "input_frame": "input frame",
          "ground_truth": "ground truth"}
CURVES = ("psnr/model", "psnr_mouth/model", "psnr/input_baseline", "psnr_mouth/input_baseline")


def mean_lse(scores: list[dict]) -> dict[str, float]:
    """Means of LSE-D and LSE-C over clips, the share of clips whose AV offset is 0 within one
    frame, and the clip count."""
    return {"lse_d": float(np.mean([s["lse_d"] for s in scores])),
            "lse_c": float(np.mean([s["lse_c"] for s in scores])),
            "offset_within_1": float(np.mean([abs(s["offset"]) <= 1 for s in scores])),
            "clips": len(scores)}


def lse_of_run(evaluator, test, network) -> dict[str, dict]:
    """LSE of the model's synced test videos, and of the input crops and ground truth."""
    scores: dict[str, list] = {"model": [], "input_frame": [], "ground_truth": []}
    for i in tqdm(range(len(test)), desc="LSE", leave=False):
        for clip in synced_clips(evaluator.system, evaluator.restored.variables, test[i]):
            for key, crops in (("model", clip["model"]), ("input_frame", clip["input"]),
                               ("ground_truth", clip["target"])):
                scores[key].append(clip_lse(network, crops, clip["audio"]))
    return {k: mean_lse(v) for k, v in scores.items()}


def table_rows(runs: dict) -> dict[str, dict]:
    """Table I rows: each model, the input frame and the ground truth (LSE only)."""
    rows = {}
    for name, run in runs.items():
        m = run["metrics"]
        rows[name] = {"psnr": m["psnr/model"], "ssim": m["ssim/model"],
                      "psnr_mouth": m["psnr_mouth/model"], "lmd": m.get("lmd/model"),
                      **{k: run["lse"]["model"][k] for k in ("lse_d", "lse_c")}}
    m, lse = next(iter(runs.values()))["metrics"], next(iter(runs.values()))["lse"]
    rows["input_frame"] = {"psnr": m["psnr/input_baseline"], "ssim": m["ssim/input_baseline"],
                           "psnr_mouth": m["psnr_mouth/input_baseline"],
                           "lmd": m.get("lmd/input_baseline_detected"),
                           "lmd_exact": m["lmd/input_baseline"],
                           **{k: lse["input_frame"][k] for k in ("lse_d", "lse_c")}}
    rows["ground_truth"] = {k: lse["ground_truth"][k] for k in ("lse_d", "lse_c")}
    return rows


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, key, title in zip(axes, ("psnr", "psnr_mouth"), ("PSNR of the face crop (dB)",
                                                             "PSNR of the mouth region (dB)")):
        baseline = None
        for i, (name, run) in enumerate(results["runs"].items()):
            points = np.array(run["curves"][f"{key}/model"]).reshape(-1, 2)
            ax.plot(points[:, 0], points[:, 1], "o-", ms=3, color=f"C{i}",
                    label=LABELS.get(name, name))
            baseline = run["curves"][f"{key}/input_baseline"] or baseline
        if baseline:
            ax.axhline(baseline[-1][1], color="k", ls="--", label="input frame")
        ax.set(xlabel="training step", title=title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("DCK ablation on synthetic_talking_faces (test pairs, 4 frames per direction, "
                 "the training loop's evaluation)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(rows: dict) -> None:
    print("| model | PSNR | SSIM | mouth PSNR | LMD | LSE-D | LSE-C |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        cells = [r.get(k) for k in ("psnr", "ssim", "psnr_mouth", "lmd", "lse_d", "lse_c")]
        text = ["-" if c is None else f"{c:.3f}" for c in cells]
        print(f"| {LABELS.get(name, name)} | " + " | ".join(text) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="name=workdir: full=... no_dck=... no_blend=...")
    parser.add_argument("--expert", required=True, help="lip-sync expert workdir "
                        "(experiments/configs/wav2lip_expert_synthetic.py)")
    parser.add_argument("--regressor", required=True,
                        help="folder of the moved-crop landmark regressor (trained if missing)")
    parser.add_argument("--regressor_steps", type=int, default=600)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = parser.parse_args(argv)
    runs = parse_runs(args.runs)

    from lipjax.training.workdir import restore_generator
    from lipjax.wav2lip import SyncNetColorSystem

    config = read_config(next(iter(runs.values())))
    train, test = load_source(config.data, "train"), load_source(config.data, "test")
    shift_robust_regressor(train, test, args.regressor, size=int(config.model.image_size),
                           steps=args.regressor_steps)
    network = SyncNetColorSystem.sync_network(restore_generator(args.expert), batch_size=64)
    results = {"expert": args.expert, "regressor": args.regressor, "runs": {}}
    for name, workdir in tqdm(runs.items(), desc="runs"):
        evaluator = Evaluator(workdir, args.regressor)
        step = evaluator.restored.step
        results["runs"][name] = {
            "workdir": workdir, "step": step,
            "wall_seconds": round(training_wall_seconds(workdir, step), 1),
            "metrics": evaluator(test, progress=True),
            "lse": lse_of_run(evaluator, test, network),
            "curves": eval_curves(workdir, CURVES)}
    results["table"] = table_rows(results["runs"])
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "dck_table1.json"), results)
    plot(results, os.path.join(args.out, "dck_table1.png"))
    print_table(results["table"])
    for name, run in results["runs"].items():
        print(f"{name}: {run['step']} steps, {run['wall_seconds'] / 60:.1f} min in the training "
              "loop")


if __name__ == "__main__":
    main()
