"""Cost of `lipjax data build talking_face_pairs` per output frame, and the DCK paper's scale.

    python benchmarks/talking_face_pairs.py --out benchmarks/results [--frames 125] [--size 640x360]

Makes two 25 fps videos of scikit-image's astronaut moving over a background (with a
soundtrack) and two audios of the same length, a Wav2Lip generator of the published size with
random weights (the same computation as `wav2lip_gan.pth`; `--channel_divisor` narrows it), and
builds the pairs of each video with one other audio. Reports, per output frame (one frame of
one re-synced clip): the wall time of the whole build (decoding, face detection, Wav2Lip,
compositing, record writing; compilation excluded), the Wav2Lip part alone, and the bytes
written; then extrapolates to the paper's Nr = 550 videos x m = 550 audios of about 60 s
(Ye et al., IEEE TMM 2022, Sec. IV). Writes `talking_face_pairs.json` and
`talking_face_pairs.png`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import jax
import numpy as np
import scipy.io.wavfile
import skimage.data

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import describe_machine, save_figure, write_json  # noqa: E402

from lipjax.convert.workdir import write_converted_workdir  # noqa: E402
from lipjax.data.builders.talking_face_pairs import TalkingFacePairs  # noqa: E402
from lipjax.data.builders.talking_face_pairs_build import PairInputs, build_pairs  # noqa: E402
from lipjax.data.builders.talking_face_pairs_plan import PairSettings  # noqa: E402
from lipjax.lipsync.editor import load_face_editor  # noqa: E402
from lipjax.training.config import load_config  # noqa: E402
from lipjax.training.state import make_rng  # noqa: E402
from lipjax.training.system import make_system  # noqa: E402
from lipjax.video_writer import write_video  # noqa: E402

FPS, RATE = 25.0, 16000
PAPER = {"videos": 550, "audios": 550, "seconds": 60.0}  # DCK paper, Sec. IV


def _inputs(root: Path, frames: int, size: tuple[int, int]) -> None:
    """Two moving-astronaut videos with soundtracks and two audios, `frames` frames long."""
    width, height = size
    side = int(0.55 * height)
    # The 200-pixel square around the astronaut's face (OpenCV's cascade finds it in every frame).
    face = cv2.resize(skimage.data.astronaut()[14:214, 124:324], (side, side),
                      interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    t = np.arange(int(frames / FPS * RATE)) / RATE
    for folder in ("videos", "audios"):
        (root / folder).mkdir()
    for i in range(2):
        background = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), np.uint8),
                                      (0, 0), 3)
        video = np.repeat(background[None], frames, axis=0)
        for k in range(frames):
            x = (width - side) // 2 + int(0.1 * width * np.sin(k / 10 + i))
            y = (height - side) // 2 + int(0.03 * height * np.cos(k / 13))
            video[k, y:y + side, x:x + side] = face
        tone = 0.3 * np.sin(2 * np.pi * (140 + 30 * i) * t) * (0.6 + 0.4 * np.sin(6 * t))
        write_video(root / "videos" / f"v{i}.mp4", video, FPS,
                    audio=(tone + 0.02 * rng.standard_normal(len(t))).astype(np.float32))
        scipy.io.wavfile.write(root / "audios" / f"a{i}.wav", RATE,
                               (0.8 * tone[::-1]).astype(np.float32))


def _wav2lip(path: Path, channel_divisor: int) -> None:
    config = load_config(str(Path(__file__).resolve().parents[1] / "experiments/configs/"
                             "wav2lip.py"))
    config.model.channel_divisor = channel_divisor
    config.loss.sync, config.loss.sync_expert, config.loss.adv = 0.0, "", 0.0
    system = make_system(config)
    variables, _ = system.init_variables(make_rng(config), system.example_batch((1, 1)))
    write_converted_workdir(path, config, variables)


def _figure(result: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    per = result["per_output_frame"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    parts = {"Wav2Lip (crop, generator, paste)": per["wav2lip_seconds"],
             "decode, detect, write": per["build_seconds"] - per["wav2lip_seconds"]}
    ax.barh(list(parts), list(parts.values()), color=["tab:blue", "tab:gray"])
    ax.set_xlabel(f"wall seconds per output frame (CPU; {per['build_cpu_seconds']:.2f} CPU-s in "
                  "all)")
    scale = result["paper_scale"]
    ax.set_title(f"the paper's scale: {scale['output_frames']:.3g} frames, "
                 f"{scale['cpu_core_hours']:.3g} CPU core-hours, {scale['terabytes']:.3g} TB",
                 fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--frames", type=int, default=125)
    parser.add_argument("--size", default="640x360", help="video WIDTHxHEIGHT")
    parser.add_argument("--channel_divisor", type=int, default=1)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="pairs-bench-") as folder:
        root = Path(folder)
        _inputs(root, args.frames, size)
        _wav2lip(root / "w2l", args.channel_divisor)
        editor = load_face_editor(root / "w2l")
        settings = PairSettings(per_video=1, test_fraction=0.0)
        compile_seconds = editor.compile(settings.batch_size)
        load_before = os.getloadavg()[0]
        start, cpu_start = time.perf_counter(), time.process_time()
        report = build_pairs(PairInputs(str(root / "videos"), str(root / "audios"),
                                        str(root / "w2l")), root / "data", settings,
                             progress=False, editor=editor)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        load_after = os.getloadavg()[0]
        stored = sum(p.stat().st_size for p in Path(report.dataset_dir).glob("*array_record*"))
        meta = TalkingFacePairs(data_dir=str(root / "data")).info.metadata
    frames = report.output_frames
    per = {"build_seconds": wall / frames, "wav2lip_seconds": report.seconds / frames,
           "build_cpu_seconds": cpu / frames, "bytes": stored / frames}
    paper_frames = PAPER["videos"] * PAPER["audios"] * PAPER["seconds"] * FPS
    result = {
        "video_size": list(size), "frames_per_video": args.frames,
        "channel_divisor": args.channel_divisor,
        "wav2lip_params": int(sum(np.size(x) for x in jax.tree.leaves(editor.variables))),
        "compile_seconds": compile_seconds, "output_frames": frames, "build_seconds": wall,
        "build_cpu_seconds": cpu, "load_average": [load_before, load_after],
        "frames_without_face": meta["frames_without_face"],
        "records": sum(report.splits.values()), "per_output_frame": per,
        "paper_scale": {**PAPER, "fps": FPS, "output_frames": paper_frames,
                        "hours_at_this_wall_time": paper_frames * per["build_seconds"] / 3600,
                        "cpu_core_hours": paper_frames * per["build_cpu_seconds"] / 3600,
                        "terabytes": paper_frames * per["bytes"] / 1e12},
        "machine": describe_machine(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "talking_face_pairs.json", result)
    _figure(result, out / "talking_face_pairs.png")
    print(f"{frames} output frames: {per['build_seconds']:.3f} s per frame in all "
          f"({per['build_cpu_seconds']:.3f} CPU-s), {per['wav2lip_seconds']:.3f} s in Wav2Lip, "
          f"{per['bytes'] / 1e3:.1f} kB; paper scale: "
          f"{result['paper_scale']['cpu_core_hours']:.3g} CPU core-hours, "
          f"{result['paper_scale']['terabytes']:.3g} TB")


if __name__ == "__main__":
    main()
