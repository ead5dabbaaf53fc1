"""`make demo`: ParaLip and the DCK talking-face model end to end on the CPU, to videos and
metrics in `demo_out/`.

    python -m lipjax.demo [--out demo_out]              # minutes: the shipped checkpoints
    python -m lipjax.demo --train [--out demo_out]      # ~45 min: trains all three models first
    python -m lipjax.demo --train --export experiments/demo_checkpoints   # regenerates them

Both paths build the small synthetic corpora (`synthetic_lips`, `synthetic_talking_faces`) into
`--data_dir` if missing, then evaluate ParaLip and DCK on their test splits next to their
baselines and write videos, a contact sheet and `metrics.json` (`lipjax.demo.showcase`). The
quick path restores the three models (ParaLip, DCK, the LMD landmark regressor) from
`experiments/demo_checkpoints/` after checking their SHA-256 (`lipjax.demo.checkpoints`); with
`--train` they are trained here instead (`lipjax.demo.train`), and `--export` writes what was
trained as a new checkpoint folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from lipjax.demo import checkpoints, showcase, train

PARALIP, DCK = "paralip", "dck"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lipjax.demo",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="demo_out", help="where videos and metrics go")
    parser.add_argument("--data_dir", default="data_cache", help="where corpora are built")
    parser.add_argument("--checkpoints", default=str(checkpoints.DEFAULT_FOLDER),
                        help="the shipped demo checkpoints (quick path)")
    parser.add_argument("--train", action="store_true",
                        help="train the three models here instead of loading checkpoints")
    parser.add_argument("--export", default=None, metavar="FOLDER",
                        help="with --train: write the trained models as demo checkpoints")
    parser.add_argument("--paralip_steps", type=int, default=None, help="default: the config's")
    parser.add_argument("--dck_steps", type=int, default=None, help="default: the config's")
    parser.add_argument("--landmark_steps", type=int, default=train.LANDMARK_STEPS)
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    if args.export and not args.train:
        parser.error("--export needs --train (it exports the models trained in this run)")
    for name in ("paralip_steps", "dck_steps", "landmark_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1, got {value}")
    return args


def _trained(args: argparse.Namespace, progress: bool) -> dict[str, train.TrainedModel]:
    return {
        "landmarks": train.train_landmarks(args.out, args.data_dir, args.landmark_steps, progress),
        PARALIP: train.train_system(train.PARALIP_CONFIG, "paralip_run", args.out, args.data_dir,
                                    args.paralip_steps, progress),
        DCK: train.train_system(train.DCK_CONFIG, "dck_run", args.out, args.data_dir,
                                args.dck_steps, progress),
    }


def _export(models: dict[str, train.TrainedModel], folder: str) -> None:
    from lipjax.training.workdir import restore_generator

    os.makedirs(folder, exist_ok=True)
    for name in (PARALIP, DCK):
        restored = restore_generator(models[name].path)
        checkpoints.export_generator(restored.variables, restored.config, folder, name)
    if "landmarks" in models:
        checkpoints.export_regressor(models["landmarks"].path, folder)
    checkpoints.write_manifest(folder, {name: model.report for name, model in models.items()})


def _restored(args: argparse.Namespace) -> dict[str, train.TrainedModel]:
    manifest = checkpoints.verify_checkpoints(args.checkpoints)
    reports = manifest.get("models", {})
    models = {}
    regressor = os.path.join(args.checkpoints, checkpoints.LANDMARKS)
    if os.path.isdir(regressor):  # without it: no LMD
        models["landmarks"] = train.TrainedModel(regressor, reports.get("landmarks", {}))
    for name in (PARALIP, DCK):
        workdir = os.path.join(args.out, f"{name}_checkpoint")
        if not os.path.isdir(workdir) or not os.listdir(workdir):
            checkpoints.restore_workdir(args.checkpoints, name, workdir,
                                        [f"data.data_dir={args.data_dir}"])
        models[name] = train.TrainedModel(workdir, reports.get(name, {}))
    return models


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    progress = not args.no_progress
    start = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    models = _trained(args, progress) if args.train else _restored(args)
    if args.export:
        _export(models, args.export)
    landmarks = models.get("landmarks")
    metrics: dict[str, Any] = {"source": "trained in this run" if args.train else
                               f"checkpoints in {args.checkpoints}",
                               "landmark_regressor": landmarks.report if landmarks else None}
    metrics[PARALIP] = {"training": models[PARALIP].report, **showcase.paralip_showcase(
        models[PARALIP].path, args.out, landmark_regressor=landmarks and landmarks.path,
        progress=progress)}
    metrics[DCK] = {"training": models[DCK].report, **showcase.dck_showcase(
        models[DCK].path, args.out, progress=progress)}
    metrics["wall_seconds"] = round(time.perf_counter() - start, 1)
    from lipjax.files import write_json

    write_json(os.path.join(args.out, "metrics.json"), metrics)
    _print_summary(metrics, args.out)
    return 0


def _print_summary(metrics: dict[str, Any], out: str) -> None:
    p, d = metrics[PARALIP]["test"], metrics[DCK]["test"]
    lines = [f"ParaLip on synthetic_lips test (predicted durations): PSNR "
             f"{p['psnr/pred_dur']:.2f} dB, SSIM {p['ssim/pred_dur']:.3f}; repeating the "
             f"identity frame: {p['psnr/identity_baseline']:.2f} dB, "
             f"{p['ssim/identity_baseline']:.3f}"]
    if "lmd/pred_dur" in p:
        lines.append(f"  LMD {p['lmd/pred_dur']:.2f} px vs {p['lmd/identity_baseline']:.2f} px "
                     "for the baseline")
    lines.append(f"DCK on synthetic_talking_faces test pairs: PSNR {d['psnr/model']:.2f} dB, "
                 f"SSIM {d['ssim/model']:.3f}, mouth PSNR {d['psnr_mouth/model']:.2f} dB; "
                 f"returning the input frame: {d['psnr/input_baseline']:.2f} dB, "
                 f"{d['ssim/input_baseline']:.3f}, {d['psnr_mouth/input_baseline']:.2f} dB")
    lines.append(f"wrote {os.path.abspath(out)}: videos, contact sheet, metrics.json "
                 f"({metrics['wall_seconds']:.0f} s)")
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # lipjax errors: one line, exit 2 (as the lipjax command)
        from lipjax.errors import LipjaxError

        if not isinstance(error, LipjaxError):
            raise
        print(f"lipjax demo: error: {error}", file=sys.stderr)
        sys.exit(2)
