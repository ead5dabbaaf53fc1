"""Drawing the still parts of a talking-face identity: background, face sprite, mouth placement.

`draw_background` paints a procedural backdrop; a `FaceSprite` is a head-and-shoulders image with
an alpha matte and no mouth, either a random cartoon face (`drawn_face`) or the astronaut
photograph shipped with scikit-image (`astronaut_face`), whose real mouth is inpainted with skin.
Each sprite says where and how large the synthetic mouth goes (`mouth_geometry.mouth_landmarks`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import cv2
import numpy as np

from lipjax.data.synthetic.mouth_drawing import MouthStyle

__all__ = [
    "ASTRONAUT_CROP",
    "ASTRONAUT_FACE_BOX",
    "ASTRONAUT_MOUTH_CENTER",
    "ASTRONAUT_MOUTH_WIDTH",
    "FaceSprite",
    "draw_background",
    "drawn_face",
    "astronaut_face",
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
ASTRONAUT_LIP_STYLE = MouthStyle(lip=(186.0, 98.0, 96.0), crease=(96.0, 42.0, 44.0))

# Half a neutral mouth's width in mouth units (`mouth_geometry.mouth_landmarks`: 0.85 + 0.35 w - 0.3 r).
_NEUTRAL_HALF_WIDTH = 0.85 + 0.35 * 0.45 - 0.3 * 0.15


@dataclasses.dataclass(frozen=True)
class FaceSprite:
    """A head-and-shoulders image with an alpha matte, without a mouth.

    Attributes:
      rgb: uint8 `[h, w, 3]`.
      alpha: float32 `[h, w]` in [0, 1].
      face_box: (x0, y0, x1, y1) of the face (forehead to chin) in sprite pixels.
      mouth_center: (x, y) where the mouth's corner midpoint sits, sprite pixels.
      mouth_scale: pixels per mouth unit (`mouth_geometry.mouth_landmarks`), sprite pixels.
      mouth_style: lip and mouth colours.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    face_box: tuple[float, float, float, float]
    mouth_center: tuple[float, float]
    mouth_scale: float
    mouth_style: MouthStyle


_SKIN_TONES = np.array(
    [[255, 219, 190], [241, 194, 160], [224, 172, 130], [198, 134, 96], [141, 85, 56], [96, 60, 40]],
    np.float32,
)
_HAIR_COLOURS = np.array(
    [[25, 20, 18], [70, 45, 30], [130, 90, 50], [200, 165, 100], [150, 60, 30], [120, 120, 125]],
    np.float32,
)
_IRIS_COLOURS = np.array([[70, 45, 30], [60, 100, 150], [80, 110, 70], [110, 80, 50]], np.float32)


# ------------------------------------------------------------------------ primitives, backgrounds


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


# ------------------------------------------------------------------------------- drawn faces


@dataclasses.dataclass(frozen=True)
class _FaceLayout:
    """Where the parts of a drawn face go, in sprite pixels.

    Attributes:
      size: the face height f (forehead to chin); every part is sized relative to it.
      shape: (h, w) of the sprite.
      cx, cy: centre of the face ellipse.
      ax, ay: half-axes of the face ellipse.
    """

    size: float
    shape: tuple[int, int]
    cx: float
    cy: float
    ax: float
    ay: float


@dataclasses.dataclass(frozen=True)
class _FaceLook:
    """The random appearance of a drawn face.

    Attributes:
      skin, hair, shirt, iris: RGB colours in [0, 255].
      long_hair: hair hangs behind the head and neck.
      fringe_drop: how far the fringe reaches below the top of the face, in face heights.
      eye_spread: distance of each eye from the centre line, in face half-widths.
      brow_lift: height of the brows above the eyes, in face heights.
    """

    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    iris: np.ndarray
    long_hair: bool
    fringe_drop: float
    eye_spread: float
    brow_lift: float


def _sample_layout(rng: np.random.Generator, face_height: float) -> _FaceLayout:
    """Sprite size and face ellipse for a face `face_height` pixels high (draws the face width)."""
    f = float(face_height)
    h, w = int(round(2.1 * f)), int(round(1.6 * f))
    return _FaceLayout(size=f, shape=(h, w), cx=w / 2.0, cy=0.85 * f,
                       ax=f * rng.uniform(0.34, 0.41), ay=0.5 * f)


