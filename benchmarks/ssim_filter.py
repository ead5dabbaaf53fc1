"""Cost of the SSIM loss's Gaussian filtering: shifted-slice sums against reflection matrices.

`lipjax.metrics` filters the five local SSIM moments along H and W. Two exact float32 ways:
"slices" sums 11 shifted views of a reflect-padded array (XLA fuses it, but its gradient pads and
scatters each view), "matrix" multiplies by `reflected_filter_matrix` (a dense matmul; the
gradient is the transposed matmul). The timed function is the gradient of the SSIM loss for a
ParaLip training batch (4 videos x 8 decoded 80x160 frames), which is what a step pays.

    python benchmarks/ssim_filter.py --out benchmarks/results

writes ssim_filter.json (median seconds, the ratio, the machine) and ssim_filter.png.
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

from lipjax import metrics  # noqa: E402


def filter_by_slices(x: jax.Array, taps: np.ndarray) -> jax.Array:
    """The previous implementation: reflect-pad, then a weighted sum of shifted slices."""
    radius = taps.shape[0] // 2
    for axis in (-3, -2):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (radius, radius)
        padded = jnp.pad(x, pad, mode="symmetric")
        length = x.shape[axis]
        x = sum(float(taps[k]) * jax.lax.slice_in_dim(padded, k, k + length, axis=axis % x.ndim)
                for k in range(taps.shape[0]))
    return x


def ssim_loss_with(filter_fn, pred: jax.Array, target: jax.Array) -> jax.Array:
    """1 - mean SSIM with the given H/W filter (same moment formulas as lipjax.metrics)."""
    taps = metrics.gaussian_window(11, 1.5)
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y, xx, yy, xy = filter_fn(
        jnp.stack([pred, target, pred * pred, target * target, pred * target]), taps)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return 1.0 - jnp.mean(ssim)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--frames", type=int, default=32, help="decoded frames per step")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)

    key_p, key_t = jax.random.split(jax.random.key(0))
    shape = (args.frames, 80, 160, 3)
    pred = jax.random.uniform(key_p, shape)
    target = jax.random.uniform(key_t, shape)
    candidates = {
        "slices": jax.jit(jax.grad(lambda p, t: ssim_loss_with(filter_by_slices, p, t))),
        "matrix": jax.jit(jax.grad(lambda p, t: ssim_loss_with(metrics._filter_hw, p, t))),
    }
    agree = float(jnp.max(jnp.abs(candidates["slices"](pred, target)
                                  - candidates["matrix"](pred, target))))
    timings = time_functions_interleaved(
        {name: (fn, (pred, target)) for name, fn in candidates.items()}, repeats=args.repeats)
    result = {
        "shape": list(shape),
        "what": "jit(grad(SSIM loss)) wall seconds",
        "timings": {name: t.to_dict() for name, t in timings.items()},
        "speedup_matrix_over_slices": timings["slices"].median_s / timings["matrix"].median_s,
        "max_abs_gradient_difference": agree,
        "machine": describe_machine(),
    }
    out = Path(args.out)
    write_json(out / "ssim_filter.json", result)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    names = list(timings)
    ax.bar(names, [timings[n].median_s * 1e3 for n in names], color=["#999999", "#3366cc"])
    ax.set_ylabel("ms per SSIM-loss gradient")
    ax.set_title(f"{args.frames} frames of 80x160x3 ({jax.default_backend()})")
    save_figure(fig, out / "ssim_filter.png")
    print(f"slices {timings['slices'].median_s * 1e3:.1f} ms, matrix "
          f"{timings['matrix'].median_s * 1e3:.1f} ms, speedup "
          f"{result['speedup_matrix_over_slices']:.1f}x (max |grad diff| {agree:.2e})")


if __name__ == "__main__":
    main()
