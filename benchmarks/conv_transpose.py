"""Transposed convolution: XLA's dilated-input form against `lipjax.ops.conv_transpose` (phases).

Times `jit(grad)` of both for the up-sampling layers of the ParaLip video decoder (the paper's
5x5 kernels and the synthetic config's 3x3 ones) on a batch of 32 frames, interleaved, and
reports the median and the ratio. Both compute the same sums (checked here and in the tests).

    python benchmarks/conv_transpose.py --out benchmarks/results

writes conv_transpose.json and conv_transpose.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import describe_machine, save_figure, time_functions_interleaved, write_json  # noqa: E402

from lipjax.nn.conv import conv_transpose_padding  # noqa: E402
from lipjax.ops import conv_transpose  # noqa: E402

# (name, kernel, [N, H, W, Cin] input, Cout): 80x160 frames, as in ParaLip's decoder.
LAYERS = [
    ("paper 5x5 40x80 128->64", 5, (8, 40, 80, 128), 64),
    ("paper 5x5 20x40 256->128", 5, (8, 20, 40, 256), 128),
    ("synthetic 3x3 40x80 32->8", 3, (32, 40, 80, 32), 8),
    ("synthetic 3x3 20x40 64->16", 3, (32, 20, 40, 64), 16),
]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rows = []
    for name, k, in_shape, cout in LAYERS:
        kx, kk = jax.random.split(jax.random.key(len(rows)))
        x = jax.random.normal(kx, in_shape)
        kernel = jax.random.normal(kk, (k, k, cout, in_shape[-1])) * 0.05
        pad = conv_transpose_padding(k, (k - 1) // 2, 1)

        def dilated(x, w, pad=pad):
            return jax.lax.conv_transpose(x, w, (2, 2), (pad, pad), transpose_kernel=True,
                                          dimension_numbers=("NHWC", "HWIO", "NHWC"))

        def phases(x, w, k=k):
            return conv_transpose(x, w, stride=2, padding=(k - 1) // 2, output_padding=1)

        grads = {n: jax.jit(jax.grad(lambda x, w, f=f: jnp.sum(jnp.sin(f(x, w))), argnums=(0, 1)))
                 for n, f in (("dilated", dilated), ("phases", phases))}
        diff = float(jnp.max(jnp.abs(dilated(x, kernel) - phases(x, kernel))))
        t = time_functions_interleaved({n: (g, (x, kernel)) for n, g in grads.items()},
                                       repeats=args.repeats)
        rows.append({"layer": name, "input": list(in_shape), "cout": cout, "kernel": k,
                     "dilated_s": t["dilated"].median_s, "phases_s": t["phases"].median_s,
                     "speedup": t["dilated"].median_s / t["phases"].median_s,
                     "max_abs_output_difference": diff})
        print(f"{name}: dilated {rows[-1]['dilated_s'] * 1e3:.0f} ms, phases "
              f"{rows[-1]['phases_s'] * 1e3:.0f} ms, {rows[-1]['speedup']:.1f}x")
    out = Path(args.out)
    write_json(out / "conv_transpose.json", {"what": "jit(grad) of one stride-2 transposed conv",
                                             "layers": rows, "machine": describe_machine()})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    pos = np.arange(len(rows))
    ax.barh(pos + 0.2, [r["dilated_s"] * 1e3 for r in rows], 0.4, label="dilated input (lax)")
    ax.barh(pos - 0.2, [r["phases_s"] * 1e3 for r in rows], 0.4, label="phases (lipjax)")
    ax.set_yticks(pos, [r["layer"] for r in rows])
    ax.set_xlabel(f"ms per forward+backward ({jax.default_backend()})")
    ax.legend()
    save_figure(fig, out / "conv_transpose.png")


if __name__ == "__main__":
    main()
