"""Durations without audio (ParaLip, AAAI 2022, Sec. 6) on synthetic_lips, whose exact
durations are known.

    python experiments/mas_durations.py --root runs/mas_durations \
        [--lipreaders bigru,conv:400] [--lipreader_steps 600] [--paralip_steps 300] \
        [--paralip_on exact,mas_bigru] [--landmark_regressor DIR]

1. Trains the CTC lipreader (experiments/configs/lipreader_synthetic.py) and evaluates it.
2. Aligns the corpus with it (`lipjax data align`'s code): a copy whose durations come from MAS.
3. Compares three sets of durations with the exact ones, per token: MAS, and the durations the
   GRID builder derives from word timings (`lipjax.data.builders.grid`: the word timings of the
   exact durations written as a GRID .align file and read back through `parse_align` and
   `align_to_tokens`, i.e. exact word boundaries, each word's span split evenly over its letters).
4. Trains ParaLip (experiments/configs/paralip_synthetic.py) on the exact and on the MAS
   durations for the same steps and evaluates both on the original test split (PSNR, SSIM,
   LMD with predicted and ground-truth durations).

Every stage reuses what an earlier run left in --root (a workdir is resumed, the copy reused).
Writes benchmarks/results/mas_durations.json and .png. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from tqdm.auto import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from lipjax.data.builders import load_source, load_split  # noqa: E402
from lipjax.data.builders.grid import align_to_tokens, parse_align, UNITS_PER_FRAME  # noqa: E402
from lipjax.files import write_json  # noqa: E402
from lipjax.text import GRID_CHARS, SIL_ID  # noqa: E402
from lipjax.training.workdir import restore_generator  # noqa: E402

CONFIGS = os.path.join(REPO, "experiments", "configs")
RESULTS = os.path.join(REPO, "benchmarks", "results")
SPACE_ID = GRID_CHARS.symbols.index(" ")
SPLITS = ("train", "test")
# Lipreader variants (overrides of lipreader_synthetic.py): LipNet's bidirectional GRU, and
# temporal convolutions whose outputs cannot drift away from the frames they describe.
LIPREADERS = {"bigru": ["model.rnn=gru", "model.rnn_layers=1"],
              "conv": ["model.rnn=conv", "model.rnn_layers=2"]}


def word_timing_durations(tokens: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """The GRID builder's durations for a record whose word timings are its exact ones."""
    edges = np.concatenate([[0], np.cumsum(durations)])
    lines, start = [], None
    for i, token in enumerate(tokens):
        if token not in (SIL_ID, SPACE_ID) and start is None:
            start = i
        if start is not None and (i + 1 == len(tokens) or tokens[i + 1] in (SIL_ID, SPACE_ID)):
            word = GRID_CHARS.decode_text(tokens[start:i + 1])
            lines.append(f"{edges[start] * UNITS_PER_FRAME} {edges[i + 1] * UNITS_PER_FRAME} "
                         f"{word}")
            start = None
    words, durations_out, _ = align_to_tokens(parse_align("\n".join(lines)), int(edges[-1]))
    np.testing.assert_array_equal(words, tokens)  # the same token sequence, by construction
    return durations_out


def uniform_durations(durations: np.ndarray) -> np.ndarray:
    """A video's frames split as evenly as possible over its tokens (no lipreader, no timing)."""
    edges = np.round(np.linspace(0, int(np.sum(durations)), len(durations) + 1)).astype(int)
    return np.diff(edges)


