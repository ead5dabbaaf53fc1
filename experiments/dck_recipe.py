"""The DCK paper's recipe end to end on `synthetic_talking_faces` (Ye et al., IEEE TMM 2022,
Sec. III-IV; issue 14): lip-sync expert -> Wav2Lip -> the pairs Wav2Lip makes -> DCK on those
pairs with the expert's audio network frozen -> Table II on the held-out test pairs.

    python experiments/dck_recipe.py --out runs/dck_recipe           # or: make recipe
    python experiments/dck_recipe.py --out /tmp/recipe --tiny        # minutes: tiny everything

Stages, each in a folder of --out; a stage whose output is there is reused (`stages/<name>.json`
records its wall and CPU seconds), and a killed training stage resumes from its checkpoint:

1. `expert`: `experiments/configs/wav2lip_expert_synthetic.py` (--expert_steps).
2. `wav2lip`: `experiments/configs/wav2lip_synthetic.py` with that expert frozen as its sync
   loss (--wav2lip_steps).
3. `export` + `pairs`: each clip of every train pair of the corpus as an mp4 with its soundtrack
   and its face boxes next to it (`<stem>.boxes.npy`: drawn faces are not what a Haar cascade
   finds) in `export/videos`, and each clip's audio as a wav in `export/audios`; then
   `lipjax data build talking_face_pairs` with the trained Wav2Lip (--per_video audios per
   video, never the video's own) into `pairs/`.
4. `dck`: `experiments/configs/dck_recipe.py` (DCK on those pairs, the expert's audio encoder
   frozen; --dck_steps).
5. `evaluate`: a face-crop landmark regressor for LMD (`regressor/`, --regressor_steps), then
   DCK, Wav2Lip and the input frame on every frame of both directions of the corpus's test pairs
   (`_dck_recipe_eval.py`): PSNR, SSIM, mouth PSNR, LMD, LSE-D / LSE-C. Writes
   `<results>/dck_recipe.json` (the table, every stage's steps and wall / CPU time) and
   `dck_recipe.png` (sample crops and bars).

The corpus is the expert's: the "small" config at 96 x 128 (faces of 48 pixels), built into
--data_dir (default <out>/data) when missing. `--tiny`: the "tiny" corpus, networks 32 times
narrower, a few steps each; it checks the chain, not the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "experiments"))
CONFIGS = REPO / "experiments" / "configs"

STAGES = ("expert", "wav2lip", "pairs", "dck", "evaluate")
REAL_STEPS = {"expert": 600, "wav2lip": 300, "dck": 400, "regressor": 400}
TINY_STEPS = {"expert": 2, "wav2lip": 2, "dck": 2, "regressor": 2}
CRF = 12  # near-lossless exports: the real clips of the pairs stay close to the corpus


def stage(out: Path, name: str, run: Callable[[], dict]) -> dict:
    """Runs `run` unless `out/stages/<name>.json` exists; records wall and CPU seconds."""
    from lipjax.files import write_json

    marker = out / "stages" / f"{name}.json"
    if marker.is_file():
        print(f"[recipe] {name}: reused ({marker})", flush=True)
        return json.loads(marker.read_text())
    print(f"[recipe] {name}: running", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    info = run() or {}
    info.update(wall_seconds=round(time.perf_counter() - wall, 1),
                cpu_seconds=round(time.process_time() - cpu, 1))
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_json(marker, info)
    print(f"[recipe] {name}: {info['wall_seconds']:.0f} s wall, {info['cpu_seconds']:.0f} s CPU",
          flush=True)
    return info


def corpus(config, args) -> None:
    """Points a config's data section at the recipe's corpus."""
    config.data.data_dir = str(args.data_dir)
    if args.tiny:
        config.data.builder_config, config.data.builder_overrides = "tiny", {}
        config.data.prefetch = 0


def train_stage(config, workdir: Path, steps: int, *, progress: bool, tiny: bool) -> dict:
    """Trains (or resumes) `config` for `steps` steps in `workdir`; the last evaluation."""
    from lipjax.training.loop import train_and_evaluate

    config.train.num_steps = steps
    # Twice on the way (a killed stage resumes from the middle); tiny runs: at the end only.
    every = steps if tiny else max(1, steps // 2)
    config.train.eval_every = config.train.checkpoint_every = every
    result = train_and_evaluate(config, workdir, progress=progress)
    return {"steps": steps, "final_step": result["final_step"],
            "eval": {k: float(v) for k, v in result["eval"].items()}}


def given_expert(workdir: Path) -> dict:
    """Stage 1 taken from an expert trained before (`--expert`): its step and last evaluation."""
    from _dck_common import eval_curves
    from lipjax.training.workdir import restore_generator

    step = restore_generator(workdir).step
    curves = eval_curves(str(workdir), ("accuracy/all", "bce/all"))
    return {"given_workdir": str(workdir), "final_step": step,
            "eval": {k: v[-1][1] for k, v in curves.items() if v}}


def expert_config(args):
    """`wav2lip_expert_synthetic` on the recipe's corpus (tiny: 32 times narrower)."""
    from lipjax.training.config import load_config

    c = load_config(CONFIGS / "wav2lip_expert_synthetic.py")
    corpus(c, args)
    if args.tiny:
        c.model.channel_divisor = 32
        c.data.update(dict(buckets=[(1, 1)], batch_size=2, eval_batch_size=2))
        c.train.update(dict(log_every=1, max_eval_batches=1, tensorboard=False))
    return c


