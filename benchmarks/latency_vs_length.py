"""Inference latency vs video length: ParaLip against the autoregressive baselines TransformerT2L
and DualLip (ParaLip, Liu et al., AAAI 2022: Figure 4 and Table 3).

The paper's methodology: the time to generate one video at batch 1 (Table 3: "the time consumed
to generate one video sample"), plotted against the *predicted* video length (Figure 4). All
three generators at the paper's sizes (random weights: latency does not depend on them), 80x160
frames, batch 1. For each target length L:

- ParaLip: the whole inference path of `lipjax lip` (`LipGenerator`): tokenize, predict the
  durations (a jitted call), pick the frame bucket on the host, decode every frame in parallel
  (a second jitted call), frames back on the host. Random weights would predict arbitrary
  lengths, so the duration predictor's output layer is set to predict 3 frames for every token
  (GRID averages ~2.5) and the text has round(L / 3) tokens: the predictor runs and decides the
  length, which is 3 * round(L / 3). Frame and token buckets are the swept sizes (no padding).
- TransformerT2L / DualLip: one jitted `autoregressive_decode` call (encoder + one decoder step
  per frame in a `lax.while_loop`) making as many frames as ParaLip predicted (the stop token is
  ignored, which costs what stopping there would), frames back on the host.

Each call is compiled and warmed up first (not timed), then timed `--repeats` times; the median
is reported, candidates timed round-robin so that outside load slows them alike. `--device gpu`
runs everything on the first GPU (an error if JAX sees none); the default is the CPU. Writes
latency_vs_length.json (numbers, speedups, a Table-3-style summary at a GRID-like length of 75
frames and TIMIT-like lengths of 150-240 frames, the machine) and latency_vs_length.png (latency
vs predicted length, three lines, as Figure 4).

    python benchmarks/latency_vs_length.py --out benchmarks/results [--device gpu] \
        [--lengths 25,50,75,100,150,200,250,300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import describe_machine, save_figure, time_functions_interleaved, write_json  # noqa: E402

from lipjax.baselines.duallip import DualLip, DualLipConfig  # noqa: E402
from lipjax.paralip.configs import grid_config  # noqa: E402
from lipjax.paralip.generate import LipGenerator  # noqa: E402
from lipjax.paralip.model import ParaLip  # noqa: E402
from lipjax.paralip.system import model_config  # noqa: E402
from lipjax.baselines.autoregressive import autoregressive_decode  # noqa: E402
from lipjax.baselines.transformer_t2l import TransformerT2L, TransformerT2LConfig  # noqa: E402
from lipjax.training.state import count_params  # noqa: E402

# ParaLip Table 3 (one RTX 2080Ti, seconds per video) and Table 5 (parameters).
PAPER_LATENCY_S = {
    "ParaLip": {"GRID": 0.022, "TIMIT": 0.034},
    "DualLip": {"GRID": 0.299, "TIMIT": 0.650},
    "TransformerT2L": {"GRID": 0.689, "TIMIT": 1.278},
}
PAPER_PARAMS_M = {"ParaLip": 35.224, "DualLip": 41.483, "TransformerT2L": 37.780}
GRID_LENGTH = 75            # GRID videos: 3 s at 25 fps
TIMIT_RANGE = (150, 240)    # TCD-TIMIT sentences: ~5-8 s at 29.97 fps
FRAMES_PER_TOKEN = 3        # what the benchmark's duration predictor predicts for every token
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def predicted_length(target_frames: int) -> int:
    """The length ParaLip predicts for the benchmark's text of a target length: 3 frames for
    each of round(L / 3) tokens (the two `<sil>` tokens included), at least 2 tokens."""
    return FRAMES_PER_TOKEN * max(2, round(target_frames / FRAMES_PER_TOKEN))


def benchmark_text(num_frames: int, seed: int) -> str:
    """Random letters whose tokenization (with `<sil>` at both ends) has num_frames / 3 tokens."""
    rng = np.random.default_rng(seed + num_frames)
    return "".join(rng.choice(list(LETTERS), num_frames // FRAMES_PER_TOKEN - 2))


def constant_duration_params(params: dict) -> dict:
    """ParaLip parameters whose duration predictor predicts `FRAMES_PER_TOKEN` for every token:
    output layer weights 0, bias log(3 + 1) (`durations_from_log` rounds exp(x) - 1 to 3)."""
    linear = params["duration_predictor"]["linear"]
    fixed = {"kernel": jnp.zeros_like(linear["kernel"]),
             "bias": jnp.full_like(linear["bias"], math.log(FRAMES_PER_TOKEN + 1))}
    return {**params, "duration_predictor": {**params["duration_predictor"], "linear": fixed}}


def build_models(seed: int, lengths: list[int]) -> dict[str, tuple[Any, Any]]:
    """name -> (model, variables) at the paper configurations, random initialisation; ParaLip
    as a `LipGenerator` with buckets at the swept lengths."""
    rng = jax.random.key(seed, impl="rbg")
    tokens = jnp.ones((1, 4), jnp.int32)
    image = jnp.zeros((1, 80, 160, 3), jnp.float32)
    frames, mask = image[:, None], jnp.ones((1, 1), bool)
    config = grid_config()
    paralip = ParaLip(model_config(config))
    variables = jax.jit(lambda r: paralip.init(
        r, tokens, image, jnp.ones((1, 4), jnp.int32), max_frames=4, train=False))(rng)
    variables = {**variables, "params": constant_duration_params(variables["params"])}
    models = {"ParaLip": (LipGenerator(
        config, variables, token_buckets=[n // FRAMES_PER_TOKEN for n in lengths],
        frame_buckets=lengths), variables)}
    for name, model in (("TransformerT2L", TransformerT2L(TransformerT2LConfig())),
                        ("DualLip", DualLip(DualLipConfig()))):
        models[name] = (model, jax.jit(lambda r, model=model: model.init(
            r, tokens, image, frames, mask, train=False))(rng))
    return models


def generators(models: dict[str, tuple[Any, Any]], num_frames: int, seed: int
               ) -> dict[str, tuple[Callable, tuple]]:
    """name -> (fn, args) generating one video of `num_frames` (a `predicted_length`) frames,
    returned on the host."""
    text = benchmark_text(num_frames, seed)
    rng = np.random.default_rng(seed + num_frames)
    identity = rng.uniform(size=(80, 160, 3)).astype(np.float32)
    lip_generator, _ = models["ParaLip"]
    calls = {"ParaLip": (lip_generator, (text, identity))}
    tokens = jnp.asarray(lip_generator.tokenize(text))[None]
    for name in ("TransformerT2L", "DualLip"):
        model, variables = models[name]
        decode = jax.jit(lambda v, t, i, model=model: autoregressive_decode(
            model, v, t, i, max_frames=num_frames, use_stop_token=False).frames)
        calls[name] = (lambda v, t, i, decode=decode: np.asarray(decode(v, t, i)),
                       (variables, tokens, jnp.asarray(identity)[None]))
    return calls


def check_lengths(models: dict[str, tuple[Any, Any]], lengths: list[int], seed: int) -> None:
    """Raises if ParaLip's predicted length for a target differs from `predicted_length`."""
    lip_generator, _ = models["ParaLip"]
    for n in lengths:
        got = int(lip_generator.predict_durations(
            lip_generator.tokenize(benchmark_text(n, seed))).sum())
        if got != n:
            raise AssertionError(f"ParaLip predicted {got} frames for a {n}-frame benchmark text")


