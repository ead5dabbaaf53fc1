"""`make demo`: both systems end to end on the CPU, from nothing to videos and metrics.

    python -m lipjax.demo --out demo_out [--paralip_steps N] [--dck_steps N] [--skip_dck]

1. Builds the small synthetic corpora (`synthetic_lips`, `synthetic_talking_faces`) if missing.
2. Trains the small mouth-landmark regressor that LMD needs (`lipjax.landmarks`) on the corpus's
   exact landmarks, then ParaLip (experiments/configs/paralip_synthetic.py) with a progress bar;
   evaluates it on the test split (PSNR, SSIM, LMD) against the "repeat the identity frame"
   baseline, and writes generated-vs-ground-truth test videos (predicted durations) and a
   contact sheet.
3. Trains the DCK talking-face model (experiments/configs/dck_synthetic.py) and lip-syncs a
   synthetic talking-face test video to the audio of its pair partner with `lipjax.lipsync.talk`,
   writing input | output side by side with the driving audio.
4. Writes demo_out/metrics.json with every number.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "experiments", "configs")
LANDMARK_STEPS = 600  # the LMD regressor (lipjax.landmarks); BUILD_NOTES has its error


def _side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 4) -> np.ndarray:
    """[T, H, W, 3] x 2 (lengths may differ: the shorter holds its last frame) -> [T, H, 2W+gap, 3]."""
    t = max(len(left), len(right))

    def hold(v):
        return np.concatenate([v, np.repeat(v[-1:], t - len(v), 0)]) if len(v) < t else v

    left, right = hold(left), hold(right)
    spacer = np.ones(left.shape[:2] + (gap, 3), left.dtype)
    return np.concatenate([left, spacer, right], axis=2)


def _train(config_name: str, run_name: str, out: str, data_dir: str, steps: int | None,
           progress: bool, extra_overrides: list[str] | tuple[str, ...] = ()):
    """Trains experiments/configs/<config_name>.py into out/<run_name>; returns its results."""
    from lipjax.training.config import load_config
    from lipjax.training.loop import train_and_evaluate

    overrides = ([f"data.data_dir={data_dir}"] + ([f"train.num_steps={steps}"] if steps else [])
                 + list(extra_overrides))
    config = load_config(os.path.join(CONFIGS, f"{config_name}.py"), overrides)
    workdir = os.path.join(out, run_name)
    t0 = time.perf_counter()
    result = train_and_evaluate(config, workdir, progress=progress)
    return config, workdir, result, time.perf_counter() - t0


def run_landmarks(out: str, data_dir: str, steps: int, progress: bool) -> tuple[str, dict]:
    """Trains the mouth-landmark regressor that ParaLip's LMD uses; returns (folder, report)."""
    from lipjax.landmarks import train_synthetic_regressor

    folder = os.path.join(out, "landmarks")
    report = train_synthetic_regressor(folder, data_dir=data_dir, steps=steps, progress=progress)
    return folder, {k: v for k, v in report.items()
                    if "error" in k or k in ("steps", "train_seconds")}


def run_paralip(out: str, data_dir: str, steps: int | None, progress: bool,
                landmark_regressor: str | None = None) -> dict:
    from lipjax.data.contact_sheet import contact_sheet, save_png
    from lipjax.paralip.generate import LipGenerator
    from lipjax.text import GRID_CHARS
    from lipjax.data.builders import load_source
    from lipjax.video import write_video

    extra = [f"evaluation.landmark_regressor={landmark_regressor}"] if landmark_regressor else []
    config, workdir, result, train_seconds = _train("paralip_synthetic", "paralip_run", out,
                                                    data_dir, steps, progress, extra)

    generator = LipGenerator.from_checkpoint(workdir)
    test = load_source(config.data, config.data.eval_split)
    rows, videos = [], []
    for i in range(min(3, len(test))):
        record = test[i]
        text = record["text"].decode() if isinstance(record["text"], bytes) else record["text"]
        truth = record["frames"].astype(np.float32) / 255.0
        generated = generator(text, truth[0])
        path = os.path.join(out, f"paralip_test_{i}.mp4")
        write_video(path, _side_by_side(generated, truth), generator.fps)
        videos.append({"video": os.path.basename(path), "text": text,
                       "generated_frames": int(len(generated)), "true_frames": int(len(truth))})
        picks = np.linspace(0, min(len(generated), len(truth)) - 1, 6).astype(int)
        rows += [truth[picks], generated[picks]]
    sheet = contact_sheet(np.concatenate(rows), columns=6,
                          labels=[("truth" if r % 2 == 0 else "ParaLip") for r in range(len(rows))
                                  for _ in range(6)])
    save_png(os.path.join(out, "paralip_contact_sheet.png"), sheet)
    ev = result["eval"]
    return {
        "config": "experiments/configs/paralip_synthetic.py", "steps": result["final_step"],
        "train_seconds": round(train_seconds, 1),
        "train_examples_per_s": result["throughput_examples_per_s"],
        "generator_params": result["generator_params"],
        "test": ev,
        "beats_identity_baseline": {
            "psnr_db": ev["psnr/pred_dur"] - ev["psnr/identity_baseline"],
            "ssim": ev["ssim/pred_dur"] - ev["ssim/identity_baseline"],
            **({"lmd_px": ev["lmd/identity_baseline"] - ev["lmd/pred_dur"]}
               if "lmd/pred_dur" in ev else {})},
        "videos": videos, "vocabulary": GRID_CHARS.name,
    }


