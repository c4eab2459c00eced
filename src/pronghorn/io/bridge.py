"""The one place where a connection (loop thread) and its application thread meet.

Owns all cross-thread locking for a request: the loop thread pushes request body bytes in
and learns of transport back-pressure; the application thread reads the body and hands
response bytes out. Everything the application thread asks of the connection goes through
`loop.call_soon_threadsafe`, so sockets and protocol state are touched by the loop only.
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
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
_NO_ANSWER = -1
# errno values meaning "this descriptor pair cannot sendfile": fall back to copying.
_SENDFILE_UNSUPPORTED = frozenset(
    (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK, errno.EOVERFLOW)
)


class ConnectionSide(Protocol):
    """What the bridge may ask of its connection, always on the loop thread."""

    def send_continue(self) -> None: ...
    def write_from_app(self, data: bytes, bridge: RequestBridge) -> None: ...
    def finish_from_app(self, data: bytes, keep_alive: bool, bridge: RequestBridge) -> None: ...
    def abort_from_app(self) -> None: ...
    def direct_socket(self) -> int | None: ...
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
        self._lent_fd: int | None = _NO_ANSWER  # sendfile's borrowed socket; None: refused
        self._lend_wanted = False
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
        """Zero-copy from the application thread when the socket is ours alone, else copy.

        The loop thread stays the owner of the socket. It lends it for the duration of one
        sendfile: `direct_socket` (on the loop, after every earlier hand-off, in FIFO order)
        answers with a dup of the descriptor only when the transport has nothing buffered,
        so no bytes can overtake ours, and nothing else writes to the socket while the
        request is in flight (the connection writes only for requests not running). The dup
        keeps the descriptor number valid even if the loop closes its socket meanwhile; we
        notice through `closed` and stop.
        """
        if count <= 0:
            return
        fd = self._borrow_socket()
        if fd is None:
            self._copy(file, offset, count)
            return
        try:
            sent = self._send_direct(fd, file.fileno(), offset, count)
        finally:
            os.close(fd)
        if sent < count:  # sendfile unsupported for this pair: nothing was sent yet
            self._copy(file, offset + sent, count - sent)

    def _borrow_socket(self) -> int | None:
        with self._cond:
            if self.closed:
                raise ClientDisconnected("client closed the connection")
            self._lent_fd = _NO_ANSWER
            self._lend_wanted = True
        self._loop.call_soon_threadsafe(self._lend_socket)
        with self._cond:
            answered = self._cond.wait_for(self._answered, self._io_timeout)
            lent, self._lent_fd = self._lent_fd, _NO_ANSWER
            self._lend_wanted = False
        if lent == _NO_ANSWER:
            # If the loop answers later, _lend_socket closes the descriptor nobody takes.
            raise ClientDisconnected(
                "client closed the connection" if answered else "loop did not answer"
            )
        if self.closed and lent is not None:
            os.close(lent)
            raise ClientDisconnected("client closed the connection")
        return lent

    def _answered(self) -> bool:
        return self.closed or self._lent_fd != _NO_ANSWER

    def _lend_socket(self) -> None:
        # Loop thread.
        fd = self._connection.direct_socket()
        with self._cond:
            if fd is not None and (self.closed or not self._lend_wanted):
                os.close(fd)
                fd = None
            self._lent_fd = fd
            self._cond.notify_all()

    def _send_direct(self, sock: int, source: int, offset: int, count: int) -> int:
        """os.sendfile until done; returns bytes sent (short only if sendfile is unsupported)."""
        sent = 0
        while sent < count:
            if self.closed:  # a plain read of a bool set under the lock: a hint, rechecked
                raise ClientDisconnected("client closed the connection")
            try:
                done = os.sendfile(sock, source, offset + sent, count - sent)
            except BlockingIOError:
                self._wait_writable(sock)
                continue
            except OSError as exc:
                if sent == 0 and exc.errno in _SENDFILE_UNSUPPORTED:
                    return 0
                raise ClientDisconnected(f"sendfile failed: {exc}") from exc
            if done == 0:
                raise ClientDisconnected("file shrank while it was being sent")
            sent += done
        return sent

    def _wait_writable(self, sock: int) -> None:
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        deadline = self._io_timeout
        while deadline > 0:
            # One-second slices, so a connection closed by the loop is noticed promptly.
            if poller.poll(min(deadline, 1.0) * 1000):
                return
            if self.closed:
                raise ClientDisconnected("client closed the connection")
            deadline -= 1.0
        raise ClientDisconnected("client stopped reading the response")

    def _copy(self, file: BinaryIO, offset: int, count: int) -> None:
        # Portable path, with back-pressure through write(); memory stays bounded by the
        # piece size and WRITE_HIGH_WATER whatever the file size.
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
