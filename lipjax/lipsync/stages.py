"""Threads joined by bounded queues, for streaming a video through several steps at once.

    run_stages(batches, [crop_and_generate, paste_back], writer.write,
               background=[find_faces])

runs the source iterator, each stage and each background task in its own thread and the sink in
the calling thread, with at most `depth` items waiting between two steps, so memory stays
bounded and the slowest step sets the pace. Decoding (OpenCV), face detection (OpenCV), the
generator (XLA) and encoding (an FFmpeg process) release the GIL, so they overlap.

Failure semantics are those of a single loop: the first exception anywhere (a stage's, a
background task's, or a KeyboardInterrupt / SIGTERM in the calling thread, the only one that
receives signals) sets a stop event that every thread checks while it waits; all threads are
joined and that exception is raised in the calling thread, whose `with` blocks (the video
writer: FFmpeg killed and reaped, temporaries removed) then unwind as before.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

__all__ = ["run_stages", "Stopped", "wait_until", "Handoff"]

_END = object()
_POLL_S = 0.05  # how often a waiting thread looks at the stop event


class Stopped(Exception):
    """Raised inside a thread when another one has failed: leave quietly."""


def wait_until(condition: threading.Condition, ready: Callable[[], bool],
               stop: threading.Event) -> None:
    """Waits on `condition` (held by the caller) until `ready()`; raises `Stopped` when `stop` is
    set first."""
    while not ready():
        if stop.is_set():
            raise Stopped
        condition.wait(_POLL_S)


def _put(channel: queue.Queue, item: Any, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise Stopped
        try:
            channel.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            continue


def _get(channel: queue.Queue, stop: threading.Event) -> Any:
    while True:
        if stop.is_set():
            raise Stopped
        try:
            return channel.get(timeout=_POLL_S)
        except queue.Empty:
            continue


class Handoff:
    """Items passed from one thread to another through a bounded queue: `offer` each, then
    `close` (or `abandon`); the receiver iterates. Both sides raise `Stopped` once `stop` is
    set."""

    def __init__(self, stop: threading.Event, depth: int = 1):
        self._channel: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = stop
        self.complete = True  # False once the sender has abandoned the handoff

    def offer(self, item: Any, give_up: Callable[[], bool], patience: int = 4) -> bool:
        """Waits for room and hands `item` on (True), unless `give_up()` holds at `patience`
        checks in a row (one per `_POLL_S`) while the queue is full (False, not handed on):
        the sender's way out when the receiver waits for something only the sender can make."""
        strikes = 0
        while True:
            if self._stop.is_set():
                raise Stopped
            try:
                self._channel.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                strikes = strikes + 1 if give_up() else 0
                if strikes >= patience:
                    return False

    def close(self) -> None:
        """No more items (waits for room for the end mark)."""
        _put(self._channel, _END, self._stop)

    def abandon(self) -> None:
        """No more items, without waiting: the receiver gets those already handed on, then
        stops, with `complete` False."""
        self.complete = False

    def __iter__(self) -> Iterator[Any]:
        while True:
            if self._stop.is_set():
                raise Stopped
            try:
                item = self._channel.get(timeout=_POLL_S)
            except queue.Empty:
                if not self.complete:
                    return
                continue
            if item is _END:
                return
            yield item


class _Run:
    """The shared state of one `run_stages` call."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = threading.Event() if stop is None else stop
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None and not isinstance(error, Stopped):
                self.error = error
        self.stop.set()

    def put(self, channel: queue.Queue, item: Any) -> None:
        _put(channel, item, self.stop)

    def get(self, channel: queue.Queue) -> Any:
        return _get(channel, self.stop)

    def thread(self, name: str, body: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                body()
            except BaseException as error:  # noqa: BLE001 - handed to the calling thread
                self.fail(error)

        worker = threading.Thread(target=guarded, name=f"lipjax-{name}", daemon=True)
        worker.start()
        return worker


def run_stages(source: Iterable[Any], stages: Sequence[Callable[[Any], Any]],
               sink: Callable[[Any], None], *, depth: int = 2,
               background: Sequence[Callable[[threading.Event], None]] = (),
               stop: threading.Event | None = None) -> None:
    """Streams `source` through `stages` into `sink` (see the module docstring).

    Args:
      source: items in order (iterated in a thread of its own).
      stages: functions item -> item, each in a thread of its own, in this order.
      sink: called with every final item, in order, in the calling thread.
      depth: items that may wait between two steps (> 0).
      background: tasks `f(stop_event)` run in threads alongside (e.g. a producer other
        stages wait for); they must return soon after `stop_event` is set.
      stop: the stop event to use (a stage that waits on something else checks it); default
        a new one.

    Raises:
      the first exception raised anywhere, after every thread has stopped.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    run = _Run(stop)
    channels = [queue.Queue(maxsize=depth) for _ in range(len(stages) + 1)]

    def produce() -> None:
        for item in source:
            run.put(channels[0], item)
        run.put(channels[0], _END)

    def transform(stage: Callable[[Any], Any], inbox: queue.Queue, outbox: queue.Queue) -> None:
        while (item := run.get(inbox)) is not _END:
            run.put(outbox, stage(item))
        run.put(outbox, _END)

    workers = [run.thread(f"background-{i}", lambda task=task: task(run.stop))
               for i, task in enumerate(background)]
    workers.append(run.thread("source", produce))
    workers += [run.thread(f"stage-{i}", lambda s=stage, i=i: transform(s, channels[i],
                                                                        channels[i + 1]))
                for i, stage in enumerate(stages)]
    try:
        while (item := run.get(channels[-1])) is not _END:
            sink(item)
        for worker in workers:  # background tasks may still be finishing (and may fail)
            while worker.is_alive() and not run.stop.is_set():
                worker.join(_POLL_S)
    except BaseException as error:  # noqa: BLE001 - includes Ctrl-C / SIGTERM here
        run.fail(error)
    finally:
        run.stop.set()
        for worker in workers:
            worker.join()
    if run.error is not None:
        raise run.error
