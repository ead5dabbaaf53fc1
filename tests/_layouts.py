"""The published state-dict layouts the tests compare with (`tests/convert/layouts/<name>.txt`:
one `name<TAB>shape` line per tensor, in state-dict order; `#` lines are comments). Facts about
the published checkpoints, kept in the repository so that the tests need nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

LAYOUTS = Path(__file__).parent / "convert" / "layouts"


def read_layout(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """`(state-dict name, shape)` of every tensor in `layouts/<name>.txt`, in file order."""
    rows = []
    for line in (LAYOUTS / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            tensor, shape = line.split("\t")[:2]
            rows.append((tensor, tuple(ast.literal_eval(shape))))
    return rows
