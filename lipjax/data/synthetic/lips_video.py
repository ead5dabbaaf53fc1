"""One `synthetic_lips` speaker and the rendering of their lip videos.

`make_speaker` draws a speaker's appearance (skin, lips, lighting, mouth size) and speaking rate
from the corpus seed; `render_video` turns a timed symbol sequence into that speaker's 80x160
lip video: mouth trajectory, smooth head jitter, textured skin and the drawn mouth.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import cv2
import numpy as np
import scipy.ndimage

from lipjax.data.synthetic.lips_config import FRAME_HEIGHT, FRAME_WIDTH, corpus_rng
from lipjax.data.synthetic.mouth import mouth_trajectory
from lipjax.data.synthetic.mouth_drawing import MouthStyle, draw_mouth
from lipjax.data.synthetic.mouth_geometry import mouth_landmarks

__all__ = ["Speaker", "make_speaker", "render_video"]


@dataclasses.dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: appearance and speaking rate.

    Attributes:
      id: speaker index.
      style: mouth colours and lip thickness.
      skin: mean skin colour, RGB in [0, 255].
      texture_seed: seed of the speaker's skin texture (fixed across their videos).
      light_angle: direction of the lighting gradient across the crop, radians.
      light_strength: relative brightness change across the crop.
      mouth_scale: pixels per mouth unit.
      mouth_center: (x, y) rest position of the mouth centre in the crop, pixels.
      speaking_rate: > 1 speaks faster (shorter tokens).
    """

    id: int
    style: MouthStyle
    skin: tuple[float, float, float]
    texture_seed: int
    light_angle: float
    light_strength: float
    mouth_scale: float
    mouth_center: tuple[float, float]
    speaking_rate: float


def make_speaker(config: Any, speaker_id: int) -> Speaker:
    """Draw speaker `speaker_id`'s appearance and rate from the corpus seed."""
    rng = corpus_rng(config, 0, speaker_id)
    # Skin tones along a light-to-dark axis, with a little independent hue variation.
    tone = rng.uniform(0.0, 1.0)
    skin = (1 - tone) * np.array([236.0, 196.0, 170.0]) + tone * np.array([120.0, 78.0, 56.0])
    skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0, 255)
    # Lips: darker and redder than the skin around them.
    lip = np.clip(skin * np.array([0.80, 0.52, 0.55]) * rng.uniform(0.9, 1.08, 3)
                  + np.array([18.0, 4.0, 8.0]), 0, 255)
    style = MouthStyle(
        lip=tuple(float(v) for v in lip),
        lip_shade=float(rng.uniform(0.75, 0.88)),
        lip_highlight=float(rng.uniform(0.05, 0.14)),
        crease=tuple(float(v) for v in lip * 0.5),
        interior=tuple(float(v) for v in rng.uniform([35, 10, 14], [62, 24, 30])),
        teeth=tuple(float(v) for v in rng.uniform([215, 205, 180], [245, 240, 228])),
        tongue=tuple(float(v) for v in rng.uniform([180, 82, 88], [210, 110, 118])),
        teeth_height=float(rng.uniform(0.13, 0.19)),
        upper_lip=float(rng.uniform(0.16, 0.23)),
        lower_lip=float(rng.uniform(0.21, 0.29)),
    )
    return Speaker(
        id=int(speaker_id),
        style=style,
        skin=tuple(float(v) for v in skin),
        texture_seed=int(rng.integers(2**31)),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.05, 0.2)),
        mouth_scale=float(rng.uniform(*config.mouth_scale)),
        mouth_center=(FRAME_WIDTH / 2 + float(rng.uniform(-4, 4)),
                      FRAME_HEIGHT * 0.45 + float(rng.uniform(-2, 2))),
        speaking_rate=float(rng.uniform(*config.speaking_rate)),
    )


