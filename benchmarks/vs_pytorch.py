"""lipjax against the PyTorch originals on the same machine, with identical weights, in one run.

    python benchmarks/vs_pytorch.py --out benchmarks/results [--repeats 5] [--tiny]

Cases (`_pairs.py` builds the pairs through lipjax's real importers):

* ParaLip inference (paper sizes, GRID vocabulary): 75 and 150 frames, batch 1 and 8,
  ground-truth and predicted durations. lipjax runs as `lipjax lip` does (`LipGenerator`'s
  buckets and `lipjax.paralip.fast`: predicted durations first, then the decoder for the
  bucket); PyTorch runs the official forward (`OfficialParaLip`), padded to the batch's
  longest video.
* Wav2Lip's generator on a batch of 128 96x96 faces (as Wav2Lip's inference batches them).
* The DCK generator at 256x256 (batch 16). DCK has no PyTorch original: lipjax alone, its
  transposed convolutions in the phase form (default on the CPU) and in flax's native form.

Timing: every case compiles and warms up first, then runs lipjax, PyTorch and a 2048^3 f32
matmul (the peak) round-robin `--repeats` times (`--big_repeats` for cases of more than 300
frames per call); medians are reported, so a burst of outside
load slows all three alike and the ratios stay meaningful on a shared machine. Both sides use
the same number of threads (the CPUs this process may run on; `torch.set_num_threads`). FLOPs:
`model` = XLA's cost analysis of the reference arithmetic (`ParaLip.__call__`, which is what
PyTorch computes, at PyTorch's shapes); `executed` = what lipjax's fast path computes (folded,
skips once per video, padding chunks skipped), so lipjax's FLOP rate is executed / time and its
utilisation that rate over the matmul peak. Writes vs_pytorch.json and vs_pytorch.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pairs import (dck_paper_model, paralip_pair, small_dck_config,  # noqa: E402
                    wav2lip_pair)
from _profile import op_profile  # noqa: E402
from _timing import describe_machine, save_figure, time_functions_interleaved, write_json  # noqa: E402

from lipjax.paralip import fast  # noqa: E402
from lipjax.paralip.generate import DEFAULT_FRAME_BUCKETS, DEFAULT_TOKEN_BUCKETS  # noqa: E402
from lipjax.paralip.model import ParaLip, durations_from_log  # noqa: E402
from lipjax.paralip.system import model_config  # noqa: E402

FRAMES_PER_TOKEN = 75 / 28   # the 75-frame video of 28 tokens (GRID-like)
MATMUL_N = 2048


def lowered_flops(fn: Callable, *args: Any) -> float:
    """FLOPs XLA's cost analysis counts in `jax.jit(fn)(*args)` (before optimisation)."""
    cost = jax.jit(fn).lower(*args).cost_analysis()
    return float((cost if isinstance(cost, dict) else cost[0])["flops"])


def bucket(size: int, buckets) -> int:
    return min(b for b in buckets if b >= size)


def machine_load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------------------------- ParaLip
class ParaLipInputs:
    """`batch` random videos of `frames` frames (tokens, identity, ground-truth durations)."""

    def __init__(self, batch: int, frames: int, seed: int):
        rng = np.random.default_rng(seed)
        self.tokens_n = round(frames / FRAMES_PER_TOKEN)
        self.tokens = rng.integers(1, 32, (batch, self.tokens_n)).astype(np.int32)
        self.identity = rng.random((batch, 80, 160, 3)).astype(np.float32)
        cuts = np.sort(rng.choice(np.arange(1, frames), (batch, self.tokens_n - 1)), axis=1)
        edges = np.concatenate([np.zeros((batch, 1), int), cuts, np.full((batch, 1), frames)], 1)
        self.durations = np.diff(edges, axis=1).astype(np.int32)   # each row sums to `frames`

    def padded(self, what: np.ndarray, size: int) -> np.ndarray:
        return np.pad(what, ((0, 0), (0, size - what.shape[1])))


