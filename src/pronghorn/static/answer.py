"""Writing a static answer: headers, preconditions, ranges, and the body's bytes.

Owns everything between "this representation of this file" and the bytes on the sink:
which representation Accept-Encoding picks (`choose`), the request fields that matter
(`request_fields`), a representation's headers and prebuilt heads (`representation`), the
order of preconditions (`conditions`, 412 and 304), then ranges (`ranges`, 206 single or
multipart, 416), then the whole representation (200, HEAD); redirects and the small error
answers; and where the body's bytes come from (`Body`: memory, one `pread`, or the sink's
`sendfile`, with the head riding along). It never opens a file by its own choosing: the
one open here (`Body.ready`) is of a file the cache already approved, and it refuses
(`Changed`) anything but that very file. Finding files and deciding what to keep is
`pronghorn.static.lookup`'s; the order of decisions for a request is
`pronghorn.static.responder`'s.
"""

from __future__ import annotations

import os
import secrets
from typing import Final
from urllib.parse import quote

from pronghorn.channel import ClientDisconnected, ResponseSink
from pronghorn.http.events import RequestHead
from pronghorn.http.response import (
    ResponsePlan,
    error_body,
    error_response,
    fixed_head_end,
    fixed_head_start,
    http_date,
    plan_response,
)
from pronghorn.static import cache, codings, conditions, paths, ranges
from pronghorn.static.cache import Entry, Representation
from pronghorn.wsgi.runner import Outcome

INLINE_LIMIT: Final = 65536
"""Bodies up to this size are sent with their head in one piece, and are the ones kept."""
WHOLE_HEADS: Final = 4
"""Complete 200 heads a representation remembers (`Representation.whole_heads`): one per
Date, request version and keep-alive in use; the Date moves on every second."""
_PLAIN_FIELDS: Final = frozenset((b"accept-encoding",))
_WANTED: Final = frozenset(
    (
        b"range",
        b"if-range",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"accept-encoding",
    )
)
_NOT_MODIFIED_FIELDS: Final = frozenset(("ETag", "Last-Modified", "Cache-Control", "Vary"))
_ACCEPT_RANGES: Final = ("Accept-Ranges", "bytes")
_REASONS: Final = {200: "OK", 206: "Partial Content", 301: "Moved Permanently", 304: "Not Modified"}


class Changed(Exception):
    """A cached file is no longer what its entry describes: take the full path instead."""


class Body:
    """Where the bytes of the representation being sent come from.

    The entry's copy in memory; the descriptor the full path opened; or, for a large file
    answered from the cache, its path, opened only once the body is needed and refused
    (`Changed`) unless the descriptor is the very file the entry approved. `ready` is
    called before any byte of the head goes out, so the full path can still take over.
    """

    __slots__ = ("_data", "_fd", "_owned", "_rep")

    def __init__(self, rep: Representation, fd: int = -1) -> None:
        self._rep = rep
        self._data = rep.body
        self._fd = fd
        self._owned = False

    def ready(self) -> None:
        if self._data is not None or self._fd >= 0:
            return
        try:
            fd = os.open(self._rep.path, paths.OPEN_FLAGS)
        except OSError as exc:
            raise Changed from exc
        try:
            same = cache.identity(os.fstat(fd)) == self._rep.identity
        except OSError:
            same = False
        if not same:
            os.close(fd)
            raise Changed
        self._fd, self._owned = fd, True

    def read(self, offset: int, length: int) -> bytes:
        if self._data is not None:
            return self._data[offset : offset + length]
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise ClientDisconnected("file shrank while it was being sent")
        return data

    def send(self, sink: ResponseSink, offset: int, length: int, head: bytes = b"") -> None:
        """`head` (if any), then `length` bytes from `offset`."""
        if self._data is not None:
            sink.write(head + self._data[offset : offset + length])
            return
        with open(self._fd, "rb", buffering=0, closefd=False) as file:
            sink.sendfile(file, offset, length, head)

    def close(self) -> None:
        if self._owned:
            self._owned = False
            os.close(self._fd)