def _skin_background(speaker: Speaker, *, margin: int) -> np.ndarray:
    """Speaker's skin, float `[H + 2m, W + 2m, 3]`: colour x multi-octave noise x light gradient."""
    rng = np.random.default_rng(speaker.texture_seed)
    height, width = FRAME_HEIGHT + 2 * margin, FRAME_WIDTH + 2 * margin
    texture = np.zeros((height, width), dtype=np.float32)
    for cell, amplitude in ((40, 0.03), (12, 0.015), (4, 0.012), (1, 0.012)):
        coarse = rng.normal(size=(height // cell + 2, width // cell + 2)).astype(np.float32)
        texture += amplitude * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = np.cos(speaker.light_angle) * (xs / width - 0.5) + np.sin(speaker.light_angle) * (
        ys / height - 0.5
    )
    light = 1.0 + speaker.light_strength * direction
    return np.asarray(speaker.skin, np.float32) * ((1.0 + texture) * light)[..., None]


def _smooth_noise(rng: np.random.Generator, num_frames: int, *, std: float, smoothness: float,
                  dims: int) -> np.ndarray:
    """Smooth random motion `[T, dims]` with marginal std `std`."""
    noise = rng.normal(size=(num_frames + 8 * int(smoothness + 1), dims))
    if smoothness > 0:
        noise = scipy.ndimage.gaussian_filter1d(noise, smoothness, axis=0, mode="wrap")
        noise /= max(float(noise.std()), 1e-6)
    return std * noise[:num_frames]


def _fit_inside(landmarks: np.ndarray, *, margin: float) -> np.ndarray:
    """Shift (and if needed shrink) a video's landmarks `[T, 20, 2]` so all lie inside the frame."""
    low = landmarks.reshape(-1, 2).min(axis=0)
    high = landmarks.reshape(-1, 2).max(axis=0)
    frame = np.array([FRAME_WIDTH, FRAME_HEIGHT], dtype=np.float64)
    room = frame - 2 * margin
    shrink = min(1.0, float(np.min(room / np.maximum(high - low, 1e-6))))
    centre = (low + high) / 2
    landmarks = centre + (landmarks - centre) * shrink
    low, high = centre + (low - centre) * shrink, centre + (high - centre) * shrink
    shift = np.maximum(margin - low, 0.0) - np.maximum(high - (frame - margin), 0.0)
    return landmarks + shift


def render_video(
    symbols: Sequence[str],
    durations: np.ndarray,
    speaker: Speaker,
    rng: np.random.Generator,
    *,
    config: Any,
) -> dict[str, np.ndarray]:
    """Render a timed symbol sequence as one speaker's lip video.

    Returns:
      dict with `frames` uint8 `[T, 80, 160, 3]`, `landmarks` float32 `[T, 20, 2]` (x, y pixels,
      dlib 48-67 order) and `mouth` float32 `[T, 5]` mouth parameters.
    """
    params = mouth_trajectory(
        symbols, durations, coarticulation=config.coarticulation, smoothing=config.smoothing,
        target_jitter=config.target_jitter, rng=rng,
    )
    num_frames = len(params)
    shift = _smooth_noise(rng, num_frames, std=config.head_jitter_px,
                          smoothness=config.jitter_smoothness, dims=2)
    tilt = np.deg2rad(_smooth_noise(rng, num_frames, std=config.head_jitter_deg,
                                    smoothness=config.jitter_smoothness, dims=1)[:, 0])
    landmarks = np.stack([
        mouth_landmarks(
            params[t], center=(speaker.mouth_center[0] + shift[t, 0],
                               speaker.mouth_center[1] + shift[t, 1]),
            scale=speaker.mouth_scale, angle=float(tilt[t]),
            upper_lip=speaker.style.upper_lip, lower_lip=speaker.style.lower_lip,
        )
        for t in range(num_frames)
    ])
    # The spline through the landmarks bulges slightly past them; keep 2 px of skin all round.
    landmarks = _fit_inside(landmarks, margin=2.0).astype(np.float32)
    motion = landmarks[:, [0, 6]].mean(axis=1) - np.asarray(speaker.mouth_center)  # [T, 2]

    margin = 8
    skin = _skin_background(speaker, margin=margin)
    brightness = float(rng.uniform(0.95, 1.05))  # per-video exposure
    frames = np.empty((num_frames, FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8)
    for t in range(num_frames):
        # The skin moves with the head (whole-pixel shift of the larger texture).
        dx, dy = np.clip(np.round(motion[t]).astype(int), -margin, margin)
        top, left = margin - dy, margin - dx
        window = skin[top : top + FRAME_HEIGHT, left : left + FRAME_WIDTH]
        canvas = np.clip(window * brightness, 0, 255).astype(np.uint8)
        frames[t] = draw_mouth(canvas, landmarks[t], params[t], speaker.style,
                               supersample=config.supersample)
    return {"frames": frames, "landmarks": landmarks, "mouth": params}
