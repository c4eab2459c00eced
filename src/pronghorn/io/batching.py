"""Complete responses held back to be sent together, and the lock that guards them.

Owns the "batched sends" of docs/design.md: on a loopback socket each `send` to a client
asleep in its own `epoll_wait` wakes it, and on small VMs that wake-up costs ~20 µs of the
sender's CPU. Responses that are complete and small wait here while the leader works
through its batch of events, then go out together, waking a client once per batch. Any
thread may add or flush (the leader after its batch, the standby when the leader is stuck
in an application call), so a held response waits at most `max_wait` plus one standby tick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final, Generic, TypeVar

from pronghorn.channel import ClientDisconnected
from pronghorn.io.contracts import HeldConnection

Conn = TypeVar("Conn", bound=HeldConnection)
_monotonic: Final = time.monotonic  # bound once (see pronghorn.io.reactor)


class HeldResponses(Generic[Conn]):
    """Connections whose finished response sits in their `outbox`, oldest first."""

    def __init__(self, max_wait: float, hand_back: Callable[[Conn, bool], None]) -> None:
        self._max_wait = max_wait
        self._hand_back = hand_back
        self._lock = threading.Lock()
        self._held: list[tuple[Conn, bool]] = []
        self._since = 0.0

    def add(self, conn: Conn, keep: bool) -> None:
        # acquire/release, not `with`: compiled, `with` looks up and calls __enter__ and
        # __exit__ generically (~0.4k instructions more), and this runs on every request.
        lock = self._lock
        lock.acquire()
        try:
            if not self._held:
                self._since = _monotonic()
            self._held.append((conn, keep))
        finally:
            lock.release()

    def overdue(self) -> bool:
        """True when the oldest held response has waited `max_wait` (a racy, cheap read)."""
        return bool(self._held) and _monotonic() - self._since >= self._max_wait

    def flush(self) -> None:
        """Send every held response, then hand each connection back to the reactor."""
        if not self._held:
            return  # the common case after a batch of streamed or refused requests: no lock
        lock = self._lock  # acquire/release, not `with`: see add
        lock.acquire()
        try:
            held, self._held = self._held, []
        finally:
            lock.release()
        for conn, keep in held:
            try:
                conn.outbox.flush()
            except ClientDisconnected:
                keep = False
            self._hand_back(conn, keep)
