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

Compiled programs are kept in JAX's persistent compilation cache (`compile_cache_dir`:
`$LIPJAX_CACHE_DIR`, else `$XDG_CACHE_HOME/lipjax/jax` or `~/.cache/lipjax/jax`), so a second
`lipjax lip` / `talk` / `evaluate` with the same model and buckets starts without recompiling.
`lipjax --no_compile_cache ...` or `LIPJAX_COMPILE_CACHE=0` turns it off; a cache that JAX was
already given (e.g. `JAX_COMPILATION_CACHE_DIR`) is left as it is.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

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

__all__ = ["REGISTRARS", "build_parser", "main", "compile_cache_dir", "enable_compile_cache"]

Registrar = Callable[[argparse._SubParsersAction], None]

REGISTRARS: tuple[Registrar, ...] = (
    register_data, register_train, register_evaluate, register_lip, register_talk,
    register_convert, register_evaluate_sync,
)

_EXIT_ERROR = 2
# Programs that compile faster than this are not worth a cache file (JAX's default is 1 s).
_MIN_CACHED_COMPILE_S = 0.2


def compile_cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder of the persistent compilation cache, or None when it is turned off
    (`LIPJAX_COMPILE_CACHE=0`)."""
    environ = os.environ if environ is None else environ
    if environ.get("LIPJAX_COMPILE_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if environ.get("LIPJAX_CACHE_DIR"):
        return Path(environ["LIPJAX_CACHE_DIR"]).expanduser()
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lipjax" / "jax"


def enable_compile_cache(folder: Path | None) -> Path | None:
    """Points JAX's persistent compilation cache at `folder` (None: nothing), unless JAX was
    already given one; returns the folder in use. A folder that cannot be created turns the
    cache off quietly (compiling is only slower). Without importing JAX when it is not loaded
    yet: the environment variables it reads at import are set instead."""
    if folder is None or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if "jax" not in sys.modules:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
                              str(_MIN_CACHED_COMPILE_S))
        return folder
    import jax

    if jax.config.jax_compilation_cache_dir:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", _MIN_CACHED_COMPILE_S)
    return folder


def build_parser(registrars: Sequence[Registrar] | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every subcommand of `registrars` (default: `REGISTRARS`)."""
    parser = argparse.ArgumentParser(
        prog="lipjax",
        description="Talking-face generation in JAX: ParaLip text-to-lip and DCK lip sync.",
    )
    parser.add_argument("--version", action="version", version=f"lipjax {__version__}")
    parser.add_argument("--no_compile_cache", action="store_true",
                        help="do not keep compiled programs in the persistent cache "
                             "(also: LIPJAX_COMPILE_CACHE=0; folder: LIPJAX_CACHE_DIR)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in REGISTRARS if registrars is None else registrars:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `lipjax` command line; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(config_flag_aliases(argv))
    if not args.no_compile_cache:
        enable_compile_cache(compile_cache_dir())
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
