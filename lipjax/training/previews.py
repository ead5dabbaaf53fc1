"""What a generative model is producing, shown in TensorBoard at each evaluation.

A system that implements the optional `preview(variables, batch)` method (ParaLip and its
baselines, DCK, Wav2Lip) returns a few named panels of one evaluation example, e.g.
`{"generated": [T, H, W, 3], "ground truth": [T, H, W, 3], "mask": [T]}` (float in [0, 1];
`mask` marks the valid frames). `write_previews` turns them into:

* an image summary `preview/<system>`: a contact sheet, one row per panel, a few evenly spaced
  frames per row, labelled;
* a GIF `workdir/previews/<step>.gif` of the panels side by side, frame by frame (the "video" of
  the run: TensorBoard's own video summaries need moviepy, which lipjax does not depend on),
  and up to 8 of its frames stacked as the image summary `preview_strip/<system>`.

The preview is jitted once (one example of the first evaluation batch, a fixed bucket).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import jax
import numpy as np

from lipjax.data.contact_sheet import contact_sheet
from lipjax.files import atomic_path

__all__ = ["PreviewMaker", "preview_sheet", "save_gif"]


def _panels(raw: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Host copies of the panels, cut to the valid frames."""
    arrays = {name: np.asarray(value) for name, value in raw.items()}
    mask = arrays.pop("mask", None)
    length = min(len(a) for a in arrays.values())
    valid = np.ones(length, bool) if mask is None else np.asarray(mask, bool)[:length]
    if not valid.any():
        valid[:1] = True
    return {name: np.clip(a[:length][valid], 0.0, 1.0) for name, a in arrays.items()}, valid


def preview_sheet(panels: Mapping[str, np.ndarray], *, frames: int = 6) -> np.ndarray:
    """uint8 contact sheet: one row per panel, `frames` evenly spaced frames, labelled."""
    length = min(len(p) for p in panels.values())
    chosen = np.unique(np.linspace(0, length - 1, min(frames, length)).round().astype(int))
    tiles, labels = [], []
    for name, panel in panels.items():
        for column, t in enumerate(chosen):
            tiles.append(panel[t])
            labels.append(f"{name} {t}" if column == 0 else f"{t}")
    return contact_sheet(np.stack(tiles), columns=len(chosen), labels=labels)


def save_gif(path: str | os.PathLike, panels: Mapping[str, np.ndarray], *,
             fps: float = 12.5) -> np.ndarray:
    """Writes the panels side by side, frame by frame, as an animated GIF (atomically);
    returns the frames `[T, H, W', 3]` uint8."""
    from PIL import Image

    length = min(len(p) for p in panels.values())
    gap = np.zeros_like(next(iter(panels.values()))[:length, :, :2])
    parts = []
    for panel in panels.values():
        parts += [panel[:length], gap]
    strip = np.round(np.concatenate(parts[:-1], axis=2) * 255).astype(np.uint8)
    images = [Image.fromarray(frame) for frame in strip]

    def write(temp_path: str) -> None:
        images[0].save(temp_path, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)

    atomic_path(path, write)
    return strip


class PreviewMaker:
    """Jits `system.preview` for one example of a fixed batch and writes the summaries.

    Args:
      system: a System with a `preview(variables, batch)` method (others get no previews).
      batch: a host batch of the evaluation split; its first example is previewed.
      workdir: where `previews/<step>.gif` go.
    """

    def __init__(self, system: Any, batch: Mapping[str, np.ndarray], workdir: str):
        self.name = type(system).__name__
        self.folder = os.path.join(workdir, "previews")
        self._batch = {k: np.asarray(v)[:1] for k, v in batch.items()}
        self._preview: Callable[..., Any] = jax.jit(system.preview)

    def write(self, writer: Any, step: int, variables: Any) -> str:
        """Adds the image summaries for `step` to `writer` (a MetricWriter) and writes the GIF;
        returns the GIF's path."""
        panels, _ = _panels(jax.device_get(self._preview(variables, self._batch)))
        writer.image(f"preview/{self.name}", preview_sheet(panels), step)
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, f"{step}.gif")
        strip = save_gif(path, panels)
        # Up to 8 evenly spaced frames of the side-by-side clip, stacked top to bottom.
        chosen = np.unique(np.linspace(0, len(strip) - 1, min(8, len(strip))).round().astype(int))
        writer.image(f"preview_strip/{self.name}", np.concatenate(list(strip[chosen]), axis=0),
                     step)
        return path
