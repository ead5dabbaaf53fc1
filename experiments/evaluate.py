"""Evaluates the latest checkpoint of a workdir (a thin wrapper of `lipjax evaluate`).

    python experiments/evaluate.py --workdir=runs/paralip_synthetic [--split=test] \
        [--config.evaluation.landmark_regressor=runs/landmarks]
"""

import sys

from lipjax import cli


def main(argv: list[str]) -> int:
    return cli.main(["evaluate", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
