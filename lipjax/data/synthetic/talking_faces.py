"""Procedural talking-face clips: background, moving head, viseme-driven mouth, formant audio.

The DCK talking-face system (IEEE TMM 2022) trains on pairs of videos with the same identity and
head motion but different speech, predicting V2 from (V1 frames, A2 audio) and V1 from (V2, A1).
This module renders such pairs without any download:

* a GRID-grammar sentence (`lipjax.text.GRID_WORDS`) is tokenised into characters with `<sil>` at
  both ends and given per-character durations (frames at 25 fps);
* the mouth follows `mouth.mouth_trajectory` of that timeline and is drawn with
  `mouth.draw_mouth` on top of a face;
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
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import zlib
from typing import Iterator, Sequence

import cv2
import numpy as np

from lipjax.data.synthetic import mouth as mouth_model
from lipjax.data.synthetic import speech
from lipjax.data.synthetic.lips import sample_durations
from lipjax.errors import ConfigError, InputError
from lipjax.text import GRID_CHARS, GRID_WORDS, SIL

__all__ = [
    "ASTRONAUT_CROP",
    "ASTRONAUT_FACE_BOX",
    "ASTRONAUT_MOUTH_CENTER",
    "ASTRONAUT_MOUTH_WIDTH",
    "FaceSprite",
    "Identity",
    "TalkingFacesConfig",
    "grid_sentences",
    "split_sentence_pool",
    "fit_durations",
    "head_motion",
    "similarity_matrices",
    "draw_background",
    "drawn_face",
    "astronaut_face",
    "make_identity",
    "render_base_frames",
    "render_mouths",
    "make_pair",
    "generate_pairs",
]

# Measured once on `skimage.data.astronaut()` (512 x 512): the OpenCV Haar face detector
# (haarcascade_frontalface_default, scaleFactor 1.1, minNeighbors 5) returns the box
# x 177..272, y 66..161; the chin lies at y ~ 178, the mouth corners at x ~ 201 and 246 and the
# lips span y ~ 139..155 (read off an enlarged crop). Coordinates are (x, y) pixels.
ASTRONAUT_CROP = (135, 20, 315, 230)  # x0, y0, x1, y1 of the head-and-shoulders sprite
ASTRONAUT_FACE_BOX = (177.0, 66.0, 272.0, 178.0)
ASTRONAUT_MOUTH_CENTER = (223.5, 147.0)
ASTRONAUT_MOUTH_WIDTH = 45.0  # corner to corner, pixels
ASTRONAUT_MOUTH_HOLE = (29.0, 14.0)  # half-axes of the inpainted ellipse around the real mouth
ASTRONAUT_LIP_STYLE = mouth_model.MouthStyle(lip=(186.0, 98.0, 96.0), crease=(96.0, 42.0, 44.0))

# Half a neutral mouth's width in mouth units (`mouth.mouth_landmarks`: 0.85 + 0.35 w - 0.3 r).
_NEUTRAL_HALF_WIDTH = 0.85 + 0.35 * 0.45 - 0.3 * 0.15


# ----------------------------------------------------------------------------------------------
# Sentences and timing
# ----------------------------------------------------------------------------------------------


def grid_sentences(num_words: int = 6) -> list[str]:
    """Every GRID sentence made of the first `num_words` grammar slots, in a fixed order.

    The full grammar (6 words: command colour preposition letter digit adverb) has 64,000
    sentences; fewer words give short clips for toy datasets.
    """
    slots = list(GRID_WORDS.values())
    if not 1 <= num_words <= len(slots):
        raise ConfigError(f"num_words must be in [1, {len(slots)}], got {num_words}")
    return [" ".join(words) for words in itertools.product(*slots[:num_words])]


def split_sentence_pool(sentences: Sequence[str], *, test_fraction: float) -> tuple[list[str], list[str]]:
    """Splits sentences into (train, test) by a stable hash of the text (CRC-32).

    The split depends only on each sentence, never on the order or the seed, so test sentences
    are unseen in training for every dataset built from the same grammar.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    is_test = [(zlib.crc32(s.encode()) % 10_000) < test_fraction * 10_000 for s in sentences]
    train = [s for s, t in zip(sentences, is_test) if not t]
    test = [s for s, t in zip(sentences, is_test) if t]
    return train, test


