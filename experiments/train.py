"""Trains a lipjax system: python experiments/train.py --config=<file> --workdir=<dir>.

    python experiments/train.py --config=experiments/configs/paralip_synthetic.py \
        --workdir=runs/paralip_synthetic --config.train.num_steps=500
"""

from absl import app, flags
from ml_collections import config_flags

from lipjax.train.loop import train_and_evaluate

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Checkpoints, logs and evaluation results go here.")
config_flags.DEFINE_config_file("config", None, "A get_config() file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
