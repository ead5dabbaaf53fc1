"""DCK talking face at inference: a face video + driving audio -> the same video, lips synced.

Ye et al., "Audio-driven talking face video generation with dynamic convolution kernels",
IEEE TMM 2022, Sec. III: the face is detected in every frame, cropped and resized to the
generator's size (256x256 in the paper), edited by the DCK generator from the frame's 80 x 16 mel
window, resized back and pasted onto the full frame without blending.

    report = talk("runs/dck", "face.mp4", "speech.wav", "out.mp4")
    lipjax talk --checkpoint runs/dck --video face.mp4 --audio speech.wav --out out.mp4

Pipeline (`talk`), with the decisions where the paper is silent:

* The video is decoded at its own frame rate; the audio (a wav file, or the audio track of any
  media file) is loaded at 16 kHz, mono.
* The output lasts as long as the audio: `floor(audio_seconds * fps)` frames (audio shorter than
  one video frame is an AudioError). A video shorter than that is looped back and forth
  (ping-pong: 0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...), which avoids the jump a plain repeat makes
  at every wrap; a longer video is truncated. The driving audio is muxed in as is (16 kHz AAC);
  the video ends within one frame of it.
* Faces: OpenCV's Haar cascade per source frame, boxes smoothed over time (`smooth_boxes`), then
  enlarged by `box_padding` (default: 10% of the height at the bottom, so that the chin is in the
  crop; the Haar box ends just below the mouth). Smoothing fills the gaps between detections by
  interpolation, but those interpolated boxes are *not* used: a frame in which the detector found
  no face is written unchanged and counted (`TalkReport.frames_without_face`, counted over output
  frames). Frames with a detection get the smoothed box, so a single missed frame cannot make the
  crop jump. No face in any frame is a NoFaceError.
* The generator runs jitted on fixed-size batches (the last one zero-padded), so a whole video
  compiles exactly once per batch size; a tqdm bar shows progress.
* Paste-back replaces the pixels of the (rounded) box and nothing else (`lipjax.face.paste_back`).
* The mp4 is written to a temporary file next to `out_path` and renamed when complete
  (`lipjax.video.write_video`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from lipjax.audio import load_audio
from lipjax.dck.generator import TalkingFaceGenerator
from lipjax.errors import AudioError, InputError, VideoError
from lipjax.face import crop_and_resize, detect_face_boxes, paste_back, smooth_boxes
from lipjax.video import read_video, write_video

__all__ = [
    "DEFAULT_BOX_PADDING",
    "TalkReport",
    "output_frame_count",
    "ping_pong_indices",
    "pad_boxes",
    "track_faces",
    "lip_sync",
    "talk",
]

# (left, top, right, bottom) growth of the Haar face box, as fractions of its width / height.
DEFAULT_BOX_PADDING = (0.0, 0.0, 0.0, 0.1)


# ----------------------------------------------------------------------------------------------
# Pure host-side steps



def output_frame_count(num_samples: int, *, sample_rate: int, fps: float) -> int:
    """Frames of the output video: `floor(num_samples / sample_rate * fps)`.

    Raises:
      AudioError: if that is 0 (the audio is shorter than one video frame).
    """
    if sample_rate <= 0 or not (np.isfinite(fps) and fps > 0):
        raise InputError(f"sample_rate and fps must be positive, got {sample_rate}, {fps}")
    # Exact integer arithmetic where fps is integral avoids 0.999... from float rounding.
    count = (num_samples * int(fps)) // sample_rate if float(fps).is_integer() else \
        int(np.floor(num_samples / sample_rate * fps))
    if count < 1:
        raise AudioError(
            f"the audio is too short: {num_samples / sample_rate * 1000:.1f} ms is less than one "
            f"video frame at {fps:g} fps ({1000 / fps:.1f} ms); use a longer clip")
    return count


def ping_pong_indices(num_source: int, num_output: int) -> np.ndarray:
    """Source frame of every output frame when looping back and forth (or truncating).

    `0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...` (period 2n - 2; all zeros for n = 1); the first
    `num_output` entries, so a longer source is simply truncated.

    Returns:
      int64 `[num_output]` in `[0, num_source)`.
    """
    if num_source < 1 or num_output < 0:
        raise InputError(f"need num_source >= 1 and num_output >= 0, got {num_source}, "
                         f"{num_output}")
    if num_source == 1:
        return np.zeros(num_output, np.int64)
    period = 2 * num_source - 2
    phase = np.arange(num_output, dtype=np.int64) % period
    return np.where(phase < num_source, phase, period - phase)


def pad_boxes(boxes: np.ndarray, *, padding: Sequence[float] = DEFAULT_BOX_PADDING) -> np.ndarray:
    """Grows boxes `[..., 4]` (x0, y0, x1, y1) by `padding` = (left, top, right, bottom)
    fractions of each box's width / height (negative values shrink)."""
    boxes = np.asarray(boxes, np.float32)
    if boxes.shape[-1:] != (4,) or len(padding) != 4:
        raise InputError(f"need boxes [..., 4] and 4 padding fractions, got {boxes.shape}, "
                         f"{padding!r}")
    left, top, right, bottom = (float(p) for p in padding)
    width = boxes[..., 2] - boxes[..., 0]
    height = boxes[..., 3] - boxes[..., 1]
    grow = np.stack([-left * width, -top * height, right * width, bottom * height], axis=-1)
    return (boxes + grow).astype(np.float32)


