"""Response framing and serialisation: what goes on the wire before and around a body.

Owns the decisions RFC 9112 section 6 leaves to the server: Content-Length vs chunked vs
close-delimited, no body for HEAD/1xx/204/304, the Connection header, Date and Server.
The caller supplies the headers (already validated) and, when it knows it, the whole
body's length; it gets back the head bytes and how to frame what follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from http import HTTPStatus
from typing import Final

CONTINUE_100: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK: Final = b"0\r\n\r\n"
CRLF: Final = b"\r\n"
SERVER_NAME: Final = "pronghorn"
# len("date"), len("server"), len("connection"), len("content-length")
_SPECIAL_NAME_LENGTHS: Final = frozenset({4, 6, 10, 14})


class Framing(Enum):
    """How the response body is delimited on the wire."""

    NO_BODY = 0
    LENGTH = 1
    CHUNKED = 2
    CLOSE = 3


# Enum members bound once: on Python 3.11 each `Enum.MEMBER` read goes through
# EnumType.__getattr__, a Python-level call (0.13 µs), several times a request.
# One `Final` name each (compiled, other module names are dict lookups at every use).
_NO_BODY: Final = Framing.NO_BODY
_LENGTH: Final = Framing.LENGTH
_CHUNKED: Final = Framing.CHUNKED
_CLOSE: Final = Framing.CLOSE


@dataclass(frozen=True, slots=True)
class ResponsePlan:
    """The serialised head and how the body that follows must be framed (shared: a
    worker reuses the plan of a response it repeats, see `pronghorn.wsgi.head_memo`)."""

    head: bytes
    framing: Framing
    keep_alive: bool
    sends_body: bool
    content_length: int | None


_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def http_date(timestamp: float) -> str:
    """An IMF-fixdate for a wall-clock timestamp, as Date and Last-Modified want.

    What `email.utils.formatdate(timestamp, usegmt=True)` makes, from the same `datetime`
    conversion, at a third of its cost (every static file's Last-Modified pays it); our own
    day and month names, as strftime's %a/%b follow the locale.
    """
    t = datetime.fromtimestamp(timestamp, UTC)
    return (
        f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT"
    )


def status_code(status: str) -> int:
    """The integer code of a WSGI status line like "200 OK"; the caller has validated it."""
    return int(status[:3])


def plan_response(
    *,
    method: str,
    request_version: str,
    request_keep_alive: bool,
    status: str,
    headers: list[tuple[str, str]],
    date: str,
    body_length: int | None,
    chunked: bool = True,
) -> ResponsePlan:
    """Decide framing and serialise the head of a response to one request.

    `body_length` is the length of the whole body when the caller already has all of it
    (a single-chunk or list body), else None. `chunked` False: the connection cannot carry
    chunked encoding (uwsgi), so a body of unknown length is delimited by closing.
    """
    code = status_code(status)
    keep_alive = request_keep_alive
    app_length: int | None = None
    has_date = has_server = False
    out = ["HTTP/1.1 ", status, "\r\n"]
    for name, value in headers:
        # Only four names matter here; their lengths rule out most others without lower().
        if len(name) not in _SPECIAL_NAME_LENGTHS:
            out += (name, ": ", value, "\r\n")
            continue
        lname = name.lower()
        if lname == "content-length":
            app_length = int(value)
            if code == 204 or code < 200:
                continue
        elif lname == "connection":
            if any(t.strip().lower() == "close" for t in value.split(",")):
                keep_alive = False
            continue
        elif lname == "date":
            has_date = True
        elif lname == "server":
            has_server = True
        out += (name, ": ", value, "\r\n")
    if not has_date:
        out += ("Date: ", date, "\r\n")
    if not has_server:
        out += ("Server: ", SERVER_NAME, "\r\n")

    framing, length = _choose_framing(
        code, request_version if chunked else "1.0", app_length, body_length
    )
    if framing is _LENGTH and app_length is None:
        out += ("Content-Length: ", str(length), "\r\n")
    elif framing is _CHUNKED:
        out.append("Transfer-Encoding: chunked\r\n")
    elif framing is _CLOSE:
        keep_alive = False
    sends_body = method != "HEAD" and framing is not _NO_BODY
    if request_version == "1.1":
        if not keep_alive:
            out.append("Connection: close\r\n")
    elif keep_alive:
        out.append("Connection: keep-alive\r\n")
    out.append("\r\n")
    return ResponsePlan(
        head="".join(out).encode("latin-1"),
        framing=framing,
        keep_alive=keep_alive,
        sends_body=sends_body,
        content_length=length,
    )


def fixed_head_start(status: str, headers: list[tuple[str, str]]) -> bytes:
    """The head of a response whose framing the caller settled, up to the Date value.

    For responses built once and sent many times (the static-file cache): `headers` carry
    no Date, Server, Connection or Transfer-Encoding, and either a Content-Length or a
    status without a body (304). `fixed_head_start(...) + date + fixed_head_end(...)` is
    then byte for byte what `plan_response` makes of the same arguments.
    """
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers])
    return f"HTTP/1.1 {status}\r\n{lines}Date: ".encode("latin-1")


_FIXED_ENDS: Final = {
    (True, True): f"\r\nServer: {SERVER_NAME}\r\n\r\n".encode("latin-1"),
    (True, False): f"\r\nServer: {SERVER_NAME}\r\nConnection: close\r\n\r\n".encode("latin-1"),
    (False, True): f"\r\nServer: {SERVER_NAME}\r\nConnection: keep-alive\r\n\r\n".encode("latin-1"),
    (False, False): f"\r\nServer: {SERVER_NAME}\r\n\r\n".encode("latin-1"),
}


def fixed_head_end(request_version: str, keep_alive: bool) -> bytes:
    """What follows the Date value in a `fixed_head_start` head: Server, Connection, CRLF."""
    return _FIXED_ENDS[request_version == "1.1", keep_alive]


def _choose_framing(
    code: int, version: str, app_length: int | None, body_length: int | None
) -> tuple[Framing, int | None]:
    if code < 200 or code == 204:
        return _NO_BODY, None  # its Content-Length is dropped (RFC 9110 8.6)
    if code == 304:
        return _NO_BODY, app_length  # the length the 200 would have had
    if app_length is not None:
        return _LENGTH, app_length
    if body_length is not None:
        return _LENGTH, body_length
    if version == "1.1":
        return _CHUNKED, None
    return _CLOSE, None


def chunk_header(size: int) -> bytes:
    """The line that opens a chunk of `size` bytes (the chunk data and CRLF follow)."""
    return b"%x\r\n" % size


def encode_chunk(data: bytes) -> bytes:
    """One whole chunk; for large data prefer `chunk_header` + data + CRLF, uncopied."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def error_response(
    status: int,
    date: str,
    *,
    method: str = "GET",
    version: str = "1.1",
    keep_alive: bool = False,
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A complete small text response for answers we make ourselves (4xx/5xx), to a
    request with this method and version: the one place such an answer is built.

    An answer to HEAD carries no body (only the length a GET would get), or the client
    would read it as the start of the next response; the Connection header says what
    happens next, as `plan_response` does for the app's answers.
    """
    body = error_body(status)
    lines = [
        f"HTTP/1.1 {status} {_phrase(status)}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
    ]
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    lines.append(f"Date: {date}\r\nServer: {SERVER_NAME}\r\n")
    if not keep_alive:
        lines.append("Connection: close\r\n")
    elif version != "1.1":
        lines.append("Connection: keep-alive\r\n")
    head = ("".join(lines) + "\r\n").encode("latin-1")
    return head if method == "HEAD" else head + body


def error_body(status: int) -> bytes:
    """The text body of `error_response` for this status."""
    return f"{status} {_phrase(status)}\n".encode("ascii")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
