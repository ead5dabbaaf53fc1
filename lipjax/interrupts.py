"""The signal policy of lipjax: SIGTERM is handled like Ctrl-C, and Ctrl-C never lands inside
work that must not be torn apart.

* `terminate_like_interrupt()` (around every `lipjax` command) turns SIGTERM into a
  `KeyboardInterrupt`, so that every `finally` block runs: temporary files are removed, child
  processes (FFmpeg) are killed and reaped, progress bars closed. The command then exits with
  128 + the signal number (130 for SIGINT, 143 for SIGTERM).
* `deferred_interrupts()` holds SIGINT and SIGTERM back while a block runs (an orbax checkpoint
  restore or save, whose native worker threads crash when Python raises in the middle of them)
  and delivers the interrupt as soon as the block is done.

Signal handlers can only be set from the main thread; elsewhere both are no-ops.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["Interrupted", "terminate_like_interrupt", "deferred_interrupts", "exit_status"]

_HELD = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt that remembers which signal caused it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(error: BaseException) -> int:
    """The exit status for an interrupt: 128 + signal number (130 for a plain Ctrl-C)."""
    return 128 + int(getattr(error, "signum", signal.SIGINT))


def _raise_interrupted(signum: int, frame) -> None:
    raise Interrupted(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """Within the block SIGTERM (and SIGINT) raise `Interrupted` in the main thread; the
    previous handlers come back afterwards."""
    if not _main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _HELD}
    for sig in _HELD:
        signal.signal(sig, _raise_interrupted)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Runs the block with SIGINT / SIGTERM held; a signal that arrived meanwhile is raised as
    `Interrupted` right after it (a second one is not needed, and repeats are not lost)."""
    if not _main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in _HELD}
    for sig in _HELD:
        signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise Interrupted(received[0])