def duration_errors(truth: list[np.ndarray], tokens: list[np.ndarray],
                    estimate: list[np.ndarray]) -> dict:
    """Mean |estimate - truth| frames per token, the exact-match rate, both per token kind,
    and the mean |boundary shift| (frames) of the token boundaries."""
    true_all, est_all = np.concatenate(truth), np.concatenate(estimate)
    ids = np.concatenate(tokens)
    error = np.abs(est_all - true_all)
    kinds = {"sil": ids == SIL_ID, "space": ids == SPACE_ID,
             "letter": (ids != SIL_ID) & (ids != SPACE_ID)}
    shifts = np.concatenate([np.abs(np.cumsum(e) - np.cumsum(t))[:-1]
                             for e, t in zip(estimate, truth)])
    return {"abs_error": float(error.mean()), "exact": float(np.mean(error == 0)),
            "boundary_shift": float(shifts.mean()), "tokens": int(error.size),
            "by_kind": {k: {"abs_error": float(error[m].mean()), "exact": float(np.mean(
                error[m] == 0)), "tokens": int(m.sum())} for k, m in kinds.items()},
            "histogram": np.bincount(np.minimum(error, 5), minlength=6).tolist()}


def emission_placement(workdir: str, records: list[dict], batch_size: int = 8) -> dict:
    """Where the lipreader's per-frame argmax falls against the exact durations (why MAS is off):
    the fractions of all frames whose argmax is the blank and is the token shown at that frame,
    and of the silent frames whose argmax is `<sil>` and is a letter or space."""
    import jax

    from lipjax.lipreading import Aligner, lipreading_example

    aligner = Aligner(workdir, batch_size=batch_size)
    variables = restore_generator(workdir).variables
    generate = jax.jit(lambda batch: aligner.system.generate(variables, batch, train=False,
                                                             rngs={})[0])
    counts = {"frames": 0, "blank": 0, "right": 0, "silent": 0, "sil_on_sil": 0, "speech_on_sil": 0}
    for record in records:
        bucket = aligner.bucket_of(len(record["tokens"]), len(record["frames"]))
        example = lipreading_example(record, max_tokens=bucket[0], max_frames=bucket[1],
                                     rng=None, training=False)
        batch = {k: np.asarray(v)[None] for k, v in example.items()}
        best = np.asarray(generate(batch))[0, :len(record["frames"])].argmax(-1)
        truth = np.repeat(record["tokens"], record["durations"])
        silent = truth == SIL_ID
        counts["frames"] += best.size
        counts["blank"] += int(np.sum(best == 0))
        counts["right"] += int(np.sum(best == truth))
        counts["silent"] += int(silent.sum())
        counts["sil_on_sil"] += int(np.sum(silent & (best == SIL_ID)))
        counts["speech_on_sil"] += int(np.sum(silent & (best != SIL_ID) & (best != 0)))
    return {"blank_frames": counts["blank"] / counts["frames"],
            "right_token_frames": counts["right"] / counts["frames"],
            "silent_frames_sil": counts["sil_on_sil"] / counts["silent"],
            "silent_frames_speech": counts["speech_on_sil"] / counts["silent"],
            "frames": counts["frames"], "silent_frames": counts["silent"]}


def train(config_file: str, workdir: str, overrides: list[str], progress: bool) -> dict:
    """Trains (or resumes) a workdir; returns the result and the wall time of this call."""
    from lipjax.training.config import load_config
    from lipjax.training.loop import train_and_evaluate

    from lipjax.training.workdir import has_checkpoint

    config = load_config(os.path.join(CONFIGS, config_file), overrides)
    resumed = has_checkpoint(workdir)
    start = time.perf_counter()
    result = train_and_evaluate(config, workdir, progress=progress)
    return {**result, "wall_seconds": round(time.perf_counter() - start, 1), "resumed": resumed}


def compare_durations(data_dir: str, copies: dict[str, str]) -> dict:
    """Per split: each variant's MAS durations, the word-timing durations and the uniform split
    against the exact ones."""
    out = {}
    for split in SPLITS:
        exact = load_split("synthetic_lips", split, data_dir=data_dir, config="small")
        records = [exact[i] for i in range(len(exact))]
        truth = [r["durations"] for r in records]
        tokens = [r["tokens"] for r in records]
        out[split] = {"videos": len(records), "word_timings": duration_errors(
            truth, tokens, [word_timing_durations(t, d) for t, d in zip(tokens, truth)]),
            "uniform": duration_errors(truth, tokens, [uniform_durations(d) for d in truth])}
        for variant, copy_dir in copies.items():
            mas = load_split("synthetic_lips", split, data_dir=copy_dir, config="small")
            assert all(mas[i]["id"] == records[i]["id"] for i in range(len(mas)))
            out[split][f"mas_{variant}"] = duration_errors(
                truth, tokens, [mas[i]["durations"] for i in range(len(mas))])
    return out