def track_faces(
    frames: np.ndarray,
    *,
    box_padding: Sequence[float] = DEFAULT_BOX_PADDING,
    smoothing_window: int = 5,
    min_neighbors: int = 5,
    min_size_fraction: float = 0.1,
    chunk: int = 32,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Face box of every frame: Haar detection, temporal smoothing, padding.

    Args:
      frames: `[T, H, W, 3]` RGB, uint8 or float in [0, 1].
      box_padding: see `pad_boxes`.
      smoothing_window: odd number of frames of the moving average (`lipjax.face.smooth_boxes`).
      min_neighbors, min_size_fraction: Haar detector settings (`detect_face_boxes`).
      chunk: frames per detector call (one progress-bar step).

    Returns:
      `(boxes, detected)`: float32 `[T, 4]` smoothed, padded boxes, and bool `[T]`, True where
      the detector found a face in that very frame. Boxes where `detected` is False are
      interpolations; `lip_sync` leaves those frames unchanged.

    Raises:
      NoFaceError: no face in any frame.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise InputError(f"frames must be a non-empty [T, H, W, 3] array, got {frames.shape}")
    raw, detected = [], []
    for begin in tqdm(range(0, len(frames), chunk), desc="talk: faces", disable=not progress):
        boxes, found = detect_face_boxes(
            frames[begin:begin + chunk], min_neighbors=min_neighbors,
            min_size_fraction=min_size_fraction)
        raw.append(boxes)
        detected.append(found)
    raw_boxes, found = np.concatenate(raw), np.concatenate(detected)
    smoothed = smooth_boxes(raw_boxes, found, window=smoothing_window)
    return pad_boxes(smoothed, padding=box_padding), found


def lip_sync(
    generator: TalkingFaceGenerator,
    frames: np.ndarray,
    mel_windows: np.ndarray,
    boxes: np.ndarray,
    detected: np.ndarray,
    *,
    frame_index: np.ndarray | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> tuple[np.ndarray, float]:
    """Edits the face of every output frame whose source frame has a detected face.

    Output frame `t` shows source frame `frame_index[t]` (identity if None) driven by
    `mel_windows[t]`; its face box is `boxes[frame_index[t]]`. The crop is resized to the
    generator's size, edited, resized back and pasted over the box; every pixel outside the box,
    and every frame whose source has no detection, is returned exactly as it was.

    Args:
      generator: the DCK generator.
      frames: `[T_src, H, W, 3]` source frames, uint8 or float in [0, 1].
      mel_windows: float32 `[T_out, num_mels, window]`.
      boxes: float `[T_src, 4]` face boxes (x0, y0, x1, y1).
      detected: bool `[T_src]`.
      frame_index: int `[T_out]` in `[0, T_src)`, e.g. `ping_pong_indices`.
      batch_size: crops per generator call (the last batch is zero-padded).

    Returns:
      `(output frames [T_out, H, W, 3] of the input dtype, generator seconds)`; the seconds
      count only the compiled generator calls (not compilation, cropping or pasting).
    """
    frames = np.asarray(frames)
    boxes = np.asarray(boxes, np.float32)
    detected = np.asarray(detected, bool)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"frames must be [T, H, W, 3], got {frames.shape}")
    if boxes.shape != (len(frames), 4) or detected.shape != (len(frames),):
        raise InputError(f"need boxes [{len(frames)}, 4] and detected [{len(frames)}], got "
                         f"{boxes.shape} and {detected.shape}")
    index = (np.arange(len(frames)) if frame_index is None
             else np.asarray(frame_index, np.int64))
    if index.ndim != 1 or len(index) != len(mel_windows) or len(index) == 0:
        raise InputError(f"need one mel window per output frame: {len(index)} frames, "
                         f"{len(mel_windows)} windows")
    if index.min() < 0 or index.max() >= len(frames):
        raise InputError(f"frame_index must lie in [0, {len(frames)})")
    generator.compile(batch_size)
    size = (generator.image_size, generator.image_size)
    out = frames[index]  # a fresh array: the output buffer
    todo = np.flatnonzero(detected[index])
    generator_seconds = 0.0
    with tqdm(total=len(todo), desc="talk: lip sync", unit="frame", disable=not progress) as bar:
        for begin in range(0, len(todo), batch_size):
            chunk = todo[begin:begin + batch_size]
            crops = np.stack([crop_and_resize(out[t], boxes[index[t]], size) for t in chunk])
            crops = crops.astype(np.float32) / 255.0 if crops.dtype == np.uint8 else crops
            start = time.perf_counter()
            edited = generator.edit_batch(crops, mel_windows[chunk], batch_size=batch_size)
            generator_seconds += time.perf_counter() - start
            for t, crop in zip(chunk, edited):
                out[t] = paste_back(out[t], crop, boxes[index[t]])
            bar.update(len(chunk))
    return out, generator_seconds


# ----------------------------------------------------------------------------------------------
# The pipeline


@dataclasses.dataclass(frozen=True)
class TalkReport:
    """What `talk` did.

    Attributes:
      out_path: the written mp4.
      frames_written: output frames, `floor(audio_seconds * fps)`.
      frames_without_face: output frames written unchanged because no face was detected in their
        source frame.
      source_frames: frames of the input video that were used (all of them when it was looped).
      looped: whether the video was looped back and forth to cover the audio.
      fps: frame rate of the input and the output.
      seconds: duration of the output video, `frames_written / fps`.
      audio_seconds: duration of the driving audio (muxed into the output).
      generator_ms_per_frame: compiled generator time per edited frame (no compilation).
      pipeline_ms_per_frame: wall time of the whole `talk` call per output frame (decoding,
        detection, compilation, generation, encoding).
      compile_seconds: time spent compiling the generator in this call (0 if already compiled).
    """

    out_path: str
    frames_written: int
    frames_without_face: int
    source_frames: int
    looped: bool
    fps: float
    seconds: float
    audio_seconds: float
    generator_ms_per_frame: float
    pipeline_ms_per_frame: float
    compile_seconds: float

    def summary(self) -> str:
        """One line for a console."""
        return (f"wrote {self.out_path}: {self.frames_written} frames at {self.fps:g} fps "
                f"({self.seconds:.2f} s), {self.frames_without_face} without a face"
                f"{', video looped' if self.looped else ''}; generator "
                f"{self.generator_ms_per_frame:.1f} ms/frame, pipeline "
                f"{self.pipeline_ms_per_frame:.1f} ms/frame")


def talk(
    checkpoint_or_generator: str | os.PathLike | TalkingFaceGenerator,
    video_path: str | os.PathLike,
    audio_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    batch_size: int = 16,
    progress: bool = True,
    box_padding: Sequence[float] = DEFAULT_BOX_PADDING,
    smoothing_window: int = 5,
    min_neighbors: int = 5,
    min_size_fraction: float = 0.1,
    crf: int = 17,
) -> TalkReport:
    """Lip-syncs the face in a video to an audio track and writes an mp4 with that audio.

    The output has the video's frame rate and lasts as long as the audio:
    `floor(audio_seconds * fps)` frames. A shorter video is looped back and forth (ping-pong:
    frames 0..n-1, then n-2..0, ...); a longer one is truncated. The face is detected in every
    frame (OpenCV Haar cascade), its box smoothed over time and padded by `box_padding`; frames
    where no face is detected are written unchanged and counted in the report. Pixels outside
    the face box are never changed. See the module docstring for the details.

    Args:
      checkpoint_or_generator: a DCK training workdir (latest checkpoint) or a
        `TalkingFaceGenerator` (reuse one to process many videos without recompiling).
      video_path: the face video (any format OpenCV/FFmpeg decodes).
      audio_path: the driving audio: a wav file or any media file with an audio track.
      out_path: mp4 to write (its folder must exist); written atomically.
      batch_size: face crops per generator call (one compilation per batch size).
      progress: show tqdm progress bars.
      box_padding: (left, top, right, bottom) growth of the detected face box, as fractions of
        its width / height.
      smoothing_window: odd number of frames over which face boxes are averaged.
      min_neighbors, min_size_fraction: Haar detector settings (`lipjax.face.detect_face_boxes`).
      crf: x264 quality of the output (17 = visually lossless).

    Returns:
      A `TalkReport`.

    Raises:
      VideoError: unreadable video, or `out_path`'s folder does not exist.
      AudioError: unreadable, empty, silent audio, or audio shorter than one video frame.
      NoFaceError: no face in any frame of the video.
      CheckpointError: the workdir has no checkpoint.
    """
    start = time.perf_counter()
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    out_path = Path(out_path)
    if not out_path.parent.is_dir():
        raise VideoError(f"cannot write {str(out_path)!r}: folder {str(out_path.parent)!r} does "
                         "not exist")
    frames, fps = read_video(video_path)
    generator = (checkpoint_or_generator
                 if isinstance(checkpoint_or_generator, TalkingFaceGenerator)
                 else TalkingFaceGenerator.from_checkpoint(checkpoint_or_generator))
    sample_rate = generator.mel_config.sample_rate
    wav = load_audio(audio_path, sample_rate=sample_rate)
    num_out = output_frame_count(len(wav), sample_rate=sample_rate, fps=fps)
    mel = generator.mel_windows(wav, num_out, fps=fps)
    index = ping_pong_indices(len(frames), num_out)
    used = frames[:int(index.max()) + 1]  # a truncated video needs no detection past its end
    boxes, detected = track_faces(
        used, box_padding=box_padding, smoothing_window=smoothing_window,
        min_neighbors=min_neighbors, min_size_fraction=min_size_fraction, progress=progress)
    compile_seconds = generator.compile(batch_size)
    out, generator_seconds = lip_sync(generator, used, mel, boxes, detected, frame_index=index,
                                      batch_size=batch_size, progress=progress)
    write_video(out_path, out, fps, audio=wav, sample_rate=sample_rate, crf=crf)
    edited = int(detected[index].sum())
    return TalkReport(
        out_path=str(out_path),
        frames_written=num_out,
        frames_without_face=num_out - edited,
        source_frames=len(used),
        looped=num_out > len(frames),
        fps=float(fps),
        seconds=num_out / fps,
        audio_seconds=len(wav) / sample_rate,
        generator_ms_per_frame=1000.0 * generator_seconds / max(edited, 1),
        pipeline_ms_per_frame=1000.0 * (time.perf_counter() - start) / num_out,
        compile_seconds=compile_seconds,
    )


# ----------------------------------------------------------------------------------------------
# lipjax talk
