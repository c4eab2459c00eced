"""The one place where a connection (loop thread) and its application thread meet.

Owns all cross-thread locking for a request: the loop thread pushes request body bytes in
and learns of transport back-pressure; the application thread reads the body and hands
response bytes out. Everything the application thread asks of the connection goes through
`loop.call_soon_threadsafe`, so sockets and protocol state are touched by the loop only.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import BinaryIO, Protocol

from pronghorn.wsgi.channel import BodyError, ClientDisconnected

# Request bodies: stop reading the socket past HIGH buffered bytes, resume under LOW.
BODY_HIGH_WATER = 262144
BODY_LOW_WATER = 65536
# Responses: the app thread waits while more than this is handed over but not yet written.
WRITE_HIGH_WATER = 262144
_SENDFILE_PIECE = 262144


class ConnectionSide(Protocol):
    """What the bridge may ask of its connection, always on the loop thread."""

    def send_continue(self) -> None: ...
    def write_from_app(self, data: bytes, bridge: RequestBridge) -> None: ...
    def finish_from_app(self, data: bytes, keep_alive: bool, bridge: RequestBridge) -> None: ...
    def abort_from_app(self) -> None: ...
    def body_drained(self) -> None: ...


class RequestBridge:
    """Body source and response sink for one request, safe across the two threads."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: ConnectionSide,
        *,
        has_body: bool,
        expect_continue: bool,
        io_timeout: float,
    ) -> None:
        self._loop = loop
        self._connection = connection
        self._io_timeout = io_timeout
        self._cond = threading.Condition(threading.Lock())
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._body_done = not has_body
        self._body_error: BodyError | None = None
        self._reading_paused = False
        self.expect_continue = expect_continue
        self.continue_requested = False
        self._unflushed = 0
        self._writable = True
        self.closed = False

    # -- loop thread ----------------------------------------------------------------

    def push_body(self, data: bytes) -> bool:
        """Add body bytes; True when the connection should pause reading."""
        with self._cond:
            self._chunks.append(data)
            self._buffered += len(data)
            self._cond.notify()
            self._reading_paused = self._buffered > BODY_HIGH_WATER
            return self._reading_paused

    def end_body(self) -> None:
        with self._cond:
            self._body_done = True
            self._cond.notify()

    def fail_body(self, status: int, detail: str) -> None:
        with self._cond:
            self._body_error = BodyError(status, detail)
            self._cond.notify()

    def set_writable(self, writable: bool) -> None:
        with self._cond:
            self._writable = writable
            self._cond.notify_all()

    def flushed(self, size: int) -> None:
        with self._cond:
            self._unflushed -= size
            self._cond.notify_all()

    def close(self) -> None:
        """The connection is gone: wake the application thread with the news."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    # -- application thread: BodySource ---------------------------------------------

    def read_some(self, max_bytes: int) -> bytes:
        with self._cond:
            if self.expect_continue and not self.continue_requested:
                self.continue_requested = True
                self._loop.call_soon_threadsafe(self._connection.send_continue)
            if not self._cond.wait_for(self._body_ready, self._io_timeout):
                raise BodyError(408, "timed out waiting for the request body")
            if self._body_error is not None:
                raise self._body_error
            if not self._chunks:
                if self.closed and not self._body_done:
                    raise ClientDisconnected("client closed the connection mid-body")
                return b""
            data = self._chunks.popleft()
            if len(data) > max_bytes:
                self._chunks.appendleft(data[max_bytes:])
                data = data[:max_bytes]
            self._buffered -= len(data)
            if self._reading_paused and self._buffered < BODY_LOW_WATER:
                self._reading_paused = False
                self._loop.call_soon_threadsafe(self._connection.body_drained)
            return data

    def _body_ready(self) -> bool:
        return bool(self._chunks) or self._body_done or self.closed or self._body_error is not None

    # -- application thread: ResponseSink -------------------------------------------

    def write(self, data: bytes) -> None:
        with self._cond:
            if not self._cond.wait_for(self._can_write, self._io_timeout):
                raise ClientDisconnected("client stopped reading the response")
            if self.closed:
                raise ClientDisconnected("client closed the connection")
            self._unflushed += len(data)
        self._loop.call_soon_threadsafe(self._connection.write_from_app, data, self)

    def _can_write(self) -> bool:
        return self.closed or (self._writable and self._unflushed < WRITE_HIGH_WATER)

    def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        # Portable path, with back-pressure through write(); the zero-copy path belongs to
        # connections whose loop supports it and replaces this one there.
        file.seek(offset)
        while count > 0:
            piece = file.read(min(count, _SENDFILE_PIECE))
            if not piece:
                raise ClientDisconnected("file shrank while it was being sent")
            self.write(piece)
            count -= len(piece)

    def finish(self, data: bytes, keep_alive: bool) -> None:
        self._loop.call_soon_threadsafe(self._connection.finish_from_app, data, keep_alive, self)

    def abort(self) -> None:
        self._loop.call_soon_threadsafe(self._connection.abort_from_app)
