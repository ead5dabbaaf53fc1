"""Mouth landmarks for the LMD metric: a small CNN regressor, detectors, training, saving.

LMD (ParaLip Sec. 4.2; the DCK paper) compares the mouth landmarks of generated and ground-truth
frames, so generated frames need a detector:

  model      `LandmarkRegressor` (frames -> 20 mouth points, dlib 48-67 order)
  detectors  `RegressorLandmarks`, `DlibLandmarks` (host side) and `regressor_landmark_fn`
             (traceable, for LMD inside jitted evaluation steps)
  training   `train_landmark_regressor` on a corpus with exact landmarks (synthetic_lips),
             `train_synthetic_regressor` (build + train + save in one call)
  io         `save_regressor` / `load_regressor` (a folder: params, config, report)

The LMD itself is `lipjax.metrics.landmark_distance` and its video forms.
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "model": ["LandmarkRegressor", "LandmarkRegressorConfig", "to_pixels", "to_normalised"],
    "detectors": ["MouthLandmarkDetector", "RegressorLandmarks", "DlibLandmarks",
                  "face_box_for_lip_crop", "regressor_landmark_fn"],
    "training": ["MIRROR_PERMUTATION", "LandmarkAugmentation", "collect_landmark_frames",
                 "augment_batch", "train_landmark_regressor", "train_synthetic_regressor"],
    "io": ["save_regressor", "load_regressor"],
})
