"""Request parsing: raw bytes from a connection in, `events` out.

Owns the strictness policy. httptools (llhttp) does the tokenising and already refuses bare
CR/LF, obs-fold, NUL and control characters, bad chunk sizes, signed/listed/duplicate
Content-Length and Content-Length together with Transfer-Encoding. On top of it this module
enforces what llhttp leaves to the server: size limits (414/431/413), versions (505),
Transfer-Encoding rules (400/501), Host rules, request-target forms, unknown methods (501)
and dropping header names that contain "_". It also undoes two llhttp behaviours that are
wrong for a server that implements no protocol upgrade: the body of an Upgrade request is
read as a body (llhttp would skip it and parse it as the next request), and bytes after a
request that closes the connection are ignored rather than answered with an error.

Method errors: llhttp reports no position, so the status follows its reason, which is the
same for every split: a method it does not know is a 501; a known method followed by
something other than SP ("GET\t/", and also "GETX") is a malformed request line, 400.

The contract is split-invariant: any split of the same byte stream yields the same events
(with consecutive `BodyData` merged).
"""

from __future__ import annotations

from dataclasses import dataclass

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
from pronghorn.http.target import TargetError, split_target

_SUPPORTED_VERSIONS = frozenset({"1.0", "1.1"})
_OWS = b" \t"
# len() of host, expect, connection, content-length, transfer-encoding
_FRAMING_NAME_LENGTHS = frozenset({4, 6, 10, 14, 17})
# Bytes a request line or field line may carry beyond its measured parts (method, spaces,
# version, ":", OWS, CRLF) before the unterminated-line guard calls it too large.
_LINE_SLACK = 64
# What llhttp says when a method is not one it knows, as opposed to a known method that
# is followed by something other than SP (a malformed request line).
_UNKNOWN_METHOD_REASON = "Invalid method encountered"

# Enum members bound once: on Python 3.11 each `Enum.MEMBER` read goes through
# EnumType.__getattr__, a Python-level call (0.13 µs), several times a request.
_NO_BODY, _LENGTH, _CHUNKED = BodyKind.NONE, BodyKind.LENGTH, BodyKind.CHUNKED


@dataclass(frozen=True, slots=True)
class ParserLimits:
    """Size limits, with gunicorn's defaults. 0 for `max_body` means unlimited."""

    max_request_line: int = 4094
    max_fields: int = 100
    max_field_size: int = 8190
    max_body: int = 0

    @property
    def max_head(self) -> int:
        """Upper bound on the bytes one request head may take before we give up on it."""
        return self.max_request_line + self.max_fields * (self.max_field_size + 4) + 4

    @property
    def max_line(self) -> int:
        """Upper bound on one unterminated line of a head or trailer section."""
        return max(self.max_request_line, self.max_field_size) + _LINE_SLACK


class _Refused(Exception):
    """Raised inside a parser callback to stop llhttp; the error is kept on the parser."""


