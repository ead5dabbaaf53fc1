"""Quality and speed of the DCK talking face trained on `synthetic_talking_faces` (small).

Evaluates the latest checkpoint of each given training workdir (the full model and the two
ablations) on *every* frame of the test pairs (both directions), beside the trivial baseline
that returns the input crop, and reports the training throughput logged by the run and the
generator's inference time per frame (jit, `block_until_ready`, median after warm-up).

    lipjax train --config experiments/configs/dck_synthetic.py --workdir workdirs/dck_synthetic
    (same for dck_synthetic_no_dck.py and dck_synthetic_no_blend.py)
    python experiments/train_landmarks.py --corpus=synthetic_talking_faces --crop_size=64 \
        --data_dir=data_cache --out=runs/face_landmarks --steps=600
    python benchmarks/dck_synthetic_quality.py --out benchmarks/results \
        --landmark_regressor runs/face_landmarks \
        full=workdirs/dck_synthetic no_dck=workdirs/dck_synthetic_no_dck \
        no_blend=workdirs/dck_synthetic_no_blend

writes dck_synthetic_quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import describe_machine, time_function, write_json  # noqa: E402

from lipjax.data.builders import load_source  # noqa: E402
from lipjax.training.evaluation import evaluate  # noqa: E402
from lipjax.training.workdir import restore_generator  # noqa: E402


def _throughput(workdir: str, frames_per_example: int) -> dict[str, float]:
    """Median logged training throughput, the first (compiling) window left out."""
    lines = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    rates = [l["train/throughput/examples_per_s"] for l in lines
             if "train/throughput/examples_per_s" in l][1:]
    pairs = statistics.median(rates) if rates else float("nan")
    return {"pairs_per_s": pairs, "frames_per_s": pairs * frames_per_example,
            "logged_windows": len(rates)}


def _generator_ms_per_frame(system, variables, *, num_frames: int, repeats: int) -> dict:
    size = system.generator.config.image_size
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 1, (num_frames, size, size, 3)).astype(np.float32)
    mel = rng.uniform(-4, 4, (num_frames, 80, 16)).astype(np.float32)
    apply = jax.jit(lambda v, f, m: system.generator.apply(v, f, m, train=False).frame)
    timing = time_function(apply, variables, frames, mel, warmup=3, repeats=repeats)
    return {"batch_frames": num_frames, "median_ms_per_frame": 1e3 * timing.median_s / num_frames,
            "min_ms_per_frame": 1e3 * timing.min_s / num_frames, "repeats": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="name=workdir pairs")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--max_frames", type=int, default=75,
                        help="frames per direction evaluated (>= the longest test clip = all)")
    parser.add_argument("--timing_frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--landmark_regressor", default=None,
                        help="face-crop landmark regressor folder (experiments/train_landmarks.py "
                             "--corpus=synthetic_talking_faces) for the models' LMD")
    args = parser.parse_args()

    results = {"machine": describe_machine(), "runs": {}, "notes": [
        "metrics over every frame of both directions of the synthetic_talking_faces (small) "
        "test pairs (unseen sentences), 64x64 face crops",
        "input_baseline = the source crop returned unchanged",
        "psnr_mouth = PSNR over a box around the source and target mouth landmarks",
        "lmd/input_baseline is exact (known landmarks); lmd/model and "
        "lmd/input_baseline_detected use the face-crop landmark regressor (when given)",
    ]}
    for item in args.runs:
        name, workdir = item.split("=", 1)
        overrides = ([f"evaluation.landmark_regressor={args.landmark_regressor}"]
                      if args.landmark_regressor else [])
        restored = restore_generator(workdir, overrides=overrides)
        config = restored.config
        system = restored.system_class.from_config(config)
        frames_per_example = 2 * int(config.data.buckets[0][1])
        config.data.buckets = [(1, args.max_frames)]
        config.data.eval_batch_size = jax.local_device_count()
        source = load_source(config.data, config.data.eval_split)
        metrics = evaluate(system, restored.variables, source, config, progress=True)
        results["runs"][name] = {
            "workdir": workdir,
            "config": {"use_dck": bool(config.model.use_dck),
                       "use_blending": bool(config.model.use_blending),
                       "image_size": int(config.model.image_size),
                       "batch_pairs": int(config.data.batch_size),
                       "frames_per_step": frames_per_example * int(config.data.batch_size)},
            "steps": restored.step,
            "eval_test_all_frames": metrics,
            "train_throughput": _throughput(workdir, frames_per_example),
            "generator_inference": _generator_ms_per_frame(
                system, restored.variables, num_frames=args.timing_frames, repeats=args.repeats),
        }
        print(name, json.dumps(results["runs"][name], indent=1))
    write_json(os.path.join(args.out, "dck_synthetic_quality.json"), results)


if __name__ == "__main__":
    main()
