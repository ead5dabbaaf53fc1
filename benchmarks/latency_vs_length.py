"""Inference latency vs video length: ParaLip against the autoregressive baselines TransformerT2L
and DualLip (ParaLip, Liu et al., AAAI 2022: Figure 4 and Table 3).

All three generators at the paper's sizes (random weights: latency does not depend on them),
batch 1, 80x160 frames. For each video length L:

- ParaLip: one jitted call that generates L frames in parallel (durations given so that the
  video has exactly L frames; the duration predictor still runs);
- TransformerT2L / DualLip: one jitted `autoregressive_decode` call that generates L frames one
  after another (stop token ignored, so every model makes exactly L frames).

Each call is compiled and warmed up first (not timed), then timed `--repeats` times with
`block_until_ready`; the median is reported, candidates timed round-robin so that outside load
slows them alike. Writes latency_vs_length.json (numbers, speedups, a Table-3-style summary at
a GRID-like length of 75 frames and TIMIT-like lengths of 150-240 frames, the machine) and
latency_vs_length.png (latency vs length, three lines, as Figure 4).

    python benchmarks/latency_vs_length.py --out benchmarks/results \
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
from lipjax.paralip.model import ParaLip, ParaLipConfig  # noqa: E402
from lipjax.baselines.transformer_t2l import (  # noqa: E402
    TransformerT2L,
    TransformerT2LConfig,
    autoregressive_decode,
)
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
FRAMES_PER_TOKEN = 2.5      # GRID: ~30 characters per 75-frame sentence


def token_durations(num_frames: int) -> np.ndarray:
    """Durations of `ceil(num_frames / FRAMES_PER_TOKEN)` tokens summing to exactly num_frames."""
    num_tokens = math.ceil(num_frames / FRAMES_PER_TOKEN)
    edges = np.round(np.linspace(0, num_frames, num_tokens + 1)).astype(np.int32)
    return np.diff(edges)


def build_models(seed: int) -> dict[str, tuple[Any, Any]]:
    """name -> (module, variables) at the paper configurations, random initialisation."""
    rng = jax.random.key(seed, impl="rbg")
    tokens = jnp.ones((1, 4), jnp.int32)
    image = jnp.zeros((1, 80, 160, 3), jnp.float32)
    frames, mask = image[:, None], jnp.ones((1, 1), bool)
    models = {}
    paralip = ParaLip(ParaLipConfig())
    models["ParaLip"] = (paralip, jax.jit(lambda r: paralip.init(
        r, tokens, image, jnp.ones((1, 4), jnp.int32), max_frames=4, train=False))(rng))
    for name, model in (("TransformerT2L", TransformerT2L(TransformerT2LConfig())),
                        ("DualLip", DualLip(DualLipConfig()))):
        models[name] = (model, jax.jit(lambda r, model=model: model.init(
            r, tokens, image, frames, mask, train=False))(rng))
    return models


def generators(models: dict[str, tuple[Any, Any]], num_frames: int
               ) -> dict[str, tuple[Callable, tuple]]:
    """name -> (jitted fn, args) generating one video of `num_frames` frames."""
    durations = token_durations(num_frames)
    rng = np.random.default_rng(num_frames)
    tokens = jnp.asarray(rng.integers(1, 32, (1, len(durations))), jnp.int32)
    identity = jnp.asarray(rng.uniform(size=(1, 80, 160, 3)), jnp.float32)
    calls = {}
    paralip, paralip_vars = models["ParaLip"]
    calls["ParaLip"] = (jax.jit(lambda v, t, i, d: paralip.apply(
        v, t, i, d, max_frames=num_frames, train=False).frames),
        (paralip_vars, tokens, identity, jnp.asarray(durations)[None]))
    for name in ("TransformerT2L", "DualLip"):
        model, variables = models[name]
        calls[name] = (jax.jit(lambda v, t, i, model=model: autoregressive_decode(
            model, v, t, i, max_frames=num_frames, use_stop_token=False).frames),
            (variables, tokens, identity))
    return calls


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
    ax.set_xlabel("video length (frames)")
    ax.set_ylabel("inference latency per video (s)")
    ax.set_title(f"Latency vs length, batch 1 ({machine['backend']}, "
                 f"{machine['usable_cpu_count']} cores)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results", help="output folder")
    parser.add_argument("--lengths", default="25,50,75,100,150,200,250,300",
                        help="comma-separated video lengths in frames")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls per model and length (median reported)")
    parser.add_argument("--long_repeats", type=int, default=None,
                        help="timed calls at lengths > 150 (default: --repeats)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    lengths = sorted({int(x) for x in args.lengths.split(",")})
    if not lengths or lengths[0] <= 0:
        parser.error("--lengths must be positive integers")

    machine = describe_machine()
    models = build_models(args.seed)
    params = {name: count_params(v["params"]) for name, (_, v) in models.items()}
    results = []
    for num_frames in tqdm(lengths, desc="lengths", disable=args.no_progress):
        repeats = args.repeats if num_frames <= 150 else (args.long_repeats or args.repeats)
        timings = time_functions_interleaved(generators(models, num_frames), warmup=1,
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
                       "paper sizes, jit compile excluded; AR models ignore the stop token",
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