def _sample_look(rng: np.random.Generator) -> _FaceLook:
    """Draws skin tone, hair colour and style, clothes and eye colour and placement."""
    # One draw after another in a fixed order: the faces of a seed must not change.
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.93, 1.05, 3).astype(np.float32)
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
    shirt = rng.uniform(20, 230, 3)
    long_hair = rng.random() < 0.5
    fringe_drop = rng.uniform(0.15, 0.25)
    eye_spread = rng.uniform(0.4, 0.5)
    iris = _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))]
    brow_lift = rng.uniform(0.1, 0.16)
    return _FaceLook(skin=skin, hair=hair, shirt=shirt, iris=iris, long_hair=bool(long_hair),
                     fringe_drop=fringe_drop, eye_spread=eye_spread, brow_lift=brow_lift)


def _layer(image: np.ndarray, alpha: np.ndarray, cover: np.ndarray,
           colour: np.ndarray | Sequence[float]) -> None:
    """Paints an opaque part of the sprite: blends `colour` into `image`, extends the matte."""
    _paint(image, cover, colour)
    np.maximum(alpha, cover, out=alpha)


def _draw_body(image: np.ndarray, alpha: np.ndarray, layout: _FaceLayout, look: _FaceLook) -> None:
    """Long hair behind the head, shoulders, neck and ears (everything behind the face)."""
    f, shape, cx, cy, ax, ay = layout.size, layout.shape, layout.cx, layout.cy, layout.ax, layout.ay
    if look.long_hair:  # hair hanging behind the head and neck
        cover = _ellipse_coverage(shape, (cx, cy + 0.15 * f), (ax * 1.35, ay * 1.25))
        _layer(image, alpha, cover * (np.arange(shape[0])[:, None] < cy + 0.75 * f),
               look.hair * 0.85)
    shoulders = _ellipse_coverage(shape, (cx, shape[0] + 0.15 * f), (0.78 * f, 0.55 * f))
    _layer(image, alpha, shoulders, look.shirt)
    neck = np.zeros(shape, np.float32)
    neck[int(cy + 0.2 * f):int(cy + 0.9 * f), int(cx - 0.17 * f):int(cx + 0.17 * f)] = 1.0
    _layer(image, alpha, neck, look.skin * 0.82)
    for side in (-1, 1):  # ears
        ear = _ellipse_coverage(shape, (cx + side * ax * 0.98, cy - 0.02 * f), (0.07 * f, 0.12 * f))
        _layer(image, alpha, ear, look.skin * 0.9)


def _draw_head(image: np.ndarray, alpha: np.ndarray, layout: _FaceLayout, look: _FaceLook) -> None:
    """The shaded face and the hair cap over the top of the head."""
    f, shape, cx, cy, ax, ay = layout.size, layout.shape, layout.cx, layout.cy, layout.ax, layout.ay
    # Skin with a soft light from the upper left: brighter there, darker toward the jaw.
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    light = 1.08 - 0.28 * np.sqrt(((xx - (cx - 0.3 * ax)) / ax) ** 2 + ((yy - (cy - 0.3 * ay)) / ay) ** 2)
    shaded_skin = look.skin[None, None] * np.clip(light, 0.7, 1.1)[..., None]
    _layer(image, alpha, _ellipse_coverage(shape, (cx, cy), (ax, ay)), shaded_skin)
    # The fringe height varies but stays above the brows.
    fringe_bottom = cy - ay + look.fringe_drop * f
    top = _ellipse_coverage(shape, (cx, cy - 0.06 * f), (ax * 1.1, ay * 1.04))
    straight_cut = np.clip(fringe_bottom - yy + 0.5, 0.0, 1.0)  # anti-aliased horizontal edge
    _layer(image, alpha, top * straight_cut, look.hair)


def _draw_cheeks(image: np.ndarray, layout: _FaceLayout) -> None:
    """Two faint reddish patches on the cheeks."""
    f, shape, cx, cy, ax = layout.size, layout.shape, layout.cx, layout.cy, layout.ax
    for side in (-1, 1):
        _paint(image, 0.25 * _ellipse_coverage(shape, (cx + side * 0.55 * ax, cy + 0.12 * f),
                                                (0.1 * f, 0.06 * f)), (220, 110, 110))


