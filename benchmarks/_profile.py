"""Per-op CPU profile of a jitted function: where the time of one compiled call goes.

`op_profile(fn, *args)` runs `fn` under `jax.profiler.trace`, reads the trace back with
`jax.profiler.ProfileData` (no TensorBoard needed), and sums the time of every XLA thunk (a
fusion, a convolution, a YNNPACK call, ...) over the calls. Each thunk is named after the HLO
instruction it runs; the compiled module's metadata maps that name to the flax module path it
came from (`op_name="jit(f)/ParaLip/video_decoder/dconv4/..."`) and to its kind, so the
report can be grouped by layer or by kind.

Times are summed over XLA's worker threads: with 2 threads busy, the total is up to twice the
wall time. On a loaded machine the absolute numbers are inflated; the shares are what to read.
"""

from __future__ import annotations

import collections
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import jax

__all__ = ["op_profile", "hlo_op_index"]

_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+) = (\S+) (\w+)\(")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_CONTROL_FLOW = {"while", "body", "cond", "closed_call", "checkpoint", "remat", "scan", "map"}
_KIND = re.compile(r'"kind":"(__\w+)"|kind=(k\w+)')


def hlo_op_index(hlo_text: str) -> dict[str, tuple[str, str, str]]:
    """HLO instruction name -> (its flax path, its opcode or fusion kind, its shape), from a
    compiled module's text (`jax.jit(f).lower(...).compile().as_text()`)."""
    index = {}
    for line in hlo_text.splitlines():
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, shape, opcode = match.groups()
        op_name = _OP_NAME.search(line)
        kind = _KIND.search(line)
        kind_name = (kind.group(1) or kind.group(2)) if kind else opcode
        index[name] = (op_name.group(1) if op_name else "", kind_name, shape)
    return index


def _layer(op_name: str, depth: int) -> str:
    """`jit(f)/ParaLip/video_decoder/dconv4/conv/...` -> `video_decoder/dconv4` (depth 2)."""
    parts = [p for p in op_name.split("/") if p and p not in _CONTROL_FLOW
             and not p.startswith(("jit(", "jvp(", "pjit", "branch_"))]
    parts = [p for p in parts if not p[:1].isupper()] or parts  # drop module class names
    return "/".join(parts[:depth]) if parts else "(unnamed)"


def op_profile(fn: Callable[..., Any], *args: Any, calls: int = 2, depth: int = 2,
               top: int = 25) -> dict[str, Any]:
    """Profiles `calls` calls of the jitted `fn(*args)` (compiled and warmed up first).

    Returns:
      `{"calls", "wall_s" (per call), "thunk_s" (summed thunk time per call, all threads),
      "by_layer": [{"layer", "seconds", "share"}...], "by_kind": [...], "top_ops": [{"op",
      "layer", "kind", "shape", "seconds", "share"}...]}`, seconds per call.
    """
    compiled = fn.lower(*args).compile()
    index = hlo_op_index(compiled.as_text())
    jax.block_until_ready(fn(*args))
    import time

    with tempfile.TemporaryDirectory(prefix="lipjax-profile-") as folder:
        start = time.perf_counter()
        with jax.profiler.trace(folder):
            for _ in range(calls):
                jax.block_until_ready(fn(*args))
        wall = (time.perf_counter() - start) / calls
        trace = next(Path(folder).rglob("*.xplane.pb"))
        data = jax.profiler.ProfileData.from_file(str(trace))
        per_op: collections.Counter = collections.Counter()
        for plane in data.planes:
            for line in plane.lines:
                for event in line.events:
                    if event.name in index:
                        per_op[event.name] += event.duration_ns / 1e9 / calls
    total = sum(per_op.values()) or 1.0
    by_layer: collections.Counter = collections.Counter()
    by_kind: collections.Counter = collections.Counter()
    for op, seconds in per_op.items():
        op_name, kind, _ = index[op]
        by_layer[_layer(op_name, depth)] += seconds
        by_kind[kind] += seconds

    def rows(counter: collections.Counter, key: str) -> list[dict[str, Any]]:
        return [{key: name, "seconds": s, "share": s / total} for name, s in counter.most_common()]

    top_ops = [{"op": op, "layer": _layer(index[op][0], 4), "kind": index[op][1],
                "shape": index[op][2], "seconds": s, "share": s / total}
               for op, s in per_op.most_common(top)]
    return {"calls": calls, "wall_s": wall, "thunk_s": total, "by_layer": rows(by_layer, "layer"),
            "by_kind": rows(by_kind, "kind"), "top_ops": top_ops}
