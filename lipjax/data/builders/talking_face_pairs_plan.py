"""`talking_face_pairs`, the plan: which (video, audio) combinations a build renders, in which
split, file and shard -- a pure function of the input file lists and the settings.

The DCK paper (Ye et al., IEEE TMM 2022, Sec. IV) pairs each of its Nr = 550 real videos with
m = 550 audios re-synced onto it by Wav2Lip. Here:

* inputs are the media files under `--videos` and `--audios` (searched recursively, hidden files
  ignored), named by their paths relative to those folders, in sorted order;
* video `v` is paired with `per_video` audios (every audio by default, as in the paper), drawn
  without replacement by a generator seeded with `(seed, sha1(v))`, so a video's audios do not
  depend on which other videos exist; an audio file with the video's own stem (its own
  soundtrack, when both folders are the same or hold extracted tracks) is never chosen;
* whole videos (identities) are held out for the `test` split: `round(test_fraction * Nr)` of
  them (at least one when `test_fraction > 0` and there are two or more videos), chosen by a
  seeded permutation;
* combination `k` of a split is written to the split's file `k`; shard `I` of `N` owns the
  contiguous block `[I C / N, (I + 1) C / N)` of the C combinations in plan order (videos in
  sorted order, then their audios), so that a video's combinations stay on one or two shards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from lipjax.errors import InputError

__all__ = [
    "VIDEO_SUFFIXES",
    "AUDIO_SUFFIXES",
    "MIN_CLIP_FRAMES",
    "PairSettings",
    "Combination",
    "PairPlan",
    "parse_shard",
    "media_files",
    "make_plan",
]

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".mpg", ".mpeg", ".webm",
                            ".flv", ".wmv"})
# An audio can also be the soundtrack of a video (the paper's audios come from videos).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus"}) \
    | VIDEO_SUFFIXES
MIN_CLIP_FRAMES = 5  # Wav2Lip's window; shorter runs of frames with a face are not kept
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class PairSettings:
    """What a build makes (stored with it; a resumed build must use the same).

    Attributes:
      per_video: audios per video; None = every audio (the paper's m x Nr pairs).
      seed: seeds the choice of audios and of the test videos.
      clip_frames: a record holds at most this many frames (a run of frames with a face is cut
        into near-equal clips no longer than this).
      test_fraction: share of the videos held out for the `test` split.
      batch_size: face crops per Wav2Lip call.
    """

    per_video: int | None = None
    seed: int = 0
    clip_frames: int = 75
    test_fraction: float = 0.1
    batch_size: int = 16

    def validate(self) -> None:
        """Raises InputError naming the first bad setting."""
        if self.per_video is not None and (isinstance(self.per_video, bool)
                                           or not isinstance(self.per_video, int)
                                           or self.per_video < 1):
            raise InputError(f"--per_video must be an integer >= 1, got {self.per_video!r}")
        if not isinstance(self.clip_frames, int) or self.clip_frames < MIN_CLIP_FRAMES:
            raise InputError(f"--clip_frames must be an integer >= {MIN_CLIP_FRAMES}, got "
                             f"{self.clip_frames!r}")
        if not 0.0 <= float(self.test_fraction) < 1.0:
            raise InputError(f"--test_fraction must be in [0, 1), got {self.test_fraction!r}")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 1024:
            raise InputError(f"--batch_size must be an integer in 1..1024, got "
                             f"{self.batch_size!r}")


@dataclasses.dataclass(frozen=True)
class Combination:
    """One (video, audio) pair of the plan and where its records go."""

    index: int  # position in the plan
    video: str  # path relative to --videos
    audio: str  # path relative to --audios
    video_index: int  # position of the video in the sorted video list (the record's identity)
    split: str
    file_index: int  # the split's file that holds its records
    split_files: int  # files of that split


@dataclasses.dataclass(frozen=True)
class PairPlan:
    """Every combination of a build, in plan order."""

    videos: tuple[str, ...]
    audios: tuple[str, ...]
    settings: PairSettings
    combinations: tuple[Combination, ...]

    def shard(self, index: int, count: int) -> tuple[Combination, ...]:
        """Shard `index` of `count`: a contiguous block of the plan (possibly empty)."""
        total = len(self.combinations)
        return self.combinations[index * total // count:(index + 1) * total // count]

    def split_sizes(self) -> dict[str, int]:
        """Files (= combinations) per split; splits without any are left out."""
        sizes: dict[str, int] = {}
        for combo in self.combinations:
            sizes[combo.split] = combo.split_files
        return {split: sizes[split] for split in SPLITS if split in sizes}

    def identity(self) -> dict:
        """What must match for two runs to be parts of one build (JSON-able)."""
        digest = hashlib.sha1(json.dumps(
            [(c.video, c.audio, c.split) for c in self.combinations]).encode()).hexdigest()
        return {"videos": list(self.videos), "audios": list(self.audios),
                "settings": dataclasses.asdict(self.settings), "combinations": digest,
                "num_combinations": len(self.combinations)}


def parse_shard(text: str) -> tuple[int, int]:
    """`"I/N"` -> `(I, N)` with `0 <= I < N`.

    Raises:
      InputError: another syntax, N < 1 or I outside 0..N-1.
    """
    match = _SHARD.match(str(text))
    if not match:
        raise InputError(f"--shard {text!r} is not I/N (e.g. 0/4: the first of 4 shards)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise InputError(f"--shard {text!r}: need 0 <= I < N (shards are numbered 0..N-1)")
    return index, count


def media_files(folder: str | os.PathLike, suffixes: frozenset[str], what: str
                ) -> tuple[str, ...]:
    """The files under `folder` (recursively, hidden ones ignored) with one of `suffixes`, as
    sorted POSIX paths relative to it.

    Raises:
      InputError: `folder` is missing or not a folder, or holds no such file.
    """
    root = Path(folder)
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise InputError(f"--{what} {os.fspath(folder)!r} {state}; give the folder of the {what}")
    found = []
    for current, folders, files in os.walk(root):
        folders[:] = [f for f in folders if not f.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                found.append((Path(current) / name).relative_to(root).as_posix())
    if not found:
        raise InputError(f"--{what} {os.fspath(folder)!r} holds no {what} (files ending in "
                         f"{', '.join(sorted(suffixes))})")
    return tuple(sorted(found))


def _stable_seed(text: str) -> int:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:12], 16)


def _stem(path: str) -> str:
    return Path(path).stem


def _test_videos(videos: Sequence[str], settings: PairSettings) -> frozenset[str]:
    """The held-out videos: a seeded choice of round(test_fraction * n), at least 1 if n >= 2."""
    count = int(round(settings.test_fraction * len(videos)))
    if settings.test_fraction > 0 and len(videos) >= 2:
        count = min(max(count, 1), len(videos) - 1)
    order = np.random.default_rng([settings.seed, 1]).permutation(len(videos))
    return frozenset(videos[i] for i in order[:count])


def _audios_of(video: str, audios: Sequence[str], settings: PairSettings) -> list[str]:
    """The audios video `video` is paired with, in drawing order."""
    candidates = [a for a in audios if _stem(a) != _stem(video)]
    count = len(candidates) if settings.per_video is None else min(settings.per_video,
                                                                   len(candidates))
    rng = np.random.default_rng([settings.seed, _stable_seed(video)])
    return [candidates[i] for i in rng.choice(len(candidates), size=count, replace=False)]


def make_plan(videos: Sequence[str], audios: Sequence[str], settings: PairSettings) -> PairPlan:
    """The build's combinations (see the module docstring).

    Raises:
      InputError: bad settings, or no video has an audio other than its own.
    """
    settings.validate()
    test = _test_videos(videos, settings)
    pairs = [(v, i, a, "test" if v in test else "train")
             for i, v in enumerate(videos) for a in _audios_of(v, audios, settings)]
    if not pairs:
        raise InputError("no combination to build: every audio has the stem of the video it "
                         "would be paired with (its own soundtrack); add other audios")
    sizes = {split: sum(p[3] == split for p in pairs) for split in SPLITS}
    seen = dict.fromkeys(SPLITS, 0)
    combinations = []
    for index, (video, video_index, audio, split) in enumerate(pairs):
        combinations.append(Combination(index, video, audio, video_index, split, seen[split],
                                        sizes[split]))
        seen[split] += 1
    return PairPlan(tuple(videos), tuple(audios), settings, tuple(combinations))