def paralip_lipjax(pair, inputs: ParaLipInputs, durations: str, chunk: int):
    """`lipjax lip`'s path for a batch: (callable, decoded frames per video)."""
    model = ParaLip(dataclasses.replace(model_config(pair.config), mask_padding_in_ffn=True))
    weights = jax.jit(fast.fold_video_decoder, static_argnums=1)(pair.variables, model.config)
    s_bucket = bucket(inputs.tokens_n, DEFAULT_TOKEN_BUCKETS)
    tokens = inputs.padded(inputs.tokens, s_bucket)
    predict = jax.jit(lambda v, t: durations_from_log(model.apply(v, t, method=lambda m, t: (
        m.duration_predictor(m.encoder(t, train=False), t != 0, train=False))), t != 0))
    decode = jax.jit(functools.partial(fast.generate_frames, model, chunk_frames=chunk),
                     static_argnames="max_frames")
    given = None if durations == "predicted" else inputs.padded(inputs.durations, s_bucket)

    def run():
        used = given if given is not None else np.asarray(predict(pair.variables, tokens))
        t_bucket = bucket(int(used.sum(1).max()), DEFAULT_FRAME_BUCKETS)
        return decode(pair.variables, weights, tokens, inputs.identity, used,
                      max_frames=t_bucket)[0]

    used = given if given is not None else np.asarray(predict(pair.variables, tokens))
    t_bucket = bucket(int(used.sum(1).max()), DEFAULT_FRAME_BUCKETS)
    profile = (jax.jit(lambda v, w, t, i, d: fast.generate_frames(
        model, v, w, t, i, d, max_frames=t_bucket, chunk_frames=chunk)[0]),
        (pair.variables, weights, tokens, inputs.identity, used))  # the decoder alone
    return run, used.sum(1), model, weights, profile


def torch_device() -> str:
    """"cuda" when JAX runs on a GPU and torch sees one (the GPU suite), else "cpu"."""
    import torch

    return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def torch_call(fn: Callable, *args: Any) -> Callable[[], Any]:
    """`fn(*args)` under `inference_mode`, waiting for a GPU to finish."""
    import torch

    def run():
        with torch.inference_mode():
            out = fn(*args)
        if torch.cuda.is_available() and torch_device() == "cuda":
            torch.cuda.synchronize()
        return out

    return run


def paralip_case(pair, batch: int, frames: int, durations: str, *, chunk: int) -> dict:
    import torch

    inputs = ParaLipInputs(batch, frames, seed=frames + batch)
    run, lengths, model, weights, profile = paralip_lipjax(pair, inputs, durations, chunk)
    start = time.perf_counter()
    jax.block_until_ready(run())
    compile_s = time.perf_counter() - start
    device = torch_device()
    torch_args = (torch.tensor(inputs.tokens, dtype=torch.int64, device=device),
                  torch.tensor(inputs.identity, device=device),
                  None if durations == "predicted" else
                  torch.tensor(inputs.durations, device=device).long())
    torch_run = torch_call(pair.torch_model.to(device), *torch_args)

    longest = int(lengths.max())
    reference = ParaLip(model.config)
    model_flops = lowered_flops(lambda v: reference.apply(
        v, inputs.tokens, inputs.identity, inputs.durations if durations == "gt" else None,
        max_frames=longest, train=False).frames, pair.variables)
    chunks, size = fast._chunking(bucket(longest, DEFAULT_FRAME_BUCKETS), chunk)
    per_video: dict[int, float] = {}   # one video decoding n frames in one chunk
    for n in {min(chunks, math.ceil(n / size)) * size for n in lengths}:
        per_video[n] = lowered_flops(lambda v, n=n: fast.generate_frames(
            model, v, weights, inputs.tokens[:1], inputs.identity[:1], inputs.durations[:1],
            max_frames=n, chunk_frames=n)[0], pair.variables)
    executed = sum(per_video[min(chunks, math.ceil(n / size)) * size] for n in lengths)
    return {"name": f"ParaLip {frames}f b{batch} {durations}", "family": "ParaLip",
            "frames": frames, "batch": batch, "durations": durations,
            "video_lengths": [int(n) for n in lengths], "compile_s": compile_s,
            "model_flops": model_flops, "executed_flops": executed, "profile": profile,
            "calls": {"lipjax": (run, ()), "torch": (torch_run, ())}}


