"""One TLS connection: a handshake the reactor drives, then the plain connection's code.

Owns three things, used only on TLS listeners (plain connections never meet them):

- `TLSStream`, an `ssl.SSLSocket` made to keep the promises of a plain non-blocking
  socket (`pronghorn.io.stream.Stream`), so that the connection, channel, parking and
  batching code runs on it unchanged. What it hides: `recv` and `send` raise
  `SSLWantReadError`/`SSLWantWriteError`, not `BlockingIOError`; decrypted bytes can sit
  in OpenSSL's buffer where epoll cannot see them (so `recv` never returns while
  `pending()` is not 0); after `SSLWantWriteError` OpenSSL must be given the same bytes
  again (it may already have sent part of them); `sendmsg` and send flags (MSG_MORE) do
  not exist; and a peek (MSG_PEEK, the reactor's "is a request waiting?") must look at
  the raw socket.
- `TLSConnection`, a `ClientConnection` that first runs the handshake one non-blocking
  step at a time, each time the reactor says the socket is ready (armed one-shot each
  time, unlike a plain connection), within --header-timeout of the accept. A handshake
  that fails or stalls costs one log line and the connection; a plain HTTP request gets
  nginx's answer, a 400 in plain text. Once it is done, the connection's requests get HTTPS=on
  and the TLS variables (`pronghorn.wsgi.tls_variables`) in their environ.
- `TLSChannel`, whose `sendfile` reads and sends: `os.sendfile` would put the file's
  plaintext on the wire past OpenSSL.

See docs/design.md, "TLS", for why an `SSLSocket` rather than a memory BIO.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO, Final

from pronghorn.io.client import WAIT_FRESH, WAIT_HEAD, WAIT_WRITE, ClientConnection, peer_text
from pronghorn.io.parked import TLSParkedOutput, copy_file
from pronghorn.io.socket_channel import SocketChannel
from pronghorn.io.tls import describe_error, error_reason
from pronghorn.wsgi.environ import EnvironBuilder
from pronghorn.wsgi.tls_variables import tls_variables

if TYPE_CHECKING:
    from pronghorn.http.connection import ConnectionState
    from pronghorn.io.contracts import ConnectionHost
    from pronghorn.wsgi.uwsgi_environ import AnyEnvironBuilder

__all__ = ["TLSChannel", "TLSConnection", "TLSStream"]

_RECORD: Final = 16384  # the most plaintext one TLS record carries
_WANT: Final = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
# The socket's own methods, for what must bypass OpenSSL (a peek, a plain-text answer).
_raw_recv = socket.socket.recv
_raw_send = socket.socket.send
_raw_shutdown = socket.socket.shutdown
_EOF: Final = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError)
_PLAIN_HTTP_BODY: Final = b"This port speaks HTTPS: use an https:// URL.\n"
_PLAIN_HTTP_ANSWER: Final = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_PLAIN_HTTP_BODY), _PLAIN_HTTP_BODY)
)


class TLSStream:
    """The socket of one TLS connection, as the I/O layer uses a plain one."""

    __slots__ = ("_ahead", "_fd", "_owed", "_raw", "_ssl", "established")

    def __init__(self, raw: socket.socket) -> None:
        self._raw = raw
        self._fd = raw.fileno()  # kept: the reactor knows the connection by this number
        self._ssl: ssl.SSLSocket | None = None
        self._owed = b""  # a record OpenSSL began to send and must be given again
        self._ahead = 0  # bytes of the stream sent by that retry, not yet reported
        self.established = False

    def fileno(self) -> int:
        return self._fd

    # -- the handshake ------------------------------------------------------------------

    def handshake(self, context: ssl.SSLContext) -> None:
        """One step of the handshake. Raises SSLWantReadError or SSLWantWriteError when
        it must wait for the socket, another OSError (or ValueError) when it failed."""
        sslsock = self._ssl
        if sslsock is None:
            # Wrapped here, not at the accept, so that a failure (the socket is then
            # closed by the ssl module) is one the connection reports and closes itself.
            sslsock = self._ssl = context.wrap_socket(
                self._raw, server_side=True, do_handshake_on_connect=False
            )
        sslsock.do_handshake()
        self.established = True

    def variables(self) -> dict[str, str]:
        """The environ's TLS variables for this connection (after the handshake)."""
        sslsock = self._ssl
        assert sslsock is not None
        cipher = sslsock.cipher()
        der = sslsock.getpeercert(binary_form=True)
        info = sslsock.getpeercert() if der else None
        return tls_variables(sslsock.version(), cipher[0] if cipher else None, der, info)

    def answer_plain(self, data: bytes) -> None:
        """Best effort, after a failed handshake: `data` in clear on the socket, and what
        the client sent read and dropped, so that the close does not reset the answer."""
        target = self._raw if self._ssl is None else self._ssl
        with contextlib.suppress(OSError):
            _raw_send(target, data)
            for _ in range(16):
                if not _raw_recv(target, 65536):
                    break

    # -- Stream -------------------------------------------------------------------------

    def recv(self, size: int, flags: int = 0, /) -> bytes:
        """Decrypted bytes, b"" at the end; BlockingIOError when none can be read now.

        Never leaves decrypted bytes in OpenSSL's buffer (`pending()`): epoll watches the
        socket, and would not say that they are there."""
        sslsock = self._ssl
        if flags:  # a peek (MSG_PEEK): has the client sent anything not yet read?
            if sslsock is None:
                return _raw_recv(self._raw, size, flags)
            if sslsock.pending():
                return b"\0"
            return _raw_recv(sslsock, size, flags)
        assert sslsock is not None
        try:
            data = sslsock.recv(size)
        except _WANT:
            raise BlockingIOError from None
        if len(data) == _RECORD and size > _RECORD:
            # One read gives one record at most: a full one says more are on their way,
            # so take what has arrived (fewer round trips through epoll for a body).
            data = self._more(sslsock, data, size)
        if len(data) >= size:
            left = sslsock.pending()
            if left:
                data += sslsock.recv(left)
        return data

    @staticmethod
    def _more(sslsock: ssl.SSLSocket, first: bytes, size: int) -> bytes:
        parts = [first]
        got = len(first)
        while got < size:
            try:
                more = sslsock.recv(size - got)
            except _WANT:
                break
            if not more:
                break  # the end: reported by the next call
            parts.append(more)
            got += len(more)
            if len(more) < _RECORD:
                break
        return b"".join(parts)

    def send(self, data: bytes | memoryview, flags: int = 0, /) -> int:
        """Encrypt and send what the socket takes now, a record at a time; the number of
        bytes of `data` sent. BlockingIOError when none. `flags` (MSG_MORE) are ignored.

        The caller gives the unsent rest of its output again, from the first byte not
        reported (as any writer to a stream socket does): after SSLWantWriteError the
        record OpenSSL began is kept (`_owed`) and given to it again first, and once it is
        out, its bytes are reported against the caller's next call (`_ahead`)."""
        if self._ahead:
            count = min(self._ahead, len(data))
            self._ahead -= count
            return count
        if self._owed:
            self._retry()
            return self.send(data)
        sslsock = self._ssl
        assert sslsock is not None
        size = len(data)
        sent = 0
        while sent < size:
            piece = data if size <= _RECORD else data[sent : sent + _RECORD]
            try:
                sent += sslsock.send(piece)
            except ssl.SSLWantWriteError:
                self._owed = bytes(piece)
                break
            except ssl.SSLWantReadError:
                # Only a renegotiation makes a write wait for a read, and it is refused
                # (OP_NO_RENEGOTIATION): waiting for writability here would spin.
                raise ConnectionError("TLS write wants to read") from None
        if not sent:
            raise BlockingIOError
        return sent

    def _retry(self) -> None:
        sslsock = self._ssl
        assert sslsock is not None
        owed = self._owed
        try:
            sslsock.send(owed)
        except ssl.SSLWantWriteError:
            raise BlockingIOError from None
        except ssl.SSLWantReadError:
            raise ConnectionError("TLS write wants to read") from None
        self._owed = b""
        self._ahead = len(owed)

    def sendmsg(
        self,
        buffers: Iterable[bytes | memoryview],
        ancdata: Iterable[tuple[int, int, bytes]] = (),
        flags: int = 0,
        /,
    ) -> int:
        """`send` of each buffer in turn (OpenSSL has no gathering write)."""
        total = 0
        for buffer in buffers:
            try:
                sent = self.send(buffer)
            except BlockingIOError:
                if total:
                    return total
                raise
            total += sent
            if sent < len(buffer):
                break
        return total

    def shutdown(self, how: int, /) -> None:
        # The socket's own shutdown: SSLSocket's would also drop the TLS state.
        _raw_shutdown(self._raw if self._ssl is None else self._ssl, how)

    def close(self) -> None:
        """Send close_notify when the handshake was done (a client reading a response
        that ends at the close can then tell it was not cut), then close."""
        sslsock = self._ssl
        if sslsock is None:
            self._raw.close()  # nothing if the ssl module already took (and closed) it
            return
        if self.established:
            with contextlib.suppress(OSError, ValueError):
                sslsock.unwrap()  # non-blocking: sends ours, does not wait for theirs
        sslsock.close()


