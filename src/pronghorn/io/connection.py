"""One client connection on the event loop: bytes to events, requests to the app pool.

Owns the connection's life: feeding the parser, starting one request at a time (pipelined
requests wait their turn, in order), pausing reads when the app falls behind, answering
protocol errors, keep-alive and close, and the deadline the server's sweep enforces.
Runs on the loop thread only; the application thread reaches it through `RequestBridge`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from pronghorn.http.events import (
    BodyData,
    BodyKind,
    Event,
    MessageEnd,
    ProtocolError,
    RequestHead,
)
from pronghorn.http.parser import RequestParser
from pronghorn.http.response import CONTINUE_100, error_response
from pronghorn.io.bridge import RequestBridge

if TYPE_CHECKING:
    from pronghorn.io.worker import WorkerState

_PENDING_LIMIT = 16
_FIRST_REQUEST_GRACE = 1.0
"""On a graceful stop, how long a connection accepted but not yet heard from may take to
send its first request (it is answered, then closed) before it is closed unheard."""


class Connection(asyncio.Protocol):
    """asyncio protocol for one HTTP/1.1 connection."""

    def __init__(self, state: WorkerState, listener_index: int) -> None:
        self._state = state
        self._listener_index = listener_index
        self._parser = RequestParser(state.parser_limits)
        self._transport: asyncio.Transport | None = None
        self._remote: tuple[str, int] | None = None
        self._pending: deque[Event] = deque()
        self._bridge: RequestBridge | None = None
        self._body_open = False
        self._app_running = False
        self._response_started = False
        self._closing = False
        self._paused = False
        self._idle = False
        self._fresh = True
        self.deadline = 0.0
        self._on_deadline: Callable[[], None] = self._close_idle

    # -- asyncio callbacks ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence the cast.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self._remote = (str(peer[0]), int(peer[1]))
        self._state.connections.add(self)
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
        self._closing = True
        if self._bridge is not None:
            self._bridge.close()
        self._transport = None

    def pause_writing(self) -> None:
        if self._bridge is not None:
            self._bridge.set_writable(False)
        self._set_deadline(self._state.config.io_timeout, self._abort_stalled)

    def resume_writing(self) -> None:
        if self._bridge is not None:
            self._bridge.set_writable(True)
        if self._app_running:
            self.deadline = float("inf")
        else:
            self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        if self._idle:
            self._idle = False
            self._fresh = False
            # First bytes of a new request: the whole head must arrive in header_timeout.
            self._set_deadline(self._state.config.header_timeout, self._head_timed_out)
        for event in self._parser.feed(data):
            if self._pending:
                self._queue(event)  # behind what already waits, in arrival order
            else:
                self._handle(event)

    def eof_received(self) -> bool | None:
        if self._bridge is not None and self._body_open:
            self._bridge.fail_body(400, "client closed the connection mid-body")
        return None

    # -- events -----------------------------------------------------------------------

    def _handle(self, event: Event) -> None:
        if type(event) is BodyData:
            bridge = self._bridge
            if self._app_running and bridge is not None and bridge.push_body(event.data):
                self._pause()
        elif type(event) is MessageEnd:
            self._body_open = False
            if self._app_running:
                if self._bridge is not None:
                    self._bridge.end_body()
            else:
                self._next_request()
        elif type(event) is RequestHead:
            if self._app_running or self._body_open:
                self._queue(event)
            else:
                self._start(event)
        elif type(event) is ProtocolError:
            if self._app_running and self._body_open and self._bridge is not None:
                self._bridge.fail_body(event.status, event.detail)
                self._closing = True
            elif self._app_running:
                self._queue(event)
            else:
                self._refuse(event)

    def _queue(self, event: Event) -> None:
        self._pending.append(event)
        if len(self._pending) >= _PENDING_LIMIT or type(event) is RequestHead:
            self._pause()

    def _start(self, head: RequestHead) -> None:
        state = self._state
        self._app_running = True
        self._response_started = False
        self._body_open = head.body_kind is not BodyKind.NONE
        self._idle = False
        self.deadline = float("inf")
        if state.stopping or state.config.keep_alive <= 0:
            # No request after this one on this connection: the response must say so.
            head.keep_alive = False
            self._closing = True
        bridge = RequestBridge(
            state.loop,
            self,
            has_body=self._body_open,
            expect_continue=head.expect_continue,
            io_timeout=state.config.io_timeout,
        )
        self._bridge = bridge
        remote, index = self._remote, self._listener_index
        state.pool.submit(lambda: state.run_request(head, bridge, remote, index))

    def _refuse(self, error: ProtocolError) -> None:
        state = self._state
        state.error_log.info("%d %s from %s", error.status, error.detail, _peer_text(self._remote))
        if self._transport is not None:
            self._transport.write(error_response(error.status, state.date))
            self._transport.close()
        state.log_refusal(self._remote, error.status)
        self._closing = True

    # -- called by the bridge on the loop thread ------------------------------------------

    def send_continue(self) -> None:
        if self._transport is not None and not self._response_started and self._body_open:
            self._transport.write(CONTINUE_100)

    def write_from_app(self, data: bytes, bridge: RequestBridge) -> None:
        self._response_started = True
        if self._transport is not None:
            self._transport.write(data)
        bridge.flushed(len(data))

    def finish_from_app(self, data: bytes, keep_alive: bool, bridge: RequestBridge) -> None:
        self._app_running = False
        self._bridge = None
        transport = self._transport
        if transport is None:
            return
        if data:
            transport.write(data)
        if bridge.expect_continue and not bridge.continue_requested and self._body_open:
            keep_alive = False  # the client may still be waiting to send a body we never asked for
        if not keep_alive or self._closing:
            self._closing = True
            transport.close()
            return
        self._next_request()

    def abort_from_app(self) -> None:
        self._app_running = False
        self._bridge = None
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def body_drained(self) -> None:
        if self._paused and not self._pending:
            self._resume()

    def direct_socket(self) -> int | None:
        """A dup of the socket for the app thread's sendfile, or None to copy instead.

        Only for a plain (non-TLS) transport with nothing buffered, so bytes written
        directly cannot overtake bytes the transport still holds.
        """
        transport = self._transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size():
            return None
        if transport.get_extra_info("sslcontext") or transport.get_extra_info("ssl_object"):
            return None
        sock = transport.get_extra_info("socket")
        return None if sock is None else os.dup(sock.fileno())

    # -- flow and deadlines -----------------------------------------------------------

    def _next_request(self) -> None:
        # Replays queued events as if they had just arrived: the next request's head, and
        # the body pieces of the request in flight (a pipelined request's body may have
        # been queued behind its head).
        while self._pending and not self._closing and self._can_take(self._pending[0]):
            self._handle(self._pending.popleft())
        if self._closing or self._pending:
            return
        if self._app_running:
            if self._body_open:
                self._resume()  # the rest of this body is still in the socket
            return
        self._resume()
        if self._body_open:
            # The app answered without reading all of the body: what is left is discarded
            # as it arrives, and a client that stalls in it is not waited for forever.
            self._idle = False
            self._set_deadline(self._state.config.io_timeout, self._close_idle)
        else:
            self._wait_for_head()

    def _can_take(self, event: Event) -> bool:
        if not self._app_running:
            return True
        return type(event) is MessageEnd or (self._body_open and type(event) is not RequestHead)

    def _pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def _resume(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def _wait_for_head(self) -> None:
        self._idle = True
        self._set_deadline(self._state.config.keep_alive, self._close_idle)

    def _set_deadline(self, seconds: float, action: Callable[[], None]) -> None:
        self.deadline = time.monotonic() + seconds
        self._on_deadline = action

    def deadline_passed(self) -> None:
        self.deadline = float("inf")
        self._on_deadline()

    def _close_idle(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _head_timed_out(self) -> None:
        self._refuse(ProtocolError(408, "timed out waiting for the request head"))

    def _abort_stalled(self) -> None:
        self._state.error_log.info("client %s stopped reading; closing", _peer_text(self._remote))
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def close_if_idle(self) -> None:
        """Graceful stop: close now if nothing is in flight, else after the response."""
        self._closing = True
        if self._fresh and self._transport is not None:
            # Accepted just before the stop: its request may already be on the way, and
            # closing now would reset it. It is answered (then closed) if it comes soon.
            self._set_deadline(_FIRST_REQUEST_GRACE, self._close_idle)
        elif not self._app_running and not self._pending and self._transport is not None:
            self._transport.close()

    def force_close(self) -> None:
        if self._transport is not None:
            self._transport.abort()


def _peer_text(remote: tuple[str, int] | None) -> str:
    return f"{remote[0]}:{remote[1]}" if remote else "unix socket"