def paralip_run(args, name: str, source: str, data_dir: str) -> dict:
    """ParaLip trained on the durations in `source`, evaluated on the original test split."""
    from lipjax.training.evaluation import evaluate_workdir

    workdir = os.path.join(args.root, f"paralip_{name}")
    result = train("paralip_synthetic.py", workdir, [
        f"train.num_steps={args.paralip_steps}", f"train.eval_every={args.paralip_steps}",
        f"train.checkpoint_every={args.paralip_steps}", "data.build_if_missing=False",
        f"data.data_dir={source}"], args.progress)
    overrides = [f"data.data_dir={data_dir}"]
    if args.landmark_regressor:
        overrides.append(f"evaluation.landmark_regressor={args.landmark_regressor}")
    evaluation = evaluate_workdir(workdir, split="test", progress=args.progress,
                                  overrides=overrides)
    return {"train": {k: result[k] for k in ("wall_seconds", "final_step", "resumed",
                                             "throughput_examples_per_s")},
            "test": evaluation}


def lipreader_steps(args) -> dict[str, int]:
    """`--lipreaders` ("bigru,conv:400": variants, each with its own step count or
    --lipreader_steps) as {variant: steps}."""
    steps = {}
    for item in args.lipreaders.split(","):
        variant, _, count = item.partition(":")
        if variant not in LIPREADERS:
            raise SystemExit(f"--lipreaders: unknown variant {variant!r} (known: "
                             f"{', '.join(LIPREADERS)})")
        steps[variant] = int(count) if count else args.lipreader_steps
    return steps


def lipreader_and_copy(args, variant: str, steps: int, data_dir: str) -> tuple[dict, str]:
    """Trains and evaluates one lipreader variant, then writes (or reuses) its aligned copy."""
    from lipjax.lipreading import Aligner, write_aligned_copy
    from lipjax.training.evaluation import evaluate_workdir

    workdir = os.path.join(args.root, f"lipreader_{variant}")
    trained = train("lipreader_synthetic.py", workdir, [
        f"data.data_dir={data_dir}", f"train.num_steps={steps}", f"train.eval_every={steps}",
        f"train.checkpoint_every={steps}", *LIPREADERS[variant]], args.progress)
    evaluation = {split: evaluate_workdir(workdir, split=split, progress=args.progress)
                  for split in SPLITS}
    copy_dir = os.path.join(args.root, f"data_mas_{variant}")
    report_file = os.path.join(copy_dir, "synthetic_lips", "small", "1.1.0", "alignment.json")
    if not os.path.isfile(report_file):
        write_aligned_copy(Aligner(workdir, batch_size=8), "synthetic_lips", data_dir=data_dir,
                           out_dir=copy_dir, config="small", progress=args.progress)
    with open(report_file, encoding="utf-8") as f:
        alignment = json.load(f)
    emissions = {split: emission_placement(workdir, [source[i] for i in range(len(source))])
                 for split in SPLITS for source in [load_split(
                     "synthetic_lips", split, data_dir=data_dir, config="small")]}
    lipreader = {"train": {k: trained[k] for k in ("wall_seconds", "final_step", "resumed",
                                                    "throughput_examples_per_s")},
                 "eval": evaluation, "alignment": alignment, "emissions": emissions}
    return lipreader, copy_dir