def _draw_eyes(image: np.ndarray, layout: _FaceLayout, look: _FaceLook) -> None:
    """Both eyes (white, iris, pupil, glint, upper lid) and the brows above them."""
    f, shape, cx, cy, ax = layout.size, layout.shape, layout.cx, layout.cy, layout.ax
    eye_y = cy - 0.08 * f
    eye_dx = ax * look.eye_spread
    brow_lift = look.brow_lift * f
    for side in (-1, 1):
        ex = cx + side * eye_dx
        _paint(image, _ellipse_coverage(shape, (ex, eye_y), (0.085 * f, 0.042 * f)), (245, 245, 240))
        _paint(image, _ellipse_coverage(shape, (ex, eye_y), (0.036 * f, 0.036 * f)), look.iris)
        _paint(image, _ellipse_coverage(shape, (ex, eye_y), (0.017 * f, 0.017 * f)), (15, 10, 10))
        _paint(image, _ellipse_coverage(shape, (ex - 0.012 * f, eye_y - 0.012 * f),
                                        (0.007 * f, 0.007 * f)), (255, 255, 255))
        _paint(image, _ellipse_coverage(shape, (ex, eye_y + 0.004 * f), (0.088 * f, 0.046 * f),
                                        arc=(190, 350), thickness=0.012 * f), (40, 25, 25))
        _paint(image, _ellipse_coverage(shape, (ex, eye_y - brow_lift + 0.06 * f),
                                        (0.1 * f, 0.05 * f), arc=(200, 340),
                                        thickness=0.025 * f), look.hair * 0.8)


def _draw_nose(image: np.ndarray, layout: _FaceLayout, skin: np.ndarray) -> None:
    """A shaded ridge, a lit tip and two nostrils."""
    f, shape, cx, cy = layout.size, layout.shape, layout.cx, layout.cy
    _paint(image, 0.35 * _ellipse_coverage(shape, (cx + 0.02 * f, cy + 0.04 * f),
                                           (0.03 * f, 0.13 * f)), skin * 0.75)
    _paint(image, 0.3 * _ellipse_coverage(shape, (cx, cy + 0.13 * f), (0.045 * f, 0.03 * f)),
           np.minimum(skin * 1.15, 255))
    for side in (-1, 1):
        _paint(image, 0.8 * _ellipse_coverage(shape, (cx + side * 0.035 * f, cy + 0.155 * f),
                                              (0.018 * f, 0.01 * f)), skin * 0.45)


def _drawn_mouth_style(skin: np.ndarray) -> MouthStyle:
    """Lip colours that go with a skin colour: redder and darker, a dark crease."""
    return MouthStyle(
        lip=tuple(float(v) for v in np.clip(skin * np.array([0.85, 0.55, 0.55]) + [20, 0, 0], 0, 255)),
        crease=tuple(float(v) for v in skin * np.array([0.4, 0.2, 0.2])),
    )


def drawn_face(rng: np.random.Generator, *, face_height: float = 80.0) -> FaceSprite:
    """A random cartoon face: shaded skin ellipse, ears, neck, shoulders, hair, eyes, brows, nose.

    Args:
      rng: draws skin tone, hair colour and style, eye colour, proportions, clothes.
      face_height: forehead-to-chin height in sprite pixels (the face box height).
    """
    layout = _sample_layout(rng, face_height)
    look = _sample_look(rng)
    image = np.zeros(layout.shape + (3,), np.float32)
    alpha = np.zeros(layout.shape, np.float32)
    # Back to front; only the silhouette (body and head) adds to the matte.
    _draw_body(image, alpha, layout, look)
    _draw_head(image, alpha, layout, look)
    _draw_cheeks(image, layout)
    _draw_eyes(image, layout, look)
    _draw_nose(image, layout, look.skin)
    f, cx, cy, ax, ay = layout.size, layout.cx, layout.cy, layout.ax, layout.ay
    return FaceSprite(
        rgb=np.clip(np.round(image), 0, 255).astype(np.uint8),
        alpha=alpha,
        face_box=(cx - ax, cy - ay, cx + ax, cy + ay),
        mouth_center=(cx, cy + 0.29 * f),
        mouth_scale=0.16 * f,
        mouth_style=_drawn_mouth_style(look.skin),
    )


# ------------------------------------------------------------------------------- the astronaut


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
