"""DCK's translation invariance (Ye et al., IEEE TMM 2022, Sec. V, Fig. 8), synthetic faces.

The paper moves the face upwards in the input frame by 0-20% of the frame height and shows
that the model with DCKs keeps the lips right while the one without (audio reshaped to a
16 x H x W map, spatial attention) degrades. Here the input is the face crop: every test frame
is cut from its face box moved *down* by a rate of 0, 5, 10, 15 or 20% of the box height, so
the face sits that much higher in the crop, for the source and the ground-truth target alike
(the audio unchanged). Each model is evaluated on every frame of both directions of the 6 test
pairs (12 directed clips) at each rate: mouth PSNR (a box around the source and target mouths) and LMD against the
equally moved ground truth, through a face-crop landmark regressor trained on crops moved by up
to 25% (its own error on moved ground-truth crops is reported per rate).

    lipjax train --config experiments/configs/dck_synthetic_jitter.py --workdir runs/dck/full
    lipjax train --config experiments/configs/dck_synthetic_jitter.py --workdir runs/dck/no_dck \
        --set model.use_dck=False
    python experiments/dck_translation.py full=runs/dck/full no_dck=runs/dck/no_dck \
        --regressor runs/dck/face_landmarks_moved --plain_data_dir data_cache

The training crops of `dck_synthetic_jitter.py` move by up to 10% (`crop_jitter`); the plain
corpus's barely move (the spread of the mouth centre in the crop is reported for both). Writes
benchmarks/results/dck_translation.{json,png}. Not part of the test suite.
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
    RATES,
    BoxedSource,
    Evaluator,
    mouth_centre_spread,
    shift_robust_regressor,
    synced_clips,
)
from lipjax.data.builders import load_source  # noqa: E402
from lipjax.files import write_json  # noqa: E402
from lipjax.training.workdir import read_config  # noqa: E402

LABELS = {"full": "with DCKs (ours)", "no_dck": "without DCKs (spatial attention)"}
METRICS = ("psnr_mouth/model", "lmd/model", "psnr/model", "ssim/model",
           "psnr_mouth/input_baseline", "lmd/input_baseline", "lmd/input_baseline_detected")


def parse_runs(items: list[str]) -> dict[str, str]:
    """`["name=workdir", ...]` -> `{name: workdir}` in the given order."""
    runs = {}
    for item in items:
        name, sep, workdir = item.partition("=")
        if not sep or not name or not workdir:
            raise SystemExit(f"a run is name=workdir, got {item!r}")
        runs[name] = workdir
    return runs


def positional_variety(data_config, plain_data_dir: str | None, size: int) -> dict:
    """Spread of the mouth centre in the training crops, with the run's boxes and (when given)
    those of the corpus without crop jitter."""
    out = {"trained_on": {"builder_overrides": dict(data_config.builder_overrides),
                          "mouth_centre_std_px": mouth_centre_spread(
                              load_source(data_config, "train"), size)}}
    if plain_data_dir:
        plain = {**data_config.to_dict(), "builder_overrides": {}, "data_dir": plain_data_dir}
        out["without_crop_jitter"] = {"mouth_centre_std_px": mouth_centre_spread(
            load_source(plain, "train"), size)}
    return out


def example_strip(evaluators: dict, test, *, pair: int, rates) -> dict[str, np.ndarray]:
    """One test frame (direction 0 of `pair`, the frame whose mouth differs most between the
    source and target clips) at every rate: input, each model's output, target; `[R, S, S, 3]`."""
    record = test[pair]
    gap = np.abs(np.asarray(record["mouth_a"]) - np.asarray(record["mouth_b"])).sum(axis=1)
    frame = int(np.argmax(gap))
    strip: dict[str, list] = {"input": [], "target": [], **{n: [] for n in evaluators}}
    for rate in rates:
        moved = BoxedSource.translated(test, rate)[pair]
        for name, ev in evaluators.items():
            clips = synced_clips(ev.system, ev.restored.variables, moved)
            strip[name].append(clips[0]["model"][frame])
        strip["input"].append(clips[0]["input"][frame])
        strip["target"].append(clips[0]["target"][frame])
    return {k: np.stack(v) for k, v in strip.items()}