def select_device(device: str) -> None:
    """Makes `device` ("cpu" or "gpu") JAX's only backend; must run before any computation.

    Raises:
      SystemExit: "gpu" and JAX has no usable GPU (CPU-only jaxlib, no driver, or no device).
    """
    if device == "cpu":
        jax.config.update("jax_platforms", "cpu")
        return
    try:
        gpus = jax.devices("gpu")
    except RuntimeError as error:
        raise SystemExit(f"--device gpu: JAX found no usable GPU ({error}). Install a "
                         "CUDA-enabled jaxlib (pip install 'jax[cuda12]') on a machine with an "
                         "NVIDIA GPU and do not set JAX_PLATFORMS=cpu, or run with --device "
                         "cpu") from None
    jax.config.update("jax_default_device", gpus[0])
    if jax.default_backend() != "gpu":
        raise SystemExit(f"--device gpu: JAX's default backend is {jax.default_backend()}; "
                         "unset JAX_PLATFORMS")


def summary(results: list[dict]) -> dict[str, Any]:
    """Table-3-style latencies at the GRID-like length and averaged over TIMIT-like lengths."""
    out: dict[str, Any] = {}
    by_length = {r["num_frames"]: r for r in results}
    timit = [r for r in results if TIMIT_RANGE[0] <= r["num_frames"] <= TIMIT_RANGE[1]]
    for label, rows in (("GRID", [by_length[GRID_LENGTH]] if GRID_LENGTH in by_length else []),
                        ("TIMIT", timit)):
        if not rows:
            continue
        latency = {name: statistics.mean(r["median_s"][name] for r in rows)
                   for name in PAPER_LATENCY_S}
        out[label] = {
            "num_frames": [r["num_frames"] for r in rows],
            "latency_s": latency,
            "speedup_of_paralip": {name: latency[name] / latency["ParaLip"]
                                   for name in ("TransformerT2L", "DualLip")},
            "paper_latency_s": {name: PAPER_LATENCY_S[name][label] for name in PAPER_LATENCY_S},
            "paper_speedup_of_paralip": {
                name: PAPER_LATENCY_S[name][label] / PAPER_LATENCY_S["ParaLip"][label]
                for name in ("TransformerT2L", "DualLip")},
        }
    return out