def wav2lip_config(args):
    """`wav2lip_synthetic` with the recipe's expert (tiny: 32 times narrower)."""
    from lipjax.training.config import load_config

    c = load_config(CONFIGS / "wav2lip_synthetic.py",
                    [f"loss.sync_expert={args.expert}"])
    corpus(c, args)
    if args.tiny:
        c.model.channel_divisor = 32
        c.discriminator.channels = (2, 4, 4, 4, 4, 8, 8, 8, 8, 8, 8, 8, 8)
        c.data.update(dict(buckets=[(1, 1)], batch_size=2, eval_batch_size=2))
        c.train.update(dict(log_every=1, max_eval_batches=1, tensorboard=False))
    return c


def dck_config(args):
    """`dck_recipe` on the recipe's pairs and expert (tiny: the DCK tests' tiny model)."""
    from lipjax.dck.pretrained_audio import audio_encoder_blocks
    from lipjax.training.config import load_config

    c = load_config(CONFIGS / "dck_recipe.py", [
        f"data.data_dir={args.out / 'pairs'}",
        f"pretrained_audio.checkpoint={args.expert}"])
    if args.tiny:
        blocks = audio_encoder_blocks("syncnet_color", 32)
        c.model.update(dict(image_size=32, down_channels=(4, 8, 8), up_channels=(8, 4, 4),
                            middle_channels=8, num_middle_layers=1, kernel_generator_hidden=(8,),
                            audio_blocks=blocks, audio_feature_dim=blocks[-1].features,
                            attention_audio_channels=2))
        c.discriminator.channels = (4, 8)
        c.data.update(dict(buckets=[(1, 2)], batch_size=2, eval_batch_size=2, prefetch=0))
        c.train.update(dict(log_every=1, max_eval_batches=1, tensorboard=False))
    return c


def export_clips(source, folder: Path, *, progress: bool) -> dict:
    """Each clip of each pair of `source` as `videos/<pair>_<clip>.mp4` (its soundtrack muxed
    in) + `.boxes.npy` and `audios/<pair>_<clip>.wav`; existing files are kept."""
    import numpy as np
    import scipy.io.wavfile
    from tqdm.auto import tqdm

    from lipjax.files import atomic_path
    from lipjax.video_writer import write_video

    (folder / "videos").mkdir(parents=True, exist_ok=True)
    (folder / "audios").mkdir(parents=True, exist_ok=True)
    count = 0
    for index in tqdm(range(len(source)), desc="recipe: export clips", disable=not progress):
        record = source[index]
        pair = record["pair_id"]
        pair = pair.decode() if isinstance(pair, bytes) else str(pair)
        for tag in ("a", "b"):
            stem, audio = f"{pair}_{tag}", np.asarray(record[f"audio_{tag}"], np.float32)
            boxes = folder / "videos" / f"{stem}.boxes.npy"
            if not boxes.is_file():
                write_video(folder / "videos" / f"{stem}.mp4", np.asarray(record[f"frames_{tag}"]),
                            float(record["fps"]), audio=audio, crf=CRF)
                save_npy(boxes, np.asarray(record["face_boxes"], np.float64))
            wav = folder / "audios" / f"{stem}.wav"
            if not wav.is_file():
                atomic_path(wav, lambda temp: scipy.io.wavfile.write(temp, 16000, audio))
            count += 1
    return {"clips": count}


def save_npy(path: Path, array) -> None:
    """`np.save` to `path` atomically (no ".npy" appended)."""
    import numpy as np

    from lipjax.files import atomic_path

    def write(temp: str) -> None:
        with open(temp, "wb") as f:
            np.save(f, array)

    atomic_path(path, write)


def pairs_stage(args) -> dict:
    """Stage 3: export the train clips, build `talking_face_pairs` with the trained Wav2Lip."""
    from lipjax.data.builders import load_source
    from lipjax.data.builders.talking_face_pairs_build import PairInputs, build_pairs
    from lipjax.data.builders.talking_face_pairs_plan import PairSettings

    exported = export_clips(load_source(expert_config(args).data, "train"), args.out / "export",
                            progress=args.progress)
    inputs = PairInputs(str(args.out / "export" / "videos"), str(args.out / "export" / "audios"),
                        str(args.out / "wav2lip"))
    settings = PairSettings(per_video=args.per_video, test_fraction=0.2, seed=0)
    report = build_pairs(inputs, args.out / "pairs", settings, progress=args.progress)
    if not report.complete or report.skipped:
        raise RuntimeError(f"the pair build did not finish cleanly: {report.summary()}")
    return {**exported, "per_video": args.per_video, "records": dict(report.splits),
            "output_frames": report.output_frames, "wav2lip_seconds": round(report.seconds, 1)}


