"""ParaLip's quality comparisons on the synthetic corpus, one training budget for every model.

    python experiments/quality_tables.py --out runs/quality_tables --steps 300

Trains, from the `*_synthetic` configs with `--steps` steps each (same batch, data, image networks
and learning rate), and evaluates on the synthetic_lips test split:

* Table 1 layout (ParaLip Table 1): DualLip, TransformerT2L (free-running decoding) and ParaLip
  (predicted durations): PSNR, SSIM, LMD. As in the paper, no model of Table 1 has the
  adversarial term ("we do not add adversarial learning on any model in Table 1"): ParaLip is
  L1 + duration + SSIM.
* Table 4 layout (ParaLip Table 4): ParaLip base (L1 + duration), +SSIM, +SSIM+ADV (the paper's
  weights: 5 LSGAN with the Table 7 discriminator, from step 0 unless `--adv_warmup`; another
  weight with `--adv_weight`), with
  ground-truth durations (the paper's setting) and with predicted ones; `--with_adv_only` adds
  the paper's "+ADV" row (L1 + duration + ADV).

LMD uses a mouth-landmark regressor trained first on the corpus's exact landmarks (or the one
given by `--landmarks`). Every run writes its result to `<out>/<run>/quality_result.json` as it
finishes, so runs can be split over several processes (`--only`) and a finished run is never
repeated; each invocation then gathers every finished run into `<out>/quality_tables.json` (the
budget, the commands, every metric, wall times) and `quality_tables.png`, and prints both
tables as markdown. `--report_only` gathers without training. `--set key=value` (repeatable)
overrides every run's config, e.g. a reduced size for a shared CPU.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import time

from absl import app, flags

from lipjax import files

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "runs/quality_tables", "Workdirs and results go here.")
flags.DEFINE_string("data_dir", "data_cache", "Where synthetic_lips is (or will be) built.")
flags.DEFINE_integer("steps", 300, "Training steps of every run (the shared budget).")
flags.DEFINE_float("adv_warmup", 0.0, "Fraction of the steps before the LSGAN term starts "
                   "(0 = from step 0, as the paper).")
flags.DEFINE_float("adv_weight", 5.0, "Weight of the LSGAN term in the ADV runs (ParaLip: 5).")
flags.DEFINE_integer("landmark_steps", 600, "Steps of the LMD landmark regressor.")
flags.DEFINE_string("landmarks", None, "An already trained regressor folder to copy instead.")
flags.DEFINE_list("only", [], "Run only these run names (default: all).")
flags.DEFINE_bool("with_adv_only", False, "Also train the paper's '+ADV' row (no SSIM).")
flags.DEFINE_multi_string("set", [], "Extra config override (key=value) for every run, e.g. a "
                          "reduced size for a shared CPU (the fields of SHARED_MODEL_FIELDS "
                          "exist in every model).")
flags.DEFINE_bool("report_only", False, "Gather finished runs into the tables; train nothing.")
flags.DEFINE_bool("progress", True, "Show progress bars.")

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
RESULT_FILE = "quality_result.json"

# name -> (config file, overrides). ParaLip's variants differ only in loss weights.
RUNS = {
    "duallip": ("duallip_synthetic.py", []),
    "transformer_t2l": ("transformer_t2l_synthetic.py", []),
    "paralip_base": ("paralip_synthetic.py", ["loss.ssim=0", "loss.adv=0"]),
    "paralip_ssim": ("paralip_synthetic.py", ["loss.ssim=1", "loss.adv=0"]),
    "paralip_ssim_adv": ("paralip_synthetic.py", ["loss.ssim=1", "loss.adv=5"]),
    "paralip_adv": ("paralip_synthetic.py", ["loss.ssim=0", "loss.adv=5"]),
}
TABLE1 = [("DualLip", "duallip", "free_running"),
          ("TransformerT2L", "transformer_t2l", "free_running"),
          ("ParaLip", "paralip_ssim", "pred_dur")]
TABLE4 = [("base", "paralip_base"), ("+SSIM", "paralip_ssim"), ("+ADV", "paralip_adv"),
          ("+SSIM+ADV", "paralip_ssim_adv")]
METRICS = ("psnr", "ssim", "lmd")


def selected_runs() -> list[str]:
    """The runs this invocation trains (`--only`, `--with_adv_only`)."""
    names = [n for n in RUNS if FLAGS.with_adv_only or n != "paralip_adv"]
    unknown = sorted(set(FLAGS.only) - set(RUNS))
    if unknown:
        raise app.UsageError(f"unknown runs {unknown}; choose from {sorted(RUNS)}")
    return [n for n in names if not FLAGS.only or n in FLAGS.only]


def run_overrides(name: str, regressor: str) -> list[str]:
    """Everything a run sets on top of its config file (recorded with the results)."""
    adv = "loss.adv=5"
    extra = [f"loss.adv={FLAGS.adv_weight:g}" if o == adv else o for o in RUNS[name][1]]
    overrides = [f"data.data_dir={FLAGS.data_dir}", f"train.num_steps={FLAGS.steps}",
                 f"train.eval_every={FLAGS.steps}", f"train.checkpoint_every={FLAGS.steps}",
                 f"evaluation.landmark_regressor={regressor}", *FLAGS.set] + extra
    if adv in RUNS[name][1]:
        overrides.append(f"loss.adv_start_step={int(FLAGS.adv_warmup * FLAGS.steps)}")
    return overrides


def _cell(ev: dict, key: str) -> str:
    return f"{ev[key]:.3f}" if key in ev else "-"


def markdown_tables(results: dict) -> str:
    """Both tables as markdown, with each run's wall time."""
    def row(label, name, suffixes):
        ev = results[name]["eval"]
        cells = [_cell(ev, f"{m}/{s}") for s in suffixes for m in METRICS]
        return f"| {label} | " + " | ".join(cells) + f" | {results[name]['train_seconds']:.0f} |"

    lines = ["Table 1 layout (predicted durations / free-running decoding)", "",
             "| model | PSNR | SSIM | LMD (px) | train s |", "|---|---|---|---|---|"]
    lines += [row(label, run, [suffix]) for label, run, suffix in TABLE1 if run in results]
    if results:
        ev = next(iter(results.values()))["eval"]
        lines.append("| repeat the identity frame | "
                     + " | ".join(_cell(ev, f"{m}/identity_baseline") for m in METRICS) + " | - |")
    lines += ["", "Table 4 layout (ParaLip; ground-truth durations, then predicted)", "",
              "| variant | PSNR | SSIM | LMD (px) | PSNR pred | SSIM pred | LMD pred | train s |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [row(label, run, ["gt_dur", "pred_dur"]) for label, run in TABLE4 if run in results]
    return "\n".join(lines)


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    groups = ([(label, run, suffix) for label, run, suffix in TABLE1 if run in results]
              + [(f"ParaLip {label}\n(GT dur)", run, "gt_dur") for label, run in TABLE4
                 if run in results])
    baseline = next(iter(results.values()))["eval"]
    for ax, metric in zip(axes, METRICS):
        values = [results[run]["eval"].get(f"{metric}/{suffix}", float("nan"))
                  for _, run, suffix in groups]
        colors = ["#999999" if run in ("duallip", "transformer_t2l") else "#3366cc"
                  for _, run, _ in groups]
        ax.bar(range(len(values)), values, color=colors)
        ax.axhline(baseline.get(f"{metric}/identity_baseline", float("nan")), color="k",
                   linestyle="--", label="identity frame")
        ax.set_xticks(range(len(values)), [g[0] for g in groups], rotation=60, ha="right",
                      fontsize=7)
        ax.set_title(metric.upper() + (" (lower is better)" if metric == "lmd" else ""))
    axes[0].legend(fontsize=7)
    fig.suptitle(f"synthetic_lips test split, {FLAGS.steps} steps of batch 4 each", fontsize=9)
    fig.tight_layout()
    files.atomic_path(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def landmark_regressor() -> str:
    """The LMD regressor folder under --out: copied from --landmarks or trained."""
    from lipjax.landmarks import train_synthetic_regressor

    folder = os.path.join(FLAGS.out, "landmarks")
    if os.path.isfile(os.path.join(folder, "config.json")):
        return folder
    if FLAGS.landmarks:
        shutil.copytree(FLAGS.landmarks, folder)
    else:
        train_synthetic_regressor(folder, data_dir=FLAGS.data_dir, steps=FLAGS.landmark_steps,
                                  progress=FLAGS.progress)
    return folder


def train_run(name: str, regressor: str) -> None:
    """Trains and evaluates one run, then writes `<out>/<name>/quality_result.json`."""
    from lipjax.training.config import load_config
    from lipjax.training.loop import train_and_evaluate

    config_file, _ = RUNS[name]
    overrides = run_overrides(name, regressor)
    config = load_config(os.path.join(CONFIGS, config_file), overrides)
    start = time.perf_counter()
    workdir = os.path.join(FLAGS.out, name)
    result = train_and_evaluate(config, workdir, progress=FLAGS.progress)
    files.write_json(os.path.join(workdir, RESULT_FILE), {
        "config": f"experiments/configs/{config_file}", "overrides": overrides,
        "steps": FLAGS.steps, "train_seconds": round(time.perf_counter() - start, 1),
        "throughput_examples_per_s": result["throughput_examples_per_s"],
        "generator_params": result["generator_params"],
        "discriminator_params": result["discriminator_params"],
        "skipped_steps": result["skipped_steps"], "eval": result["eval"]})


def gather() -> dict:
    """Every finished run's result under --out, by run name."""
    results = {}
    for path in sorted(glob.glob(os.path.join(FLAGS.out, "*", RESULT_FILE))):
        name = os.path.basename(os.path.dirname(path))
        if name in RUNS:
            with open(path, encoding="utf-8") as f:
                results[name] = json.load(f)
    return results


def main(argv):
    del argv
    os.makedirs(FLAGS.out, exist_ok=True)
    if not FLAGS.report_only:
        regressor = landmark_regressor()
        for name in selected_runs():
            if not os.path.isfile(os.path.join(FLAGS.out, name, RESULT_FILE)):
                train_run(name, regressor)
    results = gather()
    if not results:
        raise app.UsageError(f"no finished runs under {FLAGS.out}")
    files.write_json(os.path.join(FLAGS.out, "quality_tables.json"), {
        "command": "python experiments/quality_tables.py " + " ".join(sys.argv[1:]),
        "steps_per_run": sorted({r["steps"] for r in results.values()}),
        "adv_warmup_fraction": FLAGS.adv_warmup, "adv_weight": FLAGS.adv_weight,
        "total_train_seconds": round(sum(r["train_seconds"] for r in results.values()), 1),
        "runs": results})
    print(markdown_tables(results))
    plot(results, os.path.join(FLAGS.out, "quality_tables.png"))


if __name__ == "__main__":
    app.run(main)
