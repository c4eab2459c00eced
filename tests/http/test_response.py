"""Response framing (`plan_response`), the error responses we write, and chunk encoding."""

from __future__ import annotations

import locale
from dataclasses import dataclass, field
from email.utils import formatdate

import pytest

from pronghorn.http.response import (
    CONTINUE_100,
    LAST_CHUNK,
    Framing,
    chunk_header,
    encode_chunk,
    error_response,
    fixed_head_end,
    fixed_head_start,
    http_date,
    plan_response,
    status_code,
)

DATE = "Sun, 06 Nov 1994 08:49:37 GMT"


@dataclass(frozen=True)
class Case:
    name: str
    framing: Framing
    keep_alive: bool
    sends_body: bool
    length: int | None
    method: str = "GET"
    version: str = "1.1"
    request_keep_alive: bool = True
    status: str = "200 OK"
    headers: tuple[tuple[str, str], ...] = ()
    body_length: int | None = None
    present: tuple[str, ...] = ()  # header lines that must be in the head
    absent: tuple[str, ...] = ()  # header names (lower-case) that must not be
    extra: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "known_length",
        Framing.LENGTH,
        True,
        True,
        5,
        body_length=5,
        present=("Content-Length: 5",),
        absent=("transfer-encoding", "connection"),
    ),
    Case(
        "app_content_length",
        Framing.LENGTH,
        True,
        True,
        7,
        headers=(("Content-Length", "7"),),
        body_length=3,
        present=("Content-Length: 7",),
    ),
    Case(
        "chunked_on_11",
        Framing.CHUNKED,
        True,
        True,
        None,
        present=("Transfer-Encoding: chunked",),
        absent=("content-length",),
    ),
    Case(
        "close_delimited_on_10",
        Framing.CLOSE,
        False,
        True,
        None,
        version="1.0",
        request_keep_alive=False,
        absent=("transfer-encoding", "content-length", "connection"),
    ),
    Case(
        "keep_alive_10_unknown_length_closes",
        Framing.CLOSE,
        False,
        True,
        None,
        version="1.0",
        absent=("transfer-encoding", "connection"),
    ),
    Case(
        "keep_alive_10_known_length",
        Framing.LENGTH,
        True,
        True,
        2,
        version="1.0",
        body_length=2,
        present=("Connection: keep-alive", "Content-Length: 2"),
    ),
    Case(
        "head_known_length",
        Framing.LENGTH,
        True,
        False,
        10,
        method="HEAD",
        headers=(("Content-Length", "10"),),
        present=("Content-Length: 10",),
    ),
    Case("head_unknown_length", Framing.CHUNKED, True, False, None, method="HEAD"),
    Case(
        "no_content_204",
        Framing.NO_BODY,
        True,
        False,
        None,
        status="204 No Content",
        headers=(("Content-Length", "0"),),
        absent=("content-length", "transfer-encoding"),
    ),
    Case(
        "not_modified_304",
        Framing.NO_BODY,
        True,
        False,
        12,
        status="304 Not Modified",
        headers=(("Content-Length", "12"),),
        absent=("transfer-encoding",),
    ),
    Case(
        "informational_1xx",
        Framing.NO_BODY,
        True,
        False,
        None,
        status="103 Early Hints",
        headers=(("Link", "</s.css>; rel=preload"),),
        absent=("content-length", "transfer-encoding"),
    ),
    Case(
        "app_connection_close",
        Framing.LENGTH,
        False,
        True,
        1,
        body_length=1,
        headers=(("Connection", "close"),),
        present=("Connection: close",),
    ),
    Case(
        "request_close_11",
        Framing.CHUNKED,
        False,
        True,
        None,
        request_keep_alive=False,
        present=("Connection: close", "Transfer-Encoding: chunked"),
    ),
    Case(
        "app_date_and_server_kept",
        Framing.LENGTH,
        True,
        True,
        0,
        body_length=0,
        headers=(("date", "x"), ("SERVER", "app")),
        present=("date: x", "SERVER: app"),
        absent=(),
    ),
]


