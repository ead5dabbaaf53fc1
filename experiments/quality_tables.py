"""ParaLip's quality comparisons on the synthetic corpus, one training budget for every model.

    python experiments/quality_tables.py --out runs/quality_tables --steps 300

Trains, from the `*_synthetic` configs with `--steps` steps each (same batch, data, image networks
and learning rate), and evaluates on the synthetic_lips test split:

* Table 1 layout (ParaLip Table 1): DualLip, TransformerT2L (free-running decoding) and ParaLip
  (+SSIM+ADV, predicted durations): PSNR, SSIM, LMD.
* Table 4 layout (ParaLip Table 4): ParaLip base (L1 + duration), +SSIM, +ADV, +SSIM+ADV, with
  ground-truth durations.

The LSGAN variants start the adversarial term after a reconstruction warm-up of `--adv_warmup`
of the steps (a fraction; the term from step 0 stalls short runs, see BUILD_NOTES.md). LMD uses a
mouth-landmark regressor trained first on the corpus's exact landmarks. Writes to --out: one
workdir per run, `quality_tables.json` (every metric, the budget, the commands) and
`quality_tables.png`; prints both tables as markdown.
"""

from __future__ import annotations

import json
import os
import time

from absl import app, flags

from lipjax.landmarks import train_synthetic_regressor
from lipjax.training.config import load_config
from lipjax.training.loop import train_and_evaluate

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "runs/quality_tables", "Workdirs and results go here.")
flags.DEFINE_string("data_dir", "data_cache", "Where synthetic_lips is (or will be) built.")
flags.DEFINE_integer("steps", 300, "Training steps of every run (the shared budget).")
flags.DEFINE_float("adv_warmup", 0.5, "Fraction of the steps before the LSGAN term starts.")
flags.DEFINE_integer("landmark_steps", 600, "Steps of the LMD landmark regressor.")
flags.DEFINE_list("only", [], "Run only these run names (default: all).")
flags.DEFINE_bool("progress", True, "Show progress bars.")

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")

# name -> (config file, overrides). ParaLip's variants differ only in loss weights.
RUNS = {
    "duallip": ("duallip_synthetic.py", []),
    "transformer_t2l": ("transformer_t2l_synthetic.py", []),
    "paralip_base": ("paralip_synthetic.py", ["loss.ssim=0", "loss.adv=0"]),
    "paralip_ssim": ("paralip_synthetic.py", ["loss.ssim=1", "loss.adv=0"]),
    "paralip_adv": ("paralip_synthetic.py", ["loss.ssim=0", "loss.adv=5"]),
    "paralip_ssim_adv": ("paralip_synthetic.py", ["loss.ssim=1", "loss.adv=5"]),
}
TABLE1 = [("DualLip", "duallip", "free_running"),
          ("TransformerT2L", "transformer_t2l", "free_running"),
          ("ParaLip", "paralip_ssim_adv", "pred_dur")]
TABLE4 = [("base", "paralip_base"), ("+SSIM", "paralip_ssim"), ("+ADV", "paralip_adv"),
          ("+SSIM+ADV", "paralip_ssim_adv")]


def run_overrides(name: str, regressor: str) -> list[str]:
    """Everything a run sets on top of its config file (recorded with the results)."""
    _, extra = RUNS[name]
    overrides = [f"data.data_dir={FLAGS.data_dir}", f"train.num_steps={FLAGS.steps}",
                 f"train.eval_every={FLAGS.steps}", f"train.checkpoint_every={FLAGS.steps}",
                 f"evaluation.landmark_regressor={regressor}"] + extra
    if "loss.adv=5" in extra:
        overrides.append(f"loss.adv_start_step={int(FLAGS.adv_warmup * FLAGS.steps)}")
    return overrides


def markdown_tables(results: dict) -> str:
    def row(label, ev, suffix):
        cells = [f"{ev.get(f'{m}/{suffix}', float('nan')):.3f}" for m in ("psnr", "ssim", "lmd")]
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = ["Table 1 layout (predicted durations / free-running decoding)", "",
             "| model | PSNR | SSIM | LMD (px) |", "|---|---|---|---|"]
    lines += [row(label, results[run]["eval"], suffix) for label, run, suffix in TABLE1
              if run in results]
    baseline = next(iter(results.values()))["eval"]
    lines.append(row("identity-frame baseline", baseline, "identity_baseline"))
    lines += ["", "Table 4 layout (ParaLip, ground-truth durations)", "",
              "| variant | PSNR | SSIM | LMD (px) |", "|---|---|---|---|"]
    lines += [row(label, results[run]["eval"], "gt_dur") for label, run in TABLE4
              if run in results]
    return "\n".join(lines)


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    groups = ([(label, run, suffix) for label, run, suffix in TABLE1 if run in results]
              + [(f"ParaLip {label}\n(GT dur)", run, "gt_dur") for label, run in TABLE4
                 if run in results])
    baseline = next(iter(results.values()))["eval"]
    for ax, metric in zip(axes, ("psnr", "ssim", "lmd")):
        labels = [label for label, _, _ in groups]
        values = [results[run]["eval"].get(f"{metric}/{suffix}", float("nan"))
                  for _, run, suffix in groups]
        ax.bar(range(len(values)), values, color=["#999999"] * 2 + ["#3366cc"] * (len(values) - 2))
        ax.axhline(baseline.get(f"{metric}/identity_baseline", float("nan")), color="k",
                   linestyle="--", label="identity frame")
        ax.set_xticks(range(len(values)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_title(metric.upper() + (" (lower is better)" if metric == "lmd" else ""))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv):
    del argv
    os.makedirs(FLAGS.out, exist_ok=True)
    results_path = os.path.join(FLAGS.out, "quality_tables.json")
    results = {}
    if os.path.isfile(results_path):  # resume: keep finished runs
        with open(results_path, encoding="utf-8") as f:
            results = json.load(f)["runs"]
    regressor = os.path.join(FLAGS.out, "landmarks")
    if not os.path.isfile(os.path.join(regressor, "config.json")):
        train_synthetic_regressor(regressor, data_dir=FLAGS.data_dir,
                                  steps=FLAGS.landmark_steps, progress=FLAGS.progress)
    for name, (config_file, _) in RUNS.items():
        if (FLAGS.only and name not in FLAGS.only) or name in results:
            continue
        overrides = run_overrides(name, regressor)
        config = load_config(os.path.join(CONFIGS, config_file), overrides)
        start = time.perf_counter()
        result = train_and_evaluate(config, os.path.join(FLAGS.out, name),
                                    progress=FLAGS.progress)
        results[name] = {
            "config": f"experiments/configs/{config_file}", "overrides": overrides,
            "train_seconds": round(time.perf_counter() - start, 1),
            "throughput_examples_per_s": result["throughput_examples_per_s"],
            "generator_params": result["generator_params"], "eval": result["eval"]}
        _write(results_path, results)
    print(markdown_tables(results))
    plot(results, os.path.join(FLAGS.out, "quality_tables.png"))


def _write(path: str, runs: dict) -> None:
    payload = {"steps_per_run": FLAGS.steps, "adv_warmup_fraction": FLAGS.adv_warmup,
               "command": f"python experiments/quality_tables.py --out {FLAGS.out} "
                          f"--steps {FLAGS.steps}", "runs": runs}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


if __name__ == "__main__":
    app.run(main)
