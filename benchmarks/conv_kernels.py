"""Single convolution layers of Wav2Lip, DCK and ParaLip: XLA's convolution against PyTorch's
(oneDNN) on the same CPU, with a 2048^3 matmul alongside, interleaved in one process.

    python benchmarks/conv_kernels.py --out benchmarks/results [--repeats 7]

Why it exists: whole-model comparisons (`vs_pytorch.py`) put 93-94% of lipjax's Wav2Lip and
DCK time, and 80% of ParaLip's decoder time, in XLA's convolution calls. This isolates those
calls. Every case is one layer at the shape and batch its model runs it (Wav2Lip's face decoder
residual convolutions at batch 128, DCK's largest transposed convolutions at batch 16, ParaLip's
two largest transposed convolutions for a 16-frame chunk), timed as:

- `xla`: `lax.conv_general_dilated` in NHWC (what flax's `nn.Conv` lowers to), or for a
  transposed convolution lipjax's `conv_transpose(method="phase")` (the CPU default);
- `xla_im2col` (convolutions): the k x k patches concatenated, then one GEMM;
- `xla_dilated` (transposed): `lax.conv_transpose`, the dilated form (the GPU default);
- `xla_subpixel` (transposed): the s*s phases as one convolution to s*s*Cout channels in a
  shared window, then depth-to-space;
- `xla_gemm_taps` (transposed): one GEMM to every tap's output, then shifted adds;
- `torch_nchw`: `torch.nn.functional.conv2d` / `conv_transpose2d` on NCHW tensors, as the
  published PyTorch code runs;
- `torch_channels_last`: the same on channels-last (NHWC-strided) tensors.

Outputs of every form are checked against `xla`'s. Rates are GFLOP/s of the layer's
multiply-adds (`Layer.flops`); `matmul` is XLA's 2048^3 f32 GEMM timed in the same rounds.
Writes conv_kernels.json and conv_kernels.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import describe_machine, save_figure, time_functions_interleaved, write_json  # noqa: E402

from lipjax.ops import conv_transpose, conv_transpose_output_size  # noqa: E402
from lipjax.ops.conv_transpose import _axis_phases  # noqa: E402

MATMUL_N = 2048


class Layer(NamedTuple):
    name: str
    batch: int
    size: int        # input height = width
    cin: int
    cout: int
    kernel: int
    stride: int      # 1: convolution ("SAME"); 2: PyTorch ConvTranspose2d
    padding: int = 0
    output_padding: int = 0
    width: int = 0   # input width when not square

    @property
    def shape(self) -> tuple[int, int]:
        return self.size, self.width or self.size

    @property
    def flops(self) -> float:
        """2 x the multiply-adds: per output pixel (convolution) or per input pixel (a
        transposed convolution scatters each through the k x k kernel, as its phase form
        computes it)."""
        h, w = self.shape
        return 2.0 * self.batch * h * w * self.cout * self.cin * self.kernel ** 2


# Wav2Lip's face decoder (block_4..6 residual convolutions take 66% of its time), DCK's up_2 /
# up_4 (19% each) at the paper's 256x256 (flax "SAME" = PyTorch padding 1 for k 4, s 2), and
# ParaLip's dconv3 / dconv4 (15% / 35% of one video's decoding) for a 16-frame chunk, the x
# input of each (the skip input is computed once per video).
LAYERS = (
    Layer("Wav2Lip decoder 3x3 24px 256->256 b128", 128, 24, 256, 256, 3, 1),
    Layer("Wav2Lip decoder 3x3 48px 128->128 b128", 128, 48, 128, 128, 3, 1),
    Layer("Wav2Lip decoder 3x3 96px 64->64 b128", 128, 96, 64, 64, 3, 1),
    Layer("DCK up_2 4x4/2 32->64px 512->128 b16", 16, 32, 512, 128, 4, 2, 1),
    Layer("DCK up_4 4x4/2 128->256px 128->32 b16", 16, 128, 128, 32, 4, 2, 1),
    Layer("ParaLip dconv3 5x5/2 20x40->40x80 128->80 16 frames", 16, 20, 128, 80, 5, 2, 2, 1,
          40),
    Layer("ParaLip dconv4 5x5/2 40x80->80x160 80->48 16 frames", 16, 40, 80, 48, 5, 2, 2, 1,
          80),
)


def _conv(x: jax.Array, w: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _im2col(x: jax.Array, w: jax.Array) -> jax.Array:
    k = w.shape[0]
    n, h, width, c = x.shape
    p = k // 2
    padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    patches = jnp.concatenate([padded[:, i:i + h, j:j + width] for i in range(k)
                               for j in range(k)], axis=-1)
    return (patches.reshape(-1, k * k * c) @ w.reshape(k * k * c, -1)).reshape(n, h, width, -1)


def _subpixel(x: jax.Array, kernel: jax.Array, *, layer: Layer) -> jax.Array:
    """The s*s phases of a transposed convolution as one convolution to s*s*Cout channels
    (each phase's sub-kernel placed in the window all phases share, zeros elsewhere), then
    depth-to-space. More multiplications (by the zeros), one wider call."""
    s, k = layer.stride, layer.kernel
    outs = [conv_transpose_output_size(n, kernel_size=k, stride=s, padding=layer.padding,
                                       output_padding=layer.output_padding)
            for n in layer.shape]
    selections, pads, per_phase = [], [], []
    for n, out in zip(layer.shape, outs):
        phases = _axis_phases(n, out, kernel_size=k, stride=s, padding=layer.padding)
        first = min(-p.pad[0] for p in phases if p is not None)
        last = max(-p.pad[0] + len(p.taps) - 1 for p in phases if p is not None)
        select = np.zeros((s, last - first + 1, k), np.float32)  # [phase, window tap, k tap]
        for r, phase in enumerate(phases):
            for t, tap in enumerate(phase.taps if phase is not None else ()):
                select[r, -phase.pad[0] - first + t, tap] = 1
        count = -(-out // s)
        selections.append(select)
        pads.append((-first, count - 1 + last - (n - 1)))
        per_phase.append(count)
    window = jnp.einsum("aik,bjl,kloc->ijcabo", selections[0], selections[1], kernel)
    window = window.reshape(*window.shape[:3], -1)
    y = jax.lax.conv_general_dilated(x, window, (1, 1), pads,
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    (h, w), c = per_phase, kernel.shape[2]
    y = y.reshape(-1, h, w, s, s, c).transpose(0, 1, 3, 2, 4, 5).reshape(-1, h * s, w * s, c)
    return y[:, :outs[0], :outs[1]]


def _gemm_taps(x: jax.Array, kernel: jax.Array, *, layer: Layer) -> jax.Array:
    """A transposed convolution as one GEMM from Cin to every tap's output (k*k*Cout), then
    each tap's map added at its stride-s offset (phase by phase), then cropped."""
    s, k, p = layer.stride, layer.kernel, layer.padding
    n, h, w, cin = x.shape
    cout = kernel.shape[2]
    outs = [conv_transpose_output_size(size, kernel_size=k, stride=s, padding=p,
                                       output_padding=layer.output_padding)
            for size in (h, w)]
    taps = (x.reshape(-1, cin) @ kernel.transpose(3, 0, 1, 2).reshape(cin, -1)).reshape(
        n, h, w, k, k, cout)
    m = -(-k // s)  # taps per phase and axis, at most
    taps = jnp.pad(taps, ((0, 0), (m - 1, m - 1), (m - 1, m - 1), (0, 0), (0, 0), (0, 0)))
    qh, qw = h + m - 1, w + m - 1
    rows = []
    for rh in range(s):
        cols = []
        for rw in range(s):
            total = jnp.zeros((n, qh, qw, cout), x.dtype)
            for a in range(rh, k, s):
                for b in range(rw, k, s):
                    i, j = m - 1 - a // s, m - 1 - b // s
                    total = total + taps[:, i:i + qh, j:j + qw, a, b]
            cols.append(total)
        rows.append(jnp.stack(cols, axis=3))
    y = jnp.stack(rows, axis=2).reshape(n, qh * s, qw * s, cout)
    y = jnp.pad(y, ((0, 0), (0, max(0, p + outs[0] - qh * s)),
                    (0, max(0, p + outs[1] - qw * s)), (0, 0)))
    return y[:, p:p + outs[0], p:p + outs[1]]


def candidates(layer: Layer, rng: np.random.Generator) -> tuple[dict, dict]:
    """name -> (fn, args) for `time_functions_interleaved`, and name -> NHWC output."""
    import torch

    h, w = layer.shape
    x = rng.standard_normal((layer.batch, h, w, layer.cin), np.float32)
    scale = np.sqrt(layer.cin * layer.kernel ** 2)
    xj = jnp.asarray(x)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    xt_last = xt.contiguous(memory_format=torch.channels_last)
    if layer.stride == 1:
        kernel = (rng.standard_normal((layer.kernel, layer.kernel, layer.cin, layer.cout),
                                      np.float32) / scale).astype(np.float32)
        wt = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous()      # OIHW
        pad = layer.kernel // 2

        def torch_fn(inp):
            with torch.no_grad():
                return torch.nn.functional.conv2d(inp, wt, padding=pad)

        kj = jnp.asarray(kernel)
        xla = {"xla": (jax.jit(_conv), (xj, kj)), "xla_im2col": (jax.jit(_im2col), (xj, kj))}
    else:
        # PyTorch semantics throughout: kernel [kh, kw, Cout, Cin] = weight.permute(2, 3, 1, 0)
        kernel = (rng.standard_normal((layer.kernel, layer.kernel, layer.cout, layer.cin),
                                      np.float32) / scale).astype(np.float32)
        wt = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        options = dict(stride=layer.stride, padding=layer.padding,
                       output_padding=layer.output_padding)

        def torch_fn(inp):
            with torch.no_grad():
                return torch.nn.functional.conv_transpose2d(inp, wt, **options)

        kj = jnp.asarray(kernel)
        xla = {name: (jax.jit(fn), (xj, kj)) for name, fn in (
            ("xla", lambda a, b: conv_transpose(a, b, **options, method="phase")),
            ("xla_dilated", lambda a, b: conv_transpose(a, b, **options, method="lax")),
            ("xla_subpixel", lambda a, b: _subpixel(a, b, layer=layer)),
            ("xla_gemm_taps", lambda a, b: _gemm_taps(a, b, layer=layer)))}
    calls = {**xla, "torch_nchw": (torch_fn, (xt,)),
             "torch_channels_last": (torch_fn, (xt_last,))}
    outputs = {name: np.asarray(jax.device_get(fn(*args))) for name, (fn, args) in xla.items()}
    for name in ("torch_nchw", "torch_channels_last"):
        fn, args = calls[name]
        outputs[name] = fn(*args).permute(0, 2, 3, 1).numpy()
    return calls, outputs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0,
                        help="PyTorch threads (0: the CPUs this process may use)")
    parser.add_argument("--name", default="conv_kernels")
    args = parser.parse_args(argv)
    import torch

    machine = describe_machine()
    torch.set_num_threads(args.threads or machine["usable_cpu_count"])
    a = jnp.ones((MATMUL_N, MATMUL_N), jnp.float32)
    matmul = (jax.jit(lambda m: m @ m), (a,))
    rng = np.random.default_rng(0)
    rows = []
    for layer in LAYERS:
        calls, outputs = candidates(layer, rng)
        errors = {name: float(np.max(np.abs(out - outputs["xla"]))) for name, out in
                  outputs.items()}
        if max(errors.values()) > 1e-3:
            raise AssertionError(f"{layer.name}: forms disagree: {errors}")
        timings = time_functions_interleaved({**calls, "matmul": matmul}, repeats=args.repeats)
        rates = {name: (2 * MATMUL_N ** 3 if name == "matmul" else layer.flops)
                 / t.median_s / 1e9 for name, t in timings.items()}
        row = {"layer": layer.name, **layer._asdict(), "flops": layer.flops,
               "median_s": {n: t.median_s for n, t in timings.items()},
               "gflops": rates, "max_abs_difference_from_xla": errors,
               "xla_over_torch_nchw": timings["torch_nchw"].median_s / timings["xla"].median_s,
               "xla_over_torch_channels_last": (timings["torch_channels_last"].median_s
                                                / timings["xla"].median_s)}
        rows.append(row)
        print(layer.name, {n: round(r) for n, r in rates.items()}, flush=True)
    report = {"what": __doc__.split("\n\n")[0], "machine": machine,
              "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
              "args": vars(args), "results": rows}
    out = Path(args.out)
    write_json(out / f"{args.name}.json", report)
    plot(rows, out / f"{args.name}.png")
    return report


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen: set[str] = set()
    forms = ["xla", "xla_im2col", "xla_dilated", "xla_subpixel", "xla_gemm_taps", "torch_nchw",
             "torch_channels_last", "matmul"]
    colours = ["#4477aa", "#66ccee", "#228833", "#ccbb44", "#997700", "#ee6677", "#aa3377",
               "#bbbbbb"]
    figure, axis = plt.subplots(figsize=(11, 1.1 * len(rows) + 1.5))
    height = 0.8 / 6
    for row_index, row in enumerate(rows):  # only the forms a layer has, side by side
        present = [(f, c) for f, c in zip(forms, colours) if f in row["gflops"]]
        for k, (form, colour) in enumerate(present):
            axis.barh(row_index + (k - (len(present) - 1) / 2) * height, row["gflops"][form],
                      height, color=colour, label=form if form not in seen else None)
            seen.add(form)
    axis.set_yticks(np.arange(len(rows)), [row["layer"] for row in rows])
    axis.invert_yaxis()
    axis.set_xlabel("GFLOP/s (median of interleaved repeats)")
    axis.set_title("One convolution layer: XLA against PyTorch (oneDNN), same CPU")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    figure.tight_layout()
    save_figure(figure, path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