# ---------------------------------------------------------------------------------- Wav2Lip
def wav2lip_case(pair, batch: int) -> dict:
    import torch

    from lipjax.wav2lip.model import Wav2LipGenerator
    from lipjax.wav2lip.system import model_config as wav2lip_model_config

    module = Wav2LipGenerator(wav2lip_model_config(pair.config))
    rng = np.random.default_rng(batch)
    faces = rng.random((batch, 96, 96, 6)).astype(np.float32)
    mels = rng.uniform(-4, 4, (batch, 80, 16)).astype(np.float32)
    run = jax.jit(lambda v, f, m: module.apply(v, f, m))
    start = time.perf_counter()
    jax.block_until_ready(run(pair.variables, faces, mels))
    compile_s = time.perf_counter() - start
    device = torch_device()
    torch_faces = torch.tensor(faces, device=device).permute(0, 3, 1, 2).contiguous()
    torch_mels = torch.tensor(mels, device=device)[:, None]
    torch_run = torch_call(pair.torch_model.to(device), torch_mels, torch_faces)

    flops = lowered_flops(lambda v: module.apply(v, faces, mels), pair.variables)
    return {"name": f"Wav2Lip generator b{batch}", "family": "Wav2Lip", "batch": batch,
            "frames": batch, "compile_s": compile_s, "model_flops": flops,
            "executed_flops": flops, "profile": (run, (pair.variables, faces, mels)),
            "calls": {"lipjax": (run, (pair.variables, faces, mels)), "torch": (torch_run, ())}}


# -------------------------------------------------------------------------------------- DCK
def dck_case(batch: int, *, native: bool = True, small: bool = False) -> dict:
    import lipjax.dck.model as dck
    from lipjax.nn.conv import SameConvTranspose

    module, variables = dck_paper_model(config=small_dck_config() if small else None)
    size = module.config.image_size
    rng = np.random.default_rng(batch)
    frames = rng.random((batch, size, size, 3)).astype(np.float32)
    mels = rng.uniform(-4, 4, (batch, 80, 16)).astype(np.float32)
    phase = jax.jit(lambda v, f, m: module.apply(v, f, m).frame)
    start = time.perf_counter()
    jax.block_until_ready(phase(variables, frames, mels))
    compile_s = time.perf_counter() - start
    flops = lowered_flops(lambda v: module.apply(v, frames, mels).frame, variables)
    calls = {"lipjax": (phase, (variables, frames, mels))}
    if native:  # flax's own (dilated) transposed convolution, traced now, run later
        original = dck.SameConvTranspose
        dck.SameConvTranspose = functools.partial(SameConvTranspose, method="lax")
        try:
            calls["lipjax_native_conv_transpose"] = (jax.jit(
                lambda v, f, m: module.apply(v, f, m).frame).lower(
                    variables, frames, mels).compile(), (variables, frames, mels))
        finally:
            dck.SameConvTranspose = original
    return {"name": f"DCK generator {size} b{batch}", "family": "DCK", "batch": batch,
            "frames": batch, "compile_s": compile_s, "model_flops": flops,
            "executed_flops": flops, "profile": calls["lipjax"], "calls": calls}


