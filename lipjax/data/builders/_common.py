"""What every lipjax tfds builder shares: the code-path fix and the lip-video feature spec."""

from __future__ import annotations

import sys

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

__all__ = ["LocalCodePath", "lip_video_features", "NUM_MOUTH_LANDMARKS"]

NUM_MOUTH_LANDMARKS = 20  # dlib points 48-67


class LocalCodePath:
    """Mixin for builders: `code_path` is the builder's own module file.

    tfds 4.9's default lookup needs the `importlib_resources` backport, which lipjax does not
    install (it is not needed on Python >= 3.9).
    """

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(sys.modules[cls.__module__].__file__)


def lip_video_features(height: int, width: int,
                       **extra: tfds.features.FeatureConnector) -> tfds.features.FeaturesDict:
    """Per-example features of a lip corpus (synthetic_lips, grid, tcd_timit): one pipeline
    (`lipjax.data.pipeline.lips_example`) reads them all. `extra` adds corpus-specific fields."""
    return tfds.features.FeaturesDict({
        "id": tfds.features.Text(),
        "text": tfds.features.Text(),
        "speaker": tfds.features.Scalar(dtype=np.int32),
        "tokens": tfds.features.Tensor(shape=(None,), dtype=np.int32),
        "durations": tfds.features.Tensor(shape=(None,), dtype=np.int32),
        "frames": tfds.features.Tensor(shape=(None, height, width, 3), dtype=np.uint8,
                                       encoding="zlib"),
        "landmarks": tfds.features.Tensor(shape=(None, NUM_MOUTH_LANDMARKS, 2),
                                          dtype=np.float32),
        **extra,
    })
