"""Cost of DCK's two output heads (3-channel motion, 1-channel alpha, 3x3, over the last
256x256 decoder map) computed three ways, interleaved in one process.

    python benchmarks/conv_heads.py --out benchmarks/results [--batch 16] [--repeats 11]

"separate": two `nn.Conv` heads, as DCK had them; "conv": one convolution with the kernels
concatenated (`conv_heads(method="conv")`); "matmul": one GEMM to every tap's output, then the
shifted adds (`conv_heads(method="matmul")`, DCK's default on the CPU). All three give the same
logits (checked here too). Writes conv_heads.json and conv_heads.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import describe_machine, save_figure, time_functions_interleaved, write_json  # noqa: E402

from lipjax.dck.model import DCKConfig  # noqa: E402
from lipjax.nn.conv import ConvParams, conv_heads  # noqa: E402


class SeparateHeads(nn.Module):
    kernel_size: int

    @nn.compact
    def __call__(self, x):
        k = (self.kernel_size, self.kernel_size)
        return (nn.Conv(3, k, padding="SAME", name="motion_head")(x),
                nn.Conv(1, k, padding="SAME", name="alpha_head")(x))


class SharedHeads(nn.Module):
    kernel_size: int
    method: str

    @nn.compact
    def __call__(self, x):
        heads = [ConvParams(3, self.kernel_size, name="motion_head")(x.shape[-1]),
                 ConvParams(1, self.kernel_size, name="alpha_head")(x.shape[-1])]
        return conv_heads(x, heads, method=self.method)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args(argv)
    config = DCKConfig()
    size, channels = config.image_size, config.up_channels[-1] + 3  # last up block + the frame
    x = jnp.asarray(np.random.default_rng(0).standard_normal(
        (args.batch, size, size, channels)).astype(np.float32))
    variables = SeparateHeads(config.head_kernel_size).init(jax.random.key(0), x)
    modules = {"separate": SeparateHeads(config.head_kernel_size),
               "conv": SharedHeads(config.head_kernel_size, "conv"),
               "matmul": SharedHeads(config.head_kernel_size, "matmul")}
    calls = {name: (jax.jit(module.apply), (variables, x)) for name, module in modules.items()}
    reference = calls["separate"][0](variables, x)
    error = {name: max(float(jnp.abs(a - b).max()) for a, b in zip(fn(*call_args), reference))
             for name, (fn, call_args) in calls.items()}
    timings = time_functions_interleaved(calls, repeats=args.repeats)
    report = {
        "what": "DCK's motion + alpha heads, 3x3 'SAME', over [batch, 256, 256, 35]",
        "shape": list(x.shape), "repeats": args.repeats,
        "median_ms": {name: 1000 * t.median_s for name, t in timings.items()},
        "speedup_over_separate": {name: timings["separate"].median_s / t.median_s
                                  for name, t in timings.items()},
        "max_abs_difference_from_separate": error,
        "machine": describe_machine(),
    }
    print(report["median_ms"], report["max_abs_difference_from_separate"])
    out = Path(args.out)
    write_json(out / "conv_heads.json", report)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 2.6))
    names = list(report["median_ms"])
    axis.barh(names[::-1], [report["median_ms"][n] for n in names][::-1], color="#4477aa")
    axis.set_xlabel(f"milliseconds per call, batch {args.batch} (median of {args.repeats})")
    axis.set_title("DCK output heads at 256x256", fontsize=10)
    figure.tight_layout()
    save_figure(figure, out / "conv_heads.png", dpi=120)
    plt.close(figure)
    return report


if __name__ == "__main__":
    main()