def _lines(head: bytes) -> list[str]:
    assert head.endswith(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n")[:-2]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_response(case: Case) -> None:
    plan = plan_response(
        method=case.method,
        request_version=case.version,
        request_keep_alive=case.request_keep_alive,
        status=case.status,
        headers=list(case.headers),
        date=DATE,
        body_length=case.body_length,
    )
    lines = _lines(plan.head)
    assert lines[0] == f"HTTP/1.1 {case.status}"
    assert (plan.framing, plan.keep_alive, plan.sends_body, plan.content_length) == (
        case.framing,
        case.keep_alive,
        case.sends_body,
        case.length,
    )
    for line in case.present:
        assert line in lines, (line, lines)
    names = [line.split(":", 1)[0].lower() for line in lines[1:]]
    for name in case.absent:
        assert name not in names, (name, lines)
    assert names.count("date") == 1 and names.count("server") == 1
    for name in ("content-length", "transfer-encoding", "connection"):
        assert names.count(name) <= 1, lines
    if "date" not in {n.lower() for n, _ in case.headers}:
        assert f"Date: {DATE}" in lines
    if "server" not in {n.lower() for n, _ in case.headers}:
        assert "Server: pronghorn" in lines


def test_header_order_and_case_are_kept() -> None:
    plan = plan_response(
        method="GET",
        request_version="1.1",
        request_keep_alive=True,
        status="200 OK",
        headers=[("X-B", "2"), ("x-a", "1")],
        date=DATE,
        body_length=0,
    )
    lines = _lines(plan.head)
    assert lines.index("X-B: 2") < lines.index("x-a: 1")


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (400, "Bad Request"),
        (413, "Request Entity Too Large"),
        (414, "Request-URI Too Long"),
        (431, "Request Header Fields Too Large"),
        (501, "Not Implemented"),
        (505, "HTTP Version Not Supported"),
        (599, "Error"),
    ],
)
@pytest.mark.parametrize("keep_alive", [False, True])
def test_error_response(status: int, phrase: str, keep_alive: bool) -> None:
    raw = error_response(status, DATE, keep_alive=keep_alive)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    assert lines[0] == f"HTTP/1.1 {status} {phrase}"
    assert f"Content-Length: {len(body)}" in lines
    assert body == f"{status} {phrase}\n".encode()
    assert f"Date: {DATE}" in lines and "Server: pronghorn" in lines
    assert ("Connection: close" in lines) is not keep_alive


@pytest.mark.parametrize(
    ("data", "wire"),
    [
        (b"hello", b"5\r\nhello\r\n"),
        (b"x" * 26, b"1a\r\n" + b"x" * 26 + b"\r\n"),
        (b"\r\n", b"2\r\n\r\n\r\n"),
    ],
)
def test_chunks(data: bytes, wire: bytes) -> None:
    assert encode_chunk(data) == wire
    assert chunk_header(len(data)) + data + b"\r\n" == wire


@pytest.mark.parametrize("version", ["1.1", "1.0"])
@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200 OK", [("Content-Type", "text/plain"), ("ETag", '"1"'), ("Content-Length", "12")]),
        ("200 OK", [("Content-Length", "0")]),
        ("304 Not Modified", [("ETag", '"1"'), ("Cache-Control", "no-cache")]),
        ("304 Not Modified", []),
    ],
)
def test_fixed_head_is_what_plan_response_makes(
    status: str, headers: list[tuple[str, str]], method: str, keep_alive: bool, version: str
) -> None:
    plan = plan_response(
        method=method,
        request_version=version,
        request_keep_alive=keep_alive,
        status=status,
        headers=headers,
        date=DATE,
        body_length=None,
    )
    fixed = fixed_head_start(status, headers) + DATE.encode() + fixed_head_end(version, keep_alive)
    assert fixed == plan.head
    assert plan.keep_alive is keep_alive


def test_http_date_is_formatdate() -> None:
    stamps: list[float] = [0, 1, 59, 86399, 951782400, 951868799, 2147483647, 4102444800]
    stamps += [253402300799, 1.5, 784111777.9999996, 1764470000.25]
    stamps += range(784111777, 784111777 + 400 * 86400, 86400 * 7 + 3607)
    for stamp in stamps:
        assert http_date(stamp) == formatdate(stamp, usegmt=True), stamp


def test_http_date_ignores_the_locale() -> None:
    saved = locale.setlocale(locale.LC_TIME)
    for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8"):
        try:
            locale.setlocale(locale.LC_TIME, name)
        except locale.Error:
            continue
        try:
            assert http_date(784111777) == DATE
        finally:
            locale.setlocale(locale.LC_TIME, saved)


def test_constants_and_small_helpers() -> None:
    assert LAST_CHUNK == b"0\r\n\r\n"
    assert CONTINUE_100 == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert chunk_header(255) == b"ff\r\n"
    assert status_code("404 Not Found") == 404
    assert http_date(784111777) == DATE


def test_connection_close_is_a_token_not_a_substring() -> None:
    plan = plan_response(
        method="GET",
        request_version="1.1",
        request_keep_alive=True,
        status="200 OK",
        headers=[("Connection", "closed-caption")],
        date=DATE,
        body_length=0,
    )
    assert plan.keep_alive
    assert b"Connection" not in plan.head
