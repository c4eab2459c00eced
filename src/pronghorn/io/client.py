"""One client connection: its socket, the bytes it owes, and requests run in order.

Owns what is about the socket: reading into the connection's protocol state
(`pronghorn.http.connection.ServerConnection`, which decides everything HTTP: the next
request, gathering its body, 100 Continue, keep-alive or close, discarding; or the uwsgi
protocol's, `pronghorn.http.uwsgi.UwsgiConnection`, as the listener says), running each
request it hands out on the current thread, answering its refusals, response output parked
for a full socket (sent by `writable` before the next request is read), the steps some
connections take before HTTP (`run_preamble`, see `pronghorn.io.preamble`), and the one
deadline the reactor enforces while the connection waits. Whichever thread claimed the
connection from the reactor runs it; no two threads touch it at once.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Final

from pronghorn.channel import ClientDisconnected
from pronghorn.http.connection import FRESH, HEAD, IDLE, ConnectionState
from pronghorn.http.connection import Phase as Wait
from pronghorn.http.events import ProtocolError, RequestHead
from pronghorn.io.contracts import ChannelConnection, ConnectionHost
from pronghorn.io.parked import ParkedOutput
from pronghorn.io.preamble import PreambleFailed, PreambleStep
from pronghorn.io.socket_channel import SocketChannel
from pronghorn.io.sockets import NATIVE_RECEIVE, Receive
from pronghorn.io.stream import Stream

if TYPE_CHECKING:
    from pronghorn.wsgi.uwsgi_environ import AnyEnvironBuilder

__all__ = [
    "WAIT_FRESH",
    "WAIT_HEAD",
    "WAIT_IDLE",
    "WAIT_PREAMBLE",
    "WAIT_WRITE",
    "ClientConnection",
    "Wait",
    "peer_text",
]

_RECV_SIZE: Final = 65536
_monotonic: Final = time.monotonic  # bound once (see pronghorn.io.reactor)
# What a connection handed back to the reactor waits for is its protocol phase, or WRITE.
# One `Final` name each (compiled, other module names are dict lookups at every use).
WAIT_FRESH: Final = FRESH
WAIT_IDLE: Final = IDLE
WAIT_HEAD: Final = HEAD
WAIT_WRITE: Final = Wait.WRITE
WAIT_PREAMBLE: Final = Wait.PREAMBLE
_WAIT_BODY: Final = Wait.BODY
_WAIT_DISCARD: Final = Wait.DISCARD
_CLOSED: Final = Wait.CLOSED


class ClientConnection(ChannelConnection):
    """The state of one accepted connection."""

    __slots__ = (
        "_armed_for",
        "_reactor",
        "armed",
        "builder",
        "busy",
        "close_after_write",
        "closed",
        "deadline",
        "drained",
        "edge",
        "fd",
        "io_timeout",
        "preamble",
        "raw_receive",
        "rearm",
        "remote",
        "wait",
    )

    def __init__(
        self,
        reactor: ConnectionHost,
        sock: Stream,
        remote: tuple[str, int] | None,
        builder: AnyEnvironBuilder,
        state: ConnectionState,
    ) -> None:
        self._reactor = reactor
        self.sock = sock
        self.fd = sock.fileno()  # while open (the reactor re-arms it after each request)
        self.remote = remote
        self.builder = builder  # the environ of this connection's requests (its listener's)
        self.http = state  # the protocol state, made by the listener's protocol
        self.busy = True  # the accepting thread owns it first
        self.closed = False
        # How the reactor watches it (pronghorn.io.reactor, "_serve"): the epoll events it
        # is registered with (0: not yet); whether it may stay registered edge-triggered
        # between requests (not under TLS or a preamble, whose bytes OpenSSL or a step may
        # hold back); whether the last read found the socket empty; and whether it must be
        # armed again all the same (an event that came while a thread had it, or one that
        # said the peer has closed).
        self.armed = 0
        self.edge = True
        self.drained = False
        self.rearm = False
        # Complete small responses held for the end of the reactor's batch.
        # Kept here: the reactor's config is not a compiled class, and reading it through
        # that would be a generic attribute lookup on every request.
        self.io_timeout: float = reactor.config.io_timeout
        self.outbox = reactor.outbox_type(sock, self.io_timeout)
        self.parked = ParkedOutput(reactor.parking)  # what the socket did not take yet
        self.metrics = reactor.metrics  # the worker's counters, when metrics are on
        self.close_after_write = False
        self.wait = WAIT_FRESH
        self.deadline = 0.0
        self._armed_for: Wait | None = None
        self.preamble: list[PreambleStep] | None = None  # steps before HTTP, in order
        # The compiled build's C read of the plain socket (None: `sock.recv`); a TLS
        # connection reads through OpenSSL, and sets it to None.
        self.raw_receive: Receive | None = NATIVE_RECEIVE

    # -- before HTTP ----------------------------------------------------------------------

    def begin_preamble(self, steps: list[PreambleStep]) -> None:
        """This connection takes `steps` before its first request (see io.preamble)."""
        self.preamble = steps
        self.wait = WAIT_PREAMBLE
        self.edge = False  # a step reads what it needs and may leave bytes in the socket

    def run_preamble(self) -> bool:
        """The socket is readable while in the preamble: advance it, and go on to HTTP at
        once when it is done. False when the connection should be closed."""
        steps = self.preamble
        assert steps is not None
        try:
            while steps:
                if not steps[0].advance(self):
                    return True  # the phase stays PREAMBLE: wait for more bytes
                del steps[0]
        except PreambleFailed as failure:
            if failure.what is not None:
                self._reactor.state.error_log.info(
                    "%s from %s (%s); closing", failure.what, peer_text(self.remote), failure.detail
                )
            return False
        except OSError:
            return False
        self.preamble = None
        self.wait = WAIT_FRESH
        return self.readable()

    def proxied(self, source: tuple[str, int] | None, tls: bool) -> None:
        """A PROXY header's word on the client: its address (None: keep the real peer's),
        and whether it reached the proxy over TLS (the environ then says https)."""
        if source is not None:
            self.remote = source
        if tls:
            self.builder = self._reactor.state.behind_tls(self.builder)

    # -- reading ------------------------------------------------------------------------

    def readable(self) -> bool:
        """Read what arrived and act on it. False when the connection should be closed."""
        receive = self.raw_receive
        try:
            if receive is None:
                data = self.sock.recv(_RECV_SIZE)
            else:
                # A new connection's first read usually finds nothing yet: None, where
                # `recv` raises (see pronghorn.io.sockets).
                received = receive(self.fd, _RECV_SIZE)
                if received is None:
                    self.drained = True
                    return True
                data = received
        except BlockingIOError:
            self.drained = True
            return True
        except OSError:
            return False
        # A read that filled the buffer may have left bytes behind, which an edge-triggered
        # epoll would not report again: the reactor re-arms (see pronghorn.io.reactor).
        self.drained = len(data) < _RECV_SIZE
        metrics = self.metrics
        if metrics is not None:
            metrics.received_bytes += len(data)
        self.http.receive(data)
        return self._serve_pending()

    def receive_more(self) -> None:
        """Called by the running request's body reader when its socket is readable."""
        try:
            data = self.sock.recv(_RECV_SIZE)
        except BlockingIOError:
            self.drained = True
            return
        except OSError:
            data = b""
        self.drained = len(data) < _RECV_SIZE  # as in readable
        metrics = self.metrics
        if metrics is not None:
            metrics.received_bytes += len(data)
        self.http.receive(data)
        if not data:
            raise ClientDisconnected("client closed the connection mid-body")

    # -- requests -----------------------------------------------------------------------

    def _serve_pending(self) -> bool:
        http = self.http
        reactor = self._reactor
        if reactor.stopping:
            http.refuse_keep_alive()
        while True:
            item = http.next_request()
            if item is None:
                self.wait = wait = http.phase
                if wait is _CLOSED:
                    return False
                return not reactor.stopping or (wait is not WAIT_IDLE and wait is not WAIT_FRESH)
            if type(item) is ProtocolError:
                self._refuse(item)
                return False
            # A response held for the batch must not wait for this request's app.
            if self.outbox.held and not self._send_held():
                return False
            if not self._run(item):  # type: ignore[arg-type]
                return False
            if self.parked:
                # The socket is full: the next request waits until the reactor has sent
                # the rest of this response (`writable`).
                self.wait = WAIT_WRITE
                return True

    def _run(self, head: RequestHead) -> bool:
        reactor = self._reactor
        channel = self.new_channel(self.io_timeout)
        reactor.run_request(head, channel, self.remote, self.builder)
        if channel.aborted:
            self.parked.release()  # a response cut short: nothing more of it may go out
            return False
        self.http.end_request(channel.keep_alive)
        return self.http.phase is not _CLOSED

    def new_channel(self, io_timeout: float) -> SocketChannel:
        """The channel of a request on this connection (a method, not a class attribute
        called: compiled, a method is called directly, a class in a variable generically).
        A TLS connection's copies files instead of sendfile."""
        return SocketChannel(self, io_timeout)

    def writable(self) -> bool:
        """The socket can take more: send parked output, then go on with any pipelined
        request. False when the connection should be closed."""
        try:
            if not self.parked.drain(self.sock):
                return True  # still full: wait for the next writable event
        except ClientDisconnected:
            self.parked.release()  # the client is gone: nothing more can be sent
            return False
        if self.close_after_write:
            return False
        return self._serve_pending()

    def _send_held(self) -> bool:
        try:
            self.outbox.flush()
        except ClientDisconnected:
            return False
        return True

    def _refuse(self, error: ProtocolError) -> None:
        reactor = self._reactor
        reactor.state.error_log.info(
            "%d %s from %s", error.status, error.detail, peer_text(self.remote)
        )
        if reactor.metrics is not None:
            reactor.metrics.bad_request(error.status)
        # Responses held back for the batch (see pronghorn.io.batching) go first.
        with contextlib.suppress(ClientDisconnected):
            self.outbox.flush(self.http.refusal(error, reactor.state.date))
        reactor.state.log_refusal(self.remote, error.status)

    def deadline_action(self) -> None:
        """The reactor's deadline passed while waiting: answer 408 for a stalled head or
        a stalled body that was being gathered; log the others."""
        wait = self.wait
        if wait is WAIT_HEAD:
            self._refuse(ProtocolError(408, "timed out waiting for the request head"))
        elif wait is _WAIT_BODY:
            self._refuse(ProtocolError(408, "timed out waiting for the request body"))
        elif wait is _WAIT_DISCARD:
            self._reactor.state.error_log.info(
                "client %s stalled in a request body; closing", peer_text(self.remote)
            )
        elif wait is WAIT_WRITE:
            self._reactor.state.error_log.info(
                "client %s stopped reading the response; closing", peer_text(self.remote)
            )
        elif wait is WAIT_PREAMBLE and self.preamble:
            self._reactor.state.error_log.info(
                "timed out waiting for %s from %s; closing",
                self.preamble[0].what,
                peer_text(self.remote),
            )

    def arm_deadline(self) -> None:
        wait = self.wait
        if (wait is WAIT_HEAD or wait is WAIT_PREAMBLE) and self._armed_for is wait:
            # A head (or a preamble) dribbled in pieces must still be complete in
            # --header-timeout from its start.
            return
        self._armed_for = wait
        self.deadline = _monotonic() + self._reactor.wait_seconds[wait]


def peer_text(remote: tuple[str, int] | None) -> str:
    return f"{remote[0]}:{remote[1]}" if remote else "unix socket"
