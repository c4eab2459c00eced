"""What the I/O layer uses of a connection's socket.

Owns `Stream`, the few socket methods the connection code calls. A plain connection's
stream is its `socket.socket` itself (no wrapper, nothing added to the plain path); a TLS
connection's is a `pronghorn.io.tls_connection.TLSStream`, which keeps the same promises:
`recv` and `send` raise `BlockingIOError` when they would block, `recv` returns b"" at
the end, other `OSError`s mean the connection is broken.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class Stream(Protocol):
    """A non-blocking, connected stream socket, as `ClientConnection` uses it."""

    def fileno(self) -> int: ...

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes: ...

    def send(self, data: bytes | memoryview, flags: int = 0, /) -> int: ...

    def sendmsg(
        self,
        buffers: Iterable[bytes | memoryview],
        ancdata: Iterable[tuple[int, int, bytes]] = (),
        flags: int = 0,
        /,
    ) -> int: ...

    def shutdown(self, how: int, /) -> None: ...

    def close(self) -> None: ...
