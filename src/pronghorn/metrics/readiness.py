"""Whether the server should be sent traffic, as the master decides and the workers repeat.

Owns `ReadinessFlag`: one byte of memory shared by the master and all its workers (an
anonymous shared mapping made before the first fork). The master writes it whenever its
verdict changes (see `pronghorn.supervisor.telemetry`); a worker reads it when a client asks
its `--readiness-path` (`pronghorn.metrics.probes`). Without a master (--single-process) the
worker writes it itself.
"""

from __future__ import annotations

import mmap

STARTING, READY, STOPPING = 0, 1, 2


class ReadinessFlag:
    """The server's readiness: STARTING, READY or STOPPING."""

    __slots__ = ("_memory",)

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, mmap.PAGESIZE)

    def set(self, state: int) -> None:
        self._memory[0] = state

    def state(self) -> int:
        return self._memory[0]

    def close(self) -> None:
        self._memory.close()
