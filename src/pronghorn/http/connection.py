"""One connection's HTTP/1.1 state, sans I/O: bytes in, requests and decisions out.

Owns everything that happens between the requests of one connection, h11-style, with no
socket, thread or clock: which request runs next (pipelined ones wait their turn, in
order), gathering a bounded body before the app runs, the body of the request in flight,
`100 Continue` (owed only once the app first reads), whether the connection can stay open
after a response (and so whether that response must say `Connection: close`), discarding
a body the app did not read, and what to answer and when to close on a protocol error.

The I/O layer feeds `receive` what the socket gave, asks `next_request` what to do, runs
the app with `read_body`/`continue_bytes` behind `wsgi.input`, and calls `end_request` with
what the response told the client. `phase` says what the connection waits for, which is
how the I/O layer picks a deadline. `ConnectionState` is that interface, which the uwsgi
protocol's state (`pronghorn.http.uwsgi`) has too.
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum
from typing import Final

from pronghorn.http.events import (
    BodyData,
    BodyKind,
    Event,
    MessageEnd,
    ProtocolError,
    RequestHead,
)
from pronghorn.http.parser import HostMemo, ParserLimits, RequestParser
from pronghorn.http.response import CONTINUE_100, error_response

DEFAULT_BODY_BUFFER: Final = 256 * 1024


class Phase(IntEnum):
    """What the connection is waiting for (an IntEnum: hashed in C when the I/O layer looks
    up its deadline, on every request)."""

    FRESH = 0  # the first request of a new connection
    IDLE = 1  # the next request (keep-alive)
    HEAD = 2  # the rest of a request head that has started
    BODY = 3  # the rest of a body gathered before its request runs
    DISCARD = 4  # the rest of a body the app did not read
    RUNNING = 5  # a request is with the app
    CLOSED = 6  # nothing more: close once the output is sent
    WRITE = 7  # response output waits for the socket (set by the I/O layer)
    PREAMBLE = 8  # bytes before HTTP: a PROXY header (set by the I/O layer)


# Enum members bound once: on Python 3.11 each `Enum.MEMBER` read goes through
# EnumType.__getattr__, a Python-level call (0.13 µs), several times a request.
# One `Final` name each, not a tuple unpacking: compiled, a name that is not `Final` is
# looked up in the module's dict at every use (~130 instructions).
FRESH: Final = Phase.FRESH
IDLE: Final = Phase.IDLE
HEAD: Final = Phase.HEAD
BODY: Final = Phase.BODY
DISCARD: Final = Phase.DISCARD
RUNNING: Final = Phase.RUNNING
CLOSED: Final = Phase.CLOSED
_NO_BODY: Final = BodyKind.NONE
_CHUNKED: Final = BodyKind.CHUNKED


class BodyError(Exception):
    """The request body could not be read: `status` is what the client should be told."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class ConnectionState:
    """What the I/O layer asks of a connection's protocol state, whichever protocol the
    listener speaks: `ServerConnection` (HTTP/1.1) or `pronghorn.http.uwsgi.UwsgiConnection`.
    The methods are `ServerConnection`'s; see there.

    A base class, not a Protocol, because the I/O layer calls it several times a request:
    compiled, a call through a Protocol type is a generic Python call (a method lookup,
    arguments boxed and parsed: ~0.5-1k instructions), a call through a base class goes
    straight to the subclass's method (docs/design.md, "What is slow only compiled")."""

    __slots__ = ("continue_owed", "phase")

    phase: Phase
    continue_owed: bool

    def receive(self, data: bytes) -> None:
        raise NotImplementedError

    def refuse_keep_alive(self) -> None:
        raise NotImplementedError

    def next_request(self) -> RequestHead | ProtocolError | None:
        raise NotImplementedError

    def refusal(self, error: ProtocolError, date: str) -> bytes:
        raise NotImplementedError

    def continue_bytes(self) -> bytes:
        raise NotImplementedError

    def read_body(self, max_bytes: int) -> bytes | None:
        raise NotImplementedError

    def end_request(self, keep_alive: bool) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


