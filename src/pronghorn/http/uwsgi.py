"""The uwsgi protocol (nginx's `uwsgi_pass`), sans I/O: packets in, request events out.

Owns the packet format, its limits and refusals (`UwsgiParser`), and the state of one
connection that speaks it (`UwsgiConnection`, with the interface of
`pronghorn.http.connection.ServerConnection`, so the I/O layer runs either alike).

A request is one packet: a 4-byte header (modifier1, the size of the variables block as a
16-bit little-endian number, modifier2), the variables block (pairs of a 16-bit
little-endian length and a name, a 16-bit length and a value), then CONTENT_LENGTH bytes of
body. nginx sends the CGI variables of its `uwsgi_params` file and every request header as
an `HTTP_*` variable, and always a CONTENT_LENGTH for a body: it reads a chunked body whole
before passing it on, even with `uwsgi_request_buffering off` (seen with nginx 1.22).

One request per connection: the response is an HTTP/1.x status line, headers and body, and
closing the connection ends it. nginx's uwsgi module decodes no chunked encoding (a chunked
response reached the client with its chunk sizes in the body), so a response of unknown
length is delimited by the close, never chunked (see `pronghorn.wsgi.head_memo`). No
`100 Continue` either: nginx answers `Expect` itself, and would take one as the response.

Refusals: a packet that is not one (modifier1 other than 0, or 30, uWSGI's old "strip
SCRIPT_NAME from PATH_INFO", which is done anyway), lengths that run past the block, an
empty or non-printable name, NUL/CR/LF in a value, a missing or malformed REQUEST_METHOD or
CONTENT_LENGTH: 400. `HTTP_*` variables are header fields: more than --limit-request-fields
of them, or one longer than --limit-request-field-size (name and value), 431; at most
`MAX_OTHER_VARIABLES` others, 431. REQUEST_URI with the method and protocol is the request
line (--limit-request-line, 414); a body over --limit-request-body, 413. The answer goes to
nginx, which passes it to its client; a peer that closed mid-packet reads nothing, and the
log line says what happened. A refused packet's body (up to `MAX_DISCARD`) is read and
dropped before the answer: nginx sends the body right behind the packet, and closing a
socket with unread bytes resets the connection, which can destroy the answer in flight
(nginx then says 502: seen over a Unix socket, and with a raw TCP client).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Final
from urllib.parse import quote

from pronghorn.http.connection import (
    BODY,
    CLOSED,
    DEFAULT_BODY_BUFFER,
    DISCARD,
    FRESH,
    HEAD,
    RUNNING,
    BodyError,
    ConnectionState,
    read_queued_body,
)
from pronghorn.http.events import (
    BodyData,
    BodyKind,
    Event,
    MessageEnd,
    ProtocolError,
    RequestHead,
)
from pronghorn.http.limits import ParserLimits
from pronghorn.http.response import error_response
from pronghorn.http.sections import TOKEN

HEADER_SIZE: Final = 4
MODIFIERS: Final = frozenset({0, 30})
"""modifier1 values served: 0 (a WSGI request) and 30 (the same, PATH_INFO without
SCRIPT_NAME: uWSGI's UWSGI_MODIFIER_MANAGE_PATH_INFO, still in old nginx recipes)."""
MAX_OTHER_VARIABLES: Final = 64
"""Variables that are not `HTTP_*` (CGI variables: nginx's stock uwsgi_params has 15)."""
MAX_DISCARD: Final = 16 * 1024 * 1024
"""The most body bytes read and dropped so that a refusal arrives whole (a few ms on a local
socket); a refused packet that declares more is answered at once."""

# Printable ASCII names, joined by single spaces: one match checks every name at once
# (with a count of the spaces, so that a name cannot hold one).
_NAMES: Final = re.compile(r"[!-~]+(?: [!-~]+)*")
# Characters that would end or split a value downstream (C strings, header lines).
_BREAKING: Final = re.compile(r"[\x00\r\n]")
_VERSION: Final = re.compile(r"HTTP/([0-9])\.([0-9])")
_MAX_LENGTH_DIGITS: Final = 18
_NO_BODY: Final = BodyKind.NONE
_LENGTH: Final = BodyKind.LENGTH


class UwsgiHead(RequestHead):
    """A request that came as a uwsgi packet.

    The fields of `RequestHead` say what static files, logs and response framing need:
    `target` is REQUEST_URI, `version` that of SERVER_PROTOCOL (the client's), `headers`
    the `HTTP_*` variables as lower-case header names, `keep_alive` always False.
    `variables` is every variable as nginx sent it, latin-1 text; `HTTP_*` variables sent
    more than once are joined as RFC 9110 section 5.3 joins fields (cookies with "; ")."""

    __slots__ = ("variables",)

    def __init__(
        self,
        method: str,
        target: bytes,
        path: bytes,
        query: bytes,
        version: str,
        headers: list[tuple[bytes, bytes]],
        body_kind: BodyKind,
        content_length: int | None,
        variables: dict[str, str],
    ) -> None:
        # A uwsgi request is never kept alive and never waits for 100-continue.
        super().__init__(
            method, target, path, query, version, headers, False, False, body_kind, content_length
        )
        self.variables = variables


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.error = ProtocolError(status, detail)


class UwsgiParser:
    """One connection's bytes to the events of its one request: `UwsgiHead`, `BodyData`
    pieces, `MessageEnd`; or a `ProtocolError`, after which it takes nothing more. Bytes
    after the body are ignored: nothing follows a request on this protocol."""

    __slots__ = ("_body_left", "_buffer", "_limits", "_refusal", "closed", "method")

    def __init__(self, limits: ParserLimits | None = None) -> None:
        self._limits = limits or ParserLimits()
        self._buffer = bytearray()  # the start of a packet that has not all arrived
        self._body_left = -1  # body bytes still to come; -1 while the packet is incomplete
        self._refusal: ProtocolError | None = None  # held while its body is dropped
        self.closed = False
        self.method = "GET"  # REQUEST_METHOD once read: a refused HEAD gets no body

    @property
    def discarding(self) -> bool:
        """A refused packet's body is being read and dropped before the refusal."""
        return self._refusal is not None

    def end(self) -> ProtocolError | None:
        """The peer closed: the refusal held back for its body, if any (the peer may only
        have closed its sending side, and still read the answer)."""
        refusal, self._refusal = self._refusal, None
        return refusal

    @property
    def has_partial_head(self) -> bool:
        """Some of the packet has arrived, but not all of it."""
        return self._body_left < 0 and bool(self._buffer)

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data` (any split of the stream) and return the events it completes."""
        if self.closed or not data:
            return []
        if self._body_left >= 0:
            if self._refusal is not None:
                return self._discard(data, 0)
            return self._take_body(data, 0, [])
        buffer = self._buffer
        if buffer:
            buffer += data  # a bytearray: a packet trickling in is not copied over and over
            if len(buffer) < HEADER_SIZE or len(buffer) < _packet_end(buffer):
                return []
            data = bytes(buffer)
            self._buffer = bytearray()
        elif data[0] not in MODIFIERS:
            return self._fail(_not_a_request(data[0]))
        elif len(data) < HEADER_SIZE or len(data) < _packet_end(data):
            self._buffer = bytearray(data)
            return []
        end = _packet_end(data)
        try:
            head = self._head(data[HEADER_SIZE:end])
        except _Refused as refused:
            declared = _declared_length(data[HEADER_SIZE:end])
            if declared > MAX_DISCARD:
                return self._fail(refused.error)
            self._refusal = refused.error
            self._body_left = declared
            return self._discard(data, end)
        self._body_left = head.content_length or 0
        return self._take_body(data, end, [head])

    def _discard(self, data: bytes, pos: int) -> list[Event]:
        self._body_left -= len(data) - pos
        if self._body_left > 0:
            return []
        refusal = self.end()
        assert refusal is not None
        return self._fail(refusal)

    def _fail(self, error: ProtocolError) -> list[Event]:
        self.closed = True
        self._buffer = bytearray()
        return [error]

    def _take_body(self, data: bytes, pos: int, events: list[Event]) -> list[Event]:
        left = self._body_left
        if left and pos < len(data):
            piece = data if pos == 0 and len(data) <= left else data[pos : pos + left]
            events.append(BodyData(piece))
            left -= len(piece)
            self._body_left = left
        if not left:
            events.append(MessageEnd([]))
            self.closed = True
        return events

    def _head(self, block: bytes) -> UwsgiHead:
        limits = self._limits
        variables, headers = _variables(block, limits)
        method = variables.get("REQUEST_METHOD")
        if not method:
            raise _Refused(400, "uwsgi request without REQUEST_METHOD")
        if TOKEN.fullmatch(method.encode("latin-1")) is None:
            raise _Refused(400, "uwsgi REQUEST_METHOD is not a token")
        self.method = method
        protocol = variables.get("SERVER_PROTOCOL", "")
        target = _target(variables)
        if len(method) + len(target) + len(protocol) + 2 > limits.max_request_line:
            raise _Refused(414, "uwsgi REQUEST_URI too long")
        length = _content_length(variables.get("CONTENT_LENGTH", ""), limits.max_body)
        query = target.find(b"?")
        path = target if query < 0 else target[:query]
        query_string = variables.get("QUERY_STRING")
        if query_string is not None:
            query_bytes = query_string.encode("latin-1")
        else:
            query_bytes = b"" if query < 0 else target[query + 1 :]
        version = _VERSION.fullmatch(protocol)
        return UwsgiHead(
            method=method,
            target=target,
            path=path,
            query=query_bytes,
            version=f"{version[1]}.{version[2]}" if version else "1.0",
            headers=headers,
            body_kind=_LENGTH if length else _NO_BODY,
            content_length=length or None,
            variables=variables,
        )


def _packet_end(data: bytes | bytearray) -> int:
    """Where the packet whose 4-byte header starts `data` ends (the body is not counted)."""
    return HEADER_SIZE + (data[1] | data[2] << 8)


def _declared_length(block: bytes) -> int:
    """The body length a refused packet declares, when it says one: its bytes will follow."""
    try:
        names, values = _pairs(block)
    except _Refused:
        return 0  # no trustworthy length: nothing to wait for
    declared = dict(zip(names, values, strict=True)).get("CONTENT_LENGTH", "")  # the last
    if declared.isascii() and declared.isdigit() and len(declared) <= _MAX_LENGTH_DIGITS:
        return int(declared)
    return 0


def _not_a_request(modifier1: int) -> ProtocolError:
    if 0x41 <= modifier1 <= 0x5A:
        # A capital letter: most likely the method of an HTTP request.
        return ProtocolError(
            400, f"not a uwsgi packet (starts with {chr(modifier1)!r}: an HTTP client?)"
        )
    return ProtocolError(400, f"uwsgi modifier1 {modifier1} is not supported")


def _pairs(block: bytes) -> tuple[list[str], list[str]]:
    """The names and values of a variables block, in order, as latin-1 text (PEP 3333)."""
    # Decoded once: latin-1 maps each byte to one character, so the byte positions of the
    # lengths are the text's positions too, and no name or value is decoded on its own.
    text = block.decode("latin-1")
    names: list[str] = []
    values: list[str] = []
    pos, end = 0, len(block)
    while pos < end:
        if pos + 2 > end:
            raise _Refused(400, "uwsgi variables block ends inside a name's length")
        stop = pos + 2 + (block[pos] | block[pos + 1] << 8)
        if stop + 2 > end:
            raise _Refused(400, "uwsgi variable name runs past the variables block")
        names.append(text[pos + 2 : stop])
        pos = stop + 2 + (block[stop] | block[stop + 1] << 8)
        if pos > end:
            raise _Refused(400, "uwsgi variable value runs past the variables block")
        values.append(text[stop + 2 : pos])
    return names, values


def _variables(
    block: bytes, limits: ParserLimits
) -> tuple[dict[str, str], list[tuple[bytes, bytes]]]:
    """The variables as text (latin-1, as PEP 3333 wants) and the `HTTP_*` ones as header
    fields, checked against the limits."""
    names, values = _pairs(block)
    joined = " ".join(names)
    if names and (_NAMES.fullmatch(joined) is None or joined.count(" ") >= len(names)):
        raise _Refused(400, "uwsgi variable name empty or not printable ASCII")
    if _BREAKING.search(" ".join(values)) is not None:
        raise _Refused(400, "uwsgi variable value with NUL, CR or LF")
    variables: dict[str, str] = {}
    headers: list[tuple[bytes, bytes]] = []
    others = 0
    max_fields, max_field_size = limits.max_fields, limits.max_field_size
    for name, value in zip(names, values, strict=True):
        if name.startswith("HTTP_"):
            if len(headers) == max_fields:
                raise _Refused(431, "too many header fields (uwsgi HTTP_ variables)")
            if len(name) - 5 + len(value) > max_field_size:
                raise _Refused(431, f"header field too large (uwsgi {name})")
            field_name = name[5:].replace("_", "-").lower()
            headers.append((field_name.encode("ascii"), value.encode("latin-1")))
            earlier = variables.get(name)
            if earlier is not None:
                value = earlier + ("; " if name == "HTTP_COOKIE" else ", ") + value
        else:
            others += 1
            if others > MAX_OTHER_VARIABLES:
                detail = f"more than {MAX_OTHER_VARIABLES} uwsgi variables besides HTTP_"
                raise _Refused(431, detail)
        variables[name] = value
    return variables, headers


def _target(variables: dict[str, str]) -> bytes:
    """REQUEST_URI, or the request target PATH_INFO and QUERY_STRING make without it."""
    uri = variables.get("REQUEST_URI")
    if uri is not None:
        return uri.encode("latin-1")
    target = quote(variables.get("PATH_INFO", ""), safe="/;=,:@!$&'()*+~", encoding="latin-1")
    query = variables.get("QUERY_STRING")
    return (target + "?" + query if query else target).encode("latin-1")


def _content_length(text: str, max_body: int) -> int:
    if not text:
        return 0  # nginx sends CONTENT_LENGTH empty for a request without a body
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_LENGTH_DIGITS:
        raise _Refused(400, "uwsgi CONTENT_LENGTH is not a number")
    length = int(text)
    if max_body and length > max_body:
        raise _Refused(413, "request body too large")
    return length


class UwsgiConnection(ConnectionState):
    """The protocol state of one uwsgi connection, used by one thread at a time: the
    interface of `ServerConnection` (see there), for one request and no keep-alive.

    The body is gathered before the request runs as on HTTP (up to the body buffer; a
    larger one streams to the app as it reads). What the app left unread of it is read and
    dropped after the response (up to `MAX_DISCARD`), for the reason a refusal waits for
    its body: closing on unread bytes resets the connection, and the response with it."""

    __slots__ = (
        "_body",
        "_body_buffer",
        "_body_bytes",
        "_body_done",
        "_body_error",
        "_draining",
        "_error",
        "_parser",
        "_peer_closed",
        "request",
    )

    def __init__(
        self, limits: ParserLimits | None = None, body_buffer: int = DEFAULT_BODY_BUFFER
    ) -> None:
        self._parser = UwsgiParser(limits)
        self._body_buffer = body_buffer
        self._body: deque[bytes] = deque()
        self._body_bytes = 0
        self._body_done = False
        self._body_error: BodyError | None = None
        self._draining = False  # the response is out: dropping the rest of the body
        self._error: ProtocolError | None = None
        self._peer_closed = False
        self.continue_owed = False  # never: nginx answers Expect: 100-continue itself
        self.phase = FRESH
        self.request: UwsgiHead | None = None

    def receive(self, data: bytes) -> None:
        """What the peer sent; b"" when it closed its side of the connection."""
        if not data:
            self._peer_closed = True
            parser = self._parser
            if parser.discarding:
                self._error = parser.end()
            elif parser.has_partial_head:
                self._error = ProtocolError(400, "uwsgi packet cut short: the peer closed")
            elif self.request is not None and not self._body_done:
                self._body_error = BodyError(400, "client closed the connection mid-body")
            return
        for event in self._parser.feed(data):
            kind = type(event)
            if kind is BodyData:
                piece: bytes = event.data  # type: ignore[union-attr]
                if not self._draining:
                    self._body.append(piece)
                self._body_bytes += len(piece)
            elif kind is MessageEnd:
                self._body_done = True
            elif kind is UwsgiHead:
                self.request = event  # type: ignore[assignment]
            else:
                self._error = event  # type: ignore[assignment]

    def refuse_keep_alive(self) -> None:
        """Nothing to do: the connection closes after its one response anyway."""

    def release(self) -> None:
        """Nothing to do: the uwsgi parser holds no reference cycle."""

    def next_request(self) -> RequestHead | ProtocolError | None:
        """The request to run, a refusal to answer (then close), or None: wait for more
        bytes (`phase` says what for; CLOSED: close now)."""
        phase = self.phase
        if phase is CLOSED or phase is RUNNING:
            return None
        if self._draining:
            if self._body_done or self._peer_closed:
                self.phase = CLOSED
            return None
        if self._error is not None:
            self.phase = CLOSED
            return self._error
        head = self.request
        if head is None:
            if self._peer_closed:
                self.phase = CLOSED
            elif self._parser.discarding:
                self.phase = DISCARD  # the body of a refused packet: answered after it
            elif self._parser.has_partial_head:
                self.phase = HEAD
            return None
        if self._body_error is not None:
            self.phase = CLOSED
            return ProtocolError(self._body_error.status, self._body_error.detail)
        if self._gathering(head):
            self.phase = BODY
            return None
        self.phase = RUNNING
        return head

    def _gathering(self, head: UwsgiHead) -> bool:
        # As on HTTP: the app runs once the body is here, so a slow upload holds no thread;
        # a body larger than the buffer streams to the app as it reads.
        if self._body_done:
            return False
        if head.content_length is not None and head.content_length > self._body_buffer:
            return False
        return self._body_bytes <= self._body_buffer

    def refusal(self, error: ProtocolError, date: str) -> bytes:
        """The answer to a refused request, after which the connection closes."""
        self.phase = CLOSED
        return error_response(error.status, date, method=self._parser.method, version="1.0")

    def continue_bytes(self) -> bytes:
        return b""

    def read_body(self, max_bytes: int) -> bytes | None:
        """Up to `max_bytes` of the body; b"" at its end; None when more must be received.
        Raises `BodyError` when the peer left mid-body."""
        return read_queued_body(self._body, max_bytes, self._body_done, self._body_error)

    def end_request(self, keep_alive: bool) -> None:
        """The response is complete: the connection closes, once what is left of a body
        the app did not read has arrived (DISCARD meanwhile)."""
        head = self.request
        self.request = None
        self._body.clear()
        left = 0
        if head is not None and not self._body_done and self._body_error is None:
            left = (head.content_length or 0) - self._body_bytes
        if 0 < left <= MAX_DISCARD and not self._peer_closed:
            self._draining = True
            self.phase = DISCARD
        else:
            self.phase = CLOSED
