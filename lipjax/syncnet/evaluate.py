"""LSE-D / LSE-C of a video file: `evaluate_sync` (what `lipjax evaluate-sync` runs).

    report = evaluate_sync("talking.mp4", syncnet="syncnet_v2.model")
    print(report.lse_d, report.lse_c, report.offset)

Steps, with the choices where syncnet_python's own pipeline (`run_pipeline.py`: S3FD face
tracks, FFmpeg re-encoding) is not reproduced:

* The video is decoded at its own rate and, when that is not the network's (25 fps), resampled
  by picking for output frame k the source frame shown at time k / 25 (FFmpeg `-r 25` drops or
  repeats frames the same way), `floor(T * 25 / fps)` frames.
* The audio is `--audio` or the video's own track, at 16 kHz mono (`lipjax.audio.load_audio`).
* Faces: lipjax's Haar detector in every frame (`lipjax.lipsync.faces.track_faces`: centred
  smoothing over 5 frames, frames without a detection interpolated and counted), then
  syncnet_python's crop around the box (its `crop_scale` 0.4: the box grown by 0.2 of its side
  left and right and 0.4 below, `SYNCNET_FACE_BOXES`), cut and resized to the network's crop
  size (`lipjax.face.crop_and_resize`; parts outside the frame repeat the edge, where
  syncnet_python pads with grey 110).
* `lipjax.metrics.lip_sync_error` on the crops and the audio.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from lipjax.audio import load_audio
from lipjax.errors import InputError
from lipjax.face import crop_and_resize
from lipjax.lipsync.faces import FaceBoxOptions, track_faces
from lipjax.metrics.sync import SyncNetwork, lip_sync_error
from lipjax.syncnet.network import load_sync_network
from lipjax.video import read_video

__all__ = ["SyncReport", "SYNCNET_FACE_BOXES", "resample_indices", "face_crops",
           "evaluate_sync"]

# syncnet_python's crop (run_pipeline.py, crop_scale 0.4) around a detected face box.
SYNCNET_FACE_BOXES = FaceBoxOptions(padding=(0.2, 0.0, 0.2, 0.4))


@dataclasses.dataclass(frozen=True)
class SyncReport:
    """The lip-sync scores of one video.

    Attributes:
      video, audio: the files measured (audio: the video itself when it used its own track).
      lse_d, lse_c, offset: LSE-D, LSE-C and the AV offset in frames (`LipSyncResult`).
      num_windows: windows measured (`min(frames, floor(samples / 640)) - 5` for SyncNet v2).
      frames: video frames after resampling; frames_without_face: of those, frames in which the
        detector found no face (their box was interpolated).
      source_fps: the video's own rate; resampled: whether it differed from the network's.
      per_offset_distances: mean distance at each offset -vshift .. vshift.
    """

    video: str
    audio: str
    lse_d: float
    lse_c: float
    offset: int
    num_windows: int
    frames: int
    frames_without_face: int
    source_fps: float
    resampled: bool
    per_offset_distances: tuple[float, ...]

    def summary(self) -> str:
        """One line for a console."""
        return (f"LSE-D {self.lse_d:.3f}  LSE-C {self.lse_c:.3f}  AV offset {self.offset:+d} "
                f"frames  ({self.num_windows} windows of {self.video}; "
                f"{self.frames_without_face} of {self.frames} frames without a detected face"
                f"{f'; resampled from {self.source_fps:g} fps' if self.resampled else ''})")

    def to_json(self) -> str:
        """The report as a JSON object."""
        return json.dumps(dataclasses.asdict(self), indent=2)


def resample_indices(num_frames: int, fps: float, target_fps: float) -> np.ndarray:
    """Source frame of each frame of the video at `target_fps`: `floor(k * fps / target_fps)`
    for k < `floor(num_frames * target_fps / fps)` (the identity when the rates are equal).

    Returns:
      int64 `[num_out]` in `[0, num_frames)`.
    """
    if num_frames < 1 or not (np.isfinite(fps) and fps > 0 and target_fps > 0):
        raise InputError(f"need frames >= 1 and positive rates, got {num_frames}, {fps}, "
                         f"{target_fps}")
    if np.isclose(fps, target_fps, rtol=1e-6):
        return np.arange(num_frames, dtype=np.int64)
    num_out = int(np.floor(num_frames * target_fps / fps + 1e-6))
    index = np.floor(np.arange(num_out) * (fps / target_fps) + 1e-6).astype(np.int64)
    return np.minimum(index, num_frames - 1)


def face_crops(frames: np.ndarray, *, size: int, options: FaceBoxOptions = SYNCNET_FACE_BOXES,
               progress: bool = False) -> tuple[np.ndarray, int]:
    """Face crops of every frame and how many frames had no detection.

    Args:
      frames: uint8 RGB `[T, H, W, 3]`.
      size: side of the square crops.
      options: detection, smoothing and box growth (`SYNCNET_FACE_BOXES`).

    Returns:
      `(crops uint8 [T, size, size, 3], frames without a detected face)`.

    Raises:
      NoFaceError: no face in any frame.
    """
    boxes, detected = track_faces(frames, options, progress=progress)
    crops = np.stack([crop_and_resize(f, b, (size, size)) for f, b in zip(frames, boxes)])
    return crops, int(np.sum(~detected))


def evaluate_sync(
    video_path: str | os.PathLike,
    *,
    syncnet: str | os.PathLike | SyncNetwork,
    audio_path: str | os.PathLike | None = None,
    progress: bool = False,
) -> SyncReport:
    """LSE-D, LSE-C and the AV offset of the face in a video (see the module docstring).

    Args:
      video_path: any video OpenCV/FFmpeg decodes.
      syncnet: a `syncnet_v2.model` file, a converted SyncNet v2 workdir, or a `SyncNetwork`.
      audio_path: the audio to measure against (default: the video's own track).
      progress: show a progress bar for face detection.

    Raises:
      VideoError: unreadable video. AudioError: unreadable, silent or too short audio (or no
      audio track). NoFaceError: no face in any frame. InputError / ConversionError /
      CheckpointError / ConfigError: a bad --syncnet.
    """
    network = load_sync_network(syncnet)
    frames, source_fps = read_video(video_path)
    audio_source = video_path if audio_path is None else audio_path
    wav = load_audio(audio_source, sample_rate=network.sample_rate)
    frames = frames[resample_indices(len(frames), source_fps, network.fps)]
    crops, missing = face_crops(frames, size=network.crop_size, progress=progress)
    result = lip_sync_error(crops, wav, network, fps=network.fps)
    return SyncReport(
        video=os.fspath(video_path), audio=os.fspath(audio_source), lse_d=result.lse_d,
        lse_c=result.lse_c, offset=result.offset, num_windows=result.num_windows,
        frames=len(frames), frames_without_face=missing, source_fps=float(source_fps),
        resampled=not np.isclose(source_fps, network.fps, rtol=1e-6),
        per_offset_distances=tuple(float(d) for d in result.per_offset_distances))
