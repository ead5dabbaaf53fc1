"""Peak memory of `lipjax talk` against the video's length: it must not grow.

    python benchmarks/talk_memory.py --out benchmarks/results [--seconds 10,60] [--size 1280x720]

For each length, makes a 25 fps video of scikit-image's astronaut moving over a background at
the given size (plus speech-like noise of the same length), then runs `lipjax talk` with a small
random DCK model in a fresh process and reads that process's peak resident memory (ru_maxrss).
Writes `talk_memory.json` and `talk_memory.png` (peak RSS per length, with the ratio).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import describe_machine, save_figure, write_json  # noqa: E402

from lipjax.video_writer import VideoWriter  # noqa: E402

FPS = 25.0
SAMPLE_RATE = 16000

# A fresh process per run: ru_maxrss of the child is its own peak, nothing else's.
_RUN = textwrap.dedent("""
    import sys
    import jax
    import numpy as np
    from lipjax.audio import MelConfig
    from lipjax.dck.generator import TalkingFaceGenerator
    from lipjax.dck.model import DCKGenerator
    from lipjax.lipsync import talk

    sys.path.insert(0, sys.argv[4])  # benchmarks/
    from _pairs import small_dck_config

    config = small_dck_config()
    variables = DCKGenerator(config).init(jax.random.key(0, impl="rbg"),
                                          np.zeros((1, 64, 64, 3), np.float32),
                                          np.zeros((1, 80, 16), np.float32))
    editor = TalkingFaceGenerator(config, variables, mel_config=MelConfig())
    report = talk(editor, sys.argv[1], sys.argv[2], sys.argv[3], batch_size=16, progress=False)
    print(report.frames_written, report.frames_without_face)
""")


def make_inputs(folder: Path, seconds: float, width: int, height: int) -> tuple[Path, Path]:
    """A moving-astronaut video and a noise wav of `seconds`, streamed to disk chunk by chunk."""
    import cv2
    import scipy.io.wavfile
    import skimage.data

    face = cv2.resize(skimage.data.astronaut(), (height // 2, height // 2))
    count = int(seconds * FPS)
    video = folder / f"face_{int(seconds)}s.mp4"
    rng = np.random.default_rng(0)
    background = rng.integers(40, 200, (height, width, 3), np.uint8)
    with VideoWriter(video, fps=FPS, preset="ultrafast", crf=28) as writer:
        for begin in range(0, count, 25):
            frames = []
            for t in range(begin, min(begin + 25, count)):
                frame = background.copy()
                x = int((width - face.shape[1]) * (0.5 + 0.3 * np.sin(t / 40)))
                y = int((height - face.shape[0]) * 0.4)
                frame[y:y + face.shape[0], x:x + face.shape[1]] = face
                frames.append(frame)
            writer.write(np.stack(frames))
    audio = folder / f"speech_{int(seconds)}s.wav"
    envelope = 0.5 + 0.5 * np.sin(np.arange(int(seconds * SAMPLE_RATE)) * 2 * np.pi * 3
                                  / SAMPLE_RATE)
    noise = rng.standard_normal(len(envelope)) * 0.2 * envelope
    scipy.io.wavfile.write(audio, SAMPLE_RATE, noise.astype(np.float32))
    return video, audio


def measure(video: Path, audio: Path, out: Path, log: Path) -> dict:
    """Runs talk in a child process; its own peak RSS comes from wait4 (not a maximum over all
    children, which would hide a smaller peak after a larger one)."""
    start = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-c", _RUN, str(video), str(audio),
                                    str(out), os.path.dirname(os.path.abspath(__file__))],
                                   stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, "JAX_PLATFORMS": "cpu"})
        _, status, usage = os.wait4(process.pid, 0)
    text = log.read_text()
    if status != 0:
        raise RuntimeError(text[-2000:])
    frames, without_face = (int(v) for v in text.split()[-2:])
    return {"peak_rss_mib": usage.ru_maxrss / 1024, "frames": frames,
            "frames_without_face": without_face, "wall_s": time.perf_counter() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--seconds", default="10,60")
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    lengths = [float(s) for s in args.seconds.split(",")]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seconds in sorted(lengths):
            video, audio = make_inputs(folder, seconds, width, height)
            runs[f"{seconds:g}s"] = measure(video, audio, folder / f"out_{seconds:g}.mp4",
                                            folder / f"log_{seconds:g}.txt")
            print(seconds, runs[f"{seconds:g}s"], flush=True)
    peaks = [r["peak_rss_mib"] for r in runs.values()]
    report = {"what": f"peak RSS of `talk` on {width}x{height} video at 25 fps, small DCK model",
              "runs": runs, "ratio_longest_to_shortest": peaks[-1] / peaks[0],
              "machine": describe_machine()}
    out = Path(args.out)
    write_json(out / "talk_memory.json", report)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.2))
    axis.bar(list(runs), peaks, color="#4477aa")
    axis.set_ylabel("peak RSS (MiB)")
    axis.set_title(f"talk, {width}x{height}: ratio {report['ratio_longest_to_shortest']:.2f}")
    figure.tight_layout()
    save_figure(figure, out / "talk_memory.png", dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
