"""Throughput of `lipjax.ops.dynamic_conv` methods against a static convolution of the same shape.

For each shape it times every applicable method ("vmap" reference, the "einsum" / "patches" /
"taps" fast paths, "auto") and a plain `lax.conv_general_dilated` with one kernel shared by the
whole batch (what the hardware does for an ordinary convolution layer), all jitted, and reports
GFLOP/s = 2 * B * H' * W' * kh * kw * Cin * Cout / median seconds. Candidates are timed
round-robin so that outside load on a shared machine slows them alike.

Shapes: the DCK talking-face middle layer (per-frame 1x1 kernels, 256 -> 256, on a 16x16 map,
as after 4 stride-2 downsamplings of a 256x256 face) and a 3x3 layer (64 -> 64 at 32x32).

    python benchmarks/dynamic_conv.py --out benchmarks/results

writes dynamic_conv.json (numbers + machine description) and dynamic_conv.png (bar chart).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import (  # noqa: E402
    describe_machine,
    save_figure,
    time_functions_interleaved,
    write_json,
)

from lipjax.ops import dynamic_conv  # noqa: E402


class ConvShape(NamedTuple):
    name: str
    batch: int
    height: int
    width: int
    cin: int
    cout: int
    kernel: int
    stride: int = 1
    padding: str = "SAME"


SHAPES = (
    ConvShape("dck_1x1_256", batch=8, height=16, width=16, cin=256, cout=256, kernel=1),
    ConvShape("conv_3x3_64", batch=8, height=32, width=32, cin=64, cout=64, kernel=3),
)


def methods_for(shape: ConvShape) -> tuple[str, ...]:
    """Dynamic-conv methods that apply to this kernel size ("einsum" needs 1x1)."""
    if shape.kernel == 1:
        return ("vmap", "einsum", "patches", "taps", "auto")
    return ("vmap", "patches", "taps", "auto")


def flops(shape: ConvShape, out_height: int, out_width: int) -> int:
    """Multiply-adds x 2 of the convolution (bias excluded)."""
    return 2 * shape.batch * out_height * out_width * shape.kernel**2 * shape.cin * shape.cout


def benchmark_shape(
    shape: ConvShape, *, warmup: int, repeats: int, seed: int, progress: tqdm
) -> dict[str, Any]:
    """Times every method and the static convolution for one shape."""
    rng = np.random.default_rng(seed)
    x_shape = (shape.batch, shape.height, shape.width, shape.cin)
    x = jnp.asarray(rng.normal(size=x_shape), jnp.float32)
    kernel_shape = (shape.kernel, shape.kernel, shape.cin, shape.cout)
    kernels = jnp.asarray(rng.normal(size=(shape.batch, *kernel_shape)), jnp.float32)
    static_kernel = kernels[0]

    candidates = {
        method: jax.jit(
            lambda x, k, method=method: dynamic_conv(
                x, k, stride=shape.stride, padding=shape.padding, method=method
            )
        )
        for method in methods_for(shape)
    }
    static_conv = jax.jit(
        lambda x, k: lax.conv_general_dilated(
            x, k, (shape.stride,) * 2, shape.padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    )

    out_height, out_width = static_conv(x, static_kernel).shape[1:3]
    work = flops(shape, out_height, out_width)
    calls = {method: (fn, (x, kernels)) for method, fn in candidates.items()}
    calls["static"] = (static_conv, (x, static_kernel))
    progress.set_postfix_str(shape.name)
    timings = time_functions_interleaved(calls, warmup=warmup, repeats=repeats)
    progress.update()
    results = {
        label: {
            **timing.to_dict(),
            "gflops_per_s": work / timing.median_s / 1e9,
            "gflops_per_s_best": work / timing.min_s / 1e9,
        }
        for label, timing in timings.items()
    }
    return {"shape": shape._asdict(), "gflop": work / 1e9, "results": results}


def plot(report: dict[str, Any], path: Path) -> None:
    """Grouped bar chart: GFLOP/s per method, one group per shape."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["vmap", "einsum", "patches", "taps", "auto", "static"]
    colors = dict(zip(labels, ["#c44e52", "#55a868", "#8172b2", "#ccb974", "#4c72b0", "#7f7f7f"]))
    entries = report["shapes"]
    width = 0.8 / len(labels)
    figure, axis = plt.subplots(figsize=(8, 4.5))
    for i, label in enumerate(labels):
        positions, values = [], []
        for j, entry in enumerate(entries):
            if label in entry["results"]:
                positions.append(j + (i - (len(labels) - 1) / 2) * width)
                values.append(entry["results"][label]["gflops_per_s"])
        bars = axis.bar(positions, values, width, label=label, color=colors[label])
        axis.bar_label(bars, fmt="%.0f", fontsize=7)
    axis.set_xticks(range(len(entries)))
    axis.set_xticklabels(
        [
            "{name}\nB={batch} {height}x{width} {cin}->{cout} k={kernel}".format(**e["shape"])
            for e in entries
        ]
    )
    axis.set_ylabel("GFLOP/s (median)")
    machine = report["machine"]
    axis.set_title(
        f"dynamic_conv vs static conv — {machine['device_kind']}, "
        f"{machine['usable_cpu_count']} CPUs, jax {machine['jax_version']}"
    )
    axis.set_ylim(top=axis.get_ylim()[1] * 1.2)  # room for the legend above the bars
    axis.legend(ncols=len(labels), fontsize=8, loc="upper center")
    figure.tight_layout()
    save_figure(figure, path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls (incl. compile)")
    parser.add_argument(
        "--repeats", type=int, default=50, help="timed calls of each method, round-robin; median"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)

    with tqdm(total=len(SHAPES), desc="dynamic_conv", disable=args.no_progress) as progress:
        entries = [
            benchmark_shape(
                shape, warmup=args.warmup, repeats=args.repeats, seed=args.seed, progress=progress
            )
            for shape in SHAPES
        ]
    for entry in entries:
        results = entry["results"]
        auto_s = results["auto"]["median_s"]
        entry["speedup_auto_over_vmap"] = results["vmap"]["median_s"] / auto_s
        entry["auto_fraction_of_static"] = results["static"]["median_s"] / auto_s
    report = {
        "benchmark": "dynamic_conv",
        "machine": describe_machine(),
        "warmup": args.warmup,
        "repeats": args.repeats,
        "shapes": entries,
    }
    write_json(args.out / "dynamic_conv.json", report)
    plot(report, args.out / "dynamic_conv.png")

    for entry in entries:
        row = ", ".join(f"{k} {v['gflops_per_s']:.1f}" for k, v in entry["results"].items())
        print(
            f"{entry['shape']['name']}: GFLOP/s {row}; auto/vmap speed-up "
            f"{entry['speedup_auto_over_vmap']:.1f}x, auto at "
            f"{100 * entry['auto_fraction_of_static']:.0f}% of static"
        )
    return report


if __name__ == "__main__":
    main()
