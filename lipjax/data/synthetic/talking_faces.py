"""Procedural talking-face clips: background, moving head, viseme-driven mouth, formant audio.

The DCK talking-face system (IEEE TMM 2022) trains on pairs of videos with the same identity and
head motion but different speech, predicting V2 from (V1 frames, A2 audio) and V1 from (V2, A1).
This module renders such pairs without any download:

* a GRID-grammar sentence (`lipjax.text.GRID_WORDS`) is tokenised into characters with `<sil>` at
  both ends and given per-character durations (frames at 25 fps);
* the mouth follows `mouth.mouth_trajectory` of that timeline and is drawn with
  `mouth_drawing.draw_mouth` on top of a face;
* 16 kHz audio is synthesised from the same timeline (`speech.synthesize_speech`), so the audio
  predicts the mouth shape;
* identities are drawn faces (skin ellipse with shading, eyes, brows, nose, hair, neck and
  shoulders) and one real face: the astronaut photograph (Eileen Collins) shipped with
  scikit-image, whose real mouth is inpainted with skin and replaced by the synthetic mouth;
* each identity has its own procedural background (gradient, shapes, texture) and voice;
* the head moves smoothly (translation, in-plane rotation, scale): the same similarity transform
  is applied to the face image, its box and the mouth landmarks.

A pair shares identity, background and head motion (hence the same number of frames T: the
shorter sentence gets more trailing silence); only the mouth and the audio differ. Images are uint8
here because this is file-I/O-side data generation; the input pipeline converts to float [0, 1].

This module assembles identities, renders clips and generates the pairs; the faces and backgrounds
are drawn in `face_drawing`, the head pose comes from `head_pose`, the sentence pools from
`sentences` and the token timing from `durations`.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import cv2
import numpy as np

from lipjax.data.synthetic import speech
from lipjax.data.synthetic.durations import fit_durations, sample_durations
from lipjax.data.synthetic.face_drawing import (
    FaceSprite,
    astronaut_face,
    draw_background,
    drawn_face,
)
from lipjax.data.synthetic.head_pose import head_motion, similarity_matrices
from lipjax.data.synthetic.mouth import SOUND_CLASSES, mouth_trajectory
from lipjax.data.synthetic.mouth_drawing import draw_mouth
from lipjax.data.synthetic.mouth_geometry import mouth_landmarks
from lipjax.data.synthetic.sentences import grid_sentences, split_sentence_pool
from lipjax.errors import ConfigError, InputError
from lipjax.text import GRID_CHARS

__all__ = [
    "Identity",
    "TalkingFacesConfig",
    "make_identity",
    "render_base_frames",
    "render_mouths",
    "make_pair",
    "jitter_boxes",
    "generate_pairs",
]


# ----------------------------------------------------------------------------------------------
# Identities
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Identity:
    """A speaker: face, background and voice. Identity 0 is the astronaut photograph."""

    index: int
    name: str
    face: FaceSprite
    background: np.ndarray  # uint8 [H, W, 3]
    voice: speech.Voice
    speaking_rate: float = 1.0


def make_identity(
    index: int, *, seed: int, frame_size: tuple[int, int], face_fraction: float = 0.5,
    speaking_rate: tuple[float, float] = (1.0, 1.0),
) -> Identity:
    """Identity `index` of a corpus: 0 is the astronaut, the others are drawn faces.

    Deterministic in (seed, index); the face box is `face_fraction` of the frame height.
    """
    if index < 0:
        raise InputError(f"identity index must be >= 0, got {index}")
    rng = np.random.default_rng([seed, 7919, index])
    height, width = frame_size
    face_height = face_fraction * height
    if index == 0:
        face, name = astronaut_face(face_height=face_height), "astronaut"
    else:
        face, name = drawn_face(rng, face_height=face_height), f"drawn_{index:03d}"
    return Identity(
        index=index,
        name=name,
        face=face,
        background=draw_background(rng, height, width),
        voice=speech.sample_voice(rng),
        speaking_rate=float(rng.uniform(*speaking_rate)),
    )


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


def _apply(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Applies `[T, 2, 3]` affine matrices to `[T, P, 2]` (or `[P, 2]`) points -> `[T, P, 2]`."""
    points = np.broadcast_to(points, (matrices.shape[0],) + np.shape(points)[-2:])
    return np.einsum("tij,tpj->tpi", matrices[:, :, :2], points) + matrices[:, None, :, 2]


