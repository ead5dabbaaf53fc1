"""`talk` as a pipeline: each step alone, then the whole streaming pipeline, at the paper's
setting (DCK, Ye et al. 2022: 256x256 faces in 1280x720 frames).

    python benchmarks/talk_pipeline.py --out benchmarks/results [--seconds 4] [--model paper]

Input: `talk_memory.make_inputs`'s moving astronaut (a 25 fps video and speech-like noise).
Model: the DCK generator at the paper's sizes with random weights (`--model small`: the 64x64
model of `talk_memory.py`). Each step runs alone over the same frames, with the whole machine:
decode (`FaceVideo.chunks`), detect (Haar near the previous face, `FaceSearch`, as `talk`
searches; a pass over every whole frame is timed too, with the boxes' agreement), crop +
generate (`edit_layers`, batches of `--batch_size`), paste back (`blend_back` at frame resolution) and
encode (`VideoWriter`, x264 as `talk` runs it, plus the audio mux). The pipeline is one `talk`
call (compiled before, so compilation is not counted) in a fresh process, which also gives
its peak memory (VmHWM). `talk` decodes each frame once (detection hands its frames on to
editing), so `serial_fps` is the frame count over the sum of the steps' times. Writes
talk_pipeline.json / .png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import describe_machine, save_figure, write_json  # noqa: E402
from talk_memory import make_inputs  # noqa: E402

_EDITOR = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
    import jax, numpy as np
    from _pairs import small_dck_config
    from lipjax.audio import MelConfig
    from lipjax.dck.generator import TalkingFaceGenerator
    from lipjax.dck.model import DCKConfig, DCKGenerator

    def build_editor(model):
        config = DCKConfig() if model == "paper" else small_dck_config()
        size = config.image_size
        variables = jax.jit(lambda k: DCKGenerator(config).init(
            k, np.zeros((1, size, size, 3), np.float32), np.zeros((1, 80, 16), np.float32)))(
            jax.random.key(0, impl="rbg"))
        return TalkingFaceGenerator(config, variables, mel_config=MelConfig())
""")

_PIPELINE = _EDITOR + textwrap.dedent("""
    import json, resource, sys, time
    from lipjax.lipsync import talk
    editor = build_editor(sys.argv[4])
    batch = int(sys.argv[5])
    compile_s = editor.compile(batch)
    start = time.perf_counter()
    report = talk(editor, sys.argv[1], sys.argv[2], sys.argv[3], batch_size=batch,
                  progress=False, preset=sys.argv[6])
    wall = time.perf_counter() - start
    # VmHWM: this process's own peak (ru_maxrss would include the parent's, kept across exec)
    hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]
    print(json.dumps({"wall_s": wall, "frames": report.frames_written,
                      "vm_hwm_mib": int(hwm[0]) / 1024 if hwm else None,
                      "frames_without_face": report.frames_without_face,
                      "compile_s": compile_s,
                      "generator_ms_per_frame": report.generator_ms_per_frame}))
""")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = (np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
             * np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None))
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def detection(frames: np.ndarray, options) -> tuple[dict, np.ndarray, np.ndarray]:
    """Seconds of `talk`'s search (`FaceSearch`: near the previous face) and of a Haar pass over
    every whole frame, and how far their raw boxes agree."""
    from lipjax.face import detect_face_boxes
    from lipjax.lipsync.faces import FaceSearch

    found = {}
    seconds = _timed(lambda: found.update(local=FaceSearch(options).search(frames)))
    whole_seconds = _timed(lambda: found.update(whole=detect_face_boxes(
        frames, min_neighbors=options.min_neighbors,
        min_size_fraction=options.min_size_fraction)))
    (local, local_found), (whole, whole_found) = found["local"], found["whole"]
    both = local_found & whole_found
    iou = _iou(local[both], whole[both])
    return ({"local_s": seconds, "whole_frame_s": whole_seconds,
             "frames_found": {"local": int(local_found.sum()), "whole": int(whole_found.sum())},
             "iou_local_vs_whole": {"mean": float(iou.mean()), "min": float(iou.min()),
                                    "frames_below_0.5": int((iou < 0.5).sum())}},
            local, local_found)


def stages_alone(video: Path, audio: Path, model: str, batch: int, folder: Path,
                 preset: str) -> dict:
    """Seconds each step takes alone over the video's frames, and their frame count."""
    namespace: dict = {}
    exec(_EDITOR, namespace)  # the same editor as the pipeline's process
    editor = namespace["build_editor"](model)
    editor.compile(batch)
    from lipjax.face import crop_and_resize
    from lipjax.lipsync.composite import blend_back
    from lipjax.lipsync.faces import shape_boxes
    from lipjax.lipsync.source import FaceVideo
    from lipjax.video_writer import VideoWriter

    seconds = {}
    with FaceVideo(video) as source:
        seconds["decode"] = _timed(lambda: [None for _ in source.chunks()])
        frames = np.concatenate(list(source.chunks()))
        height, width = frames.shape[1:3]
    detect, raw, found = detection(frames, editor.face_boxes)
    seconds["detect"] = detect["local_s"]
    boxes = shape_boxes(raw, found, editor.face_boxes, height=height, width=width)
    size = (editor.image_size, editor.image_size)
    mel = np.zeros((batch, 80, 16), np.float32)
    layers = []

    def generate():
        for begin in range(0, len(frames), batch):
            crops = np.stack([crop_and_resize(f, b, size) for f, b in
                              zip(frames[begin:begin + batch], boxes[begin:begin + batch])])
            layers.append(editor.edit_layers(crops.astype(np.float32) / 255,
                                             mel[:len(crops)], batch_size=batch))

    seconds["crop + generate"] = _timed(generate)
    motion = np.concatenate([m for m, _ in layers])
    alpha = np.concatenate([a for _, a in layers])
    out = np.empty_like(frames)
    seconds["paste back"] = _timed(lambda: [out.__setitem__(i, blend_back(
        frames[i], motion[i], alpha[i], boxes[i])) for i in range(len(frames))])

    def encode():
        with VideoWriter(folder / "encoded.mp4", fps=25.0, audio_source=audio, crf=17,
                         preset=preset) as w:
            for begin in range(0, len(out), batch):
                w.write(out[begin:begin + batch])

    seconds["encode"] = _timed(encode)
    return {"frames": len(frames), "seconds": seconds,
            "fps": {k: len(frames) / v for k, v in seconds.items()}, "detection": detect}