class TLSChannel(SocketChannel):
    """A request's channel on a TLS connection: files are read and sent, never sendfile'd."""

    __slots__ = ()

    def sendfile(self, file: BinaryIO, offset: int, count: int, head: bytes = b"") -> None:
        self.started = True
        self._flush_corked()
        if head:
            self._send_or_park(head)
        if count <= 0:
            return
        fd = file.fileno()
        parked = self._conn.parked
        if not parked:
            sent = copy_file(self._sock, fd, offset, count)
            offset, count = offset + sent, count - sent
        if count:
            # The socket is full: the reactor sends the rest as it drains, reading it
            # from a descriptor of its own (TLSParkedOutput), and this thread is free.
            parked.add_file(fd, offset, count)


class TLSConnection(ClientConnection):
    """A connection on a TLS listener: the handshake, then a plain connection's life."""

    __slots__ = ("_context", "_handshaking", "_stream")

    def __init__(
        self,
        reactor: ConnectionHost,
        sock: socket.socket,
        remote: tuple[str, int] | None,
        builder: AnyEnvironBuilder,
        state: ConnectionState,
        *,
        context: ssl.SSLContext,
    ) -> None:
        stream = TLSStream(sock)
        super().__init__(reactor, stream, remote, builder, state)
        self._stream = stream
        self.raw_receive = None  # the socket's bytes are TLS records: read through OpenSSL
        self.edge = False  # OpenSSL may hold decrypted bytes epoll knows nothing of
        self.parked = TLSParkedOutput(reactor.parking)
        self._context = context
        self._handshaking = True
        self.wait = WAIT_HEAD
        # Counted from the accept, however the handshake trickles in (see arm_deadline).
        self.deadline = time.monotonic() + reactor.config.header_timeout

    def new_channel(self, io_timeout: float) -> SocketChannel:
        return TLSChannel(self, io_timeout)

    def readable(self) -> bool:
        if self._handshaking:
            return self._handshake()
        return super().readable()

    def writable(self) -> bool:
        if self._handshaking:
            return self._handshake()
        return super().writable()

    def _handshake(self) -> bool:
        """One step; True while the connection lives (waiting, or serving its first
        request), False when it is to be closed."""
        stream = self._stream
        parked = self.parked
        assert isinstance(parked, TLSParkedOutput)
        try:
            stream.handshake(self._context)
        except ssl.SSLWantReadError:
            parked.flight_owed = False
            self.wait = WAIT_HEAD
            return True
        except ssl.SSLWantWriteError:
            # Our messages wait for a full socket: the reactor waits for writability,
            # as for parked output, and calls `writable`.
            parked.flight_owed = True
            self.wait = WAIT_WRITE
            return True
        except (OSError, ValueError) as exc:
            parked.flight_owed = False  # nothing more will be sent: close at once
            self._failed(exc)
            return False
        self._handshaking = False
        parked.flight_owed = False
        builder = self.builder
        # TLS listeners speak HTTP (--protocol uwsgi with --certfile is refused at start).
        assert isinstance(builder, EnvironBuilder)
        self.builder = builder.extended(stream.variables())
        self.wait = WAIT_FRESH
        # Clients often send their first request with the end of the handshake.
        return super().readable()

    def _failed(self, exc: OSError | ValueError) -> None:
        log = self._reactor.state.error_log
        peer = peer_text(self.remote)
        if isinstance(exc, ssl.SSLError) and error_reason(exc) == "HTTP_REQUEST":
            self._stream.answer_plain(_PLAIN_HTTP_ANSWER)
            log.info("400 plain HTTP request on a TLS port from %s", peer)
        elif isinstance(exc, _EOF):
            # What load balancers' TCP health checks do: not worth a line at INFO.
            log.debug("client %s closed the connection during the TLS handshake", peer)
        else:
            reason = describe_error(exc) if isinstance(exc, OSError) else str(exc)
            log.info("TLS handshake with %s failed: %s", peer, reason)

    def deadline_action(self) -> None:
        if self._handshaking:
            self._reactor.state.error_log.info(
                "TLS handshake with %s not done within %g s (--header-timeout); closing",
                peer_text(self.remote),
                self._reactor.config.header_timeout,
            )
            return
        super().deadline_action()

    def arm_deadline(self) -> None:
        if not self._handshaking:  # the handshake's deadline was set at the accept
            super().arm_deadline()
