"""Background prefetch of an iterator (the pipeline's batches) in a daemon thread."""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterator

__all__ = ["Prefetcher", "Synchronous"]


class Prefetcher:
    """Runs an iterator in a daemon thread, handing items over through a bounded queue.

    The producer's exception is re-raised in the consumer; `close()` stops the thread promptly.
    """

    _ITEM, _END, _ERROR = range(3)

    def __init__(self, iterator: Iterator[Any], depth: int):
        self._iterator = iterator
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lipjax-prefetch", daemon=True)
        self._thread.start()

    def _put(self, message: tuple[int, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._iterator:
                if not self._put((self._ITEM, item)):
                    return
            self._put((self._END, None))
        except BaseException as error:  # handed to the consumer, who re-raises it
            self._put((self._ERROR, error))

    def get(self) -> Any:
        kind, payload = self._queue.get()
        if kind == self._ERROR:
            raise payload
        if kind == self._END:
            raise StopIteration
        return payload

    def close(self) -> None:
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()


class Synchronous:
    """Same interface as `Prefetcher`, without a thread (prefetch=0)."""

    def __init__(self, iterator: Iterator[Any]):
        self._iterator = iterator

    def get(self) -> Any:
        return next(self._iterator)

    def close(self) -> None:
        pass
