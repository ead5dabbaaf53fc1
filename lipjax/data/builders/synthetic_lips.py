"""tensorflow-datasets builder of the procedural `synthetic_lips` corpus (no download).

Build and read without TensorFlow::

    builder = SyntheticLips(config="small", data_dir=..., file_format="array_record")
    builder.download_and_prepare()
    source = builder.as_data_source()["train"]   # random access; records in shuffled order

Records: `frames` uint8 `[T, 80, 160, 3]` (zlib-compressed), `tokens` / `durations` int32 `[S]`
(sum of durations = T), `landmarks` float32 `[T, 20, 2]` (dlib points 48-67, x/y pixels),
`mouth` float32 `[T, 5]`, `text` (bytes when read back), `speaker` int32, `id` (bytes).
See `lipjax.data.synthetic.lips` for how the corpus is made.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from lipjax.data.builders._common import LocalCodePath, lip_video_features
from lipjax.data.synthetic import lips
from lipjax.data.synthetic.mouth import MOUTH_PARAMS

__all__ = ["SyntheticLipsConfig", "SyntheticLips"]


@dataclasses.dataclass(eq=False)
class SyntheticLipsConfig(lips.LipsCorpusConfig, tfds.core.BuilderConfig):
    """A `synthetic_lips` size/settings preset: `BuilderConfig` plus every `LipsCorpusConfig` field.

    Example: ``SyntheticLipsConfig(name="mine", num_speakers=8, train_sentences=100, seed=3)``.
    """

    # Like every tfds BuilderConfig, compared and hashed by identity (LipsCorpusConfig compares
    # field values, which would make the config unhashable).
    __eq__ = object.__eq__
    __hash__ = object.__hash__


class SyntheticLips(LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """GRID-grammar sentences rendered as 80x160 lip videos with per-character durations."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "First release.",
        "1.1.0": "Default timing closer to GRID: speaking rates 0.95-1.05 (was 0.8-1.25), per-token"
                 " jitter 0.1 (was 0.2), silences of 6-9 frames (was 5-12); the old timing is the"
                 " `small_varied_timing` config.",
    }
    BUILDER_CONFIGS = [
        SyntheticLipsConfig(
            name="small",
            description="4 speakers x (24 train + 6 test) sentences, 1 unseen speaker x 6.",
        ),
        SyntheticLipsConfig(
            name="small_varied_timing",
            description="`small` with version 1.0.0's timing: speakers' rates differ up to 1.56x,"
                        " beyond what a text-only duration predictor can know.",
            speaking_rate=(0.8, 1.25),
            duration_jitter=0.2,
            silence_frames=(5, 12),
        ),
        SyntheticLipsConfig(
            name="tiny",
            description="For tests: 2 speakers x (2 train + 1 test) sentences, 1 unseen x 1.",
            num_speakers=2,
            train_sentences=2,
            test_sentences=1,
            unseen_speakers=1,
            unseen_sentences=1,
            silence_frames=(2, 4),
            supersample=2,
        ),
    ]
    DEFAULT_CONFIG_NAME = "small"

    def _info(self) -> tfds.core.DatasetInfo:
        height, width = lips.FRAME_HEIGHT, lips.FRAME_WIDTH
        return self.dataset_info_from_configs(
            description=__doc__,
            features=lip_video_features(
                height, width,
                mouth=tfds.features.Tensor(shape=(None, len(MOUTH_PARAMS)), dtype=np.float32)),
            supervised_keys=None,
            homepage=None,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # procedural: nothing to download
        splits = ["train", "test"]
        if self.builder_config.unseen_speakers > 0 and self.builder_config.unseen_sentences > 0:
            splits.append("test_unseen_speaker")
        return {split: self._generate_examples(split) for split in splits}

    def _generate_examples(self, split: str):
        for example in lips.generate_examples(self.builder_config, split):
            yield example["id"], example
