"""Merges the GPU suite's parts (`gpu_suite.sh`) into one JSON, with the papers' figures next
to the measured ones.

    python benchmarks/suite_report.py --parts DIR --out gpu_suite.json

Papers' figures (their hardware, not this run's): ParaLip (Liu et al., AAAI 2022, Table 3) 22 ms
per GRID video and 34 ms per TCD-TIMIT video on one RTX 2080 Ti; DCK (Ye et al., IEEE TMM 2022)
4.7 ms per 256x256 face and 60 fps with the background at 1280x720 on a TITAN RTX; Wav2Lip 9.9
ms per frame (as the DCK paper reports it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import describe_machine, write_json  # noqa: E402

PAPERS = {
    "ParaLip ms per video": {"GRID (75 frames)": 22.0, "TCD-TIMIT": 34.0,
                             "hardware": "RTX 2080 Ti"},
    "DCK ms per 256x256 frame": {"generator": 4.7, "hardware": "TITAN RTX"},
    "DCK fps with background at 1280x720": {"pipeline": 60.0, "hardware": "TITAN RTX"},
    "Wav2Lip ms per frame": {"generator": 9.9, "hardware": "as reported by the DCK paper"},
}
PARTS = ("vs_pytorch", "train_step", "talk_pipeline", "compile_cache")


def measured(parts: dict) -> dict:
    """The suite's numbers comparable to the papers' (None where a part is missing)."""
    rows = {r["name"]: r for r in (parts.get("vs_pytorch") or {}).get("results", [])}
    out: dict = {}
    for name, row in rows.items():
        per_frame = 1e3 * row["median_s"]["lipjax"] / (row["frames"] * (
            row["batch"] if row["family"] == "ParaLip" else 1))
        if row["family"] == "ParaLip" and row["batch"] == 1:
            out[f"ParaLip ms per video ({name})"] = 1e3 * row["median_s"]["lipjax"]
        elif row["family"] in ("DCK", "Wav2Lip"):
            out[f"{row['family']} ms per frame ({name})"] = per_frame
    talk = parts.get("talk_pipeline")
    if talk:
        out[f"talk pipeline fps ({talk['size']}, {talk['model']} DCK)"] = talk["pipeline"]["fps"]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=None, help="the suite's wall time")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    parts = {}
    for name in PARTS:
        path = Path(args.parts) / f"{name}.json"
        parts[name] = json.loads(path.read_text()) if path.exists() else None
    report = {"what": "lipjax speed suite (benchmarks/gpu_suite.sh)",
              "tiny": args.tiny, "suite_seconds": args.seconds, "machine": describe_machine(),
              "missing_parts": [n for n, p in parts.items() if p is None],
              "papers": PAPERS, "measured": measured(parts), "parts": parts}
    write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
