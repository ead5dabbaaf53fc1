"""XLA CPU flags and thread counts against ParaLip inference, each setting in a fresh process.

    python benchmarks/xla_flags.py --out benchmarks/results [--repeats 5]

XLA reads its flags once, at start-up, so each setting runs in its own process: ParaLip (paper
sizes, 75 frames, batch 1, ground-truth durations, `lipjax.paralip.fast` as `lipjax lip` runs
it) interleaved with the same PyTorch forward (which no XLA flag touches), so the ratio
lipjax / PyTorch compares settings even when outside load changes between processes. Thread
counts are set with the process's CPU affinity (`taskset`-like `os.sched_setaffinity`), which
both XLA's and PyTorch's thread pools follow. Writes xla_flags.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import describe_machine, write_json  # noqa: E402

SETTINGS = {
    "default": "",
    "no multi-threaded Eigen": "--xla_cpu_multi_thread_eigen=false",
    "oneDNN": "--xla_cpu_use_onednn=true",
    "XNNPACK": "--xla_cpu_use_xnnpack=true",
    "fast math": "--xla_cpu_enable_fast_math=true",
    "oneDNN custom calls": "--xla_cpu_experimental_onednn_custom_call=true",
    "oneDNN dot fusions": "--xla_cpu_experimental_onednn_fusion_type=dot",
    "XNNPACK graph fusion": "--xla_cpu_experimental_xnn_graph_fusion_mode="
                            "XNN_GRAPH_FUSION_MODE_GREEDY",
}

_CHILD = textwrap.dedent("""
    import json, os, sys
    cpus = int(sys.argv[1])
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cpus])
    sys.path.insert(0, sys.argv[2])
    import torch
    torch.set_num_threads(cpus)
    from vs_pytorch import FRAMES_PER_TOKEN, paralip_case, timed, MATMUL_N
    from _pairs import paralip_pair
    import jax, jax.numpy as jnp
    pair = paralip_pair(frames_per_token=FRAMES_PER_TOKEN)
    a = jnp.ones((MATMUL_N, MATMUL_N), jnp.float32)
    row = timed(paralip_case(pair, 1, 75, "gt", chunk=16), int(sys.argv[3]),
                (jax.jit(lambda a: a @ a), (a,)))
    print(json.dumps({k: row[k] for k in ("median_s", "speedup_vs_torch",
                                          "lipjax_peak_fraction", "matmul_peak_gflops",
                                          "compile_s", "load_after")}))
""")


def run(flags: str, cpus: int, repeats: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", _CHILD, str(cpus),
                             os.path.dirname(os.path.abspath(__file__)), str(repeats)],
                            env=env, capture_output=True, text=True)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    args = parser.parse_args(argv)
    cpus = len(os.sched_getaffinity(0))
    rows = {}
    for name in args.settings.split(","):
        rows[name] = run(SETTINGS[name], cpus, args.repeats)
        print(name, rows[name], flush=True)
    for threads in sorted({1, cpus}):
        if threads != cpus:
            rows[f"{threads} thread(s) each"] = run("", threads, args.repeats)
            print(threads, rows[f"{threads} thread(s) each"], flush=True)
    report = {"what": __doc__.split("\n\n")[0], "machine": describe_machine(),
              "flags": SETTINGS, "results": rows}
    write_json(Path(args.out) / "xla_flags.json", report)
    return report


if __name__ == "__main__":
    main()