# ----------------------------------------------------------------------------------- running
def timed(case: dict, repeats: int, peak: tuple, profile: bool = False) -> dict:
    """Times `case["calls"]` and the matmul peak round-robin; with `profile`, adds XLA's
    per-op profile of lipjax's compiled call (`_profile.op_profile`, top kinds/layers/ops)."""
    calls = dict(case.pop("calls"))
    profile_call = case.pop("profile", None)
    calls["matmul"] = peak
    load_before = machine_load()
    timings = time_functions_interleaved(calls, warmup=1, repeats=repeats)
    row = dict(case, load_before=load_before, load_after=machine_load(), repeats=repeats)
    row["median_s"] = {k: t.median_s for k, t in timings.items()}
    row["min_s"] = {k: t.min_s for k, t in timings.items()}
    peak_rate = 2 * MATMUL_N ** 3 / row["median_s"].pop("matmul")
    row["min_s"].pop("matmul")
    row["matmul_peak_gflops"] = peak_rate / 1e9
    lip = row["median_s"]["lipjax"]
    row["lipjax_gflops"] = row["executed_flops"] / lip / 1e9
    row["lipjax_effective_gflops"] = row["model_flops"] / lip / 1e9
    row["lipjax_peak_fraction"] = row["executed_flops"] / lip / peak_rate
    for other in (k for k in row["median_s"] if k != "lipjax"):
        row[f"{other}_gflops"] = row["model_flops"] / row["median_s"][other] / 1e9
        row[f"{other}_peak_fraction"] = row["model_flops"] / row["median_s"][other] / peak_rate
        row[f"speedup_vs_{other}"] = row["median_s"][other] / lip
    if profile and profile_call is not None:
        report = op_profile(profile_call[0], *profile_call[1], calls=2, top=12)
        row["profile"] = dict(report, by_layer=report["by_layer"][:12],
                              by_kind=report["by_kind"][:8])
    return row


def bf16_psnr(pair, frames: int) -> dict:
    """PSNR of ParaLip's bf16 decoder (GPU / TPU default) against float32, on the CPU."""
    from lipjax.metrics import psnr

    inputs = ParaLipInputs(1, frames, seed=7)
    model = ParaLip(dataclasses.replace(model_config(pair.config), mask_padding_in_ffn=True))
    weights = fast.fold_video_decoder(pair.variables, model.config)
    out = {dtype.__name__: jax.jit(lambda v, dtype=dtype: fast.generate_frames(
        model, v, weights, inputs.tokens, inputs.identity, inputs.durations, max_frames=frames,
        compute_dtype=dtype)[0])(pair.variables) for dtype in (jnp.float32, jnp.bfloat16)}
    return {"frames": frames, "psnr_db": float(psnr(out["bfloat16"][0], out["float32"][0],
                                                      data_range=1.0))}


# -------------------------------------------------------------------------------------- main
def plot(rows: list[dict], path: Path, machine: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in rows][::-1]
    rows = rows[::-1]
    y = np.arange(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.45 * len(rows) + 1.8),
                                      sharey=True)
    ends = np.zeros(len(rows))
    for offset, key, label in ((0.2, "lipjax", "lipjax"), (-0.2, "torch", "PyTorch"),
                               (-0.2, "lipjax_native_conv_transpose",
                                "lipjax, flax's native conv transpose")):
        values = np.array([1e3 * r["median_s"].get(key, np.nan) / r["frames"]
                           / (r["batch"] if r["family"] == "ParaLip" else 1) for r in rows])
        left.barh(y + offset, values, height=0.4, label=label)
        ends = np.fmax(ends, values)
    for i, r in enumerate(rows):
        ratio = r.get("speedup_vs_torch") or r.get("speedup_vs_lipjax_native_conv_transpose")
        if ratio is None:
            continue
        left.annotate(f"{ratio:.2f}x", (ends[i], i), xytext=(3, 0), textcoords="offset points",
                      va="center", fontsize=8)
    left.set_yticks(y, names)
    left.set_xlabel("ms per frame (median)")
    left.legend(fontsize=8)
    right.barh(y + 0.2, [100 * r["lipjax_peak_fraction"] for r in rows], height=0.4,
               label="lipjax (executed FLOPs)")
    right.barh(y - 0.2, [100 * r.get("torch_peak_fraction", np.nan) for r in rows], height=0.4,
               label="PyTorch (model FLOPs)")
    right.axvline(60, color="gray", linestyle="--", linewidth=1)
    right.set_xlabel("% of the 2048^3 f32 matmul rate measured alongside")
    right.legend(fontsize=8)
    fig.suptitle(f"lipjax vs PyTorch, same weights ({machine['usable_cpu_count']} CPU threads "
                 f"each, load {machine['load_start'][0]:.1f} at start)")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--big_repeats", type=int, default=3,
                        help="repeats of the cases of more than 300 frames per call")
    parser.add_argument("--frames", default="75,150", help="ParaLip video lengths")
    parser.add_argument("--batches", default="1,8", help="ParaLip batch sizes")
    parser.add_argument("--durations", default="gt,predicted")
    parser.add_argument("--max_frames_per_call", type=int, default=0,
                        help="skip ParaLip cases of more frames x batch (0: none skipped)")
    parser.add_argument("--wav2lip_batch", type=int, default=128)
    parser.add_argument("--dck_batch", type=int, default=16)
    parser.add_argument("--chunk_frames", type=int, default=fast.DEFAULT_CHUNK_FRAMES)
    parser.add_argument("--skip", default="", help="comma-separated families to skip "
                                                   "(ParaLip, Wav2Lip, DCK)")
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run: 8 "
                        "frames, batch 1, GT durations, Wav2Lip batch 2, 64x64 DCK batch 1, "
                        "1 repeat, no bf16")
    parser.add_argument("--profile", action="store_true", help="add XLA's per-op profile "
                        "of lipjax's call (first ParaLip case, Wav2Lip, DCK) to the JSON")
    parser.add_argument("--name", default="vs_pytorch", help="output file stem")
    args = parser.parse_args(argv)
    if args.tiny:
        args.frames, args.batches, args.durations = "8", "1", "gt"
        args.wav2lip_batch, args.dck_batch, args.repeats, args.big_repeats = 2, 1, 1, 1
    return args


