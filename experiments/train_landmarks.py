"""Trains the mouth-landmark regressor used for LMD on generated lip frames.

    python experiments/train_landmarks.py --data_dir=/tmp/lipjax_data --out=runs/landmarks \
        --steps=2000

Builds `synthetic_lips` (config --dataset_config) into --data_dir if it is not there yet, trains
on its `train` split, measures on `test` (and `test_unseen_speaker` when present), and writes to
--out: `params.msgpack` + `config.json` (load with `lipjax.landmarks.RegressorLandmarks.load`) and
`report.json` with the train / test landmark errors in pixels next to those of the trivial
mean-landmark-shape baseline.

With `--corpus=synthetic_talking_faces` it trains on that corpus's face crops as the DCK model
sees them (`--crop_size`, the DCK config's `model.image_size`), for the DCK model's LMD:

    python experiments/train_landmarks.py --corpus=synthetic_talking_faces --crop_size=64 \
        --data_dir=data_cache --out=runs/face_landmarks --steps=600
"""

from __future__ import annotations

import json

from absl import app, flags

from lipjax.data.builders import build_dataset, load_split
from lipjax.landmarks import save_regressor, train_landmark_regressor
from lipjax.landmarks.model import LandmarkRegressorConfig
from lipjax.data.pairs import face_crop_landmark_records

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Where synthetic_lips is (or will be) built.")
flags.DEFINE_string("out", None, "Output folder for the regressor and report.json.")
flags.DEFINE_enum("corpus", "synthetic_lips", ["synthetic_lips", "synthetic_talking_faces"],
                  "Lip crops (ParaLip's LMD) or DCK face crops (the DCK model's LMD).")
flags.DEFINE_string("dataset_config", "small", "Corpus config: small or tiny.")
flags.DEFINE_integer("crop_size", 64, "synthetic_talking_faces: side of the face crops (the DCK "
                     "config's model.image_size).")
flags.DEFINE_integer("steps", 2000, "Optimisation steps.")
flags.DEFINE_integer("batch_size", 32, "Frames per step.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam's initial learning rate (cosine decay).")
flags.DEFINE_integer("seed", 0, "Seed of initialisation, sampling and augmentation.")
flags.DEFINE_integer("frame_stride", 1, "Use every n-th frame of each training video.")
flags.DEFINE_bool("augment", True, "Random flips, shifts and photometric changes.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.mark_flags_as_required(["data_dir", "out"])


def main(argv):
    del argv
    name, config_name = FLAGS.corpus, FLAGS.dataset_config
    builder = build_dataset(name, data_dir=FLAGS.data_dir, config=config_name,
                            progress=FLAGS.progress)
    splits = {s: load_split(name, s, data_dir=FLAGS.data_dir, config=config_name)
              for s in builder.info.splits}
    config = LandmarkRegressorConfig()
    if name == "synthetic_talking_faces":  # the face crops the DCK model sees and makes
        size = FLAGS.crop_size
        splits = {s: face_crop_landmark_records(src, image_size=size) for s, src in splits.items()}
        config = LandmarkRegressorConfig(frame_height=size, frame_width=size)
    kwargs = {} if FLAGS.augment else {"augmentation": None}
    # A speaker never seen in training shows how far the regressor generalises.
    extra = ({"unseen_speaker": splits["test_unseen_speaker"]}
             if "test_unseen_speaker" in splits else None)
    params, report = train_landmark_regressor(
        splits["train"], splits["test"], steps=FLAGS.steps, batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate, seed=FLAGS.seed, config=config,
        frame_stride=FLAGS.frame_stride, extra_eval_sources=extra, progress=FLAGS.progress,
        **kwargs)
    report["dataset"] = f"{name}/{config_name}"
    save_regressor(FLAGS.out, params, config, report=report)
    print(json.dumps({k: v for k, v in report.items() if "error" in k}, indent=2))


if __name__ == "__main__":
    app.run(main)
