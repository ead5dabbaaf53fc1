"""The lip-sync expert trained on `synthetic_talking_faces` as the network of LSE: LSE-D / LSE-C
of the held-out test clips with their own audio and with it shifted by 10 frames, and the AV
offset reported for audio shifted by k frames (k = -10 .. 10; k > 0: the audio leads).

    lipjax train --config experiments/configs/wav2lip_expert_synthetic.py \
        --workdir runs/wav2lip_expert_synthetic
    python benchmarks/expert_sync.py runs/wav2lip_expert_synthetic --out benchmarks/results

writes expert_sync.json (per clip and summarised) and expert_sync.png (reported offset against
the shift, and the mean distance per offset of the synced clips). Every shift of a clip keeps
the same frames (`lipjax.metrics.shift_audio`, 10 frames cut at each end).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import describe_machine, save_figure, write_json  # noqa: E402

from lipjax.data.builders import load_source  # noqa: E402
from lipjax.metrics.sync import lip_sync_error, shift_audio  # noqa: E402
from lipjax.training.workdir import restore_generator  # noqa: E402
from lipjax.wav2lip import SyncNetColorSystem  # noqa: E402
from lipjax.wav2lip.sync import FPS, SAMPLE_RATE, record_clip  # noqa: E402

MARGIN = 10


def sweep(workdir: str, split: str | None) -> dict:
    """LSE of every test clip at every shift -MARGIN .. MARGIN."""
    restored = restore_generator(workdir)
    network = SyncNetColorSystem.sync_network(restored, batch_size=64)
    source = load_source(restored.config.data, split or restored.config.data.eval_split)
    clips, start = [], time.perf_counter()
    for index in range(len(source)):
        for tag in ("a", "b"):
            crops, wav = record_clip(source[index], tag)
            rows = {}
            for shift in range(-MARGIN, MARGIN + 1):
                frames, audio = shift_audio(crops, wav, shift, margin=MARGIN, fps=FPS,
                                            sample_rate=SAMPLE_RATE)
                result = lip_sync_error(frames, audio, network, fps=FPS)
                rows[shift] = {"lse_d": result.lse_d, "lse_c": result.lse_c,
                               "offset": result.offset,
                               "per_offset": result.per_offset_distances.tolist()}
            clips.append({"pair": index, "clip": tag, "frames": len(crops), "shifts": rows})
    return {"step": restored.step, "clips": clips, "seconds": time.perf_counter() - start}


def summarise(clips: list[dict]) -> dict:
    """Means of LSE synced / shifted by 10, and the offset table."""
    def mean(shift: int, key: str) -> float:
        return float(np.mean([c["shifts"][shift][key] for c in clips]))

    table = {}
    for shift in range(-MARGIN, MARGIN + 1):
        offsets = [c["shifts"][shift]["offset"] for c in clips]
        table[shift] = {"median": float(np.median(offsets)), "offsets": offsets,
                        "within_1": int(sum(abs(o - shift) <= 1 for o in offsets))}
    return {"clips": len(clips),
            "lse_d": {"synced": mean(0, "lse_d"), "shift_-10": mean(-10, "lse_d"),
                      "shift_+10": mean(10, "lse_d")},
            "lse_c": {"synced": mean(0, "lse_c"), "shift_-10": mean(-10, "lse_c"),
                      "shift_+10": mean(10, "lse_c")},
            "clips_lower_lse_d_than_both_shifts": int(sum(
                c["shifts"][0]["lse_d"] < min(c["shifts"][10]["lse_d"], c["shifts"][-10]["lse_d"])
                for c in clips)),
            "clips_higher_lse_c_than_both_shifts": int(sum(
                c["shifts"][0]["lse_c"] > max(c["shifts"][10]["lse_c"], c["shifts"][-10]["lse_c"])
                for c in clips)),
            "offsets": table}


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def at(table: dict, shift: int) -> dict:     # int keys in memory, strings from JSON
        return table[shift] if shift in table else table[str(shift)]

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    shifts = sorted(int(k) for k in report["summary"]["offsets"])
    for clip in report["clips"]:
        left.plot(shifts, [at(clip["shifts"], k)["offset"] for k in shifts], ".", alpha=0.35,
                  color="tab:blue")
    left.plot(shifts, [at(report["summary"]["offsets"], k)["median"] for k in shifts], "-o",
              color="tab:red", label="median over clips")
    left.plot(shifts, shifts, "k:", label="offset = shift")
    left.set(xlabel="audio shifted by k frames (k > 0: audio leads)",
             ylabel="reported AV offset (frames)", title="AV offset of shifted test clips")
    left.legend()
    for shift, colour in ((0, "tab:green"), (10, "tab:orange"), (-10, "tab:purple")):
        curve = np.mean([at(clip["shifts"], shift)["per_offset"] for clip in report["clips"]], 0)
        vshift = (len(curve) - 1) // 2          # entry j is AV offset vshift - j
        right.plot(vshift - np.arange(len(curve)), curve, color=colour,
                   label=f"audio shifted {shift:+d}")
    right.set(xlabel="AV offset tried (frames; > 0: audio leads)",
              ylabel="mean distance over windows (mdist)",
              title="LSE-D = min, LSE-C = median - min")
    right.legend()
    figure.tight_layout()
    save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", help="a SyncNetColorSystem workdir")
    parser.add_argument("--split", default=None, help="default: the config's eval split")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw expert_sync.png from --out's expert_sync.json")
    args = parser.parse_args()
    if args.replot:
        with open(os.path.join(args.out, "expert_sync.json"), encoding="utf-8") as f:
            plot(json.load(f), os.path.join(args.out, "expert_sync.png"))
        return
    measured = sweep(args.workdir, args.split)
    report = {"machine": describe_machine(), "workdir": args.workdir, "step": measured["step"],
              "seconds": measured["seconds"], "margin_frames": MARGIN,
              "summary": summarise(measured["clips"]), "clips": measured["clips"]}
    print(json.dumps(report["summary"], indent=1))
    write_json(os.path.join(args.out, "expert_sync.json"), report)
    plot(report, os.path.join(args.out, "expert_sync.png"))


if __name__ == "__main__":
    main()
