"""Writers of tiny fake corpora in the real on-disk layouts of GRID and TCD-TIMIT.

Videos are real files (MPEG-1 .mpg for GRID as in the distribution, MPEG-4 part 2 .mp4 for
TCD-TIMIT) written with OpenCV, showing the real face of `skimage.data.astronaut()` (so the Haar
cascade finds it) translated by a few pixels per frame on a plain background. Each writer returns
what a correct builder must recover: per video the speaker, text/phonemes, frame count and where
the mouth is.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import skimage.data

# The astronaut's face: OpenCV's default frontal-face cascade finds it at x 177-272, y 66-161
# (512x512 image); her mouth centre is at about (224, 144).
_FACE_CENTRE = np.array([224.5, 113.5])
_MOUTH_CENTRE = np.array([224.5, 144.0])
_PATCH_SIDE = 200  # pixels of the astronaut image around the face centre that are pasted


@dataclasses.dataclass(frozen=True)
class FakeVideo:
    """Ground truth of one fake video."""

    speaker: str
    clip_id: str
    path: Path
    num_frames: int
    mouth_centres: np.ndarray  # float [T, 2] (x, y) in frame pixels
    text: str  # GRID: the words; TCD-TIMIT: the folded phonemes, space separated
    corrupt: bool = False


def face_patch(side: int) -> np.ndarray:
    """The astronaut's face region, uint8 RGB `[side, side, 3]`."""
    image = skimage.data.astronaut()
    x0, y0 = (_FACE_CENTRE - _PATCH_SIDE / 2).astype(int)
    patch = image[y0:y0 + _PATCH_SIDE, x0:x0 + _PATCH_SIDE]
    return cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)


