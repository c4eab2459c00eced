"""A connection's preamble: what it must do before its first HTTP byte.

Owns the steps that run between `accept` and HTTP on a connection that needs them, and the
contract a step keeps. Today there is one step, the PROXY protocol header
(`--proxy-protocol`, from a peer in `--proxy-allow-from`, `ProxyHeaderStep`); a TLS
handshake is meant to be the next one, after it, because on the wire the PROXY header comes
before the ClientHello.

The contract (`PreambleStep`): `advance(conn)` runs on the thread that claimed the
connection, whenever its socket is readable. It returns True when the step is done, False
to wait for more bytes (the connection stays in the PREAMBLE phase, whose deadline is
`--header-timeout` from the accept and is not extended by a dribble), and raises
`PreambleFailed` to close the connection: with one log line when it has a reason, silently
when it has none (the peer closed before sending anything, as plain connections close). An
`OSError` also closes silently. A step consumes exactly its own bytes and nothing after
them, so the next step, or HTTP, reads the stream untouched; it may replace `conn.sock` (a
TLS step would wrap it). A step that must wait for the socket to be writable (a handshake
under a full send buffer) needs a second kind of answer, which the reactor does not offer
yet: it only re-arms a preamble for reading.

A connection without a preamble pays nothing for it: the reactor tells the phases apart by
the `wait` it reads anyway.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Final, Protocol

from pronghorn.http.proxy_protocol import MAX_HEADER, ProxyHeaderError, parse

if TYPE_CHECKING:
    from pronghorn.io.contracts import PreambleConnection
    from pronghorn.io.stream import Stream

_PEEK: Final = socket.MSG_PEEK
_CUT_SHORT: Final = "truncated PROXY header"


class PreambleFailed(Exception):
    """Close the connection. The one log line says `what` came from the peer and `detail`
    (why it is refused); `what` None: close silently."""

    def __init__(self, what: str | None, detail: str = "") -> None:
        super().__init__(what, detail)
        self.what = what
        self.detail = detail


class PreambleStep(Protocol):
    """One thing a connection does before HTTP (see the module's contract)."""

    what: str
    """What the step waits for, for a log line: "the PROXY header"."""

    def advance(self, conn: PreambleConnection) -> bool: ...


class ProxyHeaderStep:
    """Read a PROXY protocol header (v1 or v2) and make its client the connection's remote.

    The socket is peeked at, and only bytes the parser (`pronghorn.http.proxy_protocol`)
    has placed inside the header are consumed: all of them while it is incomplete (so that
    epoll does not report the same bytes again), exactly the rest once it is complete."""

    __slots__ = ("_taken", "_versions")

    what = "the PROXY header"

    def __init__(self, versions: tuple[int, ...] = (1, 2)) -> None:
        self._taken = b""  # the start of the header, consumed while it was incomplete
        self._versions = versions  # what --proxy-protocol accepts (v1, v2 or auto)

    def advance(self, conn: PreambleConnection) -> bool:
        sock = conn.sock
        taken = self._taken
        try:
            peeked = sock.recv(MAX_HEADER - len(taken), _PEEK)
        except BlockingIOError:
            return False
        if not peeked:
            if not taken:
                raise PreambleFailed(None)  # connect and close: a TCP health check
            raise PreambleFailed(_CUT_SHORT, f"closed after {len(taken)} bytes")
        try:
            header = parse(taken + peeked)
        except ProxyHeaderError as error:
            raise PreambleFailed("bad PROXY header", str(error)) from None
        if header is None:
            self._taken = taken + _consume(sock, len(peeked))
            return False
        if header.version not in self._versions:
            raise PreambleFailed(
                "bad PROXY header",
                f"version {header.version}, and --proxy-protocol says v{self._versions[0]}",
            )
        _consume(sock, header.length - len(taken))
        conn.proxied(header.source, header.tls)
        return True


def _consume(sock: Stream, count: int) -> bytes:
    """Read `count` bytes that a peek has shown are in the socket's buffer."""
    pieces = []
    while count > 0:
        piece = sock.recv(count)
        if not piece:
            raise PreambleFailed(_CUT_SHORT, "closed while it was read")
        pieces.append(piece)
        count -= len(piece)
    return b"".join(pieces)