def plot(results: list[dict], path: Path, machine: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    lengths = [r["num_frames"] for r in results]
    for name, style in (("TransformerT2L", "s-"), ("DualLip", "^-"), ("ParaLip", "o-")):
        ax.plot(lengths, [r["median_s"][name] for r in results], style, label=name)
    ax.set_xlabel("predicted video length (frames)")
    ax.set_ylabel("inference latency per video (s)")
    where = (f"{machine['usable_cpu_count']} CPU cores" if machine["backend"] == "cpu"
             else machine["device_kind"])
    ax.set_title(f"Latency vs length, batch 1 ({where})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[int]]:
    """The command line and its target lengths; exits with a usage error on bad lengths."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results", help="output folder")
    parser.add_argument("--lengths", default="25,50,75,100,150,200,250,300",
                        help="comma-separated video lengths in frames")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls per model and length (median reported)")
    parser.add_argument("--long_repeats", type=int, default=None,
                        help="timed calls at lengths > 150 (default: --repeats)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="backend to run on (gpu: the first GPU JAX sees; an error if none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        targets = [int(x) for x in args.lengths.split(",")]
    except ValueError:
        parser.error(f"--lengths must be comma-separated integers, got {args.lengths!r}")
    if not targets or min(targets) <= 0:
        parser.error("--lengths must be positive integers")
    return args, targets


def main(argv: list[str] | None = None) -> dict:
    args, targets = parse_args(argv)
    lengths = sorted({predicted_length(n) for n in targets})
    select_device(args.device)

    machine = describe_machine()
    models = build_models(args.seed, lengths)
    check_lengths(models, lengths, args.seed)
    params = {name: count_params(v["params"]) for name, (_, v) in models.items()}
    results = []
    for num_frames in tqdm(lengths, desc="lengths", disable=args.no_progress):
        repeats = args.repeats if num_frames <= 150 else (args.long_repeats or args.repeats)
        timings = time_functions_interleaved(generators(models, num_frames, args.seed), warmup=1,
                                             repeats=repeats)
        row = {"num_frames": num_frames, "repeats": repeats,
               "median_s": {k: t.median_s for k, t in timings.items()},
               "min_s": {k: t.min_s for k, t in timings.items()}}
        row["speedup_of_paralip"] = {
            name: row["median_s"][name] / row["median_s"]["ParaLip"]
            for name in ("TransformerT2L", "DualLip")}
        results.append(row)
        tqdm.write(f"{num_frames:4d} frames: " + ", ".join(
            f"{k} {v:.3f} s" for k, v in row["median_s"].items()))

    report = {
        "description": "median latency per video (s), batch 1, 80x160, random weights at the "
                       "paper sizes, jit compile excluded; ParaLip: LipGenerator (duration "
                       "prediction, bucket choice, parallel decoding); AR models make as many "
                       "frames as ParaLip predicted (stop token ignored); frames returned to "
                       "the host",
        "device": args.device,
        "target_lengths": targets,
        "machine": machine,
        "parameters": params,
        "paper_parameters_M": PAPER_PARAMS_M,
        "results": results,
        "table3_like": summary(results),
    }
    out = Path(args.out)
    write_json(out / "latency_vs_length.json", report)
    plot(results, out / "latency_vs_length.png", machine)
    return report


if __name__ == "__main__":
    main()
