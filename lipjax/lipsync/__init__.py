"""Lip-syncing videos with any face editor (DCK, Wav2Lip): the pipeline behind `lipjax talk`.

  editor    `FaceEditor` (what a model provides), `load_face_editor` (workdir or .pth)
  faces     `FaceBoxOptions`, `track_faces`: detection, Wav2Lip's pads / box / smoothing;
            `FaceSearch`: Haar detection near the previous frame's face
  pipeline  `talk`, `lip_sync`, `TalkReport`, frame counts and looping
  stream    `talk`'s two passes as one pipeline of threads (`stages`: bounded queues, errors
            and interrupts stop every thread, detection's frames handed on to editing;
            `tracking`: boxes final while detection runs)
  cli       `lipjax talk`
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "editor": ["FaceEditor", "load_face_editor"],
    "faces": ["FaceBoxOptions", "FaceSearch", "track_faces", "pad_boxes", "add_pixel_pads",
              "forward_smooth"],
    "pipeline": ["talk", "lip_sync", "TalkReport", "output_frame_count", "ping_pong_indices"],
})
