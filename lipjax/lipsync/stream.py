"""`talk`'s two passes over the video, run at once as a pipeline of threads.

    find faces:  decode -> detect ------------------------------> FaceTrack (boxes final by t)
                              |  (the decoded frames, handed on)
    edit:                     +-> [wait for boxes] crop -> generate -> paste back -> encode

Every arrow is a bounded queue (`lipjax.lipsync.stages.run_stages`), so at most a few batches of
frames are in memory whatever the video's length, and the pipeline runs at the pace of its
slowest step instead of their sum. The editing pass needs a frame's box only once no later
detection can change it (`lipjax.lipsync.tracking`), so it follows detection a few frames
behind. A video shorter than the audio is looped (ping-pong): once the first pass has counted
its frames, the rest of the output is read from a memory-mapped cache
(`lipjax.lipsync.source.FaceVideo.cache`). With `missing_faces="error"` nothing is edited before
every frame has been searched, so that a missing face stops the run before any work is spent
on it. Any error or interrupt stops every thread; the caller's `VideoWriter` then removes its
temporaries and publishes nothing.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any, Iterable, Iterator, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from lipjax.errors import NoFaceError
from lipjax.face import crop_and_resize
from lipjax.lipsync.composite import blend_back, paste_feathered
from lipjax.lipsync.editor import FaceEditor
from lipjax.lipsync.faces import FaceBoxOptions, FaceSearch
from lipjax.lipsync.source import FaceVideo, ping_pong_indices
from lipjax.lipsync.stages import Handoff, run_stages
from lipjax.lipsync.tracking import FaceTrack

__all__ = ["Batch", "StreamResult", "stream_talk", "crop_faces", "paste_faces", "listed"]


class Batch(NamedTuple):
    """Output frames `begin .. begin + n` on their way through the pipeline."""

    begin: int
    rows: np.ndarray                 # source frame of each output frame [n]
    frames: np.ndarray               # uint8 [n, H, W, 3]
    boxes: np.ndarray | None = None  # [n, 4], once final
    detected: np.ndarray | None = None
    edited: tuple = ()               # the editor's outputs for the detected frames


class StreamResult(NamedTuple):
    boxes: np.ndarray         # [T_src, 4]
    detected: np.ndarray      # [T_src]
    index: np.ndarray         # source frame of every output frame [T_out]
    generator_seconds: float  # crop + generator time (no compilation)


def listed(frames, limit: int = 8) -> str:
    """`0, 3, 7, ... (12 in all)`."""
    shown = ", ".join(str(int(f)) for f in frames[:limit])
    return shown + (f", ... ({len(frames)} in all)" if len(frames) > limit else "")


def crop_faces(editor: FaceEditor, frames: np.ndarray, boxes: np.ndarray,
               detected: np.ndarray, mel: np.ndarray, *, batch_size: int) -> tuple:
    """The editor's outputs for the detected frames' crops: `edit_layers` (motion, alpha) when
    it has a blending mask, else `(edit_batch,)`; `()` when no frame has a face."""
    todo = np.flatnonzero(detected)
    if len(todo) == 0:
        return ()
    size = (editor.image_size, editor.image_size)
    crops = np.stack([crop_and_resize(frames[i], boxes[i], size) for i in todo])
    crops = crops.astype(np.float32) / 255.0 if crops.dtype == np.uint8 else crops
    if hasattr(editor, "edit_layers"):
        return tuple(editor.edit_layers(crops, mel[todo], batch_size=batch_size))
    return (editor.edit_batch(crops, mel[todo], batch_size=batch_size),)


def paste_faces(editor: FaceEditor, frames: np.ndarray, boxes: np.ndarray,
                detected: np.ndarray, edited: tuple) -> np.ndarray:
    """`frames` (a new array) with `crop_faces`'s outputs composited into the boxes of the
    detected frames: blended at the frame's resolution with a mask, else pasted with
    `editor.paste_feather` pixels of feathering. Pixels outside the boxes are unchanged."""
    out = np.array(frames, copy=True)
    for j, i in enumerate(np.flatnonzero(detected) if edited else ()):
        if len(edited) == 2:
            out[i] = blend_back(frames[i], edited[0][j], edited[1][j], boxes[i])
        else:
            out[i] = paste_feathered(frames[i], edited[0][j], boxes[i],
                                     feather=int(getattr(editor, "paste_feather", 0)))
    return out


def _refuse_faceless(num_out: int, _boxes: np.ndarray, detected: np.ndarray) -> None:
    """`missing_faces="error"`: NoFaceError if an output frame's source has no face."""
    index = ping_pong_indices(len(detected), num_out)
    sources = np.unique(index[~detected[index]])
    if len(sources):
        raise NoFaceError(
            f"no face was detected in {len(sources)} of the {len(detected)} source frames "
            f"(frames {listed(sources)}); nothing was written. Pass missing_faces='pass' "
            "(lipjax talk --allow_missing_faces) to write them unchanged, or a fixed box")


