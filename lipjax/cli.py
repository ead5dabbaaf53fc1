"""The `lipjax` console script.

    lipjax data build | data show       datasets                      (lipjax.data.cli)
    lipjax train | evaluate             any system, from a config     (lipjax.training.cli)
    lipjax lip                          text -> lip video (ParaLip)   (lipjax.paralip.cli)
    lipjax talk                         video + audio -> lip-synced   (lipjax.lipsync.cli)
    lipjax convert                      PyTorch checkpoint -> workdir (lipjax.convert.cli)
    lipjax evaluate-sync                LSE-D / LSE-C of a video      (lipjax.syncnet.cli)

Each subcommand comes from a *registrar* in the package it belongs to: a function
`register(subparsers) -> None` that adds one parser and sets `handler=<function(args) -> int>`.
`REGISTRARS` lists them in the order `--help` shows; a new command is one registrar in its
package's `cli.py` plus one entry here. Registrars keep heavy imports (JAX, tfds) inside their
handlers, so `lipjax --help` is fast.

Errors raised on purpose (`lipjax.errors.LipjaxError`) are printed as one line without a
traceback and exit with status 2; Ctrl-C exits with 130 and SIGTERM, handled the same way
(temporaries removed, child processes reaped), with 143.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from lipjax import __version__
from lipjax.convert.cli import register_convert
from lipjax.data.cli import register_data
from lipjax.errors import LipjaxError
from lipjax.interrupts import exit_status, terminate_like_interrupt
from lipjax.lipsync.cli import register_talk
from lipjax.overrides import config_flag_aliases
from lipjax.paralip.cli import register_lip
from lipjax.syncnet.cli import register_evaluate_sync
from lipjax.training.cli import register_evaluate, register_train

__all__ = ["REGISTRARS", "build_parser", "main"]

Registrar = Callable[[argparse._SubParsersAction], None]

REGISTRARS: tuple[Registrar, ...] = (
    register_data, register_train, register_evaluate, register_lip, register_talk,
    register_convert, register_evaluate_sync,
)

_EXIT_ERROR = 2


def build_parser(registrars: Sequence[Registrar] | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every subcommand of `registrars` (default: `REGISTRARS`)."""
    parser = argparse.ArgumentParser(
        prog="lipjax",
        description="Talking-face generation in JAX: ParaLip text-to-lip and DCK lip sync.",
    )
    parser.add_argument("--version", action="version", version=f"lipjax {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in REGISTRARS if registrars is None else registrars:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `lipjax` command line; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(config_flag_aliases(argv))
    try:
        with terminate_like_interrupt():  # SIGTERM cleans up like Ctrl-C (lipjax.interrupts)
            return int(args.handler(args) or 0)
    except LipjaxError as error:
        print(f"lipjax: error: {error}", file=sys.stderr)
        return _EXIT_ERROR
    except KeyboardInterrupt as interrupt:
        print("lipjax: interrupted", file=sys.stderr)
        return exit_status(interrupt)


if __name__ == "__main__":
    sys.exit(main())
