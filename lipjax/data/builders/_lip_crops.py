"""What the real-corpus lip builders (GRID, TCD-TIMIT) share.

Per clip: decode the video (`lipjax.video`), detect the face in every frame, smooth the box over
time, place a lip-centred box with a fixed geometry inside the face box (or centre it on dlib mouth
landmarks when a shape-predictor file is configured), crop and resize to 80x160 (H x W, ParaLip,
AAAI 2022, Sec. 4.1), and turn the corpus' time-aligned labels into tokens with integer durations
that sum exactly to the number of decoded frames.

Examples carry the same fields as the `synthetic_lips` corpus, so one input pipeline reads all of
them: `id` str, `text` str, `speaker` int32, `tokens` int32 `[S]`, `durations` int32 `[S]` (sum T),
`frames` uint8 `[T, 80, 160, 3]`, `landmarks` float32 `[T, 20, 2]`.

Landmarks are (x, y) pixels in the 80x160 crop, dlib points 48-67, when a predictor file is
configured; otherwise they are NaN (the Haar path finds no landmarks and an invented mouth shape
would make LMD meaningless; metrics must skip NaN landmarks).

Clips whose video cannot be decoded, shows no face, or whose labels do not parse are skipped with
a warning and listed in the builder's `skipped` attribute (split -> ["<id>: <reason>", ...]).
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from lipjax import face, video
from lipjax.data.builders._common import LocalCodePath, lip_video_features
from lipjax.errors import DataError, InputError, NoFaceError, VideoError

__all__ = [
    "LipCorpusConfig",
    "Clip",
    "LipTrack",
    "extract_lip_track",
    "boundaries_to_durations",
    "split_by_speaker",
    "lip_features",
    "generate_lip_examples",
    "LipCorpusBuilder",
]

_LOG = logging.getLogger(__name__)
NUM_MOUTH_LANDMARKS = len(face.MOUTH_LANDMARK_INDICES)


@dataclasses.dataclass(eq=False)
class LipCorpusConfig(tfds.core.BuilderConfig):
    """Crop-extraction settings shared by the GRID and TCD-TIMIT builders.

    Attributes:
      crop_height, crop_width: lip crop size (ParaLip: 80 x 160).
      smoothing_window: frames of the centred moving average applied to the face boxes (odd).
      detection_stride: run the face detector on every n-th frame only (others interpolated).
      scale_factor, min_neighbors, min_size_fraction: Haar detector settings
        (`lipjax.face.detect_face_boxes`).
      lip_width_fraction, lip_center_x, lip_center_y: fixed lip-box geometry inside the face box
        (`lipjax.face.lip_box_from_face`); the aspect is crop_width / crop_height.
      predictor_path: optional dlib 68-point shape-predictor file; when set, the crop is centred
        on mouth landmarks 48-67 and the landmarks are stored (needs `pip install dlib`).
      landmark_width_scale: lip-box width over the landmarks' corner-to-corner span.
      seed: seed of the train/test split.
    """

    crop_height: int = 80
    crop_width: int = 160
    smoothing_window: int = 5
    detection_stride: int = 1
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size_fraction: float = 0.1
    lip_width_fraction: float = 0.65
    lip_center_x: float = 0.5
    lip_center_y: float = 0.8
    predictor_path: str | None = None
    landmark_width_scale: float = 1.6
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Clip:
    """One source clip: its video file and the corpus-specific label data (`labels`)."""

    speaker: str
    speaker_index: int
    clip_id: str
    video_path: Path
    labels: Any

    @property
    def key(self) -> str:
        return f"{self.speaker}_{self.clip_id}"


@dataclasses.dataclass(frozen=True)
class LipTrack:
    """Lip crops of one video.

    Attributes:
      frames: uint8 `[T, crop_height, crop_width, 3]`.
      landmarks: float32 `[T, 20, 2]` (x, y) crop pixels, NaN without a predictor.
      lip_boxes: float32 `[T, 4]` (x0, y0, x1, y1) in source-frame pixels.
      fps: frame rate of the source video.
    """

    frames: np.ndarray
    landmarks: np.ndarray
    lip_boxes: np.ndarray
    fps: float


Landmarker = Callable[[np.ndarray, np.ndarray], np.ndarray]


def extract_lip_track(
    path: str | Path, config: LipCorpusConfig, *, landmarker: Landmarker | None = None
) -> LipTrack:
    """Decode -> detect -> smooth -> lip box -> crop, for one video file.

    `landmarker(frames [T, H, W, 3], face_boxes [T, 4]) -> [T, 20, 2]` (e.g. a
    `lipjax.face.MouthLandmarker`) switches from the fixed geometry to landmark-centred crops.

    Raises VideoError (unreadable video) or NoFaceError (no face in any frame).
    """
    frames, fps = video.read_video(path)
    boxes, found = face.detect_face_boxes(
        frames, scale_factor=config.scale_factor, min_neighbors=config.min_neighbors,
        min_size_fraction=config.min_size_fraction, stride=config.detection_stride,
    )
    face_boxes = face.smooth_boxes(boxes, found, window=config.smoothing_window)
    aspect = config.crop_width / config.crop_height
    if landmarker is None:
        lip_boxes = face.lip_box_from_face(
            face_boxes, aspect=aspect, width_fraction=config.lip_width_fraction,
            center_x=config.lip_center_x, center_y=config.lip_center_y,
        )
        landmarks_full = np.full((len(frames), NUM_MOUTH_LANDMARKS, 2), np.nan, np.float32)
    else:
        landmarks_full = landmarker(frames, face_boxes)
        per_frame = face.lip_box_from_landmarks(
            landmarks_full, aspect=aspect, width_scale=config.landmark_width_scale
        )
        lip_boxes = face.smooth_boxes(per_frame, np.ones(len(frames), bool),
                                      window=config.smoothing_window)
    size = (config.crop_height, config.crop_width)
    crops = np.stack([face.crop_and_resize(f, b, size) for f, b in zip(frames, lip_boxes)])
    # Landmarks to crop pixels: shift to the snapped box origin, scale by crop / box size.
    snapped = np.asarray([face.box_to_pixels(b) for b in lip_boxes], np.float32)
    scale = np.stack([config.crop_width / (snapped[:, 2] - snapped[:, 0]),
                      config.crop_height / (snapped[:, 3] - snapped[:, 1])], axis=-1)
    landmarks = (landmarks_full - snapped[:, None, :2]) * scale[:, None, :]
    return LipTrack(crops, landmarks.astype(np.float32), lip_boxes, fps)


def boundaries_to_durations(boundaries: Sequence[float] | np.ndarray, num_frames: int) -> np.ndarray:
    """Integer frames per token from fractional token boundaries (in frames).

    `boundaries[i]`, `boundaries[i + 1]` are where token i starts and ends (S + 1 values). They are
    clipped to [0, num_frames], the first is set to 0 and the last to `num_frames` (labels that
    end early or late give their slack to the first / last token), made non-decreasing, and
    rounded *cumulatively*: d_i = round(b_{i+1}) - round(b_i). The durations therefore sum exactly
    to `num_frames`, each differs from its fractional length by less than 1 frame, and rounding
    errors never accumulate along the sentence.

    Returns:
      int32 `[S]`, non-negative, summing to `num_frames`.
    """
    edges = np.asarray(boundaries, np.float64)
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges)):
        raise InputError(f"boundaries must be >= 2 finite values, got {edges!r}")
    if num_frames < 0:
        raise InputError(f"num_frames must be >= 0, got {num_frames}")
    edges = np.clip(edges, 0, num_frames)
    edges[0], edges[-1] = 0, num_frames
    edges = np.maximum.accumulate(edges)
    return np.diff(np.floor(edges + 0.5).astype(np.int64)).astype(np.int32)


def split_by_speaker(
    clips: Sequence[Clip], *, num_test: Callable[[int], int], seed: int
) -> dict[str, list[Clip]]:
    """Speaker-dependent train/test split.

    For every speaker, its clips (sorted by id) are permuted with a generator seeded by
    (`seed`, CRC32 of the speaker name) and the first `num_test(n)` go to test. The assignment
    depends only on the file list, not on which clips later fail to decode.
    """
    by_speaker: dict[str, list[Clip]] = {}
    for clip in clips:
        by_speaker.setdefault(clip.speaker, []).append(clip)
    splits: dict[str, list[Clip]] = {"train": [], "test": []}
    for speaker in sorted(by_speaker):
        ordered = sorted(by_speaker[speaker], key=lambda c: c.clip_id)
        rng = np.random.default_rng([seed, zlib.crc32(speaker.encode())])
        order = rng.permutation(len(ordered))
        count = num_test(len(ordered))
        test_index = set(order[:count].tolist())
        for i, clip in enumerate(ordered):
            splits["test" if i in test_index else "train"].append(clip)
    return splits


def lip_features(config: LipCorpusConfig) -> tfds.features.FeaturesDict:
    """The per-example features (same fields as `synthetic_lips`)."""
    return lip_video_features(config.crop_height, config.crop_width)


LabelsToTokens = Callable[[Any, int, float], tuple[np.ndarray, np.ndarray, str]]


def generate_lip_examples(
    clips: Sequence[Clip],
    config: LipCorpusConfig,
    *,
    labels_to_tokens: LabelsToTokens,
    skipped: list[str],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields (key, example) for each clip that decodes, shows a face and has valid labels.

    Args:
      clips: the clips of one split.
      config: crop settings.
      labels_to_tokens: `(clip.labels, num_frames, fps) -> (tokens, durations, text)`; raises
        DataError for labels it cannot use.
      skipped: list that receives "<key>: <reason>" for every skipped clip.
    """
    landmarker = face.MouthLandmarker(config.predictor_path) if config.predictor_path else None
    for clip in clips:
        try:
            track = extract_lip_track(clip.video_path, config, landmarker=landmarker)
            num_frames = len(track.frames)
            tokens, durations, text = labels_to_tokens(clip.labels, num_frames, track.fps)
        except (VideoError, NoFaceError, DataError, InputError) as e:
            skipped.append(f"{clip.key}: {e}")
            _LOG.warning("skipping %s (%s): %s", clip.key, clip.video_path, e)
            continue
        if int(durations.sum()) != num_frames or len(tokens) != len(durations):
            raise DataError(f"{clip.key}: durations do not sum to the {num_frames} frames (a bug)")
        yield clip.key, {
            "id": clip.key,
            "text": text,
            "speaker": np.int32(clip.speaker_index),
            "tokens": np.asarray(tokens, np.int32),
            "durations": np.asarray(durations, np.int32),
            "frames": track.frames,
            "landmarks": track.landmarks,
        }


