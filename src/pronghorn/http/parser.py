"""Request parsing: raw bytes from a connection in, `events` out.

Owns the strictness policy and, above all, where each message ends. This module frames
every message itself: it finds the end of each head (the first empty line), counts
Content-Length bodies and decodes chunked bodies, so the bytes of one message can never
be taken for the next, whatever the split of the stream. httptools (llhttp) is given
exactly one head at a time, and does the tokenising and the field grammar: it refuses bare
CR/LF, obs-fold, NUL and control characters, malformed request lines, signed, listed or
duplicate Content-Length, and Content-Length together with Transfer-Encoding. On top of
it this module enforces what llhttp leaves to the server: size limits (414/431/413),
versions (505), Transfer-Encoding rules (400/501), Host rules and request-target forms,
and it drops header names that contain "_".

In the compiled build a whole head is first offered to the native scan
(`pronghorn/http/_headscan.c`), which reads it only when it is plain enough to be certain
(llhttp would take it, and no limit is broken) and returns its parts; `_scanned_head` then
runs this module's checks on them as the llhttp callbacks would. Every other head, and every
refusal, goes the way described above.

Why frame here rather than let llhttp do it: llhttp reports no byte offsets to Python, so
a server that feeds it whole reads cannot tell where a message ended inside a read. That
made two defects: the guard on unterminated head lines counted the tail of a finished
body as the next head (a false 431 after a newline-free body), and llhttp's fixed method
list could not be widened (a method is any token, RFC 9110 section 9.1; the app decides
405/501). Knowing the boundaries also bounds the chunk-size line and its extensions
exactly (RFC 9112 section 7.1.1), accepts the whitespace that grammar allows around ";"
and "=", and counts trailer fields against the header limits.

The contract is split-invariant: any split of the same byte stream yields the same events
(with consecutive `BodyData` merged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = ["MAX_CHUNK_LINE", "HostMemo", "ParserLimits", "RequestParser"]

import re

import httptools

from pronghorn.http.events import (
    BodyData,
    BodyKind,
    Event,
    MessageEnd,
    ProtocolError,
    RequestHead,
)
from pronghorn.http.fields import HOST_VALUE, comma_tokens
from pronghorn.http.limits import ParserLimits
from pronghorn.http.sections import OWS, TOKEN, PartialHead, parse_trailers
from pronghorn.http.target import TargetError, split_target

_SUPPORTED_VERSIONS: Final = frozenset({"1.0", "1.1"})
# len() of host, expect, connection, content-type, content-length, transfer-encoding
_FRAMING_NAME_LENGTHS: Final = frozenset({4, 6, 10, 12, 14, 17})
# Methods given to llhttp as they are; any other token is handed to it as GET (llhttp
# knows a fixed list) and reported as sent. The method never changes request framing.
_PLAIN_METHODS: Final = {
    name.encode(): name for name in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
}
_STAND_IN_METHOD: Final = b"GET"
# A chunk-size line: the size, then extensions with optional whitespace (BWS) around ";"
# and "=" (RFC 9112 section 7.1.1). A size of more than 16 hex digits overflows 64 bits.
_CHUNK_LINE: Final = re.compile(
    rb"([0-9A-Fa-f]{1,16})"
    rb"(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
    rb"(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|\"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]"
    rb"|\\[\t \x21-\x7e\x80-\xff])*\"))?)*"
)
MAX_CHUNK_LINE: Final = 4096
"""The longest chunk-size line, extensions included (h11 CVE-2025-43859's class)."""

# Enum members bound once: on Python 3.11 each `Enum.MEMBER` read goes through
# EnumType.__getattr__, a Python-level call (0.13 µs), several times a request.
# One `Final` name each (compiled, other module names are dict lookups at every use).
_NO_BODY: Final = BodyKind.NONE
_LENGTH: Final = BodyKind.LENGTH
_CHUNKED: Final = BodyKind.CHUNKED

# Where the parser is in the stream.
_HEAD: Final = 0
_BODY: Final = 1
_CHUNK_SIZE: Final = 2
_CHUNK_DATA: Final = 3
_CHUNK_END: Final = 4
_TRAILERS: Final = 5


# What the native head scan returns (pronghorn/http/_headscan.c): (stop, method, target,
# version, fields, field count, index of Host in fields or -1, Connection, Expect,
# Content-Length or None).
ScannedHead = tuple[
    int, str, bytes, str, list[tuple[bytes, bytes]], int, int, bytes, bytes, int | None
]
HeadScan = Callable[[bytes, int, tuple[int, ...]], ScannedHead | None]


def _native_head_scan() -> HeadScan | None:
    """The compiled build's C scan of a whole, plain head, or None (the pure build, which
    never builds it, and PRONGHORN_PURE=1, which does not load it: pronghorn.build)."""
    try:
        from pronghorn.http._headscan import scan_head
    except ImportError:
        return None
    return scan_head


HEAD_SCAN: Final = _native_head_scan()
"""What reads a plain head when there is a compiled build, else None."""

_SPENT_LLHTTP: Final = httptools.HttpRequestParser(object())
"""What a parser holds instead of its own llhttp parser before it needs one (with the native
scan) and once released: one with no callbacks, never fed (while it is held `_llhttp_fresh`
is False, so `_begin_head` makes a real one first; a released parser is closed)."""


class HostMemo:
    """The last Host value found valid, shared by the parsers of one listener's connections.

    Clients of a site send the same Host on every connection, and matching it against the
    grammar (a regular expression) was ~2k instructions a connection in the compiled build,
    3 % of a `Connection: close` request. Only a value that matched is kept, and a value is
    taken as valid without matching only when it is the same bytes, so sharing changes no
    answer. Threads may race to set it: each writes a value that matched, and a reader that
    sees an older one matches again."""

    __slots__ = ("valid",)

    def __init__(self) -> None:
        self.valid: bytes | None = None


class _Refused(Exception):
    """Raised inside a parser callback to stop llhttp; the error is kept on the parser."""


class RequestParser:
    """Parses one connection's byte stream into request events.

    Feed whatever arrived; collect the events. After a `ProtocolError` the parser is dead
    and must not be fed again. After the `MessageEnd` of a request that is not keep-alive
    the parser is `closed`: further bytes are ignored (RFC 9112 section 9.6).
    """

    __slots__ = (
        "_blank_bytes",
        "_body_kind",
        "_body_seen",
        "_bounds",
        "_closed",
        "_closing",
        "_connection",
        "_content_length",
        "_content_types",
        "_error",
        "_events",
        "_expect",
        "_field_count",
        "_head_complete",
        "_headers",
        "_host_count",
        "_host_index",
        "_hosts",
        "_left",
        "_limits",
        "_llhttp",
        "_llhttp_fresh",
        "_max_head",
        "_method",
        "_partial",
        "_pending",
        "_plain_head",
        "_scan",
        "_scanned_version",
        "_state",
        "_trailers",
        "_transfer_encoding",
        "_url",
    )

    def __init__(
        self,
        limits: ParserLimits | None = None,
        *,
        scan: HeadScan | None = HEAD_SCAN,
        hosts: HostMemo | None = None,
    ) -> None:
        self._limits = limits = limits or ParserLimits()
        self._max_head = limits.max_head  # read on every head: a property call saved
        # A whole head in one read goes to the native scan first, when there is one (tests
        # pass None to compare with llhttp's path, or a scan they built for the pure build).
        self._scan = scan
        # Of any length to mypy: a tuple of four ints would be compiled to four C integers,
        # and boxed into a new tuple at every call.
        self._bounds: tuple[int, ...] = (
            limits.max_request_line,
            limits.max_fields,
            limits.max_field_size,
            self._max_head,
        )
        # False once it has seen a head with a body, and before it is made: with the native
        # scan, only a head the scan leaves needs llhttp (making one is ~3k instructions,
        # compiled: a connection that sends only plain heads never pays for it).
        self._llhttp_fresh = self._scan is None
        self._llhttp = self._new_llhttp() if self._llhttp_fresh else _SPENT_LLHTTP
        self._events: list[Event] = []
        self._error: ProtocolError | None = None
        self._state = _HEAD
        self._closing = False
        self._closed = False
        self._left = 0  # bytes of the Content-Length body or of the current chunk to come
        self._partial: PartialHead | None = None
        self._pending = b""  # an incomplete chunk-size line, chunk end or trailer section
        self._trailers = bytearray()  # a trailer section that is not complete yet
        self._blank_bytes = 0  # empty lines before the next request line
        self._method = ""
        self._head_complete = False
        self._hosts = HostMemo() if hosts is None else hosts  # Host values known valid
        self._reset_message([])

    def release(self) -> None:
        """The connection is gone: parse nothing more, and let go of the llhttp parser.

        The llhttp parser holds this parser's bound methods as its callbacks, and this
        parser holds it: a reference cycle, which without this only the cyclic garbage
        collector frees, with the last request's head and events on it. Cut, the parser
        goes as soon as its connection does (it was 12 objects a closed connection)."""
        self._closed = True
        self._llhttp = _SPENT_LLHTTP

    def _new_llhttp(self) -> httptools.HttpRequestParser:
        llhttp = httptools.HttpRequestParser(self)
        # HTTP/1.2..1.9 must be served as 1.1 (RFC 9110 section 2.5); llhttp refuses them
        # unless lenient. Other majors still reach `_build_head` and get a 505.
        llhttp.set_dangerous_leniencies(lenient_version=True)
        return llhttp

    def _reset_message(self, headers: list[tuple[bytes, bytes]]) -> None:
        self._url = b""
        self._headers = headers
        self._field_count = 0
        self._host_count = 0
        self._host_index = -1
        self._connection = b""
        self._expect = b""
        self._transfer_encoding = b""
        self._content_types = 0
        self._body_kind = _NO_BODY
        self._content_length: int | None = None
        self._body_seen = 0
        # A head given to llhttp as sent (b"": one given in pieces, or with a stand-in
        # method): _build_head reads its version from it.
        self._plain_head = b""
        # The head's version when the native scan read it; "" when llhttp did.
        self._scanned_version = ""

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def closed(self) -> bool:
        """A request that closes the connection has ended; nothing more will be parsed."""
        return self._closed

    @property
    def has_partial_head(self) -> bool:
        """Some of a request head has arrived, but not all of it."""
        return self._partial is not None

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data` (any split of the stream) and return the events it completes."""
        # Not `self._error is not None` here: mypy (and so mypyc) would take `_error` for
        # None from then on, though the calls below set it (docs/design.md, "Writing code
        # that compiles correctly").
        if self.failed or self._closed:
            return []
        events = self._events = []
        pos = 0
        end = len(data)
        if self._state == _HEAD and self._partial is None and not self._pending:
            # The common case, kept to few calls: a read that starts with a whole head.
            scan = self._scan
            if scan is not None and (scanned := scan(data, 0, self._bounds)) is not None:
                pos = self._scanned_head(scanned)
            else:
                stop = data.find(b"\r\n\r\n") + 4
                if stop > 3 and data[0] > 32:
                    pos = self._whole_head(data, 0, stop)
            if pos == end or self._error is not None:
                if self._error is not None:
                    events.append(self._error)
                return events
        elif self._pending:
            data = self._pending + data
            self._pending = b""
            end = len(data)
        while pos < end and self._error is None and not self._closed:
            state = self._state
            if state == _HEAD:
                pos = self._take_head(data, pos)
            elif state == _BODY:
                pos = self._take_length_body(data, pos)
            elif state == _CHUNK_DATA:
                pos = self._take_chunk_data(data, pos)
            elif state == _TRAILERS:
                pos = self._take_trailers(data, pos)
            else:
                taken = self._take_chunk_framing(state, data, pos)
                if taken < 0:
                    self._pending = data[pos:]
                    break
                pos = taken
        if self._error is not None:
            events.append(self._error)
        return events

    def _fail(self, status: int, detail: str) -> None:
        if self._error is None:
            self._error = ProtocolError(status, detail)

    def _refuse(self, status: int, detail: str) -> None:
        self._fail(status, detail)
        raise _Refused(detail)

    # -- heads --------------------------------------------------------------------------

    def _take_head(self, data: bytes, pos: int) -> int:
        """Consume head bytes from `pos`; returns where the head ended (or the data did)."""
        partial = self._partial
        if partial is None:
            # RFC 9112 section 2.2: ignore empty lines before a request line. They count
            # against the head limit, so a stream of them cannot go on for ever.
            while True:
                # A lone LF is accepted as an empty line here only (RFC 9112 section 2.2).
                step = 2 if data.startswith(b"\r\n", pos) else data.startswith(b"\n", pos)
                if not step:
                    break
                pos += step
                self._blank_bytes += step
            if self._blank_bytes > self._limits.max_head:
                self._fail(431, "request header section too large")
                return len(data)
            if pos >= len(data) - 1 and data.endswith(b"\r"):
                self._pending = data[pos:]  # the CR of an empty line whose LF is to come
                return len(data)
            if pos >= len(data):
                return pos
            scan = self._scan
            if scan is not None and (scanned := scan(data, pos, self._bounds)) is not None:
                return self._scanned_head(scanned)
            stop = data.find(b"\r\n\r\n", pos)
            if stop >= 0:
                return self._whole_head(data, pos, stop + 4)
            partial = self._partial = PartialHead()
        stop = partial.find_end(data, pos)
        if stop < 0:
            self._head_piece(partial, data, pos, len(data))
            return len(data)
        self._partial = None
        self._head_piece(partial, data, pos, stop)
        self._head_done()
        return stop

    def _whole_head(self, data: bytes, pos: int, stop: int) -> int:
        """The common case: a whole head in one piece of `data`."""
        limits = self._limits
        # The request line is part of the head: a head within the line's limit needs no
        # search for the line's end.
        if stop - pos > limits.max_request_line:
            line_end = data.find(b"\r\n", pos)
            if line_end - pos > limits.max_request_line:
                self._fail(414, "request line too long")
                return stop
        if stop - pos > self._max_head:
            self._fail(431, "request header section too large")
            return stop
        # GET and POST at a read's start are told by `startswith`, a memcmp compiled, where
        # find() parses an argument tuple and the slice it cuts is hashed (~1.7k
        # instructions, compiled). Inline, not a loop over all plain methods in a function:
        # pure, the function call cost a POST more than the search it saved.
        if pos == 0 and data.startswith(b"GET "):
            name: str | None = "GET"
        elif pos == 0 and data.startswith(b"POST "):
            name = "POST"
        else:
            # A space past the request line (a line without one) leaves CR LF in the
            # method, which no plain method has: _begin_head then reads the line properly.
            space = data.find(b" ", pos, stop)
            name = _PLAIN_METHODS.get(data[pos:space]) if space > 0 else None
        if name is not None and self._llhttp_fresh:
            self._method = name
            self._blank_bytes = 0
            self._reset_message([])
            head = data if pos == 0 and stop == len(data) else data[pos:stop]
            self._plain_head = head
        else:
            line_end = data.find(b"\r\n", pos)
            stand_in = self._begin_head(data, pos, line_end)
            if stand_in is None:
                return stop
            head = stand_in + data[line_end:stop] if stand_in else data[pos:stop]
        self._head_complete = False
        self._feed_llhttp(head)
        if not self._head_complete:
            self._head_done()
        return stop

    def _scanned_head(self, scanned: ScannedHead) -> int:
        """A head the native scan read whole: what llhttp's callbacks would have collected,
        then the same checks and the same end (`on_headers_complete`). The scan answers only
        for heads that llhttp takes and that break no limit, so every refusal left is one
        of this module's own. Returns where the head ended."""
        stop, method, target, version, fields, count, host_index, connection, expect, length = (
            scanned
        )
        self._blank_bytes = 0
        self._reset_message(fields)
        self._method = method
        self._url = target
        self._scanned_version = version
        self._field_count = count
        self._connection = connection
        if expect:
            self._expect = expect.lower()
        self._content_length = length
        try:
            if host_index >= 0:
                self._host_count = 1
                self._host_index = host_index
                host = fields[host_index][1]
                if host != self._hosts.valid:
                    self._check_host(host)
            self.on_headers_complete()
        except _Refused:
            pass
        return stop

    def _begin_head(self, data: bytes, pos: int, line_end: int) -> bytes | None:
        """Check the method of the request line that starts at `pos`; returns the method
        llhttp is given in its place (b"" for as sent), None after an error."""
        self._blank_bytes = 0
        self._reset_message([])
        space = data.find(b" ", pos, line_end)
        method = data[pos:space]
        if space < 0 or (method not in _PLAIN_METHODS and TOKEN.fullmatch(method) is None):
            self._fail(400, "malformed request line: the method is not a token")
            return None
        if method == b"CONNECT":
            # Its target is an authority, which llhttp reads only after CONNECT itself.
            self._fail(501, "CONNECT is not supported")
            return None
        self._method = method.decode("ascii")
        if not self._llhttp_fresh:
            self._llhttp = self._new_llhttp()
            self._llhttp_fresh = True
        if method in _PLAIN_METHODS:
            return b""
        return _STAND_IN_METHOD + data[space:line_end]

    def _head_piece(self, partial: PartialHead, data: bytes, pos: int, stop: int) -> None:
        """Feed part of a head that arrives in several pieces, within the limits."""
        limits = self._limits
        problem = partial.add(data, pos, stop, limits)
        if problem is not None:
            self._fail(*problem)
            return
        if not partial.started:
            line = partial.request_line()
            if line is None:
                return  # the method is not complete yet: llhttp must not see it
            stand_in = self._begin_head(line, 0, len(line))
            if stand_in is None:
                return
            partial.started = True
            self._head_complete = False
            first = partial.take_held()
            self._feed_llhttp(stand_in + first[len(line) :] if stand_in else first)
            return
        self._feed_llhttp(data[pos:stop])

    def _feed_llhttp(self, head: bytes) -> None:
        """Give llhttp a head, or a piece of one that arrives in several reads."""
        try:
            self._llhttp.feed_data(head)
        except httptools.HttpParserUpgrade:
            # We implement no protocol upgrade (WebSocket, h2c): the request is served as a
            # plain one, and this module frames its body like any other's.
            self._llhttp_fresh = False
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed request: {exc}")

    def _head_done(self) -> None:
        # llhttp must agree that the head ended exactly where we found its empty line.
        if not self._head_complete and self._error is None:
            self._fail(400, "malformed request head")

    # -- llhttp callbacks (a head only: bodies are framed here) -------------------------

    def on_url(self, fragment: bytes) -> None:
        # Usually the whole target in one piece: `+=` on b"" still goes through the
        # generic in-place add (~0.25k instructions, compiled).
        self._url = self._url + fragment if self._url else fragment

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_count += 1
        limits = self._limits
        if self._field_count > limits.max_fields:
            self._refuse(431, "too many header fields")
        if len(name) + len(value) > limits.max_field_size:
            self._refuse(431, "header field too large")
        # llhttp drops the OWS before a value but keeps the OWS after it; neither is
        # part of the value (RFC 9110 section 5.5).
        # Only a value that ends in OWS is stripped: a method call a field saved.
        stripped = value.rstrip(OWS) if value and value[-1] in (32, 9) else value
        # `in` with the byte's value (95 is "_"): one memchr, where `in` with a bytes
        # operand first tries it as an int and pays for a formatted TypeError, and
        # find() for its argument tuple and parsing (timeit: 29 ns, against 140 for find).
        if 95 in name:
            return
        self._headers.append((name, stripped))
        # Only five names frame the request; their lengths rule out most others cheaply.
        if len(name) in _FRAMING_NAME_LENGTHS:
            # Host as (nearly) every client spells it needs no lower-case copy.
            self._note_framing_header(b"host" if name == b"Host" else name.lower(), stripped, value)

    def _note_framing_header(self, lname: bytes, value: bytes, raw: bytes) -> None:
        if lname == b"host":
            self._host_count += 1
            self._host_index = len(self._headers) - 1
            # Requests repeat their Host: the last one found valid is not matched again
            # (see HostMemo).
            if value != self._hosts.valid:
                self._check_host(value)
        elif lname == b"connection":
            self._connection = (self._connection + b"," + value) if self._connection else value
        elif lname == b"expect":
            self._expect = value.lower()
        elif lname == b"transfer-encoding":
            if len(raw) != len(value):
                self._refuse(400, "whitespace after Transfer-Encoding")
            te = self._transfer_encoding
            self._transfer_encoding = (te + b"," + value) if te else value
        elif lname == b"content-length":
            self._content_length = int(value)  # llhttp has checked it is plain digits
        elif lname == b"content-type":
            # Not a list field: two of them would be merged by the WSGI environ into a
            # value neither sender meant (RFC 9110 section 5.3).
            self._content_types += 1
            if self._content_types > 1:
                self._refuse(400, "more than one Content-Type")

    def _check_host(self, value: bytes) -> None:
        if HOST_VALUE.fullmatch(value) is None:
            self._refuse(400, "malformed Host header")
        self._hosts.valid = value

    def on_headers_complete(self) -> None:
        """The head is complete: llhttp calls this, and `_scanned_head` after the scan."""
        head = self._build_head()
        self._head_complete = True
        self._events.append(head)
        self._closing = not head.keep_alive
        kind = head.body_kind
        if kind is _NO_BODY:
            self._events.append(MessageEnd([]))
            if self._closing:
                self._closed = True
        elif kind is _LENGTH:
            # llhttp is given the body too (it skips it in C, having no `on_body`), so that
            # it is ready for the next head without being made anew; not after a scanned
            # head, which llhttp never saw.
            self._state = _BODY
            self._left = head.content_length or 0
        else:
            self._state = _CHUNK_SIZE
            self._llhttp_fresh = False

    def _build_head(self) -> RequestHead:
        # The version follows the target and one space, where llhttp read it. "1.1" is
        # taken from the bytes: llhttp's get_http_version() formats a string each time
        # (~2k instructions a request, compiled); any other version is asked of it.
        version = self._scanned_version  # "" unless the native scan read the head
        if not version:
            at = len(self._method) + len(self._url) + 2  # the method, SP, the target, SP
            if self._plain_head[at : at + 9] == b"HTTP/1.1\r":
                version = "1.1"
            else:
                version = self._llhttp.get_http_version()
        if version not in _SUPPORTED_VERSIONS:
            version = self._other_version(version)
        method = self._method
        # RFC 9112 section 3.2: Host is required in 1.1 and never allowed twice.
        if self._host_count != 1 and (self._host_count or version == "1.1"):
            self._refuse(400, "missing Host header" if not self._host_count else "duplicate Host")
        if self._transfer_encoding:
            self._check_transfer_encoding(version)
            self._body_kind = _CHUNKED
        elif self._content_length:
            self._body_kind = _LENGTH
            max_body = self._limits.max_body
            if max_body and self._content_length > max_body:
                self._refuse(413, "request body larger than --limit-request-body")
        try:
            path, query, authority = split_target(self._url, method)
        except TargetError as exc:
            self._refuse(400, str(exc))
        if authority is not None and self._host_index >= 0:
            # RFC 9112 section 3.2.2: the target's authority wins over the Host field.
            self._headers[self._host_index] = (self._headers[self._host_index][0], authority)
        keep_alive = self._keep_alive(version)
        # Positional, in field order: calling a class with keywords builds a dict of them
        # on every request (method, target, path, query, version, headers, keep_alive,
        # expect_continue, body_kind, content_length).
        return RequestHead(
            method,
            self._url,
            path,
            query,
            version,
            self._headers,
            keep_alive,
            version == "1.1" and self._expect == b"100-continue",
            self._body_kind,
            self._content_length if self._body_kind is _LENGTH else None,
        )

    def _keep_alive(self, version: str) -> bool:
        # RFC 9112 section 9.3: "close" ends the connection; HTTP/1.0 persists only
        # with "keep-alive". One token without a comma is the common case.
        if not self._connection:  # no Connection field: the version's default
            return version == "1.1"
        connection = self._connection.lower()
        if 44 in connection:  # a ",": the byte's value (see on_header)
            tokens = comma_tokens(connection)
            return b"close" not in tokens and (version == "1.1" or b"keep-alive" in tokens)
        if connection == b"close":
            return False
        return version == "1.1" or connection == b"keep-alive"

    def _other_version(self, version: str) -> str:
        if version.startswith("1."):
            return "1.1"  # a higher minor version of a major we implement (RFC 9110 2.5)
        self._refuse(505, f"unsupported HTTP version {version}")
        raise AssertionError("unreachable")

    def _check_transfer_encoding(self, version: str) -> None:
        # RFC 9112 section 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
        # Section 6.3: a request whose final coding is not chunked cannot be framed (400);
        # chunked twice is forbidden; a coding we do not implement is a 501.
        if version == "1.0":
            self._refuse(400, "Transfer-Encoding in an HTTP/1.0 request")
        codings = comma_tokens(self._transfer_encoding)
        if not codings or codings[-1] != b"chunked":
            self._refuse(400, "Transfer-Encoding without a final chunked")
        if b"chunked" in codings[:-1]:
            self._refuse(400, "chunked applied more than once")
        if len(codings) > 1:
            self._refuse(501, "unsupported transfer coding")

    # -- bodies -------------------------------------------------------------------------

    def _take_length_body(self, data: bytes, pos: int) -> int:
        size = min(self._left, len(data) - pos)
        piece = data if pos == 0 and size == len(data) else data[pos : pos + size]
        if self._limits.max_body:
            self._body(piece)  # a Content-Length over the limit was refused at the head
        else:
            self._events.append(BodyData(piece))
        if self._llhttp_fresh and not self._scanned_version:
            try:
                self._llhttp.feed_data(piece)
            except httptools.HttpParserError:
                self._llhttp_fresh = False  # only after a message that closes: unused
        left = self._left = self._left - size
        if left == 0:
            self._events.append(MessageEnd([]))
            self._state = _HEAD
            if self._closing:
                self._closed = True
        return pos + size

    def _take_chunk_data(self, data: bytes, pos: int) -> int:
        size = min(self._left, len(data) - pos)
        self._body(data[pos : pos + size])
        self._left -= size
        if self._left == 0:
            self._state = _CHUNK_END
        return pos + size

    def _body(self, data: bytes) -> None:
        max_body = self._limits.max_body
        if max_body:
            seen = self._body_seen
            self._body_seen = seen + len(data)
            if self._body_seen > max_body:
                # Hand over exactly the bytes under the limit, so that every split of
                # the stream reports the same body before the 413.
                if seen < max_body:
                    self._events.append(BodyData(data[: max_body - seen]))
                self._fail(413, "request body larger than --limit-request-body")
                return
        self._events.append(BodyData(data))

    def _take_chunk_framing(self, state: int, data: bytes, pos: int) -> int:
        """A chunk-size line or the CRLF after chunk data; returns where it ended, or -1
        when it is not complete yet (or is refused)."""
        if state == _CHUNK_END:
            if len(data) - pos < 2:
                return -1 if data[pos:] in (b"", b"\r") else self._bad_chunk_end()
            if not data.startswith(b"\r\n", pos):
                return self._bad_chunk_end()
            self._state = _CHUNK_SIZE
            return pos + 2
        return self._take_chunk_size(data, pos)

    def _bad_chunk_end(self) -> int:
        self._fail(400, "malformed chunked body: chunk data not followed by CRLF")
        return -1

    def _take_chunk_size(self, data: bytes, pos: int) -> int:
        end = data.find(b"\r\n", pos, pos + MAX_CHUNK_LINE + 2)
        if end < 0:
            if len(data) - pos > MAX_CHUNK_LINE + 1:
                self._fail(400, "chunk-size line too long")
            elif data.find(b"\n", pos) >= 0:
                self._fail(400, "malformed chunk-size line")
            return -1
        match = _CHUNK_LINE.fullmatch(data, pos, end)
        if match is None:
            self._fail(400, "malformed chunk-size line")
            return -1
        size = int(match.group(1), 16)
        if size:
            max_body = self._limits.max_body
            if max_body and self._body_seen >= max_body:
                self._fail(413, "request body larger than --limit-request-body")
                return -1
            self._left = size
            self._state = _CHUNK_DATA
        else:
            self._state = _TRAILERS
        return end + 2

    def _take_trailers(self, data: bytes, pos: int) -> int:
        section = self._trailers
        if not section and data.startswith(b"\r\n", pos):
            self._end_message([])
            return pos + 2
        # Kept in a bytearray: a section trickled in small reads is appended to, not copied
        # whole on every read.
        held = len(section)
        section += data[pos:]
        if section.startswith(b"\r\n"):
            section.clear()
            self._end_message([])  # no trailer fields: what follows is the next request
            return pos + 2 - held
        end = section.find(b"\r\n\r\n", max(0, held - 3))
        limits = self._limits
        if end < 0:
            newline = section.rfind(b"\n")
            if len(section) > limits.max_head or len(section) - newline - 1 > limits.max_line:
                self._fail(431, "trailer section too large")
            return len(data)
        if end + 4 > limits.max_head:
            self._fail(431, "trailer section too large")
            return len(data)
        taken = end + 4 - held
        trailers = parse_trailers(bytes(section[: end + 4]), limits, self._field_count)
        section.clear()
        if isinstance(trailers, ProtocolError):
            self._fail(trailers.status, trailers.detail)
            return len(data)
        self._end_message(trailers)
        return pos + taken

    def _end_message(self, trailers: list[tuple[bytes, bytes]]) -> None:
        self._events.append(MessageEnd(trailers))
        self._state = _HEAD
        if self._closing:
            self._closed = True