def regressor_stage(args, size: int) -> dict:
    """The face-crop mouth-landmark regressor of LMD, trained on the corpus's train crops."""
    from lipjax.data.builders import load_source
    from lipjax.data.pairs import face_crop_landmark_records
    from lipjax.landmarks import save_regressor, train_landmark_regressor
    from lipjax.landmarks.model import LandmarkRegressorConfig

    data = expert_config(args).data
    train, test = (face_crop_landmark_records(load_source(data, s), image_size=size)
                   for s in ("train", "test"))
    config = LandmarkRegressorConfig(frame_height=size, frame_width=size)
    params, report = train_landmark_regressor(train, test, steps=args.regressor_steps,
                                              config=config, progress=args.progress)
    save_regressor(args.out / "regressor", params, config, report=report)
    return {"steps": args.regressor_steps,
            "report": {k: v for k, v in report.items() if isinstance(v, (int, float, str))}}


def evaluate_stage(args) -> dict:
    """Stage 5: the regressor, then Table II; writes the results JSON and PNG."""
    from _dck_recipe_eval import evaluate_recipe, plot_recipe
    from lipjax.data.builders import load_source
    from lipjax.files import write_json

    size = int(dck_config(args).model.image_size)
    regressor = stage(args.out, "regressor", lambda: regressor_stage(args, size))
    test = load_source(expert_config(args).data, "test")
    result = evaluate_recipe(str(args.out / "dck"), str(args.out / "wav2lip"),
                             str(args.expert), str(args.out / "regressor"), test,
                             progress=args.progress)
    samples = result.pop("samples")
    result["regressor"] = regressor
    args.results.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "evaluate.json", result)
    plot_recipe(result, samples, str(args.results / "dck_recipe.png"))
    return result


def run_recipe(args) -> dict[str, Any]:
    """Every stage in order (see the module docstring); the summary written to --results."""
    from lipjax.files import write_json

    steps = TINY_STEPS if args.tiny else REAL_STEPS
    for key, value in steps.items():
        if getattr(args, f"{key}_steps") is None:
            setattr(args, f"{key}_steps", value)
    runs = {
        "expert": lambda: (given_expert(args.expert) if args.given_expert else train_stage(
            expert_config(args), args.expert, args.expert_steps, progress=args.progress, tiny=args.tiny)),
        "wav2lip": lambda: train_stage(wav2lip_config(args), args.out / "wav2lip",
                                       args.wav2lip_steps, progress=args.progress,
                                       tiny=args.tiny),
        "pairs": lambda: pairs_stage(args),
        "dck": lambda: train_stage(dck_config(args), args.out / "dck", args.dck_steps,
                                   progress=args.progress, tiny=args.tiny),
        "evaluate": lambda: evaluate_stage(args),
    }
    stages = {name: stage(args.out, name, runs[name]) for name in STAGES}
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    summary = {"tiny": args.tiny, "out": str(args.out), "settings": settings, "stages": stages,
               "table": stages["evaluate"]["table"],
               "total_wall_seconds": round(sum(s["wall_seconds"] for s in stages.values()), 1),
               "total_cpu_seconds": round(sum(s["cpu_seconds"] for s in stages.values()), 1)}
    write_json(args.results / "dck_recipe.json", summary)
    print_table(summary["table"])
    return summary


def print_table(table: dict) -> None:
    from _dck_recipe_eval import LABELS, ROWS

    keys = ("psnr", "ssim", "psnr_mouth", "lmd", "lse_d", "lse_c")
    print("| row | PSNR | SSIM | mouth PSNR | LMD | LSE-D | LSE-C |\n|---|---|---|---|---|---|---|")
    for name in (*ROWS, "ground_truth"):
        row = table.get(name, {})
        cells = ["-" if row.get(k) is None else f"{row[k]:.3f}" for k in keys]
        print(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + " |")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/dck_recipe"),
                        help="the stages' folders")
    parser.add_argument("--data_dir", type=Path, default=None,
                        help="where the corpus is (built when missing); default <out>/data")
    parser.add_argument("--results", type=Path, default=None,
                        help="where dck_recipe.json / .png go; default benchmarks/results "
                        "(with --tiny: <out>/results)")
    parser.add_argument("--expert", type=Path, default=None,
                        help="an expert workdir trained before (wav2lip_expert_synthetic.py on "
                        "the same corpus) used as stage 1 instead of training one")
    parser.add_argument("--tiny", action="store_true", help="tiny corpus and networks")
    for key in REAL_STEPS:
        parser.add_argument(f"--{key}_steps", type=int, default=None,
                            help=f"default {REAL_STEPS[key]} ({TINY_STEPS[key]} with --tiny)")
    parser.add_argument("--per_video", type=int, default=2, help="audios per exported video")
    parser.add_argument("--no_progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    args.data_dir = (args.data_dir or args.out / "data").resolve()
    args.given_expert = args.expert is not None
    args.expert = (args.expert or args.out / "expert").resolve()
    if args.results is None:
        args.results = args.out / "results" if args.tiny else REPO / "benchmarks" / "results"
    return args


def main(argv=None) -> int:
    run_recipe(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
