"""Training throughput: one compiled training step of ParaLip, DCK and Wav2Lip, at their
synthetic (CPU) and paper sizes, and the share of a training loop spent outside the step.

    python benchmarks/train_step.py --out benchmarks/results [--steps 5] [--systems paralip,dck]

For each config: the system, its state and a batch shaped like the pipeline's
(`system.example_batch`) on one device, the step wrapped as the loop wraps it
(`DataParallel(...).wrap(train_step)`, state donated), compiled (time recorded), then timed
`--steps` times back to back: examples/s, and the FLOP rate from XLA's cost analysis of the
compiled step over a 2048^3 f32 matmul measured in the same run. Paper sizes run with a smaller
batch when `--paper_batch` says so (stated in the JSON). Wav2Lip's frozen expert is a random
`SyncNetColor` workdir made for the run.

Outside the step (synthetic configs, whose corpora `data_cache/` holds or builds): the real
`Pipeline` (prefetch and reader threads as the training loop sets them) feeds the same step in
a loop shaped like `lipjax.training.loop` (dispatch the step, fetch the next batch while it
runs, block every step), after one untimed step on a pipeline batch of each bucket
(`loop_first_step_s`: its shapes or dtypes may differ from `example_batch`'s and compile the
step again);
`outside_fraction = 1 - step_time / loop_time` is the share of the loop the input pipeline and
host work add. The pipeline's own examples/s is measured alone, with one reader thread and with
`--readers` (`data.workers`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import describe_machine, save_figure, write_json  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONFIGS = {
    "paralip": ("paralip_synthetic", "paralip_grid"),
    "dck": ("dck_synthetic", "dck_paper"),
    "wav2lip": ("wav2lip_synthetic", "wav2lip"),
}
EXPERT_CONFIGS = {"wav2lip_synthetic": "wav2lip_expert_synthetic", "wav2lip": "wav2lip_expert"}


def _load(name: str, overrides: list[str]):
    from lipjax.training.config import load_config

    return load_config(REPO / "experiments" / "configs" / f"{name}.py", overrides)


def _random_expert(name: str, folder: Path) -> str:
    """A random lip-sync expert workdir for the Wav2Lip config `name` (its sync loss)."""
    from lipjax.convert.workdir import write_converted_workdir
    from lipjax.training.system import make_system
    from lipjax.wav2lip.model import SYNC_FRAMES

    config = _load(EXPERT_CONFIGS[name], [])
    module = make_system(config).generator
    faces = np.zeros((1, 48, 96, 3 * SYNC_FRAMES), np.float32)
    variables = jax.jit(lambda k: module.init(k, faces, np.zeros((1, 80, 16), np.float32)))(
        jax.random.key(0))
    return str(write_converted_workdir(folder / f"expert_{name}", config, variables))


def _step(config):
    """`(system, dp, wrapped step, replicated state, sharded batch)` on one device."""
    from lipjax.training import steps
    from lipjax.training.evaluation import config_buckets
    from lipjax.training.parallel import DataParallel
    from lipjax.training.state import init_state, make_rng
    from lipjax.training.system import make_system

    system = make_system(config)
    bucket = config_buckets(config)[0]
    batch = system.example_batch(bucket, int(config.data.batch_size))
    state, _ = init_state(system, config, batch, make_rng(config))
    # shard_map on one device: what the loop runs, and jit-able for the cost analysis. One
    # trace for example_batch, one per bucket for the pipeline's batches (more keys).
    dp = DataParallel("shard_map", devices=jax.devices()[:1],
                      max_traces=1 + len(config_buckets(config)))
    step = dp.wrap(steps.train_step, static_kwargs={"system": system})
    return system, dp, step, dp.replicate(state), dp.shard(batch)


def measure_step(config, steps: int, peak_rate_fn) -> dict:
    system, dp, step, state, batch = _step(config)
    rng = jax.random.key(1)
    start = time.perf_counter()
    state, metrics = step(state, batch, rng)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = step(state, batch, rng)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    step_s = float(np.median(times))
    cost = jax.jit(step).lower(state, batch, rng).cost_analysis()
    flops = float((cost if isinstance(cost, dict) else cost[0]).get("flops", 0.0))
    peak = peak_rate_fn()
    examples = int(config.data.batch_size)
    row = {"batch_size": examples, "compile_s": compile_s, "step_s": step_s,
           "examples_per_s": examples / step_s, "matmul_peak_gflops": peak / 1e9}
    if flops:
        row.update(step_flops=flops, gflops=flops / step_s / 1e9, peak_fraction=flops / step_s
                   / peak)
    return row, (system, dp, step, state, rng)


def measure_loop(config, built, steps: int, readers: int) -> dict:
    """The step fed by the real input pipeline (synthetic corpora only), with the reader
    threads the training loop uses (`data.workers`, default `default_workers()`); the
    pipeline alone is timed with one reader thread and with `readers`."""
    from lipjax.data.builders import load_source
    from lipjax.data.pipeline import Pipeline
    from lipjax.training.evaluation import config_buckets, config_workers

    system, dp, step, state, rng = built
    source = load_source(config.data, config.data.train_split)
    workers = config_workers(config)

    def pipeline_with(count: int) -> Pipeline:
        return Pipeline(source, batch_size=int(config.data.batch_size),
                        buckets=config_buckets(config), example_fn=system.example_fn,
                        length_fn=system.length_fn, training=True, seed=0,
                        prefetch=config.data.get("prefetch", 2), workers=count)

    def alone(pipeline: Pipeline) -> float:
        next(pipeline)
        start = time.perf_counter()
        for _ in range(steps):
            next(pipeline)
        return int(config.data.batch_size) * steps / (time.perf_counter() - start)

    with pipeline_with(workers) as pipeline:
        # Untimed steps until a batch of every bucket has been stepped (a pipeline batch
        # traces anew; a bucket is known by its batch's shapes).
        layouts, warmup_s = set(), 0.0
        for _ in range(64):
            batch = next(pipeline)
            layout = tuple(sorted((key, value.shape) for key, value in batch.items()))
            if layout in layouts:
                continue
            layouts.add(layout)
            start = time.perf_counter()
            state, metrics = step(state, dp.shard(batch), rng)
            jax.block_until_ready(metrics)
            warmup_s = max(warmup_s, time.perf_counter() - start)
            if len(layouts) == len(pipeline.buckets):
                break
        batch = next(pipeline)
        start = time.perf_counter()
        for _ in range(steps):
            state, metrics = step(state, dp.shard(batch), rng)
            batch = next(pipeline)          # while the step runs, as the loop does
            jax.block_until_ready(metrics)
        loop_s = (time.perf_counter() - start) / steps
    with pipeline_with(1) as pipeline:
        alone_one = alone(pipeline)
    with pipeline_with(readers) as pipeline:
        alone_readers = alone(pipeline)
    return {"loop_step_s": loop_s, "loop_first_step_s": warmup_s, "loop_workers": workers,
            "pipeline_alone_examples_per_s": alone_one, "readers": readers,
            "pipeline_alone_readers_examples_per_s": alone_readers}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--systems", default="paralip,dck,wav2lip")
    parser.add_argument("--sizes", default="synthetic,paper")
    parser.add_argument("--paper_batch", type=int, default=2,
                        help="batch size at the paper sizes (0: the config's own)")
    parser.add_argument("--no_loop", action="store_true", help="skip the input-pipeline loop")
    parser.add_argument("--readers", type=int, default=0,
                        help="reader threads for the pipeline-alone comparison (0: the CPUs "
                        "this process may use, at most 4)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every config run (repeatable)")
    parser.add_argument("--name", default="train_step")
    args = parser.parse_args(argv)
    a = jnp.ones((2048, 2048), jnp.float32)
    matmul = jax.jit(lambda a: a @ a)
    jax.block_until_ready(matmul(a))

    def peak_rate() -> float:
        best = min(_timed(lambda: jax.block_until_ready(matmul(a))) for _ in range(3))
        return 2 * 2048 ** 3 / best

    readers = args.readers or min(4, describe_machine()["usable_cpu_count"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="lipjax-train-bench-") as tmp:
        for system in args.systems.split(","):
            for size, name in zip(("synthetic", "paper"), CONFIGS[system]):
                if size not in args.sizes.split(","):
                    continue
                overrides = list(args.set)
                if size == "paper" and args.paper_batch:
                    overrides.append(f"data.batch_size={args.paper_batch}")
                if name in EXPERT_CONFIGS:
                    overrides.append(f"loss.sync_expert={_random_expert(name, Path(tmp))}")
                config = _load(name, overrides)
                row, built = measure_step(config, args.steps, peak_rate)
                row.update(system=system, size=size, config=name, load=list(os.getloadavg()))
                if size == "synthetic" and not args.no_loop:
                    row.update(measure_loop(config, built, args.steps, readers))
                    row["outside_fraction"] = max(0.0, 1 - row["step_s"] / row["loop_step_s"])
                rows.append(row)
                print({k: v for k, v in row.items() if not isinstance(v, list)}, flush=True)
                del built
    report = {"what": __doc__.split("\n\n")[0], "machine": describe_machine(),
              "args": vars(args), "results": rows}
    out = Path(args.out)
    write_json(out / f"{args.name}.json", report)
    plot(rows, out / f"{args.name}.png")
    return report


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{r['system']} {r['size']} (b{r['batch_size']})" for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 0.5 * len(rows) + 1.5), sharey=True)
    left.barh(names, [r["examples_per_s"] for r in rows], color="#4477aa")
    left.set_xlabel("examples / s (one training step)")
    right.barh(names, [100 * r.get("peak_fraction", np.nan) for r in rows], color="#228833")
    right.set_xlabel("% of the measured matmul FLOP rate")
    figure.tight_layout()
    save_figure(figure, path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