def representation(
    path: bytes,
    coding: str,
    info: os.stat_result,
    type_: str,
    cache_control: str,
    vary: bool,
    kept: bool,
    body: bytes | None,
) -> Representation:
    """The answers of the file at `path` (coding "" or a sibling's) prepared; their heads
    only if the entry is `kept` (else on demand)."""
    etag = conditions.make_etag(info.st_ino, info.st_size, info.st_mtime_ns, coding)
    validators = conditions.Validators(etag, int(info.st_mtime))
    headers = [
        ("Content-Type", type_),
        ("Last-Modified", http_date(validators.mtime)),
        ("ETag", etag),
        ("Cache-Control", cache_control),
    ]
    if coding:
        headers.append(("Content-Encoding", coding))
    if vary:
        headers.append(("Vary", "Accept-Encoding"))
    ok = [*headers, _ACCEPT_RANGES, ("Content-Length", str(info.st_size))]
    not_modified = [field for field in headers if field[0] in _NOT_MODIFIED_FIELDS]
    return Representation(
        path=path,
        identity=cache.identity(info),
        coding=coding,
        validators=validators,
        headers=headers,
        ok_headers=ok,
        ok_head=fixed_head_start(_status_line(200), ok) if kept else None,
        not_modified_headers=not_modified,
        not_modified_head=fixed_head_start(_status_line(304), not_modified) if kept else None,
        body=body,
    )


def choose(entry: Entry, fields: dict[bytes, str]) -> Representation:
    """The representation Accept-Encoding picks among those the entry has."""
    reps = entry.representations
    if len(reps) > 1:
        for sibling in codings.preferred_codings(fields.get(b"accept-encoding")):
            rep = reps.get(sibling.coding)
            if rep is not None:
                return rep
    return reps[""]


def request_fields(head: RequestHead) -> dict[bytes, str]:
    fields: dict[bytes, str] = {}
    for name, value in head.headers:
        key = name.lower()
        if key in _WANTED:
            text = value.decode("latin-1")
            fields[key] = fields[key] + ", " + text if key in fields else text
    return fields


def plain_answer(
    head: RequestHead, sink: ResponseSink, date: str, fields: dict[bytes, str], rep: Representation
) -> Outcome | None:
    """The whole of a kept, in-memory representation, when the request has no precondition
    and no Range (`fields` holds at most Accept-Encoding): the common static GET. Its head
    is made once per Date, version and keep-alive; None when `answer` must decide."""
    data = rep.body
    start = rep.ok_head
    if data is None or start is None or not fields.keys() <= _PLAIN_FIELDS:
        return None
    keep_alive = head.keep_alive
    key = (date, head.version, keep_alive)
    heads = rep.whole_heads
    whole = heads.get(key)
    if whole is None:
        whole = start + date.encode("latin-1") + fixed_head_end(head.version, keep_alive)
        if len(heads) >= WHOLE_HEADS:
            heads.clear()
        heads[key] = whole
    if head.method == "HEAD" or not data:
        sink.finish(whole, keep_alive)
        return Outcome(200, 0, keep_alive, rep.ok_headers)
    try:
        sink.finish(whole + data, keep_alive)
    except OSError:  # as `_send_with_body`: the connection is dropped, nothing was sent
        sink.abort()
        return Outcome(200, 0, False, rep.ok_headers)
    return Outcome(200, len(data), keep_alive, rep.ok_headers)


def answer(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    fields: dict[bytes, str],
    rep: Representation,
    body: Body,
) -> Outcome:
    """Preconditions, then ranges, then the whole representation (GET or HEAD)."""
    if fields:
        verdict = conditions.evaluate(
            head.method,
            rep.validators,
            if_match=fields.get(b"if-match"),
            if_unmodified_since=fields.get(b"if-unmodified-since"),
            if_none_match=fields.get(b"if-none-match"),
            if_modified_since=fields.get(b"if-modified-since"),
        )
        if verdict == 412:
            return answer_error(head, sink, date, 412)
        if verdict == 304:
            start = rep.not_modified_head or fixed_head_start(
                _status_line(304), rep.not_modified_headers
            )
            return _send_fixed(head, sink, date, 304, start, rep.not_modified_headers)
        wanted = fields.get(b"range")
        if (
            wanted is not None
            and head.method == "GET"
            and conditions.if_range_allows(fields.get(b"if-range"), rep.validators)
        ):
            size = rep.size
            chosen = ranges.parse_range(wanted, size)
            if isinstance(chosen, ranges.Unsatisfiable):
                return answer_error(head, sink, date, 416, [("Content-Range", f"bytes */{size}")])
            if chosen is not None:
                body.ready()
                return _send_ranges(head, sink, date, rep, body, chosen)
    return _send_whole(head, sink, date, rep, body)


def _status_line(code: int) -> str:
    return f"{code} {_REASONS[code]}"


def _send_fixed(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    code: int,
    start: bytes,
    headers: list[tuple[str, str]],
) -> Outcome:
    """A prebuilt head (`fixed_head_start`) and no body: a 304, a HEAD, an empty file."""
    keep_alive = head.keep_alive
    sink.finish(
        start + date.encode("latin-1") + fixed_head_end(head.version, keep_alive), keep_alive
    )
    return Outcome(code, 0, keep_alive, headers)