def read_queued_body(
    body: deque[bytes], max_bytes: int, done: bool, error: BodyError | None
) -> bytes | None:
    """Up to `max_bytes` of a body received into `body`; b"" at its end (`done`); None when
    more must be received; raises `error` once the queue is empty, if the body broke."""
    if not body:
        if error is not None:
            raise error
        return b"" if done else None
    data = body.popleft()
    if len(data) > max_bytes:
        body.appendleft(data[max_bytes:])
        data = data[:max_bytes]
    return data


class ServerConnection(ConnectionState):
    """The protocol state of one connection; used by one thread at a time."""

    __slots__ = (
        "_body",
        "_body_buffer",
        "_body_bytes",
        "_body_done",
        "_body_error",
        "_discarding",
        "_keep_alive_allowed",
        "_max_body",
        "_parser",
        "_peer_closed",
        "_pending",
        "_started",
        "_wanted_keep_alive",
        "request",
    )

    def __init__(
        self,
        limits: ParserLimits | None = None,
        body_buffer: int = DEFAULT_BODY_BUFFER,
        keep_alive: bool = True,
        hosts: HostMemo | None = None,
    ) -> None:
        self._parser = RequestParser(limits, hosts=hosts)
        self._max_body = (limits or ParserLimits()).max_body
        self._body_buffer = body_buffer
        self._keep_alive_allowed = keep_alive
        self._pending: deque[Event] = deque()
        self._peer_closed = False
        self._discarding = False
        self.phase = FRESH
        self.request: RequestHead | None = None  # gathering its body, or with the app
        self._started = False
        self._wanted_keep_alive = False
        self._body: deque[bytes] = deque()
        self._body_bytes = 0
        self._body_done = True
        self._body_error: BodyError | None = None
        self.continue_owed = False  # the client waits for 100 Continue before its body

    # -- input --------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """What the peer sent; b"" when it closed its side of the connection."""
        if not data:
            self._peer_closed = True
            if self.request is not None and not self._body_done:
                self._body_error = BodyError(400, "client closed the connection mid-body")
            return
        self._pending.extend(self._parser.feed(data))
        if self.request is not None and not self._body_done:
            self._take_body_events()

    def refuse_keep_alive(self) -> None:
        """Close after the current response (the server is stopping); the response that
        is not planned yet will say so."""
        self._keep_alive_allowed = False
        if self.request is not None and not self._started:
            self.request.keep_alive = False

    def release(self) -> None:
        """The connection is closed: nothing more will be received (frees the parser at
        once; see `RequestParser.release`)."""
        self._parser.release()

    # -- between requests ---------------------------------------------------------------

    def next_request(self) -> RequestHead | ProtocolError | None:
        """The next request to run, a refusal to answer (then close), or None: wait for
        more bytes (`phase` says what for; CLOSED: close now)."""
        if self.phase is CLOSED:
            return None
        head = self.request
        if head is None:
            pending = self._pending
            if not pending:
                self._wait()
                return None
            first = pending[0]
            if type(first) is not RequestHead or self._discarding:
                return self._after_discarded()
            pending.popleft()
            head = first
            # The common case: a bodyless request, its MessageEnd right behind it.
            if head.body_kind is _NO_BODY and pending and type(pending[0]) is MessageEnd:
                pending.popleft()
                self.request = head
                self._started = True
                self._body_done = True
                self._body_error = None
                self.continue_owed = False
                self.phase = RUNNING
                self._wanted_keep_alive = keep = head.keep_alive
                head.keep_alive = keep and self._keep_alive_allowed
                return head
            self._adopt(head)
        if self._body_error is not None:
            # A body that breaks before its request has run: refuse it, the app never sees it.
            problem = self._body_error
            self.phase = CLOSED
            return ProtocolError(problem.status, problem.detail)
        self.phase = RUNNING
        if self._body_done:
            self._started = True
            head.keep_alive = self._wanted_keep_alive and self._keep_alive_allowed
            return head
        if not self._ready(head):
            self.phase = BODY
            return None
        self._started = True
        self._settle_keep_alive(head)
        return head

    def _after_discarded(self) -> RequestHead | ProtocolError | None:
        """Drop what is left of a body the app did not read, then go on as usual."""
        pending = self._pending
        while pending:
            kind = type(pending[0])
            if kind is RequestHead and not self._discarding:
                return self.next_request()
            if kind is ProtocolError:
                error = pending.popleft()
                assert type(error) is ProtocolError
                self.phase = CLOSED
                # The body of an answered request broke: just close.
                return None if self._discarding else error
            pending.popleft()
            if kind is MessageEnd:
                self._discarding = False
        self._wait()
        return None

    def _wait(self) -> None:
        if self._parser.closed or self._peer_closed:
            self.phase = CLOSED
        elif self._discarding:
            self.phase = DISCARD
        elif self._parser.has_partial_head:
            self.phase = HEAD
        elif self.phase is not FRESH:
            self.phase = IDLE

    def _adopt(self, head: RequestHead) -> None:
        self.request = head
        self._started = False
        self._wanted_keep_alive = head.keep_alive
        self._body.clear()
        self._body_bytes = 0
        self._body_done = head.body_kind is _NO_BODY
        self._body_error = None
        self.continue_owed = head.expect_continue and not self._body_done
        if not self._body_done:
            self._take_body_events()

    def _ready(self, head: RequestHead) -> bool:
        # Run the app once the body is here, so a slow upload holds no thread. Not when
        # the client waits for 100 Continue (the app decides whether to read), and not
        # for a body larger than the buffer: that one streams to the app as it reads.
        if self.continue_owed:
            return True
        if head.content_length is not None and head.content_length > self._body_buffer:
            return True
        return self._body_bytes > self._body_buffer

    def _settle_keep_alive(self, head: RequestHead) -> None:
        # The response must say `Connection: close` whenever we will close after it
        # (RFC 9110 section 7.6.1), so decide before the app plans it: an unread body
        # the client will not send (it waits for 100 Continue), or a chunked one that
        # may run past --limit-request-body while we discard it, ends the connection.
        keep = self._wanted_keep_alive and self._keep_alive_allowed
        if keep and not self._body_done:
            keep = not self.continue_owed and not (
                head.body_kind is _CHUNKED and self._max_body > 0
            )
        head.keep_alive = keep

    def refusal(self, error: ProtocolError, date: str) -> bytes:
        """The answer to a refused request, after which the connection closes. When the
        head was read, its method and version shape it: an answer to HEAD has no body."""
        head = self.request
        self.phase = CLOSED
        if head is None:
            return error_response(error.status, date)
        return error_response(error.status, date, method=head.method, version=head.version)

    # -- the running request ------------------------------------------------------------

    def continue_bytes(self) -> bytes:
        """`100 Continue` when the client waits for it and the body is first read: once."""
        if not self.continue_owed:
            return b""
        self.continue_owed = False
        head = self.request
        if head is not None and self._started:
            self._settle_keep_alive(head)  # the body will come: keep-alive is possible again
        return CONTINUE_100

    def read_body(self, max_bytes: int) -> bytes | None:
        """Up to `max_bytes` of the body; b"" at its end; None when more must be received.
        Raises `BodyError` when the body is broken or the client left mid-body."""
        return read_queued_body(self._body, max_bytes, self._body_done, self._body_error)

    def _take_body_events(self) -> None:
        # The request's own body events are behind its head; later events (a pipelined
        # request, or an error) stay queued for after the response.
        pending = self._pending
        body = self._body
        while pending and not self._body_done:
            event = pending[0]
            kind = type(event)
            if kind is BodyData:
                data: bytes = event.data  # type: ignore[union-attr]
                body.append(data)
                self._body_bytes += len(data)
            elif kind is MessageEnd:
                self._body_done = True
                self.continue_owed = False  # the client sent it without waiting
                if self._started:
                    self._settle_keep_alive(self.request)  # type: ignore[arg-type]
            elif kind is ProtocolError:
                problem: ProtocolError = event  # type: ignore[assignment]
                self._body_error = BodyError(problem.status, problem.detail)
                pending.popleft()
                return
            else:
                return
            pending.popleft()

    def end_request(self, keep_alive: bool) -> None:
        """The response is complete; `keep_alive` is what it told the client."""
        self.request = None
        self._started = False
        self._body.clear()
        if not keep_alive or self._body_error is not None:
            self.phase = CLOSED
            return
        if not self._body_done:
            self._discarding = True
        self._body_done = True
        self.continue_owed = False
        self.phase = IDLE
