"""Request parsing: raw bytes from a connection in, `events` out.

Owns the strictness policy. httptools (llhttp) does the tokenising and already refuses bare
CR/LF, obs-fold, NUL and control characters, bad chunk sizes, signed/listed/duplicate
Content-Length and Content-Length together with Transfer-Encoding. On top of it this module
enforces what llhttp leaves to the server: size limits (414/431/413), versions (505),
Transfer-Encoding on HTTP/1.0, Host rules, unknown methods (501) and dropping header names
that contain "_".
"""

from __future__ import annotations

import re
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

_TCHAR_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# uri-host [ ":" port ] (RFC 9110 section 7.2); an empty Host is allowed.
_HOST_VALUE = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(:[0-9]*)?")
_SUPPORTED_VERSIONS = frozenset({"1.0", "1.1"})


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


class _Refused(Exception):
    """Raised inside a parser callback to stop llhttp; the error is kept on the parser."""


class RequestParser:
    """Parses one connection's byte stream into request events.

    Feed whatever arrived; collect the events. After a `ProtocolError` the parser is dead
    and must not be fed again.
    """

    def __init__(self, limits: ParserLimits | None = None) -> None:
        self._limits = limits or ParserLimits()
        self._llhttp = httptools.HttpRequestParser(self)
        self._events: list[Event] = []
        self._error: ProtocolError | None = None
        self._in_head = True
        self._head_bytes = 0
        self._reset_message()

    def _reset_message(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._field_count = 0
        self._host_count = 0
        self._connection = b""
        self._expect = b""
        self._transfer_encoding = b""
        self._body_kind = BodyKind.NONE
        self._content_length: int | None = None
        self._body_seen = 0
        self._trailers: list[tuple[bytes, bytes]] = []
        self._upgrade_ignored = False

    @property
    def failed(self) -> bool:
        return self._error is not None

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data` (any split of the stream) and return the events it completes."""
        if self._error is not None:
            return []
        events = self._events = []
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self._llhttp.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._after_upgrade(data, upgrade)
        except httptools.HttpParserInvalidMethodError:
            self._fail(*_method_error(data))
        except httptools.HttpParserError as exc:
            if self._error is None:
                self._fail(_status_for_llhttp_error(exc), f"malformed request: {exc}")
        if self._error is None and self._in_head and self._head_bytes > self._limits.max_head:
            self._fail(431, "request header section too large")
        if self._error is not None:
            events.append(self._error)
        return events

    def _after_upgrade(self, data: bytes, upgrade: httptools.HttpParserUpgrade) -> None:
        # We implement no protocol upgrade (WebSocket, h2c): the request was served as a
        # plain one and the bytes after it are the next request. CONNECT is refused in
        # `on_headers_complete`, so only Upgrade requests arrive here.
        offset = int(upgrade.args[0]) if upgrade.args else len(data)
        self._llhttp = httptools.HttpRequestParser(self)
        rest = data[offset:]
        if rest and self._error is None:
            self._events = events = self._events
            self._head_bytes = 0
            try:
                self._llhttp.feed_data(rest)
            except httptools.HttpParserUpgrade as again:
                self._after_upgrade(rest, again)
            except httptools.HttpParserError as exc:
                if self._error is None:
                    self._fail(_status_for_llhttp_error(exc), f"malformed request: {exc}")
            del events

    def _fail(self, status: int, detail: str) -> None:
        if self._error is None:
            self._error = ProtocolError(status, detail)

    def _refuse(self, status: int, detail: str) -> None:
        self._fail(status, detail)
        raise _Refused(detail)

    # -- llhttp callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._reset_message()

    def on_url(self, fragment: bytes) -> None:
        self._url += fragment
        if len(self._url) > self._limits.max_request_line:
            self._refuse(414, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_count += 1
        if self._field_count > self._limits.max_fields:
            self._refuse(431, "too many header fields")
        if len(name) + len(value) > self._limits.max_field_size:
            self._refuse(431, "header field too large")
        if not self._in_head:
            if b"_" not in name:
                self._trailers.append((name, value))
            return
        if b"_" in name:
            return
        self._headers.append((name, value))
        self._note_framing_header(name.lower(), value)

    def _note_framing_header(self, lname: bytes, value: bytes) -> None:
        if lname == b"host":
            self._host_count += 1
            if _HOST_VALUE.fullmatch(value) is None:
                self._refuse(400, "malformed Host header")
        elif lname == b"connection":
            self._connection = (self._connection + b"," + value) if self._connection else value
        elif lname == b"expect":
            self._expect = value.strip().lower()
        elif lname == b"transfer-encoding":
            te = self._transfer_encoding
            self._transfer_encoding = (te + b"," + value) if te else value
        elif lname == b"content-length":
            self._content_length = int(value)  # llhttp has checked it is plain digits

    def on_headers_complete(self) -> None:
        head = self._build_head()
        self._in_head = False
        self._events.append(head)

    def _build_head(self) -> RequestHead:
        llhttp = self._llhttp
        version = llhttp.get_http_version()
        if version not in _SUPPORTED_VERSIONS:
            self._refuse(505, f"unsupported HTTP version {version}")
        method = llhttp.get_method().decode("ascii")
        if method == "CONNECT":
            self._refuse(501, "CONNECT is not supported")
        if version == "1.1" and self._host_count != 1:
            self._refuse(400, "missing Host header" if not self._host_count else "duplicate Host")
        if self._transfer_encoding:
            self._check_transfer_encoding(version)
            self._body_kind = BodyKind.CHUNKED
        elif self._content_length:
            self._body_kind = BodyKind.LENGTH
            max_body = self._limits.max_body
            if max_body and self._content_length > max_body:
                self._refuse(413, "request body larger than --limit-request-body")
        path, query = _split_target(self._url)
        tokens = {t.strip().lower() for t in self._connection.split(b",")} if self._connection else ()
        if version == "1.1":
            keep_alive = b"close" not in tokens
        else:
            keep_alive = b"keep-alive" in tokens
        return RequestHead(
            method=method,
            target=self._url,
            path=path,
            query=query,
            version=version,
            headers=self._headers,
            keep_alive=keep_alive,
            expect_continue=version == "1.1" and self._expect == b"100-continue",
            body_kind=self._body_kind,
            content_length=self._content_length if self._body_kind is BodyKind.LENGTH else None,
        )

    def _check_transfer_encoding(self, version: str) -> None:
        # RFC 9112 section 6.3: a request whose final coding is not chunked cannot be
        # framed (400); a chunked body under a coding we do not implement is a 501.
        if version == "1.0":
            self._refuse(400, "Transfer-Encoding in an HTTP/1.0 request")
        codings = [c.strip().lower() for c in self._transfer_encoding.split(b",")]
        if codings[-1] != b"chunked":
            self._refuse(400, "Transfer-Encoding without a final chunked")
        if len(codings) > 1:
            self._refuse(501, "unsupported transfer coding")

    def on_body(self, data: bytes) -> None:
        max_body = self._limits.max_body
        if max_body:
            self._body_seen += len(data)
            if self._body_seen > max_body:
                self._refuse(413, "request body larger than --limit-request-body")
        self._events.append(BodyData(data))

    def on_message_complete(self) -> None:
        self._events.append(MessageEnd(self._trailers))
        self._in_head = True
        self._head_bytes = 0


def _split_target(target: bytes) -> tuple[bytes, bytes]:
    """Path and query of a request target, for origin-form, absolute-form and "*"."""
    if not target.startswith(b"/") and target != b"*":
        parsed = httptools.parse_url(target)
        return parsed.path or b"/", parsed.query or b""
    path, _, query = target.partition(b"?")
    query, _, _fragment = query.partition(b"#")
    return path, query


def _method_error(data: bytes) -> tuple[int, str]:
    """501 for a well-formed method we do not know, 400 for one that is not a token."""
    token = data.lstrip(b"\r\n").split(b" ", 1)[0]
    if len(token) < 64 and _TCHAR_TOKEN.fullmatch(token):
        return 501, f"method not implemented: {token.decode('ascii')}"
    return 400, "malformed request method"


def _status_for_llhttp_error(exc: Exception) -> int:
    return 505 if "Invalid HTTP version" in str(exc) else 400