def render_face_video(
    num_frames: int, *, frame_hw: tuple[int, int] = (120, 160), side: int = 96, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Frames `[T, H, W, 3]` uint8 of the face drifting a few pixels, and mouth centres `[T, 2]`."""
    rng = np.random.default_rng(seed)
    height, width = frame_hw
    patch = face_patch(side)
    steps = rng.integers(-1, 2, size=(num_frames, 2)).cumsum(axis=0)
    base = np.array([(width - side) // 2, (height - side) // 2])
    frames = np.full((num_frames, height, width, 3), 128, np.uint8)
    mouths = np.zeros((num_frames, 2), np.float32)
    scale = side / _PATCH_SIDE
    for t in range(num_frames):
        x, y = np.clip(base + steps[t], 0, [width - side, height - side])
        frames[t, y:y + side, x:x + side] = patch
        mouths[t] = (x, y) + (_MOUTH_CENTRE - (_FACE_CENTRE - _PATCH_SIDE / 2)) * scale
    return frames, mouths


def write_opencv_video(path: Path, frames: np.ndarray, fps: float, fourcc: str) -> None:
    """Writes RGB frames with cv2.VideoWriter ('PIM1' = MPEG-1, 'mp4v' = MPEG-4 part 2)."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


GRID_SENTENCES = (
    "bin blue at f two now",
    "lay red by g nine again",
    "place green in a one soon",
    "set white with z zero please",
)


def write_grid_align(path: Path, words: list[str], num_frames: int, *, with_sp: bool) -> None:
    """GRID .align: "start end word" lines, 1000 units per frame, sil at both ends."""
    lead, tail = 3, 2
    spoken = num_frames - lead - tail
    # The 37-unit offset keeps boundaries off frame centres (no rounding ties in the tests).
    edges = np.linspace(lead, lead + spoken, len(words) + 1) * 1000 + 37
    lines = [f"0 {int(edges[0])} sil"]
    for i, word in enumerate(words):
        start, end = int(edges[i]), int(edges[i + 1])
        if with_sp and 0 < i:
            # a short pause taken from the start of the word
            lines.append(f"{start} {start + 400} sp")
            start += 400
        lines.append(f"{start} {end} {word}")
    lines.append(f"{int(edges[-1])} {num_frames * 1000} sil")
    path.write_text("\n".join(lines) + "\n")


def make_fake_grid(
    root: Path, *, speakers: tuple[str, ...] = ("s1", "s2"), videos_per_speaker: int = 3,
    num_frames: int = 16, corrupt: tuple[str, str] | None = ("s2", "lrbg9a"),
) -> list[FakeVideo]:
    """A GRID tree under `root`.

    Speaker 1 uses `s1/<id>.mpg` + `alignments/s1/<id>.align`; the others use
    `<spk>/video/mpg_6000/<id>.mpg` + `<spk>/align/<id>.align` (both layouts occur in the wild).
    `corrupt` = (speaker, id) of an extra video whose .mpg holds garbage bytes.
    """
    videos = []
    for s_index, speaker in enumerate(speakers):
        if s_index == 0:
            video_dir, align_dir = root / speaker, root / "alignments" / speaker
        else:
            video_dir, align_dir = root / speaker / "video" / "mpg_6000", root / speaker / "align"
        video_dir.mkdir(parents=True, exist_ok=True)
        align_dir.mkdir(parents=True, exist_ok=True)
        for v in range(videos_per_speaker):
            sentence = GRID_SENTENCES[(v + s_index) % len(GRID_SENTENCES)]
            words = sentence.split()
            clip_id = words[0][0] + words[1][0] + words[2][0] + words[3] + words[4][0] + words[5][0]
            frames, mouths = render_face_video(num_frames, seed=10 * s_index + v)
            path = video_dir / f"{clip_id}.mpg"
            write_opencv_video(path, frames, 25.0, "PIM1")
            write_grid_align(align_dir / f"{clip_id}.align", words, num_frames, with_sp=v % 2 == 1)
            videos.append(FakeVideo(speaker, clip_id, path, num_frames, mouths, sentence))
        if corrupt is not None and corrupt[0] == speaker:
            path = video_dir / f"{corrupt[1]}.mpg"
            path.write_bytes(b"this is not an MPEG file" * 10)
            write_grid_align(align_dir / f"{corrupt[1]}.align", "lay red by g nine again".split(),
                             num_frames, with_sp=False)
            videos.append(FakeVideo(speaker, corrupt[1], path, num_frames, np.zeros((0, 2)), "",
                                    corrupt=True))
    return videos


# Phoneme strings in TCD-TIMIT's own label set (mostly CMU; 'sil' at the ends).
TIMIT_SENTENCES = {
    "sa1": "sil sh iy hh ae d y er sil",
    "sa2": "sil d ow n ae s k m iy sil",
    "si100": "sil ax b aw t dx ih ng sil",
    "sx20": "sil w iy pcl p l ey sil",
}
TCD_FPS = 30000 / 1001


def _folded_text(labels: str) -> str:
    from lipjax.text import SIL, TIMIT_TO_CMU

    folded: list[str] = []
    raw_labels = labels.split()
    for i, label in enumerate(raw_labels):
        phone = TIMIT_TO_CMU[label]
        closure_merge = i > 0 and raw_labels[i - 1].endswith("cl") and folded and folded[-1] == phone
        if phone == SIL or closure_merge:
            continue
        folded.append(phone)
    return " ".join(folded)


def make_fake_tcd_timit(
    root: Path, *, speakers: tuple[str, ...] = ("01M", "02F"), num_frames: int = 18,
) -> list[FakeVideo]:
    """A TCD-TIMIT tree: `volunteers/<spk>/Clips/straightcam/<clip>.mp4`.

    Labels of the first speaker are in a master label file `volunteer_labelfiles.mlf` (HTK
    100 ns units, quoted .rec paths, '.' terminators) as distributed; the second speaker has
    per-clip `<clip>.txt` files next to the videos with times in seconds.
    """
    videos = []
    mlf_lines = ["#!MLF!#"]
    for s_index, speaker in enumerate(speakers):
        clip_dir = root / "volunteers" / speaker / "Clips" / "straightcam"
        clip_dir.mkdir(parents=True, exist_ok=True)
        for c_index, (clip_id, labels) in enumerate(TIMIT_SENTENCES.items()):
            frames, mouths = render_face_video(num_frames, seed=100 + 10 * s_index + c_index)
            path = clip_dir / f"{clip_id}.mp4"
            write_opencv_video(path, frames, TCD_FPS, "mp4v")
            phones = labels.split()
            # Slightly inside the clip and off frame centres (no rounding ties in the tests).
            edges = np.linspace(0.013, (num_frames - 0.3) / TCD_FPS, len(phones) + 1)
            if s_index == 0:
                mlf_lines.append(f'"/data/TCDTIMIT/volunteers/{speaker}/Clips/straightcam/{clip_id}.rec"')
                mlf_lines += [
                    f"{round(edges[i] * 1e7)} {round(edges[i + 1] * 1e7)} {p}" for i, p in enumerate(phones)
                ]
                mlf_lines.append(".")
            else:
                (clip_dir / f"{clip_id}.txt").write_text(
                    "".join(f"{edges[i]:.4f} {edges[i + 1]:.4f} {p}\n" for i, p in enumerate(phones))
                )
            videos.append(FakeVideo(speaker, clip_id, path, num_frames, mouths, _folded_text(labels)))
    (root / "volunteer_labelfiles.mlf").write_text("\n".join(mlf_lines) + "\n")
    return videos


# A talking-face pair record (the fields of `synthetic_talking_faces`) with random content:
# integer face boxes of 2 x PAIR_CROP_SIZE, so that a crop resized to PAIR_CROP_SIZE is a 2x2 mean.
PAIR_CROP_SIZE = 32
PAIR_FPS = 25.0


def fake_pair_record(num_frames: int = 10, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    height, width = 96, 112
    boxes = np.zeros((num_frames, 4), np.float32)
    for t in range(num_frames):  # integer boxes of 2 PAIR_CROP_SIZE x 2 PAIR_CROP_SIZE inside the frame
        x0, y0 = rng.integers(0, width - 2 * PAIR_CROP_SIZE), rng.integers(0, height - 2 * PAIR_CROP_SIZE)
        boxes[t] = (x0, y0, x0 + 2 * PAIR_CROP_SIZE, y0 + 2 * PAIR_CROP_SIZE)
    samples = int(round(num_frames * 16000 / PAIR_FPS))
    record = {"face_boxes": boxes, "fps": np.float32(PAIR_FPS), "identity": np.int32(3),
              "pair_id": b"fake-%d" % seed}
    for tag in "ab":
        record[f"frames_{tag}"] = rng.integers(0, 256, (num_frames, height, width, 3), np.uint8)
        record[f"audio_{tag}"] = rng.standard_normal(samples).astype(np.float32) * 0.1
        # Landmarks inside each frame's box (pixel centres of the frame).
        offsets = rng.uniform(PAIR_CROP_SIZE * 0.5, PAIR_CROP_SIZE * 1.5, (num_frames, 20, 2))
        record[f"landmarks_{tag}"] = (boxes[:, None, :2] + offsets).astype(np.float32)
    return record
