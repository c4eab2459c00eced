"""The contract between the WSGI adapter and the I/O layer that carries its bytes.

The adapter runs on an application thread and talks to the connection only through these
two Protocols; the I/O layer implements them with whatever locking its model needs.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from pronghorn.http.connection import BodyError

__all__ = ["BodyError", "BodySource", "ClientDisconnected", "ResponseSink"]


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
