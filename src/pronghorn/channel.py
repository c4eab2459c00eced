"""The contract between the request path (wsgi, static, dispatch) and the I/O layer.

Owns the typed Protocols both sides import, and nothing else: `BodySource` (where
`wsgi.input` reads the request body), `ResponseSink` (where the WSGI adapter, the static
files and the health probes write a response) and `RequestChannel`, both together plus
what the connection reads back once the request is done. The I/O layer implements them
(`pronghorn.io.socket_channel`) with whatever locking its model needs; the request path
runs on an application thread and talks to the connection only through them. It sits
between `http` and `wsgi` in the layers (docs/design.md), so neither side owns it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO, Protocol

from pronghorn.http.connection import BodyError

__all__ = [
    "BodyError",
    "BodySource",
    "ClientDisconnected",
    "RequestChannel",
    "ResponseSink",
    "SentReport",
]

SentReport = Callable[[int], None]
"""Called once a response's last byte went to the kernel, with 0; or once the connection
was dropped before it did, with the number of the response's bytes that never went out."""


class ClientDisconnected(OSError):
    """The peer went away (or stalled past the I/O timeout) while we were writing to it."""


class BodySource(Protocol):
    """Where `wsgi.input` gets the request body from (already de-chunked)."""

    def read_some(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` (at least 1 unless at end); b"" at the end of the body.

        Blocks until some body arrives; raises `BodyError` on a broken or stalled body.
        """
        ...


class ResponseSink(Protocol):
    """Where the adapter sends response bytes, already framed for the wire."""

    def write(self, data: bytes) -> None:
        """Queue bytes for the client; blocks while the client is slow (backpressure).

        Raises `ClientDisconnected` if the client is gone or stalled.
        """
        ...

    def sendfile(self, file: BinaryIO, offset: int, count: int, head: bytes = b"") -> None:
        """Send `head`, then `count` bytes of `file` from `offset`, zero-copy where the
        transport allows; given together, the head can share the file's first packets."""
        ...

    def finish(self, data: bytes, keep_alive: bool, body: bytes = b"") -> None:
        """Queue the last bytes of the response; the connection may take the next request.

        `body`, if given, follows `data` on the wire: a large body is passed apart from
        its head so that it need not be copied to join them."""
        ...

    def abort(self) -> None:
        """Drop the connection: the response cannot be completed (app error mid-body)."""
        ...


class RequestChannel(BodySource, ResponseSink, Protocol):
    """One request's body source and response sink, as the I/O layer hands it to the
    request path; the connection reads these back when the request is done."""

    aborted: bool
    """The response was cut short (`abort`): the connection must be dropped."""
    keep_alive: bool
    """As `finish` said: the connection may take the next request."""

    def when_sent(self, report: SentReport) -> None:
        """After the response is written: call `report` when its last byte has gone to
        the kernel (at once, when it already has; later, from the thread that sends what
        a slow client's socket did not take), or when the connection is dropped first."""
        ...