def plot(results: dict, path: str) -> None:
    """Duration-error histograms (MAS variants vs word timings) and ParaLip's test metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    durations = results["durations"]["train"]
    methods = [m for m in durations if m != "videos"]
    width, bins = 0.8 / len(methods), np.arange(6)
    for i, name in enumerate(methods):
        counts = np.asarray(durations[name]["histogram"], float)
        left.bar(bins + width * (i - (len(methods) - 1) / 2), counts / counts.sum(), width,
                 label=f"{name} ({durations[name]['abs_error']:.2f} frames)")
    left.set_xticks(bins, ["0", "1", "2", "3", "4", ">=5"])
    left.set_xlabel("|duration - exact| (frames per token), train split")
    left.set_ylabel("fraction of tokens")
    left.legend(fontsize=8)
    runs = results["paralip"]
    metrics = [m for m in ("psnr/pred_dur", "ssim/pred_dur", "lmd/pred_dur", "psnr/gt_dur",
                           "ssim/gt_dur", "lmd/gt_dur", "duration_abs_error",
                           "length_abs_error") if m in next(iter(runs.values()))["test"]]
    x, width = np.arange(len(metrics)), 0.8 / len(runs)
    for i, (name, run) in enumerate(runs.items()):
        bars = right.bar(x + width * (i - (len(runs) - 1) / 2),
                         [run["test"][m] for m in metrics], width, label=f"trained on {name}")
        right.bar_label(bars, fmt="%.3g", fontsize=6)
    right.set_xticks(x, metrics, rotation=25, fontsize=8)
    right.set_yscale("log")
    right.set_title(f"ParaLip, {results['settings']['paralip_steps']} steps, original test split")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="runs/mas_durations", help="workdirs and data")
    parser.add_argument("--data_dir", default=None,
                        help="synthetic_lips is built here if missing (default: ROOT/data)")
    parser.add_argument("--lipreaders", default="bigru,conv",
                        help="lipreader variants, each optionally with its steps (bigru,conv:400)")
    parser.add_argument("--lipreader_steps", type=int, default=600)
    parser.add_argument("--paralip_steps", type=int, default=300)
    parser.add_argument("--paralip_on", default="exact,mas_bigru",
                        help="which durations ParaLip trains on (comma-separated)")
    parser.add_argument("--landmark_regressor", default=None,
                        help="LMD regressor folder (experiments/train_landmarks.py); none: no LMD")
    parser.add_argument("--out", default=os.path.join(RESULTS, "mas_durations"),
                        help="JSON and PNG path without the extension")
    parser.add_argument("--no_progress", dest="progress", action="store_false")
    args = parser.parse_args()
    data_dir = args.data_dir or os.path.join(args.root, "data")
    start = time.perf_counter()
    load_source({"name": "synthetic_lips", "data_dir": data_dir, "builder_config": "small",
                 "build_if_missing": True}, "train")
    runs, variants = args.paralip_on.split(","), lipreader_steps(args)
    unknown = [r for r in runs if r != "exact" and r.removeprefix("mas_") not in variants]
    if unknown:
        raise SystemExit(f"--paralip_on {unknown}: not 'exact' nor mas_<a --lipreaders variant>")
    lipreaders, sources = {}, {"exact": data_dir}
    with tqdm(total=len(variants) + 1 + len(runs), desc="mas_durations") as bar:
        for variant, steps in variants.items():
            bar.set_description(f"lipreader {variant} + align")
            lipreaders[variant], sources[f"mas_{variant}"] = lipreader_and_copy(
                args, variant, steps, data_dir)
            bar.update()
        bar.set_description("compare durations")
        durations = compare_durations(data_dir, {v: sources[f"mas_{v}"] for v in variants})
        bar.update()
        paralip = {}
        for name in runs:
            bar.set_description(f"paralip on {name} durations")
            paralip[name] = paralip_run(args, name, sources[name], data_dir)
            bar.update()
    results = {"settings": {k: v for k, v in vars(args).items() if k != "progress"},
               "lipreaders": lipreaders, "durations": durations, "paralip": paralip,
               "total_seconds": round(time.perf_counter() - start, 1)}
    write_json(args.out + ".json", results, indent=2)
    plot(results, args.out + ".png")
    print(json.dumps({k: results[k] for k in ("durations", "paralip")}, indent=2))


if __name__ == "__main__":
    main()