def main(argv: list[str] | None = None) -> dict:
    import torch

    args = parse_args(argv)
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(threads)
    machine = dict(describe_machine(), torch_version=torch.__version__,
                   torch_threads=torch.get_num_threads(), xla_threads=threads,
                   torch_device=torch_device(), load_start=machine_load())
    a = jnp.ones((MATMUL_N, MATMUL_N), jnp.float32)
    peak = (jax.jit(lambda a: a @ a), (a,))
    skip = set(filter(None, args.skip.split(",")))
    rows = []
    profiled: list[str] = []  # the first case of each family is profiled

    def record(case: dict) -> None:
        frames = case["frames"] * (case["batch"] if case["family"] == "ParaLip" else 1)
        profile = args.profile and case["family"] not in profiled
        if profile:
            profiled.append(case["family"])
        row = timed(case, args.repeats if frames <= 300 else args.big_repeats, peak, profile)
        rows.append(row)
        print(f"{row['name']}: lipjax {row['median_s']['lipjax']:.3f} s, " + ", ".join(
            f"{k} {v:.3f} s" for k, v in row["median_s"].items() if k != "lipjax")
            + f"; lipjax {100 * row['lipjax_peak_fraction']:.0f}% of peak "
            f"(load {row['load_after'][0]})", flush=True)

    if "ParaLip" not in skip:
        pair = paralip_pair(frames_per_token=FRAMES_PER_TOKEN)
        pair.torch_model.float()
        for frames in map(int, args.frames.split(",")):
            for batch in map(int, args.batches.split(",")):
                if args.max_frames_per_call and frames * batch > args.max_frames_per_call:
                    continue
                for durations in args.durations.split(","):
                    record(paralip_case(pair, batch, frames, durations, chunk=args.chunk_frames))
        bf16 = None if args.tiny else bf16_psnr(pair, 32)
        del pair
    if "Wav2Lip" not in skip:
        record(wav2lip_case(wav2lip_pair(), args.wav2lip_batch))
    if "DCK" not in skip:
        record(dck_case(args.dck_batch, native=not args.tiny, small=args.tiny))
    machine["load_end"] = machine_load()
    report = {
        "description": __doc__.split("\n\n")[0], "machine": machine, "args": vars(args),
        "threads_note": f"lipjax (XLA) and PyTorch both use {threads} threads",
        "paralip_bf16_vs_f32": bf16 if "ParaLip" not in skip else None,
        "results": rows,
        "summary": {r["name"]: {k: r[k] for k in r if k.startswith(("speedup", "lipjax_peak",
                                                                     "torch_peak"))}
                    for r in rows},
    }
    out = Path(args.out)
    write_json(out / f"{args.name}.json", report)
    plot(rows, out / f"{args.name}.png", machine)
    return report


if __name__ == "__main__":
    main()
