"""tensorflow-datasets builder of `synthetic_talking_faces` (DCK talking-face training pairs).

Each example is one pair of clips that share identity, background and head motion but say
different GRID sentences (see `lipjax.data.synthetic.talking_faces`). Build with
``file_format="array_record"`` and read with ``builder.as_data_source()``; TensorFlow is not
needed. The `test` split uses only sentences that never occur in `train`.

    builder = SyntheticTalkingFaces(config="tiny", data_dir=..., file_format="array_record")
    builder.download_and_prepare()
    pair = builder.as_data_source()["train"][0]
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from lipjax.data.builders._common import LocalCodePath
from lipjax.data.synthetic.talking_faces import TalkingFacesConfig, generate_pairs

__all__ = ["SyntheticTalkingFacesConfig", "SyntheticTalkingFaces"]


@dataclasses.dataclass(eq=False)
class SyntheticTalkingFacesConfig(TalkingFacesConfig, tfds.core.BuilderConfig):
    """A named preset: `BuilderConfig` plus every `TalkingFacesConfig` field (flat, so that the
    registry's ``--set field=value`` overrides reach them).

    Example: ``SyntheticTalkingFacesConfig(name="mine", num_identities=10, seed=3)``.
    """

    progress: bool = True

    # Like every tfds BuilderConfig, compared and hashed by identity.
    __eq__ = object.__eq__
    __hash__ = object.__hash__


class SyntheticTalkingFaces(LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """Pairs of procedural talking-face clips with formant audio (no download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        SyntheticTalkingFacesConfig(
            name="small",
            description="6 identities (astronaut + 5 drawn), 24 train / 6 test pairs, 160x224, "
            "full GRID sentences, 50-75 frames at 25 fps.",
        ),
        SyntheticTalkingFacesConfig(
            name="tiny",
            description="For tests: 2 identities, 4 train / 2 test pairs, 64x80 frames, "
            "two-word sentences, 12-20 frames.",
            num_identities=2, train_pairs_per_identity=2, test_pairs_per_identity=1,
            test_fraction=0.3, frame_height=64, frame_width=80, min_frames=12, max_frames=20,
            num_words=2,
            progress=False,
        ),
    ]
    DEFAULT_CONFIG_NAME = "small"

    def _info(self) -> tfds.core.DatasetInfo:
        corpus: SyntheticTalkingFacesConfig = self.builder_config
        frames = tfds.features.Tensor(
            shape=(None, corpus.frame_height, corpus.frame_width, 3), dtype=np.uint8,
            encoding="zlib",
        )
        per_clip = {}
        for tag in ("a", "b"):
            per_clip.update({
                f"frames_{tag}": frames,
                f"audio_{tag}": tfds.features.Tensor(shape=(None,), dtype=np.float32, encoding="zlib"),
                f"landmarks_{tag}": tfds.features.Tensor(shape=(None, 20, 2), dtype=np.float32),
                f"mouth_{tag}": tfds.features.Tensor(shape=(None, 5), dtype=np.float32),
                f"tokens_{tag}": tfds.features.Tensor(shape=(None,), dtype=np.int32),
                f"durations_{tag}": tfds.features.Tensor(shape=(None,), dtype=np.int32),
                f"text_{tag}": tfds.features.Text(),
            })
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Procedural talking-face pairs for DCK-style lip-sync training: two clips with the "
                "same identity, background and head motion saying different GRID sentences, with "
                "16 kHz formant audio synthesised from the mouth timeline."
            ),
            features=tfds.features.FeaturesDict({
                **per_clip,
                "face_boxes": tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
                "head_pose": tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
                "identity": tfds.features.Scalar(dtype=np.int32),
                "fps": tfds.features.Scalar(dtype=np.float32),
                "pair_id": tfds.features.Text(),
            }),
            homepage="https://github.com/lipjax/lipjax",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # nothing to download
        return {"train": self._generate_examples("train"), "test": self._generate_examples("test")}

    def _generate_examples(self, split: str):
        config: SyntheticTalkingFacesConfig = self.builder_config
        for record in generate_pairs(config, split, progress=config.progress):
            yield record["pair_id"], record
