"""Lip-syncing a video: a face video (or still image) + driving audio -> the same video with the
face's mouth edited to follow the audio, by the DCK talking face or Wav2Lip.

Both papers' pipeline (DCK: Ye et al., IEEE TMM 2022, Sec. III; Wav2Lip: Prajwal et al., ACM MM
2020): the face is detected in every frame, cropped and resized to the model's size (DCK 256x256
in the paper, Wav2Lip 96x96), edited from the frame's audio window, resized back and pasted onto
the full frame without blending.

    report = talk("runs/dck", "face.mp4", "speech.wav", "out.mp4")
    lipjax talk --checkpoint wav2lip_gan.pth --video face.mp4 --audio speech.wav --out out.mp4

Pipeline (`talk`), with the decisions where the paper is silent:

* The video is decoded at its own frame rate, in chunks (`lipjax.lipsync.source.FaceVideo`):
  once to find the faces, once to edit them, so memory does not grow with the video's length;
  a looped video is cached on disk (memory-mapped). The two passes and their steps (decode,
  detect, crop + generate, paste back, encode) run at once, in threads joined by bounded queues
  (`lipjax.lipsync.stream`): the editing pass follows detection a few frames behind, and the
  whole runs at the pace of its slowest step. The audio (a wav file, or the audio track
  of any media file) is loaded at the model's rate, mono, for the model; the output carries
  the user's original audio stream (copied, or re-encoded as AAC at its own rate and channels
  where the container needs it).
* The output lasts as long as the audio: `floor(audio_seconds * fps)` frames (audio shorter than
  one video frame is an AudioError). A video shorter than that is looped back and forth
  (ping-pong: 0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...), which avoids the jump a plain repeat makes
  at every wrap; a longer video is truncated. The driving audio is muxed in as is (16 kHz AAC);
  the video ends within one frame of it.
* Faces: OpenCV's Haar cascade per source frame, then the model's conventions
  (`lipjax.lipsync.faces`: Wav2Lip's `--pads`, `--box`, `--nosmooth` and its smoothing; DCK's
  10% bottom padding). Smoothing fills the gaps between detections by interpolation, but those
  interpolated boxes are *not* used: a frame in which the detector found no face is written
  unchanged and counted (`TalkReport.frames_without_face`, counted over output frames, and the
  source frames named). By default (`missing_faces="report"`) that also raises a
  `MissingFacesWarning` and `lipjax talk` exits with status 3; "pass" accepts such frames
  silently, "error" refuses them before any frame is edited (as Wav2Lip stops). A fixed box
  skips detection. No face in any frame is a NoFaceError.
* The generator runs jitted on fixed-size batches (the last one zero-padded), so a whole video
  compiles exactly once per batch size; a tqdm bar shows progress.
* Compositing (`lipjax.lipsync.composite`): an editor with a blending mask (DCK) is blended at
  the frame's resolution, so pixels whose mask is 0 are unchanged bit for bit; one without
  (Wav2Lip) is pasted into the box with its edge feathered. Pixels outside the box never change.
* The mp4 streams through FFmpeg into a private temporary folder and appears at `out_path` only
  when complete (`lipjax.video_writer.VideoWriter`); an output path that is an input is refused.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from tqdm.auto import tqdm

from lipjax.audio import MelConfig, load_audio
from lipjax.errors import InputError
from lipjax.lipsync.editor import FaceEditor, load_face_editor
from lipjax.lipsync.faces import FaceBoxOptions
from lipjax.lipsync.source import (
    MAX_BATCH_SIZE,
    MISSING_FACES,
    FaceVideo,
    check_talk_options,
    output_frame_count,
    ping_pong_indices,
)
from lipjax.lipsync.stream import crop_faces, listed, paste_faces, stream_talk
from lipjax.video import check_output_video
from lipjax.video_writer import VideoWriter, check_preset

__all__ = [
    "TalkReport",
    "MissingFacesWarning",
    "MISSING_FACES",
    "MAX_BATCH_SIZE",
    "output_frame_count",
    "ping_pong_indices",
    "check_output_path",
    "edit_frames",
    "lip_sync",
    "talk",
]


def edit_frames(editor: FaceEditor, frames: np.ndarray, boxes: np.ndarray,
                detected: np.ndarray, mel: np.ndarray, *, batch_size: int) -> np.ndarray:
    """Edits the faces of up to `batch_size` frames in one generator call.

    Args:
      editor: the face editor; `editor.edit_layers` (motion, alpha) is blended at the frame's
        resolution when it exists, else `editor.edit_batch`'s crops are pasted with
        `editor.paste_feather` pixels of feathering (0 if it has none).
      frames: uint8 `[n, H, W, 3]` frames, n <= batch_size.
      boxes: float `[n, 4]` their face boxes; detected: bool `[n]` (False: left unchanged).
      mel: `[n, ...]` their audio windows.

    Returns:
      uint8 `[n, H, W, 3]`: a new array; pixels outside the boxes are the input's.
    """
    edited = crop_faces(editor, frames, boxes, detected, mel, batch_size=batch_size)
    return paste_faces(editor, frames, boxes, detected, edited)


def _check_slots(frames: np.ndarray, mel_windows: np.ndarray, boxes: np.ndarray,
                 detected: np.ndarray, frame_index: np.ndarray | None) -> np.ndarray:
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
    return index


def lip_sync(generator: FaceEditor, frames: np.ndarray, mel_windows: np.ndarray,
             boxes: np.ndarray, detected: np.ndarray, *, frame_index: np.ndarray | None = None,
             batch_size: int = 16, progress: bool = False) -> tuple[np.ndarray, float]:
    """Edits the face of every output frame whose source frame has a detected face (frames in
    memory; `talk` streams the same steps over a file).

    Output frame `t` shows source frame `frame_index[t]` (identity if None) driven by
    `mel_windows[t]`; its face box is `boxes[frame_index[t]]`. Every pixel outside the box, and
    every frame whose source has no detection, is returned exactly as it was.

    Args:
      generator: the face editor (DCK, Wav2Lip).
      frames: `[T_src, H, W, 3]` uint8 source frames.
      mel_windows: `[T_out, ...]` audio windows.
      boxes: float `[T_src, 4]` face boxes (x0, y0, x1, y1); detected: bool `[T_src]`.
      frame_index: int `[T_out]` in `[0, T_src)`, e.g. `ping_pong_indices`.
      batch_size: crops per generator call (the last batch is zero-padded).

    Returns:
      `(output frames [T_out, H, W, 3], generator seconds)`; the seconds count only the edits
      (crop, compiled generator, composite), not compilation.
    """
    frames = np.asarray(frames)
    boxes, detected = np.asarray(boxes, np.float32), np.asarray(detected, bool)
    index = _check_slots(frames, mel_windows, boxes, detected, frame_index)
    generator.compile(batch_size)
    parts, seconds = [], 0.0
    for begin in tqdm(range(0, len(index), batch_size), desc="talk: lip sync",
                      disable=not progress):
        rows = index[begin:begin + batch_size]
        start = time.perf_counter()
        parts.append(edit_frames(generator, frames[rows], boxes[rows], detected[rows],
                                 mel_windows[begin:begin + batch_size], batch_size=batch_size))
        seconds += time.perf_counter() - start
    return np.concatenate(parts), seconds


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
      faceless_source_frames: the source frames (0-based) without a detected face.
      missing_faces: how they were handled ("report" or "pass", see `talk`).
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
    faceless_source_frames: tuple[int, ...] = ()
    missing_faces: str = "report"

    def missing_faces_note(self) -> str:
        """One sentence about the frames without a face ("" if there are none)."""
        if not self.frames_without_face:
            return ""
        return (f"{self.frames_without_face} of {self.frames_written} output frames were written "
                f"unchanged: no face was detected in source frame(s) "
                f"{listed(self.faceless_source_frames)}")

    def summary(self) -> str:
        """One line for a console."""
        note = self.missing_faces_note()
        if note and self.missing_faces == "report":
            note = f"; {note} (lipjax talk --allow_missing_faces accepts them, --box fixes a box)"
        return (f"wrote {self.out_path}: {self.frames_written} frames at {self.fps:g} fps "
                f"({self.seconds:.2f} s), {self.frames_without_face} without a face"
                f"{', video looped' if self.looped else ''}; generator "
                f"{self.generator_ms_per_frame:.1f} ms/frame, pipeline "
                f"{self.pipeline_ms_per_frame:.1f} ms/frame{note}")


class MissingFacesWarning(UserWarning):
    """`talk(..., missing_faces="report")` wrote frames without a detected face unchanged."""


def check_output_path(out_path: str | os.PathLike, *inputs: str | os.PathLike) -> Path:
    """`out_path` as a Path, checked before any work (`lipjax.video.check_output_video`: not a
    folder, its folder exists and is writable, a video suffix, not one of `inputs`)."""
    return check_output_video(out_path, *inputs)


def talk(
    checkpoint_or_editor: str | os.PathLike | FaceEditor,
    video_path: str | os.PathLike,
    audio_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    batch_size: int = 16,
    progress: bool = True,
    face_boxes: FaceBoxOptions | Mapping[str, Any] | None = None,
    fps: float = 25.0,
    resize_factor: int = 1,
    crf: int = 17,
    preset: str = "medium",
    missing_faces: str = "report",
) -> TalkReport:
    """Lip-syncs the face in a video (or a still image) to an audio track and writes an mp4 with
    that audio.

    The output has the video's frame rate (`fps` for a still image) and lasts as long as the
    audio: `floor(audio_seconds * fps)` frames. A shorter video is looped back and forth
    (ping-pong: frames 0..n-1, then n-2..0, ...); a longer one is truncated. Faces are found as
    `face_boxes` says (default: the editor's own, e.g. Wav2Lip's `--pads 0 10 0 0` and
    smoothing; a fixed box skips detection). Pixels outside the face box are never changed.
    Memory does not grow with the video's length. See the module docstring for the details.

    Every input (options, output path, video, audio, fixed box) is checked before the model is
    loaded; nothing is written when any check fails.

    Args:
      checkpoint_or_editor: a DCK or Wav2Lip workdir, a Wav2Lip `.pth` file, or a `FaceEditor`
        (reuse one to process many videos without recompiling).
      video_path: the face video (any format OpenCV/FFmpeg decodes) or a still image.
      audio_path: the driving audio: a wav file or any media file with an audio track.
      out_path: video to write (.mp4, .m4v, .mov or .mkv; its folder must exist and be
        writable, it must not be an input); atomic.
      batch_size: face crops per generator call, 1..1024 (one compilation per batch size).
      progress: show tqdm progress bars.
      face_boxes: detection, pads, fixed box, smoothing and padding (`FaceBoxOptions`), or a
        mapping of the fields to change in the editor's own options (e.g. `{"pads": (0, 10, 0,
        0)}`, as `lipjax talk` passes its flags).
      fps: frame rate of a still-image input, in (0, 1000].
      resize_factor: downscale the frames by this factor first.
      crf: x264 quality of the output (17 = visually lossless).
      preset: x264 speed preset ("ultrafast" .. "veryslow"); "veryfast" encodes 1280x720 about
        twice as fast as "medium" on a CPU, with a little more error at the same `crf`.
      missing_faces: frames whose source has no detected face are written unchanged and
        counted in the report; "report" (default) also warns (`MissingFacesWarning`; `lipjax
        talk` exits with status 3), "pass" accepts them silently, "error" raises a NoFaceError
        before anything is written.

    Raises:
      InputError: bad options, or `out_path` is an input. VideoError: unreadable video, or
      `out_path` cannot be written there. AudioError: unreadable, empty, silent audio, or
      audio shorter than one video frame. NoFaceError: no face in any frame (or in some, with
      missing_faces="error"). CheckpointError / ConfigError: the checkpoint is missing or
      cannot lip-sync.
    """
    start = time.perf_counter()
    checked_boxes = check_talk_options(batch_size, missing_faces, face_boxes)
    check_preset(preset)
    out_path = check_output_path(out_path, video_path, audio_path)
    with FaceVideo(video_path, fps=fps, resize_factor=resize_factor) as video:
        video.check_frames(checked_boxes.fixed_box if checked_boxes else None)
        rate = (checkpoint_or_editor.sample_rate if isinstance(checkpoint_or_editor, FaceEditor)
                else MelConfig().sample_rate)  # both models' 16 kHz, before a model is loaded
        wav = load_audio(audio_path, sample_rate=rate)
        editor = load_face_editor(checkpoint_or_editor)
        if editor.sample_rate != rate:
            wav = load_audio(audio_path, sample_rate=editor.sample_rate)
        options = (checked_boxes if isinstance(face_boxes, FaceBoxOptions) else
                   dataclasses.replace(editor.face_boxes, **dict(face_boxes or {})))
        num_out = output_frame_count(len(wav), sample_rate=editor.sample_rate, fps=video.fps)
        mel = editor.mel_windows(wav, num_out, fps=video.fps)
        compile_seconds = editor.compile(batch_size)
        with VideoWriter(out_path, fps=video.fps, audio_source=audio_path, crf=crf,
                         preset=preset) as writer:
            _, detected, index, generator_seconds = stream_talk(
                editor, video, writer, mel, options=options, num_out=num_out,
                batch_size=batch_size, missing_faces=missing_faces, progress=progress)
    faceless = tuple(int(i) for i in np.unique(index[~detected[index]]))
    edited_count = int(detected[index].sum())
    report = TalkReport(
        out_path=str(out_path), frames_written=num_out,
        frames_without_face=num_out - edited_count, source_frames=len(detected),
        looped=num_out > len(detected) and not video.still, fps=video.fps,
        seconds=num_out / video.fps, audio_seconds=len(wav) / editor.sample_rate,
        generator_ms_per_frame=1000.0 * generator_seconds / max(edited_count, 1),
        pipeline_ms_per_frame=1000.0 * (time.perf_counter() - start) / num_out,
        compile_seconds=compile_seconds, faceless_source_frames=faceless,
        missing_faces=missing_faces)
    if faceless and missing_faces == "report":
        warnings.warn(f"{report.missing_faces_note()}; pass missing_faces='pass' to accept this",
                      MissingFacesWarning, stacklevel=2)
    return report