def _face_transforms(identity: Identity, pose: np.ndarray) -> np.ndarray:
    """Sprite->frame matrices `[T, 2, 3]`: the face box centre goes to the frame centre + motion."""
    height, width = identity.background.shape[:2]
    x0, y0, x1, y1 = identity.face.face_box
    return similarity_matrices(
        pose, source_anchor=((x0 + x1) / 2, (y0 + y1) / 2),
        target_anchor=(width / 2, height * 0.48), base_scale=1.0,
    )


def render_base_frames(identity: Identity, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background + moving face without a mouth.

    Args:
      identity: who is shown.
      pose: `[T, 4]` head pose from `head_motion`.

    Returns:
      (frames uint8 `[T, H, W, 3]`, face_boxes float32 `[T, 4]` as x0, y0, x1, y1 in frame
      pixels: the axis-aligned box around the transformed face box).
    """
    matrices = _face_transforms(identity, pose)
    height, width = identity.background.shape[:2]
    background = identity.background.astype(np.float32)
    sprite = identity.face.rgb.astype(np.float32)
    frames = np.empty((pose.shape[0], height, width, 3), np.uint8)
    for t, m in enumerate(matrices):
        rgb = cv2.warpAffine(sprite, m, (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        a = cv2.warpAffine(identity.face.alpha, m, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
        frames[t] = np.clip(np.round(background * (1.0 - a) + rgb * a), 0, 255).astype(np.uint8)
    x0, y0, x1, y1 = identity.face.face_box
    corners = _apply(matrices, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=-1)
    return frames, boxes.astype(np.float32)


def render_mouths(
    identity: Identity, pose: np.ndarray, base_frames: np.ndarray, params: np.ndarray,
    *, supersample: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Draws the mouth of every frame onto a copy of `base_frames`.

    Args:
      identity: whose mouth (position, size, colours).
      pose: `[T, 4]` the same head pose as the base frames.
      base_frames: uint8 `[T, H, W, 3]` from `render_base_frames`.
      params: `[T, 5]` mouth parameters.
      supersample: anti-aliasing factor of `mouth_drawing.draw_mouth`.

    Returns:
      (frames uint8 `[T, H, W, 3]`, landmarks float32 `[T, 20, 2]` dlib 48-67, frame pixels).
    """
    if not (pose.shape[0] == base_frames.shape[0] == params.shape[0]):
        raise InputError(
            f"pose, frames and mouth params disagree on T: {pose.shape[0]}, "
            f"{base_frames.shape[0]}, {params.shape[0]}"
        )
    matrices = _face_transforms(identity, pose)
    face = identity.face
    centres = _apply(matrices, np.asarray([face.mouth_center]))[:, 0]  # [T, 2]
    frames = base_frames.copy()
    landmarks = np.empty((pose.shape[0], 20, 2), np.float32)
    for t in range(pose.shape[0]):
        landmarks[t] = mouth_landmarks(
            params[t], center=(float(centres[t, 0]), float(centres[t, 1])),
            scale=float(face.mouth_scale * pose[t, 3]), angle=float(pose[t, 2]),
            upper_lip=face.mouth_style.upper_lip, lower_lip=face.mouth_style.lower_lip,
        )
        draw_mouth(frames[t], landmarks[t], params[t], face.mouth_style, supersample=supersample)
    return frames, landmarks


# ----------------------------------------------------------------------------------------------
# Pairs
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TalkingFacesConfig:
    """What to generate. Every field has a default that gives the "small" corpus.

    Attributes:
      num_identities: speakers; identity 0 is the astronaut photograph, the rest are drawn.
      train_pairs_per_identity, test_pairs_per_identity: pairs per identity and split.
      test_fraction: share of GRID sentences reserved for the test split (never in train).
      frame_height, frame_width: full-frame size in pixels.
      face_fraction: face box height / frame height.
      min_frames, max_frames: clip length range; a pair lasts as long as its longer sentence
        (clipped into the range, durations are shortened or trailing silence added to fit).
      num_words: GRID words per sentence (6 = the full grammar; fewer for toy clips).
      fps: video frame rate (GRID: 25).
      sample_rate: audio rate in Hz.
      speaking_rate: range of the per-identity speaking rate (> 1 = faster); with
        duration_jitter and silence_frames passed to `durations.sample_durations`.
      coarticulation, target_jitter: `mouth.mouth_trajectory` settings.
      max_shift, max_angle_deg, max_scale_change: head motion ranges (`head_motion`); shifts in
        fractions of the frame width and height.
      crop_jitter: face boxes of the train split moved per frame by independent uniform offsets
        in [-crop_jitter, crop_jitter] times the box width (x) and height (y), so that the face
        is not always at the same place in its crop, as with a face detector's boxes (0: the
        exact boxes; the test split always keeps them). Frames, landmarks and audio are those
        of the corpus without jitter (`jitter_boxes`).
      seed: everything is a deterministic function of the seed and the record's position.
    """

    num_identities: int = 6
    train_pairs_per_identity: int = 4
    test_pairs_per_identity: int = 1
    test_fraction: float = 0.2
    frame_height: int = 160
    frame_width: int = 224
    face_fraction: float = 0.5
    min_frames: int = 50
    max_frames: int = 75
    num_words: int = 6
    fps: float = 25.0
    sample_rate: int = speech.SAMPLE_RATE
    speaking_rate: tuple[float, float] = (1.1, 1.4)
    duration_jitter: float = 0.25
    silence_frames: tuple[int, int] = (3, 7)
    coarticulation: float = 1.2
    target_jitter: float = 0.04
    max_shift: tuple[float, float] = (0.05, 0.04)
    max_angle_deg: float = 6.0
    max_scale_change: float = 0.06
    crop_jitter: float = 0.0
    seed: int = 0

    def validate(self) -> None:
        """Raises ConfigError naming the first inconsistent field."""
        if self.num_identities < 1:
            raise ConfigError(f"num_identities must be >= 1, got {self.num_identities}")
        if self.train_pairs_per_identity < 0 or self.test_pairs_per_identity < 0:
            raise ConfigError("pairs per identity must be >= 0")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ConfigError(f"need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if self.frame_height < 32 or self.frame_width < 32:
            raise ConfigError(f"frames must be at least 32x32, got {self.frame_height}x{self.frame_width}")
        if not 0.0 <= self.crop_jitter <= 0.5:
            raise ConfigError(f"crop_jitter must be in [0, 0.5] (a fraction of the face box), "
                              f"got {self.crop_jitter}")
        if not 0.1 <= self.face_fraction <= 0.8:
            raise ConfigError(f"face_fraction must be in [0.1, 0.8], got {self.face_fraction}")
        for split in ("train", "test"):
            if len(self.sentences(split)) < 2:
                raise ConfigError(
                    f"the {split} split has fewer than 2 sentences (num_words={self.num_words}, "
                    f"test_fraction={self.test_fraction}); a pair needs two different sentences"
                )

    def sentences(self, split: str) -> list[str]:
        """The sentence pool of a split ("train" or "test")."""
        train, test = split_sentence_pool(grid_sentences(self.num_words), test_fraction=self.test_fraction)
        if split not in ("train", "test"):
            raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
        return train if split == "train" else test


def _timeline(
    text: str, rng: np.random.Generator, config: TalkingFacesConfig, speaking_rate: float
) -> tuple[list[str], np.ndarray]:
    """A sentence's symbols (`<sil>` at both ends) and their sampled durations, int32 `[S]`."""
    ids = GRID_CHARS.encode(text, add_silence=True)
    symbols = [GRID_CHARS.symbols[i] for i in ids]
    durations = sample_durations(
        symbols, rng, speaking_rate=speaking_rate, jitter=config.duration_jitter,
        silence_frames=config.silence_frames,
    )
    return symbols, durations


def make_pair(
    identity: Identity, text_a: str, text_b: str, rng: np.random.Generator, config: TalkingFacesConfig,
) -> dict:
    """Renders one training pair (see the module docstring for the record layout)."""
    symbols_a, dur_a = _timeline(text_a, rng, config, identity.speaking_rate)
    symbols_b, dur_b = _timeline(text_b, rng, config, identity.speaking_rate)
    num_frames = int(np.clip(max(dur_a.sum(), dur_b.sum()), config.min_frames, config.max_frames))
    dur_a = fit_durations(symbols_a, dur_a, num_frames)
    dur_b = fit_durations(symbols_b, dur_b, num_frames)
    pose = head_motion(
        num_frames, rng, fps=config.fps,
        max_shift=(config.max_shift[0] * config.frame_width, config.max_shift[1] * config.frame_height),
        max_angle_deg=config.max_angle_deg, max_scale_change=config.max_scale_change,
    )
    base, boxes = render_base_frames(identity, pose)
    record: dict = {"face_boxes": boxes, "head_pose": pose}
    for tag, symbols, durations, text in (("a", symbols_a, dur_a, text_a), ("b", symbols_b, dur_b, text_b)):
        params = mouth_trajectory(
            symbols, durations, coarticulation=config.coarticulation,
            target_jitter=config.target_jitter, rng=rng,
        )
        classes = np.repeat([SOUND_CLASSES[s] for s in symbols], durations)
        frames, landmarks = render_mouths(identity, pose, base, params)
        record[f"frames_{tag}"] = frames
        record[f"landmarks_{tag}"] = landmarks
        record[f"mouth_{tag}"] = params.astype(np.float32)
        record[f"audio_{tag}"] = speech.synthesize_speech(
            params, classes, voice=identity.voice, rng=rng, fps=config.fps,
            sample_rate=config.sample_rate,
        )
        record[f"tokens_{tag}"] = GRID_CHARS.encode_symbols(symbols)
        record[f"durations_{tag}"] = durations.astype(np.int32)
        record[f"text_{tag}"] = text
    record["identity"] = np.int32(identity.index)
    record["fps"] = np.float32(config.fps)
    return record


def jitter_boxes(boxes: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Boxes `[T, 4]` (x0, y0, x1, y1) each moved by its own uniform offset in [-jitter, jitter]
    times its width along x and its height along y; sizes unchanged. float32 `[T, 4]`."""
    boxes = np.asarray(boxes, np.float64)
    size = boxes[:, 2:] - boxes[:, :2]                                  # [T, 2] (w, h)
    offset = rng.uniform(-jitter, jitter, size.shape) * size
    return (boxes + np.concatenate([offset, offset], axis=1)).astype(np.float32)


def generate_pairs(config: TalkingFacesConfig, split: str, *, progress: bool = False) -> Iterator[dict]:
    """Yields every pair of a split, in a fixed order; each record also has a `pair_id` string.

    Record `k` of identity `i` depends only on (config, split, i, k): records can be generated in
    any order or in parallel and are reproducible.

    Record fields: frames_a/frames_b uint8 `[T, H, W, 3]`; audio_a/audio_b float32
    `[round(T * sample_rate / fps)]`; face_boxes float32 `[T, 4]` (x0, y0, x1, y1, shared);
    head_pose float32 `[T, 4]` (dx, dy, angle, scale); landmarks_a/_b float32 `[T, 20, 2]`;
    mouth_a/_b float32 `[T, 5]` (`mouth.MOUTH_PARAMS`); tokens_a/_b int32 `[S]` (GRID_CHARS ids
    with `<sil>` at both ends); durations_a/_b int32 `[S]` summing to T; text_a/_b str;
    identity int32; fps float32; pair_id str.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415  (keeps import-time light)

    config.validate()
    pool = config.sentences(split)
    per_identity = config.train_pairs_per_identity if split == "train" else config.test_pairs_per_identity
    split_code = 0 if split == "train" else 1
    frame_size = (config.frame_height, config.frame_width)
    total = config.num_identities * per_identity
    with tqdm(total=total, desc=f"synthetic_talking_faces {split}", disable=not progress) as bar:
        for index in range(config.num_identities):
            identity = make_identity(index, seed=config.seed, frame_size=frame_size,
                                     face_fraction=config.face_fraction,
                                     speaking_rate=config.speaking_rate)
            for k in range(per_identity):
                rng = np.random.default_rng([config.seed, split_code, index, k])
                first, second = rng.choice(len(pool), size=2, replace=False)
                record = make_pair(identity, pool[first], pool[second], rng, config)
                if split == "train" and config.crop_jitter > 0:
                    # Its own generator: the rest of the record is that of the corpus without.
                    jitter_rng = np.random.default_rng([config.seed, split_code, index, k, 1])
                    record["face_boxes"] = jitter_boxes(record["face_boxes"], config.crop_jitter,
                                                        jitter_rng)
                record["pair_id"] = f"{split}-{identity.name}-{k:05d}"
                bar.update(1)
                yield record
