"""One application call, from `app(environ, start_response)` to `close()`.

Owns PEP 3333's response rules: start_response and exc_info, the write() callable, headers
sent only with the first non-empty body part, Content-Length honoured exactly, file_wrapper
bodies through sendfile, close() always called, and the answer when things go wrong (500
before headers are sent, an aborted connection after). This is a named error boundary:
anything the application raises is caught here and logged with the request it came from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Final

from pronghorn.channel import BodyError, ClientDisconnected, ResponseSink
from pronghorn.http.events import RequestHead, fields_repr
from pronghorn.http.response import (
    CRLF,
    LAST_CHUNK,
    Framing,
    ResponsePlan,
    chunk_header,
    error_response,
    status_code,
)
from pronghorn.wsgi.file_wrapper import FileWrapper
from pronghorn.wsgi.head_memo import CheckedHead, HeadMemo
from pronghorn.wsgi.headers import AppResponseError

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
_COPY_LIMIT: Final = 65536
_IN_MEMORY_ITERATORS: tuple[type, ...] = (type(iter([])), type(iter(())))
# Enum members bound once: on Python 3.11 each `Enum.MEMBER` read goes through
# EnumType.__getattr__, a Python-level call (0.13 µs), several times a request.
# One `Final` name each (compiled, other module names are dict lookups at every use).
_LENGTH: Final = Framing.LENGTH
_CHUNKED: Final = Framing.CHUNKED


class Outcome:
    """What happened, for the access log and the connection's next step.

    A plain class, not a dataclass, as the request events are (see pronghorn.http.events):
    one is made for every request."""

    __slots__ = ("body_bytes", "headers", "keep_alive", "status")

    def __init__(
        self, status: int, body_bytes: int, keep_alive: bool, headers: list[tuple[str, str]]
    ) -> None:
        self.status = status
        self.body_bytes = body_bytes
        self.keep_alive = keep_alive
        self.headers = headers

    def __repr__(self) -> str:
        return fields_repr(self, ("status", "body_bytes", "keep_alive", "headers"))


class _Exchange:
    """The state of one response while the application produces it."""

    __slots__ = (
        "checked",
        "date",
        "done",
        "head",
        "headers",
        "memo",
        "plan",
        "remaining",
        "sent",
        "sink",
        "status",
    )

    def __init__(self, head: RequestHead, sink: ResponseSink, date: str, memo: HeadMemo) -> None:
        self.head = head
        self.sink = sink
        self.date = date
        self.memo = memo
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.checked: CheckedHead | None = None
        self.plan: ResponsePlan | None = None
        self.remaining = -1  # body bytes still allowed by Content-Length; -1: no limit
        self.sent = 0
        self.done = False  # sink.finish() was called

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.plan is not None:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AppResponseError("start_response called a second time without exc_info")
        self.checked = self.memo.check(status, headers)
        self.status, self.headers = self.checked.status, headers
        # The exchange is the write() callable: compiled, `self.write` would make a bound
        # method object on every request (~1k instructions), for a callable few apps use.
        return self

    def __call__(self, data: bytes) -> None:
        """The write() callable that start_response returns (PEP 3333)."""
        self.write(data)

    def write(self, data: bytes) -> None:
        """The legacy write() callable: sends at once, headers first if not yet sent."""
        if type(data) is not bytes:
            raise AppResponseError(f"write() takes bytes, got {type(data).__name__}")
        if data:
            self._send_part(data)

    def _start(self, body_length: int | None) -> ResponsePlan:
        if self.checked is None:
            raise AppResponseError("the application sent a body before calling start_response")
        plan = self.memo.plan(self.checked, self.head, self.date, body_length)
        if plan.framing is _LENGTH and plan.content_length is not None:
            self.remaining = plan.content_length
        self.plan = plan
        return plan

    def _frame(self, data: bytes) -> list[bytes]:
        plan = self.plan
        assert plan is not None
        if not plan.sends_body:
            return []
        remaining = self.remaining
        if remaining >= 0:
            if len(data) > remaining:
                # Sliced only to cut: a compiled slice copies even when it takes the whole
                # (docs/design.md, "Slice bytes only to cut them").
                data = data[:remaining]
            self.remaining = remaining - len(data)
        self.sent += len(data)
        if plan.framing is _CHUNKED and data:
            return [chunk_header(len(data)), data, CRLF]
        return [data]

    def _send_part(self, data: bytes) -> None:
        if self.done:
            return  # the declared Content-Length is complete: nothing more may follow
        parts = [] if self.plan is not None else [self._start(None).head]
        parts += self._frame(data)
        size = sum(map(len, parts))
        if self.remaining == 0 and size <= _COPY_LIMIT:
            # This part completes the body the app declared: it is the response's last
            # bytes, and saying so lets the sink send it with others (see io.reactor).
            self.done = True
            self.sink.finish(b"".join(parts), self._keep_alive())
        elif size <= _COPY_LIMIT:
            self.sink.write(b"".join(parts))
        else:
            for part in parts:
                self.sink.write(part)

    def send_whole(self, body: bytes) -> None:
        """The whole body is known: one head with its length, one hand-off."""
        if self.plan is None:
            plan = self._start(len(body))
            parts = self._frame(body)
            head = plan.head
            if len(parts) == 1 and len(head) + len(parts[0]) > _COPY_LIMIT:
                # Head and body go out in one sendmsg, the body uncopied; joining them would
                # copy it, while a small response is cheaper as one write (and may wait for
                # the end of the batch, see pronghorn.io.outbox).
                self.sink.finish(head, self._keep_alive(), parts[0])
            else:
                self.sink.finish(head + b"".join(parts), self._keep_alive())
        else:
            if body:
                self._send_part(body)
            self.finish()

    def send_file(self, wrapper: FileWrapper) -> bool:
        """Send a file_wrapper body with sendfile; False if it must be iterated instead."""
        found = wrapper.regular_file() if self.plan is None else None
        if found is None:
            return False
        file, position, left = found
        plan = self._start(left)
        count = min(left, plan.content_length if plan.content_length is not None else left)
        if plan.sends_body and count:
            self.sink.sendfile(file, position, count, plan.head)
            self.sent = count
            self.remaining -= count
        else:
            self.sink.write(plan.head)
        self.finish()
        return True

    def finish(self) -> None:
        """End the response: the head if nothing was sent yet, the last chunk if chunked."""
        if self.done:
            return
        if self.plan is None:
            plan = self._start(0)
            self.sink.finish(plan.head, self._keep_alive())
            return
        plan = self.plan
        tail = LAST_CHUNK if plan.framing is _CHUNKED and plan.sends_body else b""
        self.sink.finish(tail, self._keep_alive())

    def _keep_alive(self) -> bool:
        plan = self.plan
        assert plan is not None
        # A body shorter than its Content-Length leaves the client waiting: close instead.
        return plan.keep_alive and not (plan.sends_body and self.remaining > 0)

    def outcome(self, keep_alive: bool) -> Outcome:
        code = status_code(self.status) if self.status and self.plan else 500
        return Outcome(code, self.sent, keep_alive, self.headers)


def run_app(
    app: WSGIApp,
    environ: dict[str, Any],
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    error_log: logging.Logger,
    memo: HeadMemo | None = None,
) -> Outcome:
    """Call the application for one request and send its response through `sink`.

    `memo` is the worker's `HeadMemo`, shared by its requests; without one, the status
    and headers are checked and serialised afresh."""
    exchange = _Exchange(head, sink, date, HeadMemo() if memo is None else memo)
    result: Iterable[bytes] | None = None
    try:
        result = app(environ, exchange.start_response)
        _send_result(exchange, result)
    except ClientDisconnected:
        sink.abort()
        return exchange.outcome(keep_alive=False)
    except BodyError as exc:
        error_log.info(
            "%d request body error for %s %s from %s: %s",
            exc.status,
            head.method,
            _target(head),
            _peer(environ),
            exc.detail,
        )
        return _answer_error(exchange, exc.status, keep_alive=False)
    except Exception:
        error_log.exception("error handling request %s %s", head.method, _target(head))
        return _answer_error(exchange, 500, keep_alive=head.keep_alive)
    finally:
        _close_result(result, head, error_log)
    plan = exchange.plan
    return exchange.outcome(keep_alive=plan is not None and exchange._keep_alive())


def _send_result(exchange: _Exchange, result: Iterable[bytes]) -> None:
    if isinstance(result, FileWrapper) and exchange.send_file(result):
        return
    if type(result) is list or type(result) is tuple:
        parts: Sequence[bytes] = result
    else:
        iterator = iter(result)
        if type(iterator) not in _IN_MEMORY_ITERATORS:
            _stream(exchange, iterator)
            return
        # An iterator over a list or tuple (Django's HttpResponse is one) has its whole
        # body in memory already: taking it all costs no wait, and the response gets a
        # Content-Length and goes out in one piece instead of chunked.
        parts = list(iterator)
    for part in parts:
        if type(part) is not bytes:
            raise AppResponseError(f"body parts must be bytes, got {type(part).__name__}")
    exchange.send_whole(b"".join(parts) if len(parts) != 1 else parts[0])


def _stream(exchange: _Exchange, parts: Iterator[bytes]) -> None:
    """A body the app produces as it goes: each part is sent as soon as it is made."""
    for part in parts:
        if type(part) is not bytes:
            raise AppResponseError(f"body parts must be bytes, got {type(part).__name__}")
        if part:
            exchange._send_part(part)
    exchange.finish()


def _answer_error(exchange: _Exchange, status: int, keep_alive: bool) -> Outcome:
    if exchange.plan is not None:
        # Headers are on the wire: the only honest signal left is to drop the connection.
        exchange.sink.abort()
        return exchange.outcome(keep_alive=False)
    head = exchange.head
    answer = error_response(
        status, exchange.date, method=head.method, version=head.version, keep_alive=keep_alive
    )
    exchange.sink.finish(answer, keep_alive)
    return Outcome(status, 0, keep_alive, [])


def _close_result(result: object, head: RequestHead, error_log: logging.Logger) -> None:
    if type(result) is list:
        return  # most apps answer with a list, which has no close(): skip the lookup
    close = getattr(result, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:
        error_log.exception("error closing response of %s %s", head.method, _target(head))


def _peer(environ: dict[str, Any]) -> str:
    port = environ.get("REMOTE_PORT")
    return f"{environ['REMOTE_ADDR']}:{port}" if port else environ["REMOTE_ADDR"] or "unix socket"


def _target(head: RequestHead) -> str:
    return head.target.decode("latin-1")[:200]
