"""TCD-TIMIT (Harte & Gillen, IEEE TMM 2015) volunteers as 80x160 lip videos with phoneme tokens.

ParaLip (AAAI 2022, Sec. 4.1) uses the TCD-TIMIT volunteers at 29.97 fps with phoneme tokens and
a 70/30 train/test split of each speaker's sentences.

Source layout (`manual_dir`), as distributed:

    volunteers/01M/Clips/straightcam/sa1.mp4        (also .mov / .avi / .mpg)
    ...
    volunteer_labelfiles.mlf                        (anywhere under manual_dir)

Labels are accepted in two forms (a clip's per-file labels win over the master file):

* HTK master label files (`*.mlf`): a `#!MLF!#` header, then per clip a quoted path whose last
  four folders are `<speaker>/Clips/<camera>/<clip>.<ext>` (only speaker and clip name are
  used), "start end phone" lines, and a "." line.
* Per-clip label files next to the video: `<clip>.txt`, `.lab` or `.phn`, "start end phone" lines.

Time units are detected per clip: among seconds, milliseconds, HTK 100 ns units and 16 kHz
samples (TIMIT .phn), the unit that makes the last label end closest (in ratio) to the video's
duration T / fps is used.

Labels are lower-cased and folded onto the 39 CMU phonemes with `lipjax.text.TIMIT_TO_CMU`
(pauses -> `<sil>`). Consecutive `<sil>` merge; a stop closure merges with its following stop
(`pcl p` -> `p`). The sequence always starts and ends with `<sil>` (0 frames if the labels have no
leading / trailing pause). A token lasts from its label's start to the next token's start;
boundaries are converted to frames at the video's fps (29.97 for TCD-TIMIT) and rounded
cumulatively, so durations sum exactly to the decoded frame count. `text` is the folded phoneme
string without `<sil>` (the label files carry no orthography). `speaker` is the number in the
volunteer folder name (`01M` -> 1).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from lipjax.data.builders._lip_crops import (
    Clip,
    LipCorpusBuilder,
    LipCorpusConfig,
    boundaries_to_durations,
    lip_features,
)
from lipjax.errors import DataError
from lipjax.text import PHONEMES, SIL, TIMIT_TO_CMU

__all__ = [
    "TcdTimitConfig",
    "TcdTimit",
    "parse_label_lines",
    "parse_mlf",
    "detect_time_scale",
    "labels_to_tokens",
    "find_tcd_timit_clips",
]

_LOG = logging.getLogger(__name__)
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mpg")
LABEL_EXTENSIONS = (".txt", ".lab", ".phn")
_SPEAKER = re.compile(r"^(\d+)[MF]$")
# Candidate label time units, in seconds per unit.
TIME_SCALES = {"seconds": 1.0, "milliseconds": 1e-3, "htk_100ns": 1e-7, "samples_16k": 1 / 16000}

Segment = tuple[float, float, str]


@dataclasses.dataclass(eq=False)
class TcdTimitConfig(LipCorpusConfig):
    """TCD-TIMIT builder settings (crop settings: see `LipCorpusConfig`).

    Attributes:
      test_fraction: fraction of each speaker's clips in test, rounded (ParaLip: 0.3).
      camera: camera folder under `Clips/` ("straightcam" or "30degcam").
    """

    test_fraction: float = 0.3
    camera: str = "straightcam"


def parse_label_lines(lines: list[str], *, source: str) -> list[Segment]:
    """Parses "start end phone" lines (raw times, unit not yet known)."""
    segments = []
    for line_no, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 3:
            raise DataError(f"{source}:{line_no}: expected 'start end phone', got {line!r}")
        try:
            start, end = float(parts[0]), float(parts[1])
        except ValueError as e:
            raise DataError(f"{source}:{line_no}: times must be numbers, got {line!r}") from e
        segments.append((start, end, parts[2].lower()))
    if not segments:
        raise DataError(f"{source}: no labels")
    return segments


def parse_mlf(text: str, *, source: str = "<mlf>") -> dict[tuple[str, str], list[Segment]]:
    """HTK master label file -> {(speaker folder, clip name): segments}."""
    entries: dict[tuple[str, str], list[Segment]] = {}
    key: tuple[str, str] | None = None
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line == "#!MLF!#":
            continue
        if line.startswith('"'):
            parts = Path(line.strip('"').replace("\\", "/")).parts
            name = Path(parts[-1]).stem
            speaker = next((p for p in reversed(parts[:-1]) if _SPEAKER.match(p)), None)
            key = (speaker, name) if speaker else None
            lines = []
        elif line == ".":
            if key is not None and lines:
                entries[key] = parse_label_lines(lines, source=f"{source} [{key[0]}/{key[1]}]")
            key, lines = None, []
        else:
            lines.append(line)
    return entries


def detect_time_scale(segments: list[Segment], duration_s: float) -> float:
    """Seconds per label unit: the `TIME_SCALES` entry whose last end best matches the video."""
    last_end = max(end for _, end, _ in segments)
    if last_end <= 0 or duration_s <= 0:
        raise DataError(f"cannot infer label time units (last end {last_end}, video {duration_s} s)")
    return min(TIME_SCALES.values(), key=lambda s: abs(np.log(last_end * s / duration_s)))


def labels_to_tokens(
    segments: list[Segment], num_frames: int, fps: float
) -> tuple[np.ndarray, np.ndarray, str]:
    """Phoneme labels -> (tokens int32 [S], durations int32 [S] summing to T, text).

    See the module docstring for folding, merging and timing rules.
    """
    scale = detect_time_scale(segments, num_frames / fps)
    unknown = sorted({label for _, _, label in segments if label not in TIMIT_TO_CMU})
    if unknown:
        raise DataError(f"labels not in lipjax.text.TIMIT_TO_CMU: {', '.join(unknown)}")
    phones: list[str] = []
    starts: list[float] = []
    previous_label = ""
    for start, _, label in sorted(segments, key=lambda s: s[0]):
        phone = TIMIT_TO_CMU[label]
        merges = phones and phones[-1] == phone and (phone == SIL or previous_label.endswith("cl"))
        if not merges:
            phones.append(phone)
            starts.append(start * scale * fps)
        previous_label = label
    if phones[0] != SIL:
        phones.insert(0, SIL)
        starts.insert(0, 0.0)
    if phones[-1] != SIL:
        phones.append(SIL)
        starts.append(max(end for _, end, _ in segments) * scale * fps)
    durations = boundaries_to_durations([0.0, *starts[1:], float(num_frames)], num_frames)
    text = " ".join(p for p in phones if p != SIL)
    if not text:
        raise DataError("the labels contain only silence")
    return PHONEMES.encode_symbols(phones), durations, text


def find_tcd_timit_clips(root: Path, *, camera: str = "straightcam") -> list[Clip]:
    """Volunteer clips of one camera under `root`, each with its parsed label segments."""
    root = Path(root)
    master: dict[tuple[str, str], list[Segment]] = {}
    for mlf in sorted(root.rglob("*.mlf")):
        master.update(parse_mlf(mlf.read_text(errors="replace"), source=str(mlf)))
    clips, unlabelled = [], 0
    for clip_dir in sorted(root.rglob(f"volunteers/*/Clips/{camera}")):
        speaker = clip_dir.parent.parent.name
        match = _SPEAKER.match(speaker)
        if match is None:
            continue
        for path in sorted(p for p in clip_dir.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS):
            segments = None
            for ext in LABEL_EXTENSIONS:
                label_file = path.with_suffix(ext)
                if label_file.is_file():
                    try:
                        segments = parse_label_lines(label_file.read_text().splitlines(),
                                                     source=str(label_file))
                    except DataError as e:
                        _LOG.warning("TCD-TIMIT: ignoring %s: %s", label_file, e)
                    break
            if segments is None:
                segments = master.get((speaker, path.stem))
            if segments is None:
                unlabelled += 1
                continue
            clips.append(Clip(speaker, int(match.group(1)), path.stem, path, segments))
    if unlabelled:
        _LOG.warning("TCD-TIMIT: %d videos have no phoneme labels and are ignored", unlabelled)
    return clips


class TcdTimit(LipCorpusBuilder):
    """TCD-TIMIT volunteer lip crops (80x160, 29.97 fps) with phoneme tokens and durations."""

    CORPUS_NAME = "TCD-TIMIT"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Haar-cascade lip crops, CMU phoneme durations from label files."}
    BUILDER_CONFIGS = [TcdTimitConfig(name="default", description="Straight camera, no landmarks.")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Request access to TCD-TIMIT at https://sigmedia.tcd.ie/ and unpack the volunteers' clips into
    `manual_dir/volunteers/<speaker>/Clips/straightcam/*.mp4`; put the phoneme labels
    (`volunteer_labelfiles.mlf`, or per-clip `<clip>.txt` files next to the videos) under
    `manual_dir` too. Then build with `tfds.download.DownloadConfig(manual_dir=...)`.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="TCD-TIMIT volunteer lip crops with phoneme durations (ParaLip, AAAI 2022).",
            features=lip_features(self.builder_config),
            homepage="https://sigmedia.tcd.ie/",
        )

    @staticmethod
    def find_clips(manual_dir: Path, config: TcdTimitConfig) -> list[Clip]:
        return find_tcd_timit_clips(manual_dir, camera=config.camera)

    @staticmethod
    def num_test(num_clips: int, config: TcdTimitConfig) -> int:
        return int(np.floor(config.test_fraction * num_clips + 0.5))

    labels_to_tokens = staticmethod(labels_to_tokens)
