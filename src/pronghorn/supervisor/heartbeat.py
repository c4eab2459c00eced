"""The heartbeat one worker writes and the master reads.

Owns: `Heartbeat`, a few hundred bytes of memory shared between the master and one worker
(an anonymous shared mapping made before the fork, so there is no file and no descriptor).
Once a second the worker writes the monotonic time (the clock is system-wide on Linux, so
both processes read the same one), the start of its longest-running request and that
request's line. The master compares them with `--timeout`. A torn read (the worker writing
while the master reads) at worst delays the verdict by one beat.

Two more bytes go the other way and back, each written by one side only: the master's "the
whole server is stopping" (so the worker drains the listening sockets it shares, see
`pronghorn.io.reactor.Reactor.begin_stop`), and the worker's count of the stack reports it
has written when the master asked for one (see `pronghorn.supervisor.watchdog`).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

_HEAD = struct.Struct("=ddH")
_SIZE = 512
_STACKS_AT = _SIZE - 2  # the worker's count of stack reports written (mod 256)
_STOPPING_AT = _SIZE - 1  # the master's "the whole server is stopping"
_MAX_TEXT = _STACKS_AT - _HEAD.size


@dataclass(frozen=True, slots=True)
class Beat:
    """One reading: when the worker last beat, and since when it is busy (0.0: idle)."""

    alive: float
    busy_since: float
    request: str


class Heartbeat:
    """Shared memory for one worker's beats. Create it in the master before forking."""

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, _SIZE)

    def write(self, now: float, oldest_request: tuple[float, str] | None) -> None:
        """Worker: record a beat at `now` and the longest-running request, if any."""
        busy_since, request = oldest_request or (0.0, "")
        text = request.encode("utf-8", "replace")[:_MAX_TEXT]
        # The text first, then the head that says how long it is and that the beat happened.
        self._memory[_HEAD.size : _HEAD.size + len(text)] = text
        self._memory[: _HEAD.size] = _HEAD.pack(now, busy_since, len(text))

    def read(self) -> Beat | None:
        """Master: the latest beat, or None if the worker has not beaten yet."""
        alive, busy_since, length = _HEAD.unpack(self._memory[: _HEAD.size])
        if alive == 0.0:
            return None
        raw = self._memory[_HEAD.size : _HEAD.size + min(length, _MAX_TEXT)]
        return Beat(alive, busy_since, raw.decode("utf-8", "replace"))

    def announce_server_stop(self) -> None:
        """Master, before it asks the worker to stop: the whole server is stopping."""
        self._memory[_STOPPING_AT] = 1

    def server_stopping(self) -> bool:
        """Worker: whether the master announced that the whole server is stopping."""
        return self._memory[_STOPPING_AT] == 1

    def stacks_written(self) -> int:
        """How many stack reports the worker has written (mod 256); the master compares."""
        return self._memory[_STACKS_AT]

    def count_stacks_written(self) -> None:
        """Worker: one more stack report written."""
        self._memory[_STACKS_AT] = (self._memory[_STACKS_AT] + 1) % 256

    def close(self) -> None:
        """Release the mapping (the master, once the worker is reaped)."""
        self._memory.close()