def run_dck(out: str, data_dir: str, steps: int | None, progress: bool) -> dict:
    import tempfile

    from lipjax.dck import TalkingFaceGenerator
    from lipjax.lipsync import talk
    from lipjax.data.builders import load_source
    from lipjax.video import read_video, write_video

    config, workdir, result, train_seconds = _train("dck_synthetic", "dck_run", out, data_dir,
                                                    steps, progress)

    # Lip-sync clip A of a test pair to the audio of clip B (same face, other sentence).
    pair = load_source(config.data, config.data.eval_split)[0]
    fps = float(pair["fps"])
    with tempfile.TemporaryDirectory() as tmp:
        video_in = os.path.join(tmp, "input.mp4")
        audio_in = os.path.join(tmp, "driving.wav")
        write_video(video_in, pair["frames_a"], fps)
        _write_wav(audio_in, pair["audio_b"])
        synced = os.path.join(tmp, "synced.mp4")
        report = talk(TalkingFaceGenerator.from_checkpoint(workdir), video_in, audio_in, synced,
                      progress=progress)
        frames_out, _ = read_video(synced)
    frames_in = pair["frames_a"][:len(frames_out)]
    path = os.path.join(out, "dck_talk.mp4")
    write_video(path, _side_by_side(frames_in, frames_out), fps, audio=pair["audio_b"])
    return {"config": "experiments/configs/dck_synthetic.py", "steps": result["final_step"],
            "train_seconds": round(train_seconds, 1),
            "train_examples_per_s": result["throughput_examples_per_s"],
            "generator_params": result["generator_params"], "test": result["eval"],
            "talk": {"video": os.path.basename(path), "frames": report.frames_written,
                     "frames_without_face": report.frames_without_face,
                     "generator_ms_per_frame": report.generator_ms_per_frame,
                     "pipeline_ms_per_frame": report.pipeline_ms_per_frame}}


def _write_wav(path: str, audio: np.ndarray, sample_rate: int = 16000) -> None:
    from scipy.io import wavfile

    wavfile.write(path, sample_rate, np.clip(audio * 32767, -32768, 32767).astype(np.int16))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="demo_out")
    parser.add_argument("--data_dir", default="data_cache", help="where corpora are built")
    parser.add_argument("--paralip_steps", type=int, default=None, help="default: the config's")
    parser.add_argument("--dck_steps", type=int, default=None, help="default: the config's")
    parser.add_argument("--landmark_steps", type=int, default=LANDMARK_STEPS,
                        help="steps of the LMD landmark regressor; 0 = no LMD")
    parser.add_argument("--skip_dck", action="store_true")
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    progress = not args.no_progress
    metrics, regressor = {}, None
    if args.landmark_steps:
        regressor, metrics["landmark_regressor"] = run_landmarks(
            args.out, args.data_dir, args.landmark_steps, progress)
    metrics["paralip"] = run_paralip(args.out, args.data_dir, args.paralip_steps, progress,
                                     regressor)
    _dump(args.out, metrics)
    if not args.skip_dck:
        metrics["dck"] = run_dck(args.out, args.data_dir, args.dck_steps, progress)
        _dump(args.out, metrics)
    p = metrics["paralip"]
    print(f"\nParaLip on synthetic_lips test (predicted durations): "
          f"PSNR {p['test']['psnr/pred_dur']:.2f} dB, SSIM {p['test']['ssim/pred_dur']:.3f}; "
          f"identity-frame baseline PSNR {p['test']['psnr/identity_baseline']:.2f} dB, "
          f"SSIM {p['test']['ssim/identity_baseline']:.3f}")
    if "lmd/pred_dur" in p["test"]:
        print(f"  LMD {p['test']['lmd/pred_dur']:.2f} px vs baseline "
              f"{p['test']['lmd/identity_baseline']:.2f} px (regressor test error "
              f"{metrics['landmark_regressor'].get('test_error_px', float('nan')):.2f} px)")
    if "dck" in metrics:
        d = metrics["dck"]["test"]
        print("DCK on synthetic_talking_faces test pairs: " +
              ", ".join(f"{k} {v:.3f}" for k, v in sorted(d.items())))
    print(f"wrote {os.path.abspath(args.out)}: videos, contact sheet, metrics.json")
    return 0


def _dump(out: str, metrics: dict) -> None:
    from lipjax.files import write_json

    write_json(os.path.join(out, "metrics.json"), metrics)


if __name__ == "__main__":
    raise SystemExit(main())