def _send_whole(
    head: RequestHead, sink: ResponseSink, date: str, rep: Representation, body: Body
) -> Outcome:
    size = rep.size
    start = rep.ok_head or fixed_head_start(_status_line(200), rep.ok_headers)
    if head.method == "HEAD" or size == 0:
        return _send_fixed(head, sink, date, 200, start, rep.ok_headers)
    body.ready()
    keep_alive = head.keep_alive
    start += date.encode("latin-1") + fixed_head_end(head.version, keep_alive)
    if not _send_with_body(sink, start, keep_alive, body, 0, size):
        return Outcome(200, 0, False, rep.ok_headers)
    return Outcome(200, size, keep_alive, rep.ok_headers)


def _send_with_body(
    sink: ResponseSink, start: bytes, keep_alive: bool, body: Body, offset: int, length: int
) -> bool:
    """The head `start`, then `length` bytes of `body`; False if the connection was aborted."""
    try:
        if length <= INLINE_LIMIT:
            # Small bodies: one bounded read and one hand-off beat sendfile's extra round trip.
            sink.finish(start + body.read(offset, length), keep_alive)
            return True
        body.send(sink, offset, length, start)
    except OSError:
        sink.abort()
        return False
    sink.finish(b"", keep_alive)
    return True


def _plan(
    head: RequestHead,
    date: str,
    code: int,
    headers: list[tuple[str, str]],
    length: int | None,
) -> ResponsePlan:
    return plan_response(
        method=head.method,
        request_version=head.version,
        request_keep_alive=head.keep_alive,
        status=_status_line(code),
        headers=headers,
        date=date,
        body_length=length,
    )


def _send_ranges(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    rep: Representation,
    body: Body,
    chosen: list[ranges.ByteRange],
) -> Outcome:
    size = rep.size
    headers = [*rep.headers, _ACCEPT_RANGES]
    if len(chosen) > 1:
        return _send_multipart(head, sink, date, headers, body, size, chosen)
    part = chosen[0]
    headers.append(("Content-Range", f"bytes {part.first}-{part.last}/{size}"))
    headers.append(("Content-Length", str(part.length)))
    plan = _plan(head, date, 206, headers, None)
    if not _send_with_body(sink, plan.head, plan.keep_alive, body, part.first, part.length):
        return Outcome(206, 0, False, headers)
    return Outcome(206, part.length, plan.keep_alive, headers)


def _send_multipart(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    headers: list[tuple[str, str]],
    body: Body,
    size: int,
    chosen: list[ranges.ByteRange],
) -> Outcome:
    boundary = secrets.token_hex(12)
    part_type = headers[0][1]
    openers = [
        (
            f"\r\n--{boundary}\r\nContent-Type: {part_type}\r\n"
            f"Content-Range: bytes {part.first}-{part.last}/{size}\r\n\r\n"
        ).encode("latin-1")
        for part in chosen
    ]
    closer = f"\r\n--{boundary}--\r\n".encode("latin-1")
    length = sum(map(len, openers)) + sum(part.length for part in chosen) + len(closer)
    headers[0] = ("Content-Type", f"multipart/byteranges; boundary={boundary}")
    headers.append(("Content-Length", str(length)))
    plan = _plan(head, date, 206, headers, None)
    try:
        before = plan.head  # goes out with the first part's opener and bytes
        for opener, part in zip(openers, chosen, strict=True):
            body.send(sink, part.first, part.length, before + opener)
            before = b""
    except OSError:
        sink.abort()
        return Outcome(206, 0, False, headers)
    sink.finish(closer, plan.keep_alive)
    return Outcome(206, length, plan.keep_alive, headers)


def redirect(head: RequestHead, sink: ResponseSink, date: str, location: str) -> Outcome:
    if head.query:
        location += "?" + quote(head.query.decode("latin-1"), safe="/?&=+;:@,$!'()*%~-._")
    headers = [("Location", location), ("Content-Length", "0")]
    plan = _plan(head, date, 301, headers, None)
    sink.finish(plan.head, plan.keep_alive)
    return Outcome(301, 0, plan.keep_alive, headers)


def answer_error(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    code: int,
    extra: list[tuple[str, str]] | None = None,
) -> Outcome:
    """A small text answer (404, 405, 412, 416, 400...) on a connection that stays open."""
    data = error_response(
        code,
        date,
        method=head.method,
        version=head.version,
        keep_alive=head.keep_alive,
        headers=extra or (),
    )
    sink.finish(data, head.keep_alive)
    sent = 0 if head.method == "HEAD" else len(error_body(code))
    return Outcome(code, sent, head.keep_alive, extra or [])
