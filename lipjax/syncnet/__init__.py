"""SyncNet v2 (joonson/syncnet_python's `SyncNetModel.S`) and the LSE-C / LSE-D lip-sync scores.

  model     `SyncNetV2` (Flax: audio MFCC tower and 3-D-conv lip tower, 1024-d embeddings) and
            `SyncNetV2Network`, the class a converted workdir names (`restore_generator`)
  network   `SyncNetV2Sync`, SyncNet v2 as a `lipjax.metrics.SyncNetwork` (its crops, MFCC
            windows and batches), and `load_sync_network` (a syncnet_v2.model file or workdir)
  evaluate  `evaluate_sync`: a video file -> faces -> 25 fps -> LSE-D, LSE-C, AV offset
  cli       `lipjax evaluate-sync`

The metric itself is `lipjax.metrics.lip_sync_error`; the importer `lipjax.convert.syncnet`.
SyncNet v2 is run, not trained, in lipjax.
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "model": ["SyncNetV2", "SyncNetV2Network", "random_variables", "variables_template"],
    "network": ["SyncNetV2Sync", "load_sync_network", "syncnet_v2_crops", "syncnet_v2_mfcc",
                "syncnet_v2_window_count"],
    "evaluate": ["evaluate_sync", "SyncReport", "SYNCNET_FACE_BOXES", "resample_indices",
                 "face_crops"],
})
