"""Start-up of `lipjax lip` and `lipjax talk` with JAX's persistent compilation cache: the
first invocation compiles and fills the cache, the second reads it.

    python benchmarks/compile_cache.py --out benchmarks/results [--commands lip,talk]

Models (random weights through the real importers, `_pairs.py`): ParaLip at the paper's sizes
(a converted workdir; `lip` of a GRID sentence) and Wav2Lip's generator (a converted workdir;
`talk` of a 1 s, 25 fps face video, batch 16). Each command runs as a fresh process three times
with one new, empty `LIPJAX_CACHE_DIR`: `first` (empty cache: compiles, fills it), `second`
(reads it) and `off` (`--no_compile_cache`: compiles again, nothing read). Wall times include
Python and library start-up, loading the weights, decoding and encoding. Also in one process:
the compile time of `LipGenerator`'s first call against a second call with the same buckets
(what the trace counters guarantee). Writes compile_cache.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pairs import paralip_pair, wav2lip_pair  # noqa: E402
from _timing import describe_machine, write_json  # noqa: E402

TEXT = "bin blue at f two now"


def _small_paralip(folder: Path) -> Path:
    """A tiny ParaLip workdir (GRID config, narrow layers, random weights): `--small`."""
    import jax

    from lipjax.convert.workdir import write_converted_workdir
    from lipjax.paralip.configs import grid_config
    from lipjax.paralip.model import ParaLip
    from lipjax.paralip.system import model_config

    config = grid_config()
    config.model.update(hidden=32, identity_dim=32, ffn_hidden=64, encoder_layers=1,
                        decoder_layers=1, duration_channels=32, conv_kernel=3,
                        identity_channels=(8, 8, 8, 8), video_decoder_channels=(8, 8, 8, 8, 8),
                        decoder_seed_channels=8)
    model = ParaLip(model_config(config))
    variables = jax.jit(lambda k: model.init(k, np.ones((1, 4), np.int32),
                                             np.zeros((1, 80, 160, 3), np.float32),
                                             max_frames=4, train=False))(jax.random.key(0))
    return write_converted_workdir(folder / "paralip_small", config, variables)


def _workdirs(folder: Path, commands: list[str], small: bool) -> dict[str, Path]:
    from lipjax.convert.workdir import write_converted_workdir

    made = {}
    if "lip" in commands and small:
        made["lip"] = _small_paralip(folder)
    elif "lip" in commands:
        pair = paralip_pair(frames_per_token=2.5)
        made["lip"] = write_converted_workdir(folder / "paralip", pair.config, pair.variables)
    if "talk" in commands:
        pair = wav2lip_pair()
        made["talk"] = write_converted_workdir(folder / "wav2lip", pair.config, pair.variables)
    return made


def _inputs(folder: Path) -> dict[str, Path]:
    """A lip identity image, and a 1 s face video with speech-like audio."""
    import cv2

    from talk_memory import make_inputs

    identity = folder / "lips.png"
    cv2.imwrite(str(identity), np.full((80, 160, 3), 128, np.uint8))
    video, audio = make_inputs(folder, 1.0, 320, 240)
    return {"identity": identity, "video": video, "audio": audio}


def _argv(command: str, workdir: Path, inputs: dict, out: Path) -> list[str]:
    if command == "lip":
        return ["lip", "--checkpoint", str(workdir), "--text", TEXT, "--identity",
                str(inputs["identity"]), "--out", str(out)]
    return ["talk", "--checkpoint", str(workdir), "--video", str(inputs["video"]), "--audio",
            str(inputs["audio"]), "--out", str(out), "--no_progress", "--allow_missing_faces"]


def _run(argv: list[str], cache: Path, log: Path) -> float:
    env = dict(os.environ, LIPJAX_CACHE_DIR=str(cache), JAX_PLATFORMS="cpu")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    start = time.perf_counter()
    with open(log, "a") as output:
        status = subprocess.call([sys.executable, "-m", "lipjax.cli", *argv], env=env,
                                 stdout=output, stderr=subprocess.STDOUT)
    if status not in (0, 3):  # 3: frames without a face (the synthetic video may have some)
        raise RuntimeError(f"{argv[0]} failed ({status}): {log.read_text()[-2000:]}")
    return time.perf_counter() - start


def in_process_compile(workdir: Path, inputs: dict) -> dict:
    """`LipGenerator`: first call (compiles both buckets' programs) vs second call."""
    import cv2

    from lipjax.paralip.generate import LipGenerator

    generator = LipGenerator.from_checkpoint(workdir)
    identity = cv2.cvtColor(cv2.imread(str(inputs["identity"])), cv2.COLOR_BGR2RGB)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        generator(TEXT, identity)
        times.append(time.perf_counter() - start)
    return {"first_call_s": times[0], "second_call_s": times[1], "traces": generator.traces}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--commands", default="lip,talk")
    parser.add_argument("--small", action="store_true",
                        help="a tiny random ParaLip instead of the paper-sized one (smoke runs)")
    parser.add_argument("--name", default="compile_cache")
    args = parser.parse_args(argv)
    commands = args.commands.split(",")
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="lipjax-cache-bench-") as tmp:
        folder = Path(tmp)
        workdirs, inputs = _workdirs(folder, commands, args.small), _inputs(folder)
        for command in commands:
            cache = folder / f"cache_{command}"
            row = {}
            for label in ("first", "second", "off"):
                extra = ["--no_compile_cache"] if label == "off" else []
                row[f"{label}_s"] = _run(extra + _argv(command, workdirs[command], inputs,
                                                       folder / f"{command}_{label}.mp4"),
                                         cache, folder / f"{command}.log")
            row["cache_files"] = sum(1 for p in cache.rglob("*") if p.is_file())
            row["saved_s"] = row["first_s"] - row["second_s"]
            results[command] = row
            print(command, row, flush=True)
        if "lip" in commands:
            results["lip_in_process"] = in_process_compile(workdirs["lip"], inputs)
    report = {"what": __doc__.split("\n\n")[0], "machine": describe_machine(),
              "load": list(os.getloadavg()), "results": results}
    write_json(Path(args.out) / f"{args.name}.json", report)
    return report


if __name__ == "__main__":
    main()