def _find_faces(video: FaceVideo, track: FaceTrack, num_out: int, *, error_on_missing: bool,
                progress: bool, stop: threading.Event, handoff: Handoff | None,
                chunk_size: int) -> None:
    """Pass 1 (a background task): detections of the first `num_out` source frames, each
    chunk then handed to the editing pass (`handoff`) so that it need not decode it again."""
    options = track.options
    search = FaceSearch(options)
    handing_on = handoff is not None
    with tqdm(total=num_out, desc="talk: faces", unit="frame", disable=not progress) as bar:
        for chunk in video.chunks(size=chunk_size, limit=num_out):
            if stop.is_set():
                return
            if options.fixed_box is not None:
                track.extend_fixed(len(chunk))
            else:
                track.extend(*search.search(chunk))
            bar.update(len(chunk))
            # Editing waiting for boxes while the handoff is full means it needs detections
            # further ahead than the queue holds (a long stretch without a face, a wide smoothing
            # window): from here on editing decodes the frames itself.
            if handing_on and not handoff.offer(chunk, give_up=lambda: track.waiting):
                handoff.abandon()
                handing_on = False
    track.finish(functools.partial(_refuse_faceless, num_out) if error_on_missing else None)
    if handing_on:
        handoff.close()


def _frames_for_editing(video: FaceVideo, handoff: Handoff, num_out: int,
                        chunk_size: int) -> Iterator[np.ndarray]:
    """The chunks detection handed on, then, if it stopped handing them on, the rest decoded."""
    handed = 0
    for chunk in handoff:
        handed += len(chunk)
        yield chunk
    if not handoff.complete:
        yield from video.chunks(size=chunk_size, limit=num_out, start=handed)


def _output_batches(video: FaceVideo, num_out: int, batch_size: int,
                    decoded: Iterable[np.ndarray]) -> Iterator[Batch]:
    """Pass 2's frames in output order: the video's frames as `decoded` gives them, then, if it
    was shorter than the output, the ping-pong continuation from a memory-mapped cache."""
    begin, pending = 0, np.zeros((0,), np.uint8)
    for chunk in decoded:
        pending = chunk if len(pending) == 0 else np.concatenate([pending, chunk])
        while len(pending) >= batch_size or (len(pending) and begin + len(pending) == num_out):
            n = min(batch_size, len(pending))
            yield Batch(begin, np.arange(begin, begin + n), pending[:n])
            begin, pending = begin + n, pending[n:]
    if begin == num_out:
        return
    count = begin + len(pending)   # the whole video: loop it back and forth
    index = ping_pong_indices(count, num_out)
    video.cache(count)
    for start in range(begin, num_out, batch_size):
        rows = index[start:start + batch_size]
        yield Batch(start, rows, video.frames_at(rows))


def stream_talk(editor: FaceEditor, video: FaceVideo, writer: Any, mel: np.ndarray, *,
                options: FaceBoxOptions, num_out: int, batch_size: int, missing_faces: str,
                progress: bool) -> StreamResult:
    """Finds the faces, edits the first `num_out` output frames and writes them to `writer`
    (`VideoWriter.write`), every step in its own thread (see the module docstring)."""
    height, width = video.frame_size
    track = FaceTrack(options, height=height, width=width)
    error_mode = missing_faces == "error"
    seconds = [0.0]
    stop = threading.Event()  # set by run_stages when any step fails

    # Frames decoded for detection are handed on to editing, except when every frame must be
    # searched before anything is edited ("error"): then editing decodes them a second time.
    handoff = None if error_mode else Handoff(stop)
    decoded = (video.chunks(size=batch_size, limit=num_out) if handoff is None else
               _frames_for_editing(video, handoff, num_out, batch_size))

    def find(run_stop: threading.Event) -> None:
        _find_faces(video, track, num_out, error_on_missing=error_mode, progress=progress,
                    stop=run_stop, handoff=handoff, chunk_size=batch_size)

    def generate(batch: Batch) -> Batch:
        # "error": nothing is edited before every frame was searched (and checked).
        boxes, detected = track.wait_for(stop, None if error_mode else int(batch.rows.max()) + 1)
        start = time.perf_counter()
        boxes, detected = boxes[batch.rows], detected[batch.rows]
        mels = mel[batch.begin:batch.begin + len(batch.rows)]
        edited = crop_faces(editor, batch.frames, boxes, detected, mels, batch_size=batch_size)
        seconds[0] += time.perf_counter() - start
        return batch._replace(boxes=boxes, detected=detected, edited=edited)

    def paste(batch: Batch) -> np.ndarray:
        return paste_faces(editor, batch.frames, batch.boxes, batch.detected, batch.edited)

    with tqdm(total=num_out, desc="talk: lip sync", unit="frame", disable=not progress) as bar:
        def write(frames: np.ndarray) -> None:
            writer.write(frames)
            bar.update(len(frames))

        run_stages(_output_batches(video, num_out, batch_size, decoded), [generate, paste], write,
                   background=[find], stop=stop)
    boxes, detected = track.wait_for(threading.Event())  # detection has finished
    index = ping_pong_indices(len(detected), num_out)
    return StreamResult(boxes, detected, index, seconds[0])
