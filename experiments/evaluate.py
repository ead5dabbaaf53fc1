"""Evaluates the latest checkpoint of a workdir: python experiments/evaluate.py --workdir=<dir>."""

import json

from absl import app, flags

from lipjax.train.evaluation import evaluate_workdir

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training workdir (holds checkpoints/ and config.json).")
flags.DEFINE_string("split", None, "Dataset split; default: the config's eval split.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    print(json.dumps(evaluate_workdir(FLAGS.workdir, split=FLAGS.split), indent=2))


if __name__ == "__main__":
    app.run(main)