class LipCorpusBuilder(LocalCodePath, tfds.core.GeneratorBasedBuilder, abc.ABC):
    """Base of the real-corpus lip builders (abstract, so tfds does not register it).

    A subclass provides `_info`, `find_clips(manual_dir, config)`, `num_test(n, config)` and
    `labels_to_tokens` (see `generate_lip_examples`). Skipped clips are listed per split in
    `self.skipped`.
    """

    CORPUS_NAME = "corpus"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.skipped: dict[str, list[str]] = {}

    @staticmethod
    @abc.abstractmethod
    def find_clips(manual_dir: Path, config: Any) -> list[Clip]:
        """All labelled clips under `manual_dir`."""

    @staticmethod
    @abc.abstractmethod
    def num_test(num_clips: int, config: Any) -> int:
        """How many of a speaker's `num_clips` clips go to the test split."""

    @staticmethod
    @abc.abstractmethod
    def labels_to_tokens(labels: Any, num_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray, str]:
        """`(clip.labels, T, fps) -> (tokens, durations, text)`; DataError if unusable."""

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        config = self.builder_config
        manual_dir = Path(dl_manager.manual_dir)
        clips = self.find_clips(manual_dir, config) if manual_dir.is_dir() else []
        if not clips:
            raise DataError(
                f"no labelled {self.CORPUS_NAME} clips found under {str(manual_dir)!r}. "
                + " ".join(self.MANUAL_DOWNLOAD_INSTRUCTIONS.split())
            )
        splits = split_by_speaker(clips, num_test=lambda n: self.num_test(n, config), seed=config.seed)
        return {name: self._generate_examples(name, chosen) for name, chosen in splits.items()}

    def _generate_examples(self, split: str, clips: list[Clip]) -> Iterator[tuple[str, dict[str, Any]]]:
        skipped = self.skipped.setdefault(split, [])
        yield from generate_lip_examples(
            clips, self.builder_config, labels_to_tokens=self.labels_to_tokens, skipped=skipped
        )
        if skipped:
            _LOG.warning("%s %s: skipped %d clip(s); see builder.skipped", self.CORPUS_NAME, split,
                         len(skipped))
