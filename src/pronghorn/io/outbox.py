"""The complete responses one connection holds back, and whether it may hold any now.

Owns `Outbox`: the connection's output buffer, its cork flag and the one "join and send"
of what it holds. While the reactor runs a connection inside its batch of events it corks
the outbox (`corked`); a small complete response then waits here, to go out with the
other responses of the batch (one wake-up of a waiting client instead of one per response:
see `pronghorn.io.batching`). Anything else that must go out first (a streamed body, a
100 Continue, a refusal, the next request's answer) flushes what is held, in order.

On a worker that writes an access log, connections get a `ReportingOutbox`: a held
response's line waits with it and is written once it went out (or was lost with the
connection), so the line tells when the last byte was sent. A worker without an access log
uses the plain `Outbox` and pays nothing for this.
"""

from __future__ import annotations

from typing import Final

from pronghorn.channel import ClientDisconnected, SentReport
from pronghorn.io.sockets import send_all
from pronghorn.io.stream import Stream

__all__ = ["CORK_LIMIT", "Outbox", "ReportingOutbox"]

CORK_LIMIT: Final = 65536
"""Complete responses up to this size may wait for the end of the reactor's batch."""


class Outbox:
    """Output held back on one connection; `held` is read to test it, changed only here."""

    __slots__ = ("_sock", "_timeout", "corked", "held")

    def __init__(self, sock: Stream, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self.corked = False  # set by the reactor while the connection runs in its batch
        self.held: list[bytes] = []

    def hold(self, data: bytes) -> bool:
        """Keep `data`, a complete response, for the end of the batch if the outbox is
        corked and it is small; False when it must be sent now."""
        if self.corked and len(data) <= CORK_LIMIT:
            self.held.append(data)
            return True
        return False

    def flush(self, then: bytes = b"") -> None:
        """Send what is held, then `then`, waiting for a slow client up to the I/O
        timeout. Raises ClientDisconnected when the client is gone or stalled."""
        held = self.held
        if not held:
            if then:
                send_all(self._sock, then, self._timeout)
            return
        data = b"".join(held) + then if then else b"".join(held)
        held.clear()
        send_all(self._sock, data, self._timeout)


class ReportingOutbox(Outbox):
    """An `Outbox` whose held response may carry its access-log report (`sent_report`),
    called once the response went out (0) or could not (its size: nothing of it is
    counted as sent, though the kernel may have taken a first part)."""

    __slots__ = ("sent_report",)

    def __init__(self, sock: Stream, timeout: float) -> None:
        super().__init__(sock, timeout)
        self.sent_report: SentReport | None = None

    def flush(self, then: bytes = b"") -> None:
        report = self.sent_report
        held = self.held
        if report is None or not held:
            Outbox.flush(self, then)
            return
        self.sent_report = None
        data = b"".join(held)
        held.clear()
        try:
            send_all(self._sock, data, self._timeout)
        except ClientDisconnected:
            report(len(data))
            raise
        report(0)
        if then:
            send_all(self._sock, then, self._timeout)
