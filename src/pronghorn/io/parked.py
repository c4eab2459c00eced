"""Response output a client's socket could not take yet, sent later by the reactor.

Owns the rule that a request thread does not wait for a slow (or merely busy) client when
it does not have to. Whatever the socket does not take at once is parked here, and the
reactor sends it when epoll says the socket is writable, while the thread goes on serving
other connections. Two kinds of item are parked:

- the rest of a file, as a duplicated descriptor, an offset and a count: it costs one
  descriptor and no memory, whatever its size;
- the rest of bytes the application handed us, as a reference to (a view of) its own
  object: no copy is made.

Over TLS a file cannot go through `sendfile` (it would bypass the encryption and put
plaintext on the wire): a TLS connection parks its output in a `TLSParkedOutput`, which
sends a parked file by reading and encrypting it, piece by piece, as the socket drains.

Memory stays bounded twice over. Per connection, bytes beyond the first piece are parked
only while its total stays under `PARK_LIMIT`; and per worker, all connections together
park at most `WORKER_PARK_LIMIT` bytes (a `ParkingBudget`). Past either bound the writer
drains what is parked, waiting for the client as it always did, so an app that streams a
large body, or many clients that read slowly, are still held back by the clients' pace.

The tail of a response parked here may carry the response's access-log report
(`sent_report`, see `pronghorn.channel.SentReport`): called with 0 when the last byte went
to the kernel, or, when the connection is dropped first, with what never went out.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections import deque
from typing import Final

from pronghorn.channel import ClientDisconnected, SentReport
from pronghorn.io.sockets import send_some
from pronghorn.io.stream import Stream

PARK_LIMIT: Final = 262144
WORKER_PARK_LIMIT: Final = 32 * 1024 * 1024
SENDFILE_PIECE: Final = 1 << 30  # bytes asked of one sendfile call
COPY_PIECE: Final = 262144  # bytes read at a time where sendfile cannot be used
# sendfile cannot do this pair of descriptors: read and send instead.
NO_SENDFILE: Final = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK})


class _FileSegment:
    """`count` bytes of an open file from `offset`, on a descriptor of our own."""

    __slots__ = ("count", "fd", "offset")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd = fd
        self.offset = offset
        self.count = count


class ParkingBudget:
    """The bytes all connections of one worker may have parked at once."""

    __slots__ = ("_lock", "limit", "used")

    def __init__(self, limit: int = WORKER_PARK_LIMIT) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()  # taken only when bytes are parked or sent from parking

    def take(self, nbytes: int) -> bool:
        with self._lock:
            if self.used + nbytes > self.limit:
                return False
            self.used += nbytes
            return True

    def give_back(self, nbytes: int) -> None:
        if nbytes:
            with self._lock:
                self.used -= nbytes


class ParkedOutput:
    """The unsent output of one connection, in wire order."""

    __slots__ = ("_budget", "_items", "dropped", "sent_report", "size")

    def __init__(self, budget: ParkingBudget) -> None:
        self._budget = budget
        self._items: deque[memoryview | _FileSegment] = deque()
        self.size = 0  # parked bytes (files not counted: they cost no memory)
        # Set only on a worker with an access log, for the response whose tail is here.
        self.sent_report: SentReport | None = None
        # Bytes a writer waiting past the parking bound could not send before the client
        # went away: the connection is dropped, and the report counts them as unsent.
        self.dropped = 0

    def __bool__(self) -> bool:
        return bool(self._items)

    def try_add_bytes(self, data: bytes | memoryview) -> bool:
        """Park `data` if both bounds allow (see the module docstring); False if not."""
        size = len(data)
        if not size:
            return True
        if self._items and self.size + size > PARK_LIMIT:
            return False
        if not self._budget.take(size):
            return False
        self._items.append(data if isinstance(data, memoryview) else memoryview(data))
        self.size += size
        return True

    def add_file(self, fd: int, offset: int, count: int) -> None:
        """Park `count` bytes of the file open on `fd`; the caller may close `fd` now."""
        if count > 0:
            self._items.append(_FileSegment(os.dup(fd), offset, count))

    def drain(self, sock: Stream) -> bool:
        """Send what the socket takes now; True once nothing is left.

        Raises ClientDisconnected when the client is gone or a parked file shrank (the
        response can no longer be completed: the connection must be dropped)."""
        items = self._items
        while items:
            item = items[0]
            if isinstance(item, _FileSegment):
                if not self._send_file(sock, item):
                    return False
                os.close(item.fd)
            else:
                sent = send_some(sock, item)
                self.size -= sent
                self._budget.give_back(sent)
                if sent < len(item):
                    items[0] = item[sent:]
                    return False
            items.popleft()
        report = self.sent_report
        if report is not None:
            self.sent_report = None
            report(0)
        return True

    @staticmethod
    def _send_file(sock: Stream, segment: _FileSegment) -> bool:
        return _send_file_segment(sock, segment)

    def release(self) -> None:
        """Drop everything parked (the connection is closing): close our descriptors, and
        report what of the response never went out."""
        if not self._items:
            return
        files = 0
        for item in self._items:
            if isinstance(item, _FileSegment):
                files += item.count
                with contextlib.suppress(OSError):
                    os.close(item.fd)
        self._items.clear()
        self._budget.give_back(self.size)
        unsent = self.size + files
        self.size = 0
        report = self.sent_report
        if report is not None:
            self.sent_report = None
            report(unsent)


class TLSParkedOutput(ParkedOutput):
    """The parked output of a TLS connection: files are copied through the encryption,
    and the handshake's own messages may be owed to a full socket (`flight_owed`: the
    reactor then waits for writability, as for any parked output)."""

    __slots__ = ("flight_owed",)

    def __init__(self, budget: ParkingBudget) -> None:
        super().__init__(budget)
        self.flight_owed = False

    def __bool__(self) -> bool:
        return self.flight_owed or bool(self._items)

    @staticmethod
    def _send_file(sock: Stream, segment: _FileSegment) -> bool:
        while segment.count > 0:
            sent = _copy_piece(sock, segment)
            if sent < 0:
                return False
            if sent == 0:
                raise ClientDisconnected("file shrank while it was being sent")
            segment.offset += sent
            segment.count -= sent
        return True


def copy_file(sock: Stream, fd: int, offset: int, count: int) -> int:
    """Read and send `count` bytes of the file open on `fd` from `offset` as far as the
    socket takes them now (where sendfile must not be used); returns the bytes sent."""
    segment = _FileSegment(fd, offset, count)
    TLSParkedOutput._send_file(sock, segment)
    return count - segment.count


def _send_file_segment(sock: Stream, segment: _FileSegment) -> bool:
    """Send from a parked file until done (True) or the socket is full (False)."""
    sock_fd = sock.fileno()
    while segment.count > 0:
        try:
            sent = os.sendfile(
                sock_fd, segment.fd, segment.offset, min(segment.count, SENDFILE_PIECE)
            )
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno not in NO_SENDFILE:
                raise ClientDisconnected(f"sendfile failed: {exc}") from exc
            sent = _copy_piece(sock, segment)
            if sent < 0:
                return False
        if sent == 0:
            raise ClientDisconnected("file shrank while it was being sent")
        segment.offset += sent
        segment.count -= sent
    return True


def _copy_piece(sock: Stream, segment: _FileSegment) -> int:
    """Where sendfile cannot be used: one read and send; -1 when the socket is full."""
    piece = os.pread(segment.fd, min(segment.count, COPY_PIECE), segment.offset)
    if not piece:
        return 0
    sent = send_some(sock, piece)
    return sent if sent else -1
