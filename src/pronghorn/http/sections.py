"""Field sections the parser cannot take in one piece: a request head that arrives over
several reads, and the trailer section after a chunked body.

Owns `PartialHead` (what is kept of a head while it arrives: the request line until its
method is known, the last bytes, and counts against the limits, so that nothing grows with
the head beyond one line) and `parse_trailers` (a whole trailer section checked by llhttp
with the grammar of a header section, counted against the header limits).
"""

from __future__ import annotations

import re
from typing import Final

import httptools

from pronghorn.http.events import ProtocolError
from pronghorn.http.limits import ParserLimits

TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A token (RFC 9110 section 5.6.2): a method, a field name."""
OWS: Final = b" \t"
_TRAILER_HEAD: Final = b"POST / HTTP/1.1\r\n"
_FRAMING_FIELDS: Final = frozenset({b"content-length", b"transfer-encoding"})


class _Refused(Exception):
    """Raised inside a callback to stop llhttp; the refusal is kept on the collector."""


class PartialHead:
    """What is kept of a head that arrives in several reads: the request line until its
    method is known, the last bytes (to find the empty line across reads) and counts for
    the limits. llhttp keeps the rest; nothing grows with the head beyond one line."""

    __slots__ = ("_held", "_line_done", "_line_size", "_size", "_tail", "started")

    def __init__(self) -> None:
        self._held = b""  # bytes not yet given to llhttp (only until `started`)
        self._tail = b""
        self._size = 0
        self._line_size = 0
        self._line_done = False
        self.started = False

    def find_end(self, data: bytes, pos: int) -> int:
        """Where in `data` the head's empty line ends, or -1."""
        tail = self._tail
        if tail:
            window = tail + data[pos : pos + 4]
            at = window.find(b"\r\n\r\n")
            if at >= 0:
                return pos + at + 4 - len(tail)
        at = data.find(b"\r\n\r\n", pos)
        return at + 4 if at >= 0 else -1

    def add(self, data: bytes, pos: int, stop: int, limits: ParserLimits) -> tuple[int, str] | None:
        """Count `data[pos:stop]` into the head; the status and reason if a limit trips."""
        size = stop - pos
        before = self._size
        self._size = before + size
        if not self.started:
            self._held += data[pos:stop]
        self._tail = (self._tail + data[max(pos, stop - 3) : stop])[-3:]
        newline = data.rfind(b"\n", pos, stop)
        if not self._line_done:
            first = data.find(b"\n", pos, stop)
            # Without its LF yet, the last byte may be the CR that ends the line.
            line = before + (first - pos) - 1 if first >= 0 else self._size - 1
            if line > limits.max_request_line:
                return 414, "request line too long"
            self._line_done = first >= 0
        self._line_size = stop - newline - 1 if newline >= 0 else self._line_size + size
        if self._line_size > limits.max_line:
            return 431, "header field line too large"
        if self._size > limits.max_head:
            return 431, "request header section too large"
        return None

    def request_line(self) -> bytes | None:
        """The request line up to its CRLF, once the method and its SP have arrived."""
        held = self._held
        space = held.find(b" ")
        end = held.find(b"\r\n")
        if space < 0 and end < 0:
            if held and TOKEN.fullmatch(held) is None:
                return held  # not a method: `_begin_head` refuses it now
            return None
        return held[:end] if end >= 0 else held

    def take_held(self) -> bytes:
        held, self._held = self._held, b""
        return held


class _TrailerFields:
    """llhttp's protocol for a trailer section: collect the fields, within the limits."""

    def __init__(self, limits: ParserLimits, count: int) -> None:
        self.limits = limits
        self.fields: list[tuple[bytes, bytes]] = []
        self.count = count
        self.complete = False
        self.refusal: ProtocolError | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.count += 1
        if self.count > self.limits.max_fields:
            self.refusal = ProtocolError(431, "too many trailer fields")
        elif len(name) + len(value) > self.limits.max_field_size:
            self.refusal = ProtocolError(431, "trailer field too large")
        elif name.lower() in _FRAMING_FIELDS:
            # RFC 9110 section 6.5.1: framing fields are never trailers; one there is an
            # attempt to reframe the message.
            self.refusal = ProtocolError(400, "framing field in the trailer section")
        if self.refusal is not None:
            raise _Refused(self.refusal.detail)
        if name.find(b"_") < 0:
            self.fields.append((name, value.rstrip(OWS)))

    def on_headers_complete(self) -> None:
        self.complete = True


def parse_trailers(
    section: bytes, limits: ParserLimits, head_fields: int
) -> list[tuple[bytes, bytes]] | ProtocolError:
    """The fields of a whole trailer section (ending in its empty line), checked by llhttp
    with the grammar of a header section, or the error to answer. Trailer fields count
    against --limit-request-fields together with the `head_fields`."""
    collector = _TrailerFields(limits, head_fields)
    llhttp = httptools.HttpRequestParser(collector)
    try:
        llhttp.feed_data(_TRAILER_HEAD + section)
    except httptools.HttpParserUpgrade:
        pass
    except httptools.HttpParserError as exc:
        return collector.refusal or ProtocolError(400, f"malformed trailer section: {exc}")
    if not collector.complete:
        return ProtocolError(400, "malformed trailer section")
    return collector.fields
