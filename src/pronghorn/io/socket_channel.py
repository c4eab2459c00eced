"""The request a thread is running, read and written straight on its socket.

Owns `SocketChannel`, the `BodySource` and `ResponseSink` (see `pronghorn.channel`) of
one request. The thread that runs a request owns its connection until its app call is
done (the reactor does not watch the socket meanwhile), so reads and writes here are plain
non-blocking socket calls. Output the socket cannot take at once is parked for the reactor
to send on writability (`pronghorn.io.parked`), so the thread does not wait for the client;
past the parking bound, and for the request body, it waits with `poll` up to
`--io-timeout`: a slow client stalls only its own request, and never grows memory.

`when_sent` tells the access log when the response's last byte went to the kernel: at
once when nothing of it waits, else once the batch's held responses (`ReportingOutbox`)
or the reactor's parked output have sent it.
"""

from __future__ import annotations

import os
import select
import socket
from typing import BinaryIO

from pronghorn.channel import BodyError, ClientDisconnected, SentReport
from pronghorn.io.contracts import ChannelConnection
from pronghorn.io.outbox import ReportingOutbox
from pronghorn.io.parked import COPY_PIECE, NO_SENDFILE, SENDFILE_PIECE
from pronghorn.io.sockets import send_all, send_some, wait_for


class SocketChannel:
    """Body source and response sink of one request, used only by the thread running it."""

    __slots__ = ("_conn", "_outbox", "_sock", "_timeout", "aborted", "keep_alive", "started")

    def __init__(self, conn: ChannelConnection, io_timeout: float) -> None:
        self._conn = conn
        self._sock = conn.sock
        self._outbox = conn.outbox
        self._timeout = io_timeout
        self.started = False
        self.aborted = False
        self.keep_alive = False

    # -- BodySource ---------------------------------------------------------------------

    def read_some(self, max_bytes: int) -> bytes:
        conn = self._conn
        http = conn.http
        if http.continue_owed and not self.started:
            # 100 Continue goes out on the first read, and only before the response.
            self._flush_corked()
            self._send_all(http.continue_bytes())
        while True:
            data = http.read_body(max_bytes)
            if data is not None:
                return data
            if not wait_for(self._sock, select.POLLIN, self._timeout):
                raise BodyError(408, "timed out waiting for the request body")
            conn.receive_more()

    # -- ResponseSink -------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.started = True
        self._flush_corked()
        self._send_or_park(data)

    def finish(self, data: bytes, keep_alive: bool, body: bytes = b"") -> None:
        self.started = True
        conn = self._conn
        if body:
            self._flush_corked()
            self._send_or_park(data, body)
        # A small complete response may wait for the end of the reactor's batch (see
        # pronghorn.io.outbox), unless output parked for a full socket is ahead of it.
        elif data and (conn.parked or not self._outbox.hold(data)):
            self._flush_corked()
            self._send_or_park(data)
        self.keep_alive = keep_alive

    def abort(self) -> None:
        self.aborted = True

    def when_sent(self, report: SentReport) -> None:
        outbox = self._outbox
        if outbox.held:
            # Only a worker with an access log calls this, and its outboxes report.
            assert isinstance(outbox, ReportingOutbox)
            outbox.sent_report = report
            return
        parked = self._conn.parked
        if parked:
            parked.sent_report = report  # the reactor sends the rest (client.writable)
        else:
            report(parked.dropped)  # not 0 when the client went away as we waited for it

    def sendfile(self, file: BinaryIO, offset: int, count: int, head: bytes = b"") -> None:
        self.started = True
        self._flush_corked()
        parked = self._conn.parked
        if head:
            if count > 0 and not parked:
                # MSG_MORE: the head waits in the kernel for the file's first bytes and
                # shares their packets (nginx's tcp_nopush); sendfile pushes at its end.
                head = self._send_more(head)
            if head:
                self._send_or_park(head)
        if count <= 0:
            return
        metrics = self._conn.metrics
        if metrics is not None:
            # Sent now or parked for sendfile later; bytes copied where sendfile cannot be
            # used are taken back below.
            metrics.sendfile_bytes += count
        if parked:
            parked.add_file(file.fileno(), offset, count)  # behind what waits already
            return
        try:
            sent = self._sendfile(file.fileno(), offset, count)
        except OSError as exc:
            # Only "sendfile cannot do this pair" falls back to copying; ClientDisconnected
            # (errno None) and real socket errors propagate.
            if exc.errno not in NO_SENDFILE:
                raise
            if metrics is not None:
                metrics.sendfile_bytes -= count
            self._copy(file, offset, count)
            return
        if sent < count:
            # The socket is full: the reactor sends the rest when it drains, from a
            # descriptor of its own, and this thread is free for other requests.
            parked.add_file(file.fileno(), offset + sent, count - sent)

    def _send_more(self, data: bytes) -> bytes:
        """Send with MSG_MORE as much as the socket takes now; returns the rest."""
        sent = send_some(self._sock, data, flags=socket.MSG_MORE)
        # Sliced only to cut: a compiled `data[0:]` copies (docs/design.md).
        return data[sent:] if sent else data

    def _sendfile(self, file_fd: int, offset: int, count: int) -> int:
        """Zero-copy until done or the socket is full; returns the bytes sent."""
        sock_fd = self._sock.fileno()
        sent = 0
        while sent < count:
            try:
                n = os.sendfile(sock_fd, file_fd, offset + sent, min(count - sent, SENDFILE_PIECE))
            except BlockingIOError:
                return sent
            except OSError as exc:
                if exc.errno in NO_SENDFILE and sent == 0:
                    raise
                raise ClientDisconnected(f"sendfile failed: {exc}") from exc
            if n == 0:
                raise ClientDisconnected("file shrank while it was being sent")
            sent += n
        return sent

    def _copy(self, file: BinaryIO, offset: int, count: int) -> None:
        file.seek(offset)
        while count > 0:
            piece = file.read(min(count, COPY_PIECE))
            if not piece:
                raise ClientDisconnected("file shrank while it was being sent")
            self._send_or_park(piece)
            count -= len(piece)

    def _send_or_park(self, data: bytes, body: bytes = b"") -> None:
        """Send `data` (then `body`, uncopied) as far as the socket takes them now and
        park the rest for the reactor; wait for the client only when parking would pass
        its bounds (see pronghorn.io.parked)."""
        parked = self._conn.parked
        if parked:
            if parked.try_add_bytes(data):
                if parked.try_add_bytes(body):
                    return
                data, body = body, b""  # `data` is parked: only `body` is left to send
            self._drain_parked()
        sent = send_some(self._sock, data, body)
        for piece in (data, body):
            if sent >= len(piece):
                sent -= len(piece)
                continue
            rest = memoryview(piece)[sent:]
            sent = 0
            if not parked.try_add_bytes(rest):
                self._drain_parked()
                try:
                    send_all(self._sock, rest, self._timeout)
                except ClientDisconnected:
                    # Counted as never sent, though the kernel may have taken a part.
                    parked.dropped += len(rest) + (len(body) if piece is data else 0)
                    raise

    def _drain_parked(self) -> None:
        parked = self._conn.parked
        while not parked.drain(self._sock):
            self._wait_writable()

    def _send_all(self, data: bytes) -> None:
        send_all(self._sock, data, self._timeout)

    def _flush_corked(self) -> None:
        outbox = self._outbox
        if outbox.held:
            outbox.flush()

    def _wait_writable(self) -> None:
        if not wait_for(self._sock, select.POLLOUT, self._timeout):
            raise ClientDisconnected("client stopped reading the response")