def plot(results: dict, strip: dict[str, np.ndarray], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [100 * r for r in results["rates"]]
    rows = list(strip)
    fig = plt.figure(figsize=(12, 4.2 + 1.3 * len(rows)))
    grid = fig.add_gridspec(1 + len(rows), len(rates) + 1, height_ratios=[3.2] + [1] * len(rows))
    half = (len(rates) + 1) // 2
    panels = [fig.add_subplot(grid[0, :half]), fig.add_subplot(grid[0, half:])]
    titles = ("mouth PSNR (dB, higher is better)", "LMD (crop px, lower is better)")
    for ax, key, title in zip(panels, ("psnr_mouth", "lmd"), titles):
        for i, (name, run) in enumerate(results["runs"].items()):
            ax.plot(rates, [m[f"{key}/model"] for m in run["per_rate"]], "o-", color=f"C{i}",
                    label=LABELS.get(name, name))
        first = next(iter(results["runs"].values()))["per_rate"]
        base = "lmd/input_baseline_detected" if key == "lmd" else "psnr_mouth/input_baseline"
        ax.plot(rates, [m[base] for m in first], "k--", label="return the input crop")
        jitter = results["positional_variety"]["trained_on"]["builder_overrides"].get(
            "crop_jitter", 0.0)
        if jitter:
            ax.axvspan(0, 100 * jitter, color="0.92", label="within training crop jitter")
        ax.set(xlabel="translation rate (% of the crop height, face moved up)", title=title)
        ax.grid(alpha=0.3)
    panels[0].legend(fontsize=8)
    for r, name in enumerate(rows):
        for c in range(len(rates)):
            ax = fig.add_subplot(grid[1 + r, c + 1])
            ax.imshow(np.clip(strip[name][c], 0, 1))
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{rates[c]:.0f}%", fontsize=9)
        label = fig.add_subplot(grid[1 + r, 0])
        label.axis("off")
        label.text(1.0, 0.5, LABELS.get(name, name), ha="right", va="center", fontsize=9)
    fig.suptitle("DCK paper Fig. 8 on synthetic_talking_faces: face moved up in the input crop, "
                 "audio unchanged", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="name=workdir: full=... no_dck=...")
    parser.add_argument("--regressor", required=True,
                        help="folder of the moved-crop landmark regressor (trained if missing)")
    parser.add_argument("--regressor_steps", type=int, default=600)
    parser.add_argument("--plain_data_dir", default=None,
                        help="data_dir of the corpus without crop jitter (its spread only)")
    parser.add_argument("--rates", default=",".join(str(r) for r in RATES))
    parser.add_argument("--example_pair", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = parser.parse_args(argv)
    runs, rates = parse_runs(args.runs), [float(r) for r in args.rates.split(",")]

    config = read_config(next(iter(runs.values())))
    data, size = config.data, int(config.model.image_size)
    train, test = load_source(data, "train"), load_source(data, data.eval_split)
    report = shift_robust_regressor(train, test, args.regressor, size=size,
                                    steps=args.regressor_steps)
    results = {"rates": rates, "positional_variety": positional_variety(
        data, args.plain_data_dir, size), "regressor": {
            k: v for k, v in report.items() if "error" in k or k == "steps"}, "runs": {}}
    evaluators = {name: Evaluator(workdir, args.regressor) for name, workdir in runs.items()}
    with tqdm(total=len(runs) * len(rates), desc="models x rates") as bar:
        for name, ev in evaluators.items():
            per_rate = []
            for rate in rates:
                metrics = ev(BoxedSource.translated(test, rate))
                per_rate.append({"rate": rate, **{k: metrics[k] for k in METRICS}})
                bar.update(1)
            results["runs"][name] = {"workdir": runs[name], "step": ev.restored.step,
                                     "use_dck": bool(ev.config.model.use_dck),
                                     "per_rate": per_rate}
    strip = example_strip(evaluators, test, pair=args.example_pair, rates=rates)
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "dck_translation.json"), results)
    plot(results, strip, os.path.join(args.out, "dck_translation.png"))
    for name, run in results["runs"].items():
        print(name, [(m["rate"], round(m["psnr_mouth/model"], 2), round(m["lmd/model"], 3))
                     for m in run["per_rate"]])


if __name__ == "__main__":
    main()
