"""The memory one worker publishes its counters in, and the master reads them from.

Owns `MetricsBlock`: an anonymous shared mapping made before the fork (no file, no
descriptor, like `pronghorn.supervisor.heartbeat`), holding `catalogue.BLOCK_SLOTS` doubles
(counts stay exact up to 2**53) and the monotonic time they were published at. One writer
(the worker's clock thread, once a second and at exit) and one reader (the master, at each
scrape and when the worker has exited).

A sequence number guards against torn reads: the writer makes it odd, writes, makes it even
again; the reader copies the numbers between two reads of it and keeps the copy only when
both are the same even number, else it tries again, and after a few tries gives the last
whole copy it had. Every counter only grows, so whichever whole copy is read, the totals
the master adds up from it never go backwards.
"""

from __future__ import annotations

import mmap
import struct

from pronghorn.metrics.catalogue import BLOCK_SLOTS

_SEQUENCE = struct.Struct("=Q")
_STAMP = struct.Struct("=d")
_VALUES = struct.Struct(f"={BLOCK_SLOTS}d")
_STAMP_AT = _SEQUENCE.size
_VALUES_AT = _STAMP_AT + _STAMP.size
_SIZE = mmap.PAGESIZE * (1 + (_VALUES_AT + _VALUES.size) // mmap.PAGESIZE)
_READ_TRIES = 4


class MetricsBlock:
    """Shared memory for one worker's numbers. Create it before forking that worker."""

    __slots__ = ("_last", "_memory", "_sequence")

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, _SIZE)
        self._sequence = 0
        self._last: tuple[float, tuple[float, ...]] | None = None

    def publish(self, values: list[float], now: float) -> None:
        """Worker: make `values` (in catalogue order) what the master reads, as of `now`."""
        memory = self._memory
        self._sequence += 1  # odd: being written
        _SEQUENCE.pack_into(memory, 0, self._sequence)
        _STAMP.pack_into(memory, _STAMP_AT, now)
        _VALUES.pack_into(memory, _VALUES_AT, *values)
        self._sequence += 1  # even: whole
        _SEQUENCE.pack_into(memory, 0, self._sequence)

    def read(self) -> tuple[float, tuple[float, ...]] | None:
        """Master: (when published, the numbers), or None if nothing was published yet."""
        memory = self._memory
        for _ in range(_READ_TRIES):
            (before,) = _SEQUENCE.unpack_from(memory, 0)
            (stamp,) = _STAMP.unpack_from(memory, _STAMP_AT)
            values = _VALUES.unpack_from(memory, _VALUES_AT)
            (after,) = _SEQUENCE.unpack_from(memory, 0)
            if before == after and not before % 2:
                if before == 0:
                    return None
                self._last = (stamp, values)
                return self._last
        return self._last

    def close(self) -> None:
        """Release the mapping (the master, once the worker is reaped and read)."""
        self._memory.close()
