"""One client connection: bytes to events, and requests run in order on the current thread.

Owns a connection's protocol state between the reactor and the request: the parser, the
events parsed but not yet acted on (pipelined requests wait their turn, in order), the body
of the request in flight, protocol errors, keep-alive and close, response output parked for
a full socket (sent by `writable` before the next request is read), and the one deadline
the reactor enforces while the connection waits (idle keep-alive, an incomplete head, the
rest of a body the app did not read, a client that does not read what is parked).
Whichever thread claimed the connection from the reactor runs it; no two threads touch it
at once.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import deque
from enum import IntEnum
from typing import TYPE_CHECKING

from pronghorn.http.events import (
    BodyData,
    BodyKind,
    Event,
    MessageEnd,
    ProtocolError,
    RequestHead,
)
from pronghorn.http.parser import RequestParser
from pronghorn.http.response import error_response
from pronghorn.io.channel import SocketChannel, send_all
from pronghorn.io.parked import ParkedOutput
from pronghorn.wsgi.channel import BodyError, ClientDisconnected

if TYPE_CHECKING:
    from pronghorn.io.reactor import Reactor

_RECV_SIZE = 65536


class Wait(IntEnum):
    """What a connection handed back to the reactor is waiting for (an IntEnum: hashed
    in C when the reactor looks up its deadline, on every request)."""

    FRESH = 0  # the first request of a new connection
    IDLE = 1  # the next request (keep-alive)
    HEAD = 2  # the rest of a request head that has started
    DISCARD = 3  # the rest of a body the app did not read
    WRITE = 4  # the socket to take the response output parked for it


# Enum members bound once: on Python 3.11 each `Enum.MEMBER` read goes through
# EnumType.__getattr__, a Python-level call (0.13 µs), several times a request.
WAIT_FRESH, WAIT_IDLE, WAIT_HEAD, WAIT_DISCARD = Wait.FRESH, Wait.IDLE, Wait.HEAD, Wait.DISCARD
WAIT_WRITE = Wait.WRITE
_NO_BODY = BodyKind.NONE


class ClientConnection:
    """The state of one accepted connection."""

    __slots__ = (
        "_armed_for",
        "_parser",
        "_reactor",
        "_wait_after_write",
        "body_chunks",
        "body_done",
        "body_error",
        "busy",
        "close_after_write",
        "closed",
        "corked",
        "deadline",
        "expect_continue",
        "listener_index",
        "outbox",
        "parked",
        "pending",
        "registered",
        "remote",
        "sock",
        "wait",
    )

    def __init__(
        self,
        reactor: Reactor,
        sock: socket.socket,
        remote: tuple[str, int] | None,
        listener_index: int,
    ) -> None:
        self._reactor = reactor
        self.sock = sock
        self.remote = remote
        self.listener_index = listener_index
        self._parser = RequestParser(reactor.state.parser_limits)
        self.pending: deque[Event] = deque()
        self.body_chunks: deque[bytes] = deque()
        self.body_done = True
        self.body_error: BodyError | ClientDisconnected | None = None
        self.expect_continue = False
        self.busy = True  # the accepting thread owns it first
        self.closed = False
        self.registered = False  # in the reactor's epoll set
        self.corked = False  # complete small responses may wait in `outbox` (see reactor)
        self.outbox: list[bytes] = []
        self.parked = ParkedOutput(reactor.parking)  # what the socket did not take yet
        self.close_after_write = False
        self._wait_after_write = WAIT_IDLE
        self.wait = WAIT_FRESH
        self.deadline = 0.0
        self._armed_for: Wait | None = None

    # -- reading ------------------------------------------------------------------------

    def readable(self) -> bool:
        """Read what arrived and act on it. False when the connection should be closed."""
        try:
            data = self.sock.recv(_RECV_SIZE)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        self.pending.extend(self._parser.feed(data))
        return self._serve_pending()

    def receive_more(self) -> None:
        """Called by the running request's body reader when its socket is readable."""
        try:
            data = self.sock.recv(_RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.body_error = ClientDisconnected("client closed the connection mid-body")
            return
        self.pending.extend(self._parser.feed(data))
        self._take_body_events()

    def _take_body_events(self) -> None:
        # Body pieces of the request in flight were parsed behind its head; later events
        # (a pipelined request, or an error) stay queued for after the response.
        pending = self.pending
        while pending and not self.body_done:
            event = pending[0]
            if type(event) is BodyData:
                self.body_chunks.append(event.data)
            elif type(event) is MessageEnd:
                self.body_done = True
            elif type(event) is ProtocolError:
                self.body_error = BodyError(event.status, event.detail)
                return
            else:
                return
            pending.popleft()

    # -- requests -----------------------------------------------------------------------

    def _serve_pending(self) -> bool:
        pending = self.pending
        reactor = self._reactor
        while pending:
            event = pending.popleft()
            if type(event) is RequestHead:
                # A response held for the batch must not wait for this request's app.
                if self.outbox and not self._send_held():
                    return False
                if not self._run(event):
                    return False
                if self.parked:
                    # The socket is full: the next request waits until the reactor has
                    # sent the rest of this response (`writable`).
                    discarding = self.wait is WAIT_DISCARD
                    self._wait_after_write = WAIT_DISCARD if discarding else WAIT_IDLE
                    self.wait = WAIT_WRITE
                    return True
            elif type(event) is ProtocolError:
                self._refuse(event)
                return False
            elif type(event) is MessageEnd:
                self.wait = WAIT_IDLE  # the end of a body we were discarding
            # BodyData here belongs to a body the app did not read: dropped.
        if self._parser.closed:
            return False
        if self.wait is not WAIT_DISCARD:
            self.wait = WAIT_HEAD if self._parser.has_partial_head else WAIT_IDLE
        return not reactor.stopping or self.wait is not WAIT_IDLE

    def _run(self, head: RequestHead) -> bool:
        reactor = self._reactor
        self.body_done = head.body_kind is _NO_BODY
        self.body_chunks.clear()
        self.body_error = None
        self.expect_continue = head.expect_continue
        if reactor.stopping or reactor.config.keep_alive <= 0:
            head.keep_alive = False
        self._take_body_events()
        channel = SocketChannel(self, reactor.config.io_timeout)
        reactor.run_request(head, channel, self.remote, self.listener_index)
        if channel.aborted:
            self.parked.release()  # a response cut short: nothing more of it may go out
            return False
        if not channel.keep_alive or self.body_error is not None:
            return False
        if not self.body_done:
            if self.expect_continue and not channel.continue_sent:
                return False  # the client may be waiting to send a body we never asked for
            self.wait = WAIT_DISCARD
            self.body_chunks.clear()
        return True

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
        self.wait = self._wait_after_write
        return self._serve_pending()

    def _send_held(self) -> bool:
        data = b"".join(self.outbox)
        self.outbox.clear()
        try:
            send_all(self.sock, data, self._reactor.config.io_timeout)
        except ClientDisconnected:
            return False
        return True

    def _refuse(self, error: ProtocolError) -> None:
        reactor = self._reactor
        reactor.state.error_log.info(
            "%d %s from %s", error.status, error.detail, peer_text(self.remote)
        )
        # Responses held back for the batch (see pronghorn.io.batching) go first.
        data = b"".join(self.outbox) + error_response(error.status, reactor.state.date)
        self.outbox.clear()
        with contextlib.suppress(ClientDisconnected):
            send_all(self.sock, data, reactor.config.io_timeout)
        reactor.state.log_refusal(self.remote, error.status)

    def deadline_action(self) -> None:
        """The reactor's deadline passed while waiting: answer 408 for a stalled head."""
        if self.wait is WAIT_HEAD:
            self._refuse(ProtocolError(408, "timed out waiting for the request head"))
        elif self.wait is WAIT_DISCARD:
            self._reactor.state.error_log.info(
                "client %s stalled in a request body; closing", peer_text(self.remote)
            )
        elif self.wait is WAIT_WRITE:
            self._reactor.state.error_log.info(
                "client %s stopped reading the response; closing", peer_text(self.remote)
            )

    def arm_deadline(self) -> None:
        if self.wait is WAIT_HEAD and self._armed_for is WAIT_HEAD:
            return  # a head dribbled in pieces must still be complete in --header-timeout
        self._armed_for = self.wait
        self.deadline = time.monotonic() + self._reactor.wait_seconds[self.wait]


def peer_text(remote: tuple[str, int] | None) -> str:
    return f"{remote[0]}:{remote[1]}" if remote else "unix socket"