def fit_durations(symbols: Sequence[str], durations: np.ndarray, num_frames: int) -> np.ndarray:
    """Durations changed to sum to exactly `num_frames` (the last symbol must be `<sil>`).

    Too short: the trailing silence grows. Too long: the longest tokens shrink one frame at a
    time (letters and silences keep >= 1 frame, spaces may reach 0).

    Raises:
      ConfigError: when even the shortest durations do not fit into `num_frames`.
    """
    durations = np.asarray(durations, dtype=np.int32).copy()
    if len(symbols) != durations.shape[0] or symbols[-1] != SIL:
        raise InputError("fit_durations needs one duration per symbol and a trailing '<sil>'")
    minimum = np.asarray([0 if s == " " else 1 for s in symbols], dtype=np.int32)
    if minimum.sum() > num_frames:
        raise ConfigError(
            f"a sentence of {len(symbols)} symbols needs >= {minimum.sum()} frames but clips have "
            f"{num_frames}; raise max_frames or lower num_words"
        )
    while durations.sum() > num_frames:
        slack = durations - minimum
        durations[int(np.argmax(slack))] -= 1  # ties: the earliest, deterministic
    durations[-1] += num_frames - durations.sum()
    return durations


# ----------------------------------------------------------------------------------------------
# Head motion
# ----------------------------------------------------------------------------------------------


def head_motion(
    num_frames: int,
    rng: np.random.Generator,
    *,
    fps: float = 25.0,
    max_shift: tuple[float, float] = (8.0, 6.0),
    max_angle_deg: float = 6.0,
    max_scale_change: float = 0.06,
    max_hz: float = 0.8,
) -> np.ndarray:
    """Smooth random head pose per frame: float32 `[T, 4]` = (dx, dy pixels, angle rad, scale).

    Each component is a sum of three sinusoids below `max_hz` with random phases, bounded by its
    maximum (|dx| <= max_shift[0], |angle| <= max_angle_deg, |scale - 1| <= max_scale_change).
    """
    if num_frames < 1:
        raise InputError(f"num_frames must be >= 1, got {num_frames}")
    t = np.arange(num_frames) / fps
    limits = np.array([max_shift[0], max_shift[1], np.deg2rad(max_angle_deg), max_scale_change])
    freqs = rng.uniform(0.1, max_hz, size=(4, 3))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(4, 3))
    weights = rng.uniform(0.3, 1.0, size=(4, 3))
    waves = (weights[..., None] * np.sin(2 * np.pi * freqs[..., None] * t + phases[..., None])).sum(1)
    pose = (waves / weights.sum(1, keepdims=True) * limits[:, None]).T
    pose[:, 3] += 1.0
    return pose.astype(np.float32)


def similarity_matrices(
    pose: np.ndarray, *, source_anchor: tuple[float, float], target_anchor: tuple[float, float],
    base_scale: float,
) -> np.ndarray:
    """Per-frame 2x3 affine matrices mapping sprite pixels to frame pixels, float64 `[T, 2, 3]`.

    p_frame = R(angle) * (base_scale * scale) * (p_sprite - source_anchor) + target_anchor + (dx, dy),
    with R the rotation `mouth.mouth_landmarks` uses (positive angle turns clockwise on screen).
    """
    pose = np.asarray(pose, dtype=np.float64)
    dx, dy, angle, scale = pose.T
    s = base_scale * scale
    cos, sin = s * np.cos(angle), s * np.sin(angle)
    sx, sy = source_anchor
    tx = target_anchor[0] + dx - (cos * sx - sin * sy)
    ty = target_anchor[1] + dy - (sin * sx + cos * sy)
    return np.stack([np.stack([cos, -sin, tx], -1), np.stack([sin, cos, ty], -1)], axis=1)


