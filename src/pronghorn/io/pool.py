"""The application thread pool: N daemon threads taking jobs from one queue.

Daemon threads, so that a request stuck in the application forever cannot keep the
process alive after a graceful stop has given up on it (ThreadPoolExecutor joins its
threads at interpreter exit).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

Job = Callable[[], None]


class ThreadPool:
    """Runs jobs on `size` threads; `submit` never blocks (the queue is unbounded, but the
    connections that feed it are each limited to one request in flight)."""

    def __init__(self, size: int, error_log: logging.Logger, name: str = "pronghorn-app") -> None:
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._error_log = error_log
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def _work(self) -> None:
        get = self._jobs.get
        while (job := get()) is not None:
            try:
                job()
            except Exception:
                # Jobs handle their own errors; reaching here is a bug in pronghorn.
                self._error_log.exception("internal error in an application thread")

    def shutdown(self, timeout: float) -> None:
        """Ask every thread to stop after its current job; wait up to `timeout` in all."""
        for _ in self._threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