class RequestParser:
    """Parses one connection's byte stream into request events.

    Feed whatever arrived; collect the events. After a `ProtocolError` the parser is dead
    and must not be fed again. After the `MessageEnd` of a request that is not keep-alive
    the parser is `closed`: further bytes are ignored (RFC 9112 section 9.6).
    """

    def __init__(self, limits: ParserLimits | None = None) -> None:
        self._limits = limits or ParserLimits()
        self._llhttp = self._new_llhttp()
        self._events: list[Event] = []
        self._error: ProtocolError | None = None
        self._closing = False
        self._closed = False
        self._in_head = True
        self._message_open = False
        self._in_trailers = False
        self._section_began = False
        self._section_bytes = 0
        self._line_bytes = 0
        self._synthetic_head = False
        self._body_after_upgrade: bytes | None = None
        self._reset_message()

    def _new_llhttp(self) -> httptools.HttpRequestParser:
        llhttp = httptools.HttpRequestParser(self)
        # HTTP/1.2..1.9 must be served as 1.1 (RFC 9110 section 2.5); llhttp refuses them
        # unless lenient. Other majors still reach `_build_head` and get a 505.
        llhttp.set_dangerous_leniencies(lenient_version=True)
        return llhttp

    def _reset_message(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._field_count = 0
        self._host_count = 0
        self._host_index = -1
        self._connection = b""
        self._expect = b""
        self._transfer_encoding = b""
        self._body_kind = _NO_BODY
        self._content_length: int | None = None
        self._body_seen = 0
        self._trailers: list[tuple[bytes, bytes]] = []

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
        return self._message_open and self._in_head

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data` (any split of the stream) and return the events it completes."""
        if self._error is not None or self._closed:
            return []
        events = self._events = []
        self._section_began = False
        try:
            self._llhttp.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._resume_after_upgrade(data, int(upgrade.args[0]))
        except httptools.HttpParserError as exc:
            self._llhttp_error(exc)
        if (
            (self._in_head or self._in_trailers)
            and not self._section_began
            and self._error is None
            and not self._closed
        ):
            self._guard_section(data)
        if self._error is not None:
            events.append(self._error)
        return events

    def _guard_section(self, data: bytes) -> None:
        # httptools keeps an unfinished field line in memory and reports it only once it
        # is complete, so a field that never ends would grow without bound. Bound the
        # current line (bytes since the last LF) and the whole section as they arrive.
        size = len(data)
        self._section_bytes += size
        newline = data.rfind(b"\n")
        self._line_bytes = size - newline - 1 if newline >= 0 else self._line_bytes + size
        if self._line_bytes > self._limits.max_line:
            self._fail(431, "header field line too large")
        elif self._section_bytes > self._limits.max_head:
            self._fail(431, "request header section too large")

    def _resume_after_upgrade(self, data: bytes, offset: int) -> None:
        # We implement no protocol upgrade (WebSocket, h2c): the request is served as a
        # plain one and the bytes after it are its body, if it has one, then the next
        # request. CONNECT is refused in `_build_head`, so only Upgrade requests get here.
        while True:
            self._llhttp = self._new_llhttp()
            if self._body_after_upgrade is not None:
                # llhttp skipped this request's body: let a fresh parser frame it, behind
                # a head of our own that says how (see `on_headers_complete`).
                head, self._body_after_upgrade = self._body_after_upgrade, None
                self._synthetic_head = True
                self._llhttp.feed_data(head)
            rest = data[offset:]
            if not rest or self._error is not None or self._closed:
                return
            data = rest
            try:
                self._llhttp.feed_data(data)
                return
            except httptools.HttpParserUpgrade as upgrade:
                offset = int(upgrade.args[0])
            except httptools.HttpParserError as exc:
                self._llhttp_error(exc)
                return

    def _llhttp_error(self, exc: httptools.HttpParserError) -> None:
        if self._closed:
            return  # llhttp refuses bytes after "Connection: close"; we ignore them
        reason = str(exc)
        if isinstance(exc, httptools.HttpParserInvalidMethodError) and (
            reason == _UNKNOWN_METHOD_REASON
        ):
            self._fail(501, "request method not implemented")
        self._fail(400, f"malformed request: {reason}")

    def _fail(self, status: int, detail: str) -> None:
        if self._error is None:
            self._error = ProtocolError(status, detail)

    def _refuse(self, status: int, detail: str) -> None:
        self._fail(status, detail)
        raise _Refused(detail)

    # -- llhttp callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = True
        self._message_open = True
        self._begin_section()
        self._reset_message()

    def on_url(self, fragment: bytes) -> None:
        self._url += fragment
        if len(self._url) > self._limits.max_request_line:
            self._refuse(414, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_count += 1
        limits = self._limits
        if self._field_count > limits.max_fields:
            self._refuse(431, "too many header fields")
        if len(name) + len(value) > limits.max_field_size:
            self._refuse(431, "header field too large")
        # llhttp drops the OWS before a value but keeps the OWS after it; neither is
        # part of the value (RFC 9110 section 5.5).
        stripped = value.rstrip(_OWS)
        # find(), not `in`: on bytes, `in` first tries the operand as an int and pays for
        # a formatted TypeError each time (measured: 2x slower), on every header.
        if name.find(b"_") >= 0:
            return
        if not self._in_head:
            self._trailers.append((name, stripped))
            return
        self._headers.append((name, stripped))
        # Only five names frame the request; their lengths rule out most others cheaply.
        if len(name) in _FRAMING_NAME_LENGTHS:
            self._note_framing_header(name.lower(), stripped, value)

    def _note_framing_header(self, lname: bytes, value: bytes, raw: bytes) -> None:
        if lname == b"host":
            self._host_count += 1
            self._host_index = len(self._headers) - 1
            if HOST_VALUE.fullmatch(value) is None:
                self._refuse(400, "malformed Host header")
        elif lname == b"connection":
            self._connection = (self._connection + b"," + value) if self._connection else value
        elif lname == b"expect":
            self._expect = value.lower()
        elif lname == b"transfer-encoding":
            # llhttp stops treating "chunked<OWS>" as chunked only after the head is
            # complete; refuse it here so that no head is reported for it.
            if len(raw) != len(value):
                self._refuse(400, "whitespace after Transfer-Encoding")
            te = self._transfer_encoding
            self._transfer_encoding = (te + b"," + value) if te else value
        elif lname == b"content-length":
            self._content_length = int(value)  # llhttp has checked it is plain digits

    def on_headers_complete(self) -> None:
        if self._synthetic_head:
            self._synthetic_head = False
            self._in_head = False
            return
        head = self._build_head()
        self._in_head = False
        self._closing = not head.keep_alive
        if head.body_kind is not _NO_BODY and self._llhttp.should_upgrade():
            self._body_after_upgrade = _body_framing_head(head)
        self._events.append(head)

    def _build_head(self) -> RequestHead:
        version: str = self._llhttp.get_http_version()
        if version not in _SUPPORTED_VERSIONS:
            version = self._other_version(version)
        method = self._llhttp.get_method().decode("ascii")
        if method == "CONNECT":
            self._refuse(501, "CONNECT is not supported")
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
        connection = self._connection.lower()
        if connection.find(b",") >= 0:
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

    def on_chunk_header(self) -> None:
        # After the last chunk's header come the trailer fields; any other chunk header
        # is followed by data (`on_body`), which ends this state again.
        self._in_trailers = True
        self._begin_section()

    def _begin_section(self) -> None:
        # The section starts at an unknown offset of the current feed: `_guard_section`
        # skips this feed and counts from the next one (the bound is limit + one read).
        self._section_began = True
        self._section_bytes = self._line_bytes = 0

    def on_chunk_complete(self) -> None:
        self._in_trailers = False

    def on_body(self, data: bytes) -> None:
        self._in_trailers = False
        max_body = self._limits.max_body
        if max_body:
            seen = self._body_seen
            self._body_seen = seen + len(data)
            if self._body_seen > max_body:
                # Hand over exactly the bytes under the limit, so that every split of
                # the stream reports the same body before the 413.
                if seen < max_body:
                    self._events.append(BodyData(data[: max_body - seen]))
                self._refuse(413, "request body larger than --limit-request-body")
        self._events.append(BodyData(data))

    def on_message_complete(self) -> None:
        if self._body_after_upgrade is not None:
            return  # llhttp skipped the body; `_resume_after_upgrade` reads it next
        self._events.append(MessageEnd(self._trailers))
        self._message_open = False
        self._in_head = True
        self._in_trailers = False
        if self._closing:
            self._closed = True


def _body_framing_head(head: RequestHead) -> bytes:
    """A minimal request head that makes a fresh llhttp frame `head`'s body the same way."""
    if head.body_kind is _CHUNKED:
        framing = b"Transfer-Encoding: chunked"
    else:
        framing = b"Content-Length: %d" % (head.content_length or 0)
    return b"POST / HTTP/1.1\r\nHost: body\r\n" + framing + b"\r\n\r\n"
