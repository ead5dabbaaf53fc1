"""GRID audio-visual corpus (Cooke et al., 2006) as 80x160 lip videos with character tokens.

ParaLip (AAAI 2022, Sec. 4.1) uses GRID's 33 speakers x 1000 sentences, 75 frames at 25 fps,
character tokens, and a speaker-dependent split with 255 random test sentences per speaker.

Source layout (`manual_dir`): speaker folders `s1` ... `s34` holding `<id>.mpg` videos, and
`<id>.align` word alignments. The speaker of a file is the nearest enclosing folder named
`s<number>`, so the common ways of unpacking the distribution all work, e.g.

    s1/bbaf2n.mpg                        alignments/s1/bbaf2n.align
    s1/video/mpg_6000/bbaf2n.mpg         s1/align/bbaf2n.align
    video/s1/bbaf2n.mpg                  align/s1/bbaf2n.align   (or alignments/s1/align/...)

A video and an alignment match when speaker and file stem agree; videos without an alignment are
ignored (and counted in the log).

Alignment files have "start end word" lines; 1000 units are one video frame at 25 fps, and
`sil` / `sp` mark silences. Tokens and durations (vocabulary `lipjax.text.GRID_CHARS`):

* The tokens are `<sil>`, the characters of the words with one space token between words,
  `<sil>` — exactly `GRID_CHARS.encode(text, add_silence=True)`, so they decode to the text.
* The frames before the first word go to the leading `<sil>`, after the last word to the
  trailing `<sil>`; everything between two words (an `sp` or `sil` segment, or an unlabelled
  gap) goes to the space token between them, which gets 0 frames when the words touch.
* A word's span is split evenly over its characters; all token boundaries are then rounded
  cumulatively (`boundaries_to_durations`), so durations sum to the decoded frame count exactly.
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
from lipjax.errors import DataError, InputError
from lipjax.text import GRID_CHARS

__all__ = ["GridConfig", "Grid", "parse_align", "align_to_tokens", "find_grid_clips"]

_LOG = logging.getLogger(__name__)
_SPEAKER_DIR = re.compile(r"^s(\d+)$")
SILENCE_WORDS = ("sil", "sp")
UNITS_PER_FRAME = 1000  # GRID .align time unit: 1/1000 of a 25 fps frame


@dataclasses.dataclass(eq=False)
class GridConfig(LipCorpusConfig):
    """GRID builder settings (crop settings: see `LipCorpusConfig`).

    Attributes:
      test_per_speaker: test clips per speaker (ParaLip: 255).
      max_test_fraction: a speaker with few clips gets at most this fraction of them in test,
        i.e. num_test = min(test_per_speaker, floor(max_test_fraction * n)).
    """

    test_per_speaker: int = 255
    max_test_fraction: float = 0.5


def parse_align(text: str, *, source: str = "<align>") -> list[tuple[float, float, str]]:
    """Parses a GRID .align file into (start_frame, end_frame, word) with times in frames."""
    segments = []
    for line_no, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise DataError(f"{source}:{line_no}: expected 'start end word', got {line!r}")
        try:
            start, end = float(parts[0]) / UNITS_PER_FRAME, float(parts[1]) / UNITS_PER_FRAME
        except ValueError as e:
            raise DataError(f"{source}:{line_no}: times must be numbers, got {line!r}") from e
        if end < start:
            raise DataError(f"{source}:{line_no}: segment ends before it starts: {line!r}")
        segments.append((start, end, parts[2].lower()))
    if not any(w not in SILENCE_WORDS for _, _, w in segments):
        raise DataError(f"{source}: no words in the alignment")
    return segments


def align_to_tokens(
    segments: list[tuple[float, float, str]], num_frames: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """GRID word timings -> (tokens int32 [S], durations int32 [S] summing to T, text).

    See the module docstring for how silences and characters share the frames.
    """
    words = [(s, e, w) for s, e, w in segments if w not in SILENCE_WORDS]
    text = " ".join(w for _, _, w in words)
    try:
        tokens = GRID_CHARS.encode(text, add_silence=True)
    except InputError as e:
        raise DataError(f"alignment words are not GRID text: {e}") from e
    # Token boundaries (S + 1 values): 0 | char starts of word 0 | end of word 0 (= start of the
    # space) | char starts of word 1 (the first = end of the space) | ... | end of the last word
    # (= start of the trailing <sil>) | T.
    boundaries = [0.0]
    for start, end, word in words:
        boundaries += list(np.linspace(start, end, len(word) + 1)[:-1])
        boundaries.append(end)
    boundaries.append(float(num_frames))
    durations = boundaries_to_durations(boundaries, num_frames)
    if len(durations) != len(tokens):
        raise DataError(f"internal: {len(durations)} durations for {len(tokens)} tokens")
    return tokens, durations, text


def _speaker_of(path: Path, root: Path) -> str | None:
    for part in reversed(path.relative_to(root).parts[:-1]):
        if _SPEAKER_DIR.match(part):
            return part
    return None


def find_grid_clips(root: Path) -> list[Clip]:
    """All (video, alignment) pairs under `root`, with their parsed alignments."""
    root = Path(root)
    aligns: dict[tuple[str, str], Path] = {}
    for path in root.rglob("*.align"):
        speaker = _speaker_of(path, root)
        if speaker is not None:
            aligns[(speaker, path.stem)] = path
    clips, unaligned = [], 0
    for path in sorted(root.rglob("*.mpg")):
        speaker = _speaker_of(path, root)
        if speaker is None:
            continue
        align = aligns.get((speaker, path.stem))
        if align is None:
            unaligned += 1
            continue
        index = int(_SPEAKER_DIR.match(speaker).group(1))
        clips.append(Clip(speaker, index, path.stem, path, align))
    if unaligned:
        _LOG.warning("GRID: %d videos have no .align file and are ignored", unaligned)
    return clips


class Grid(LipCorpusBuilder):
    """GRID lip crops (80x160, 25 fps) with character tokens and durations."""

    CORPUS_NAME = "GRID"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Haar-cascade lip crops, character durations from .align files."}
    BUILDER_CONFIGS = [GridConfig(name="default", description="Fixed lip geometry, no landmarks.")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download GRID from https://spandh.dcs.shef.ac.uk/gridcorpus/ (the 'normal' .mpg videos and
    the word alignments of every speaker) and unpack them into `manual_dir`, e.g.
    `manual_dir/s1/*.mpg` and `manual_dir/alignments/s1/*.align` (other layouts: see the
    `lipjax.data.builders.grid` docstring). Then build with
    `tfds.download.DownloadConfig(manual_dir=...)`.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="GRID lip crops with per-character durations (ParaLip, AAAI 2022).",
            features=lip_features(self.builder_config),
            homepage="https://spandh.dcs.shef.ac.uk/gridcorpus/",
        )

    @staticmethod
    def find_clips(manual_dir: Path, config: GridConfig) -> list[Clip]:
        del config
        return find_grid_clips(manual_dir)

    @staticmethod
    def num_test(num_clips: int, config: GridConfig) -> int:
        return min(config.test_per_speaker, int(np.floor(config.max_test_fraction * num_clips)))

    @staticmethod
    def labels_to_tokens(align_path: Path, num_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray, str]:
        del fps  # GRID alignments are in video-frame units already
        segments = parse_align(Path(align_path).read_text(), source=str(align_path))
        return align_to_tokens(segments, num_frames)
