"""What the demo shows of two trained workdirs: their test metrics next to the baselines, lip
videos and a contact sheet from ParaLip, and a DCK lip-synced video.

* ParaLip (`synthetic_lips` test split): PSNR, SSIM and LMD with predicted and ground-truth
  durations against "repeat the identity frame"; three generated-vs-true test videos
  (predicted durations) and a contact sheet.
* DCK (`synthetic_talking_faces` test pairs): PSNR, SSIM and mouth PSNR against "return the input
  frame"; clip A of a test pair lip-synced to the audio of clip B (same face, other sentence)
  with `lipjax.lipsync.talk`, written input | output side by side with the driving audio.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

__all__ = ["CONFIGS", "paralip_showcase", "dck_showcase"]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(REPO, "experiments", "configs")
_PARALIP_VIDEOS = 3
_SHEET_COLUMNS = 6


def _side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 4) -> np.ndarray:
    """[T, H, W, 3] x 2 (lengths may differ: the shorter holds its last frame) -> [T, H, 2W+gap, 3]."""
    t = max(len(left), len(right))

    def hold(v):
        return np.concatenate([v, np.repeat(v[-1:], t - len(v), 0)]) if len(v) < t else v

    left, right = hold(left), hold(right)
    spacer = np.ones(left.shape[:2] + (gap, 3), left.dtype)
    return np.concatenate([left, spacer, right], axis=2)


def _evaluate(workdir: str, progress: bool, *overrides: str) -> dict[str, float]:
    """The workdir's metrics on its config's evaluation split (its corpus: `data.data_dir`)."""
    from lipjax.training.evaluation import evaluate_workdir

    return evaluate_workdir(workdir, overrides=overrides, progress=progress)


def paralip_showcase(workdir: str, out: str, *, landmark_regressor: str | None,
                     progress: bool) -> dict[str, Any]:
    """ParaLip's test metrics, videos and contact sheet (see the module docstring)."""
    from lipjax.data.builders import load_source
    from lipjax.data.contact_sheet import contact_sheet, save_png
    from lipjax.paralip.generate import LipGenerator
    from lipjax.video import write_video

    extra = [f"evaluation.landmark_regressor={landmark_regressor}"] if landmark_regressor else []
    metrics = _evaluate(workdir, progress, *extra)
    generator = LipGenerator.from_checkpoint(workdir)
    test = load_source(generator.config.data, generator.config.data.eval_split)
    rows, videos = [], []
    for i in range(min(_PARALIP_VIDEOS, len(test))):
        record = test[i]
        text = record["text"].decode() if isinstance(record["text"], bytes) else record["text"]
        truth = record["frames"].astype(np.float32) / 255.0
        generated = generator(text, truth[0])
        path = os.path.join(out, f"paralip_test_{i}.mp4")
        write_video(path, _side_by_side(generated, truth), generator.fps)
        videos.append({"video": os.path.basename(path), "text": text,
                       "generated_frames": int(len(generated)), "true_frames": int(len(truth))})
        picks = np.linspace(0, min(len(generated), len(truth)) - 1, _SHEET_COLUMNS).astype(int)
        rows += [truth[picks], generated[picks]]
    labels = [("truth" if r % 2 == 0 else "ParaLip") for r in range(len(rows))
              for _ in range(_SHEET_COLUMNS)]
    save_png(os.path.join(out, "paralip_contact_sheet.png"),
             contact_sheet(np.concatenate(rows), columns=_SHEET_COLUMNS, labels=labels))
    margins = {"psnr_db": metrics["psnr/pred_dur"] - metrics["psnr/identity_baseline"],
               "ssim": metrics["ssim/pred_dur"] - metrics["ssim/identity_baseline"]}
    if "lmd/pred_dur" in metrics:
        margins["lmd_px"] = metrics["lmd/identity_baseline"] - metrics["lmd/pred_dur"]
    return {"test": metrics, "beats_identity_baseline": margins, "videos": videos}


def dck_showcase(workdir: str, out: str, *, progress: bool) -> dict[str, Any]:
    """DCK's test metrics and a lip-synced test video (see the module docstring)."""
    from lipjax.data.builders import load_source
    from lipjax.dck import TalkingFaceGenerator
    from lipjax.lipsync import talk
    from lipjax.training.workdir import read_config
    from lipjax.video import read_video, write_video

    metrics = _evaluate(workdir, progress)
    editor = TalkingFaceGenerator.from_checkpoint(workdir)
    config = read_config(workdir)
    pair = load_source(config.data, config.data.eval_split)[0]
    fps = float(pair["fps"])
    with tempfile.TemporaryDirectory() as tmp:
        video_in, audio_in = os.path.join(tmp, "input.mp4"), os.path.join(tmp, "driving.wav")
        write_video(video_in, pair["frames_a"], fps)
        _write_wav(audio_in, pair["audio_b"])
        synced = os.path.join(tmp, "synced.mp4")
        report = talk(editor, video_in, audio_in, synced, progress=progress)
        frames_out, _ = read_video(synced)
    path = os.path.join(out, "dck_talk.mp4")
    write_video(path, _side_by_side(pair["frames_a"][:len(frames_out)], frames_out), fps,
                audio=pair["audio_b"])
    return {"test": metrics,
            "beats_input_baseline": {
                key.split("/")[0]: metrics[key] - metrics[key.replace("/model", "/input_baseline")]
                for key in ("psnr/model", "ssim/model", "psnr_mouth/model")},
            "talk": {"video": os.path.basename(path), "frames": report.frames_written,
                     "frames_without_face": report.frames_without_face,
                     "generator_ms_per_frame": report.generator_ms_per_frame,
                     "pipeline_ms_per_frame": report.pipeline_ms_per_frame}}


def _write_wav(path: str, audio: np.ndarray, sample_rate: int = 16000) -> None:
    from scipy.io import wavfile

    wavfile.write(path, sample_rate, np.clip(audio * 32767, -32768, 32767).astype(np.int16))