def pipeline(video: Path, audio: Path, model: str, batch: int, folder: Path,
             preset: str) -> dict:
    """One `talk` call in a fresh process: wall time (compiled before), fps and peak RSS."""
    command = [sys.executable, "-c", _PIPELINE, str(video), str(audio),
               str(folder / "talk.mp4"), model, str(batch), preset]
    with open(folder / "pipeline.log", "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError((folder / "pipeline.log").read_text()[-3000:])
    result = json.loads(output.strip().splitlines()[-1])
    result["fps"] = result["frames"] / result["wall_s"]
    hwm = result.pop("vm_hwm_mib")
    result["peak_rss_mib"] = hwm if hwm is not None else usage.ru_maxrss / 1024
    return result


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Milliseconds per frame: the steps, their sum (one core's worth of serial work) and the
    # pipeline; the rounds' ratios on the right show how much the shared machine moves them.
    ms = {step: 1000.0 / fps for step, fps in report["stages"]["fps"].items()}
    ms["sum of the steps"] = sum(ms.values())
    ms["pipeline"] = 1000.0 / report["pipeline"]["fps"]
    figure, (axis, rounds) = plt.subplots(1, 2, figsize=(10, 3.6),
                                          gridspec_kw={"width_ratios": [3, 1.2]})
    colors = ["#bbbbbb"] * (len(ms) - 2) + ["#888888", "#4477aa"]
    axis.barh(list(ms)[::-1], list(ms.values())[::-1], color=colors[::-1])
    axis.axvline(1000.0 / (0.8 * report["slowest_stage_fps"]), color="#cc3311", linestyle="--",
                 label="pipeline at 80% of the slowest step")
    axis.set_xlabel("milliseconds per frame")
    axis.set_title(f"talk at {report['size']}, {report['model']} DCK, x264 "
                   f"{report.get('x264_preset', 'medium')}", fontsize=10)
    axis.legend(fontsize=8)
    ratios = [100 * r["ratio"] for r in report.get("rounds", [])] or [
        100 * report["pipeline_over_slowest"]]
    rounds.plot(range(1, len(ratios) + 1), ratios, "o-", color="#4477aa")
    rounds.axhline(80, color="#cc3311", linestyle="--")
    rounds.set_xlabel("round")
    rounds.set_ylabel("pipeline / slowest step (%)")
    rounds.set_ylim(0, 110)
    figure.tight_layout()
    save_figure(figure, path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--model", choices=("paper", "small"), default="paper")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--name", default="talk_pipeline")
    parser.add_argument("--preset", default="medium", help="x264 preset (talk's default: medium)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="steps-alone + pipeline rounds; the round with the median ratio is "
                             "reported (the machine's load drifts between measurements)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    load_start = list(os.getloadavg())
    rounds = []
    with tempfile.TemporaryDirectory(prefix="lipjax-talk-bench-") as tmp:
        folder = Path(tmp)
        video, audio = make_inputs(folder, args.seconds, width, height)
        for _ in tqdm(range(args.repeats), desc="talk_pipeline rounds"):
            stages = stages_alone(video, audio, args.model, args.batch_size, folder, args.preset)
            print("stages", json.dumps(stages["fps"]), flush=True)
            run = pipeline(video, audio, args.model, args.batch_size, folder, args.preset)
            print("pipeline", json.dumps(run), flush=True)
            slowest = min(stages["fps"], key=stages["fps"].get)
            rounds.append({"stages": stages, "pipeline": run, "slowest_stage": slowest,
                           "ratio": run["fps"] / stages["fps"][slowest]})
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    stages, run, slowest = median["stages"], median["pipeline"], median["slowest_stage"]
    report = {
        "what": "each step of talk alone and the streaming pipeline (threads, bounded queues); "
                "the round with the median pipeline / slowest-step ratio",
        "size": args.size, "model": args.model, "batch_size": args.batch_size,
        "x264_preset": args.preset,
        "seconds_of_video": args.seconds, "stages": stages, "pipeline": run,
        "slowest_stage": slowest, "slowest_stage_fps": stages["fps"][slowest],
        "pipeline_over_slowest": median["ratio"],
        "rounds": [{"slowest_stage_fps": r["stages"]["fps"][r["slowest_stage"]],
                    "pipeline_fps": r["pipeline"]["fps"], "ratio": r["ratio"]} for r in rounds],
        "serial_fps": stages["frames"] / sum(stages["seconds"].values()),
        "load_start": load_start, "load_end": list(os.getloadavg()),
        "machine": describe_machine(),
    }
    out = Path(args.out)
    write_json(out / f"{args.name}.json", report)
    plot(report, out / f"{args.name}.png")
    return report


if __name__ == "__main__":
    main()