def _apply(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Applies `[T, 2, 3]` affine matrices to `[T, P, 2]` (or `[P, 2]`) points -> `[T, P, 2]`."""
    points = np.broadcast_to(points, (matrices.shape[0],) + np.shape(points)[-2:])
    return np.einsum("tij,tpj->tpi", matrices[:, :, :2], points) + matrices[:, None, :, 2]


# ----------------------------------------------------------------------------------------------
# Drawing helpers
# ----------------------------------------------------------------------------------------------


def _ellipse_coverage(
    shape: tuple[int, int], center: tuple[float, float], axes: tuple[float, float],
    *, angle_deg: float = 0.0, arc: tuple[float, float] = (0.0, 360.0), thickness: float = -1,
    supersample: int = 4,
) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] `[H, W]` of a filled ellipse (or arc of `thickness` px)."""
    big = np.zeros((shape[0] * supersample, shape[1] * supersample), np.uint8)
    shift = 4  # cv2 fixed-point bits: sub-pixel centres and axes
    f = supersample * (1 << shift)
    cv2.ellipse(
        big,
        (int(round((center[0]) * f)), int(round((center[1]) * f))),
        (max(1, int(round(axes[0] * f))), max(1, int(round(axes[1] * f)))),
        angle_deg, arc[0], arc[1], 255,
        -1 if thickness < 0 else max(1, int(round(thickness * supersample))),
        cv2.LINE_8, shift,
    )
    small = cv2.resize(big, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def _paint(image: np.ndarray, coverage: np.ndarray, colour: np.ndarray | Sequence[float]) -> None:
    """In-place alpha blend of `colour` (RGB or an `[H, W, 3]` image) onto float `image`."""
    image *= 1.0 - coverage[..., None]
    image += coverage[..., None] * np.asarray(colour, np.float32)


def draw_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A procedural background, uint8 `[H, W, 3]`: gradient, translucent shapes, texture."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0.0, 2.0 * np.pi)
    ramp = np.cos(direction) * xx / width + np.sin(direction) * yy / height
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    c0, c1 = rng.uniform(30, 230, size=(2, 3)).astype(np.float32)
    image = c0 + ramp[..., None] * (c1 - c0)
    for _ in range(rng.integers(3, 7)):
        colour = rng.uniform(0, 255, size=3)
        alpha = rng.uniform(0.25, 0.6)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        if rng.random() < 0.5:
            r = rng.uniform(0.08, 0.3) * height
            cover = _ellipse_coverage((height, width), (cx, cy), (r, r), supersample=2)
        else:
            w, h = rng.uniform(0.1, 0.5) * width, rng.uniform(0.05, 0.4) * height
            cover = _ellipse_coverage(
                (height, width), (cx, cy), (w, h), angle_deg=rng.uniform(0, 180), supersample=2
            )
            cover = (cover > 0.5).astype(np.float32) * cover  # flatter, poster-like shapes
        _paint(image, alpha * cover, colour)
    # Texture: smooth low-frequency blotches. (No per-pixel grain: it would defeat the zlib
    # compression of the stored frames.)
    coarse = rng.normal(0.0, 1.0, size=(max(2, height // 16), max(2, width // 16), 3))
    blotches = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    image += 10.0 * blotches
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Faces
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FaceSprite:
    """A head-and-shoulders image with an alpha matte, without a mouth.

    Attributes:
      rgb: uint8 `[h, w, 3]`.
      alpha: float32 `[h, w]` in [0, 1].
      face_box: (x0, y0, x1, y1) of the face (forehead to chin) in sprite pixels.
      mouth_center: (x, y) where the mouth's corner midpoint sits, sprite pixels.
      mouth_scale: pixels per mouth unit (`mouth.mouth_landmarks`), sprite pixels.
      mouth_style: lip and mouth colours.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    face_box: tuple[float, float, float, float]
    mouth_center: tuple[float, float]
    mouth_scale: float
    mouth_style: mouth_model.MouthStyle


_SKIN_TONES = np.array(
    [[255, 219, 190], [241, 194, 160], [224, 172, 130], [198, 134, 96], [141, 85, 56], [96, 60, 40]],
    np.float32,
)
_HAIR_COLOURS = np.array(
    [[25, 20, 18], [70, 45, 30], [130, 90, 50], [200, 165, 100], [150, 60, 30], [120, 120, 125]],
    np.float32,
)
_IRIS_COLOURS = np.array([[70, 45, 30], [60, 100, 150], [80, 110, 70], [110, 80, 50]], np.float32)


def drawn_face(rng: np.random.Generator, *, face_height: float = 80.0) -> FaceSprite:
    """A random cartoon face: shaded skin ellipse, ears, neck, shoulders, hair, eyes, brows, nose.

    Args:
      rng: draws skin tone, hair colour and style, eye colour, proportions, clothes.
      face_height: forehead-to-chin height in sprite pixels (the face box height).
    """
    f = float(face_height)
    h, w = int(round(2.1 * f)), int(round(1.6 * f))
    shape = (h, w)
    cx, cy = w / 2.0, 0.85 * f
    ax, ay = f * rng.uniform(0.34, 0.41), 0.5 * f
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.93, 1.05, 3).astype(np.float32)
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
    shirt = rng.uniform(20, 230, 3)
    image = np.zeros(shape + (3,), np.float32)
    alpha = np.zeros(shape, np.float32)

    def layer(cover: np.ndarray, colour) -> None:
        _paint(image, cover, colour)
        np.maximum(alpha, cover, out=alpha)

    long_hair = rng.random() < 0.5
    if long_hair:  # hair hanging behind the head and neck
        cover = _ellipse_coverage(shape, (cx, cy + 0.15 * f), (ax * 1.35, ay * 1.25))
        layer(cover * (np.arange(h)[:, None] < cy + 0.75 * f), hair * 0.85)
    layer(_ellipse_coverage(shape, (cx, h + 0.15 * f), (0.78 * f, 0.55 * f)), shirt)  # shoulders
    neck = np.zeros(shape, np.float32)
    neck[int(cy + 0.2 * f):int(cy + 0.9 * f), int(cx - 0.17 * f):int(cx + 0.17 * f)] = 1.0
    layer(neck, skin * 0.82)
    for side in (-1, 1):  # ears
        layer(_ellipse_coverage(shape, (cx + side * ax * 0.98, cy - 0.02 * f), (0.07 * f, 0.12 * f)),
              skin * 0.9)
    # Skin with a soft light from the upper left: brighter there, darker toward the jaw.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.08 - 0.28 * np.sqrt(((xx - (cx - 0.3 * ax)) / ax) ** 2 + ((yy - (cy - 0.3 * ay)) / ay) ** 2)
    shaded_skin = skin[None, None] * np.clip(light, 0.7, 1.1)[..., None]
    face = _ellipse_coverage(shape, (cx, cy), (ax, ay))
    layer(face, shaded_skin)
    # Hair cap over the top of the head; the fringe height varies.
    fringe_bottom = cy - ay + rng.uniform(0.15, 0.25) * f  # stays above the brows
    top = _ellipse_coverage(shape, (cx, cy - 0.06 * f), (ax * 1.1, ay * 1.04))
    straight_cut = np.clip(fringe_bottom - yy + 0.5, 0.0, 1.0)  # anti-aliased horizontal edge
    layer(top * straight_cut, hair)
    # Cheeks.
    for side in (-1, 1):
        _paint(image, 0.25 * _ellipse_coverage(shape, (cx + side * 0.55 * ax, cy + 0.12 * f),
                                                (0.1 * f, 0.06 * f)), (220, 110, 110))
    # Eyes, brows.
    eye_y = cy - 0.08 * f
    eye_dx = ax * rng.uniform(0.4, 0.5)
    iris = _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))]
    brow_lift = rng.uniform(0.1, 0.16) * f
    for side in (-1, 1):
        ex = cx + side * eye_dx
        _paint(image, _ellipse_coverage(shape, (ex, eye_y), (0.085 * f, 0.042 * f)), (245, 245, 240))
        _paint(image, _ellipse_coverage(shape, (ex, eye_y), (0.036 * f, 0.036 * f)), iris)
        _paint(image, _ellipse_coverage(shape, (ex, eye_y), (0.017 * f, 0.017 * f)), (15, 10, 10))
        _paint(image, _ellipse_coverage(shape, (ex - 0.012 * f, eye_y - 0.012 * f),
                                        (0.007 * f, 0.007 * f)), (255, 255, 255))
        _paint(image, _ellipse_coverage(shape, (ex, eye_y + 0.004 * f), (0.088 * f, 0.046 * f),
                                        arc=(190, 350), thickness=0.012 * f), (40, 25, 25))
        _paint(image, _ellipse_coverage(shape, (ex, eye_y - brow_lift + 0.06 * f),
                                        (0.1 * f, 0.05 * f), arc=(200, 340),
                                        thickness=0.025 * f), hair * 0.8)
    # Nose: a shaded ridge, a lit tip and two nostrils.
    _paint(image, 0.35 * _ellipse_coverage(shape, (cx + 0.02 * f, cy + 0.04 * f),
                                           (0.03 * f, 0.13 * f)), skin * 0.75)
    _paint(image, 0.3 * _ellipse_coverage(shape, (cx, cy + 0.13 * f), (0.045 * f, 0.03 * f)),
           np.minimum(skin * 1.15, 255))
    for side in (-1, 1):
        _paint(image, 0.8 * _ellipse_coverage(shape, (cx + side * 0.035 * f, cy + 0.155 * f),
                                              (0.018 * f, 0.01 * f)), skin * 0.45)
    style = mouth_model.MouthStyle(
        lip=tuple(float(v) for v in np.clip(skin * np.array([0.85, 0.55, 0.55]) + [20, 0, 0], 0, 255)),
        crease=tuple(float(v) for v in skin * np.array([0.4, 0.2, 0.2])),
    )
    return FaceSprite(
        rgb=np.clip(np.round(image), 0, 255).astype(np.uint8),
        alpha=alpha,
        face_box=(cx - ax, cy - ay, cx + ax, cy + ay),
        mouth_center=(cx, cy + 0.29 * f),
        mouth_scale=0.16 * f,
        mouth_style=style,
    )


@functools.lru_cache(maxsize=1)
def _astronaut_photo() -> np.ndarray:
    import skimage.data  # imported lazily: only the astronaut identity needs it

    return skimage.data.astronaut()


def astronaut_face(*, face_height: float = 80.0) -> FaceSprite:
    """Eileen Collins from `skimage.data.astronaut()`, her mouth inpainted with skin.

    The crop `ASTRONAUT_CROP` is resized so that the face box is `face_height` pixels high; the
    real mouth (an ellipse around `ASTRONAUT_MOUTH_CENTER`) is filled by OpenCV's Telea inpainting
    from the surrounding skin so that the synthetic mouth can be drawn in its place; a feathered
    elliptical matte keeps the head, hair and shoulders.
    """
    photo = _astronaut_photo()
    x0, y0, x1, y1 = ASTRONAUT_CROP
    crop = np.ascontiguousarray(photo[y0:y1, x0:x1])
    hole = np.zeros(crop.shape[:2], np.uint8)
    mcx, mcy = ASTRONAUT_MOUTH_CENTER[0] - x0, ASTRONAUT_MOUTH_CENTER[1] - y0
    cv2.ellipse(hole, (int(round(mcx)), int(round(mcy))),
                tuple(int(round(a)) for a in ASTRONAUT_MOUTH_HOLE), 0, 0, 360, 255, -1)
    filled = cv2.inpaint(crop, hole, 9, cv2.INPAINT_TELEA)
    # Inpainting leaves a flat patch; blur it slightly into its surroundings.
    soft = cv2.GaussianBlur(hole.astype(np.float32) / 255.0, (0, 0), 3.0)[..., None]
    filled = (filled * (1 - soft) + cv2.GaussianBlur(filled, (0, 0), 2.0) * soft).astype(np.uint8)

    h, w = crop.shape[:2]
    matte = np.zeros((h, w), np.float32)
    fx0, fy0, fx1, fy1 = ASTRONAUT_FACE_BOX
    head_c = ((fx0 + fx1) / 2 - x0, (fy0 + fy1) / 2 - y0 - 8.0)
    cv2.ellipse(matte, (int(head_c[0]), int(head_c[1])), (74, 92), 0, 0, 360, 1.0, -1)
    cv2.ellipse(matte, (int(head_c[0]), h + 10), (88, 48), 0, 0, 360, 1.0, -1)  # shoulders
    matte = cv2.GaussianBlur(matte, (0, 0), 3.0)

    factor = face_height / (fy1 - fy0)
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    rgb = cv2.resize(filled, size, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(matte, size, interpolation=cv2.INTER_AREA)
    return FaceSprite(
        rgb=rgb,
        alpha=np.clip(alpha, 0.0, 1.0),
        face_box=((fx0 - x0) * factor, (fy0 - y0) * factor, (fx1 - x0) * factor, (fy1 - y0) * factor),
        mouth_center=(mcx * factor, mcy * factor),
        mouth_scale=ASTRONAUT_MOUTH_WIDTH / 2.0 / _NEUTRAL_HALF_WIDTH * factor,
        mouth_style=ASTRONAUT_LIP_STYLE,
    )


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
      supersample: anti-aliasing factor of `mouth.draw_mouth`.

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
        landmarks[t] = mouth_model.mouth_landmarks(
            params[t], center=(float(centres[t, 0]), float(centres[t, 1])),
            scale=float(face.mouth_scale * pose[t, 3]), angle=float(pose[t, 2]),
            upper_lip=face.mouth_style.upper_lip, lower_lip=face.mouth_style.lower_lip,
        )
        mouth_model.draw_mouth(frames[t], landmarks[t], params[t], face.mouth_style,
                               supersample=supersample)
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
        duration_jitter and silence_frames passed to `lips.sample_durations`.
      coarticulation, target_jitter: `mouth.mouth_trajectory` settings.
      max_shift, max_angle_deg, max_scale_change: head motion ranges (`head_motion`); shifts in
        fractions of the frame width and height.
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
        params = mouth_model.mouth_trajectory(
            symbols, durations, coarticulation=config.coarticulation,
            target_jitter=config.target_jitter, rng=rng,
        )
        classes = np.repeat([mouth_model.SOUND_CLASSES[s] for s in symbols], durations)
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
                record["pair_id"] = f"{split}-{identity.name}-{k:05d}"
                bar.update(1)
                yield record
