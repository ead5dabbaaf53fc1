"""Learning curves of adversarially trained runs next to their reconstruction-only twins: does
the papers' full loss train stably at the papers' weights (issue 16, item 4)?

    python experiments/gan_training.py --out benchmarks/results \
        --run "ParaLip +SSIM=runs/quality_tables/paralip_ssim" \
        --run "ParaLip +SSIM+ADV=runs/quality_tables/paralip_ssim_adv" \
        --run "DCK 10 L1=runs/dck_l1" --run "DCK L_adv + 10 L1=runs/dck_adv"

Reads each training workdir (`metrics.jsonl`, `eval_<step>.json`, `config.json`; written by
`lipjax train` or `experiments/quality_tables.py`) and each `--diagnostics` run (a variant of
`experiments/gan_diagnostics.py`'s JSON), and writes `gan_training.json` (the curves,
each run's loss weights and final evaluation) and `gan_training.png`: the L1 loss, the
discriminator's and the generator's adversarial LSGAN losses, the evaluation's PSNR (with
the trivial baseline's) and, where evaluated, ParaLip's sharpness ratio (`sharpness/gt_dur`)
against the step. Trains nothing.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys

from absl import app, flags

from lipjax import files

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "benchmarks/results", "Where gan_training.{json,png} go.")
flags.DEFINE_multi_string("run", [], "label=workdir, one per run (in plotting order).")
flags.DEFINE_multi_string("diagnostics", [], "label=gan_diagnostics.json#variant: a run of "
                          "experiments/gan_diagnostics.py (plotted after the --run ones).")

CURVES = ("loss/l1", "loss/ssim", "loss/adv", "loss/discriminator")
# Evaluation metric -> its trivial baseline (ParaLip: the identity frame; DCK: the input frame).
PSNR_KEYS = (("psnr/gt_dur", "psnr/identity_baseline"), ("psnr/model", "psnr/input_baseline"))
# `metrics.sharpness_ratio` of ParaLip's frames (ground-truth durations): below 1 is blurrier.
SHARPNESS_KEY = "sharpness/gt_dur"


def read_run(workdir: str) -> dict:
    """Curves, evaluations and loss weights of one workdir."""
    if not os.path.isfile(os.path.join(workdir, "metrics.jsonl")):
        raise app.UsageError(f"{workdir} has no metrics.jsonl (not a training workdir)")
    curves: dict[str, list] = {name: [] for name in CURVES}
    with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            for name in CURVES:
                if f"train/{name}" in row:
                    curves[name].append([row["step"], row[f"train/{name}"]])
    evaluations = {}
    for path in glob.glob(os.path.join(workdir, "eval_*.json")):
        step = int(re.search(r"eval_(\d+)\.json$", path).group(1))
        with open(path, encoding="utf-8") as f:
            evaluations[step] = json.load(f)
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    return {"workdir": workdir, "system": config.get("system"), "loss": config.get("loss"),
            "optim": {k: v.get("learning_rate") for k, v in config.get("optim", {}).items()},
            "curves": {k: v for k, v in curves.items() if v},
            "evaluations": {str(k): evaluations[k] for k in sorted(evaluations)}}


def read_diagnostics(spec: str) -> dict:
    """Curves and final evaluation of one variant of a `gan_diagnostics.json` (`path#variant`)."""
    path, _, variant = spec.partition("#")
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    if variant not in report.get("runs", {}):
        raise app.UsageError(f"{path} has no variant {variant!r}: {sorted(report['runs'])}")
    rows = report["runs"][variant]
    curves = {name: [[r["step"], r["train"][name]] for r in rows
                     if name in r.get("train", {})] for name in CURVES}
    return {"diagnostics": spec, "config": report["config"], "overrides": report["overrides"],
            "curves": {k: v for k, v in curves.items() if v},
            "evaluations": {str(r["step"]): r["eval"] for r in rows if "eval" in r}}


def _psnr(evaluation: dict) -> tuple[float, float] | None:
    for key, baseline in PSNR_KEYS:
        if key in evaluation:
            return evaluation[key], evaluation.get(baseline, float("nan"))
    return None


def plot(runs: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(21, 3.6))
    for i, (label, run) in enumerate(runs.items()):
        color = f"C{i}"
        for ax, name in zip(axes[:3], ("loss/l1", "loss/discriminator", "loss/adv")):
            points = run["curves"].get(name)
            if points:
                ax.plot(*zip(*points), color=color, label=label)
        evals = [(int(s), _psnr(e)) for s, e in run["evaluations"].items() if _psnr(e)]
        if evals:
            steps, values = zip(*evals)
            axes[3].plot(steps, [v[0] for v in values], "o-", color=color, label=label)
            axes[3].plot(steps, [v[1] for v in values], "x:", color=color)
        sharp = [(int(s), e[SHARPNESS_KEY]) for s, e in run["evaluations"].items()
                 if SHARPNESS_KEY in e]
        if sharp:
            axes[4].plot(*zip(*sorted(sharp)), "o-", color=color, label=label)
    axes[4].axhline(1.0, color="k", linestyle="--", linewidth=0.8)
    for ax, title in zip(axes, ("L1 (train)", "discriminator LSGAN loss (Eq. 7)",
                                "generator LSGAN loss (Eq. 6)",
                                "test PSNR (dB; x: trivial baseline)",
                                "test sharpness, generated / real (1 = as sharp)")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    files.atomic_path(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def main(argv):
    del argv
    if not FLAGS.run and not FLAGS.diagnostics:
        raise app.UsageError("give at least one --run label=workdir or --diagnostics")
    runs = {}
    for specs, reader in ((FLAGS.run, read_run), (FLAGS.diagnostics, read_diagnostics)):
        for spec in specs:
            label, sep, source = spec.partition("=")
            if not sep or not label or not source:
                raise app.UsageError(f"expected label=source, got {spec!r}")
            runs[label] = reader(source)
    os.makedirs(FLAGS.out, exist_ok=True)
    files.write_json(os.path.join(FLAGS.out, "gan_training.json"),
                     {"command": "python experiments/gan_training.py " + " ".join(
                         f"'{a}'" if " " in a else a for a in sys.argv[1:]), "runs": runs})
    plot(runs, os.path.join(FLAGS.out, "gan_training.png"))


if __name__ == "__main__":
    app.run(main)
