"""Trains a lipjax system from a config file (the flax-examples `main`).

    python experiments/train.py --config=experiments/configs/paralip_synthetic.py \
        --workdir=runs/paralip_synthetic --config.train.num_steps=500

Overrides are `--config.<field>=<value>` or `--set <field>=<value>` (the same type-checked
syntax as `lipjax train`, which this script is a thin wrapper of). Multi-process training takes
the same flags too (`--coordinator HOST:PORT --num_processes N --process_id I`, or none under
SLURM / mpirun / a Cloud TPU slice; README "Multi-host training").
"""

import sys

from lipjax import cli


def main(argv: list[str]) -> int:
    return cli.main(["train", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
