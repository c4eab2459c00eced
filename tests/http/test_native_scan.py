"""The compiled build's native head scan (pronghorn/http/_headscan.c) against llhttp's path.

The scan answers only for heads it is sure of and leaves the rest to the general path, so
the one property that matters is that a parser using it reports exactly what a parser
without it does, for any stream and any limits: every corpus case, near-valid heads drawn
by hypothesis (each part either plain or one of the ways it can go wrong), and pipelines
that mix scanned heads with heads llhttp reads. The tables below pin which heads it takes
and which it leaves, so that a scan that quietly gave up on everything would fail too.

Both runs of the suite run these tests. The compiled run takes the installed scan
(tests/test_build.py checks it is loaded there); the pure build has none, so the pure run
compiles the same C source here, once per test process, and hands it to the pure parser
(`RequestParser(scan=...)`), whose `_scanned_head` is then tested too (tests/nativebuild.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpusformat import unescape
from nativebuild import build_native
from pronghorn.http.events import BodyData, Event, MessageEnd, ProtocolError, RequestHead
from pronghorn.http.parser import HEAD_SCAN, HeadScan, ParserLimits, RequestParser
from wiregen import TCHAR


def _scan_of_this_run() -> HeadScan:
    """The installed scan (compiled build), or the same C source built here (pure run)."""
    if HEAD_SCAN is not None:
        return HEAD_SCAN
    scan_head: HeadScan = build_native("pronghorn.http._headscan").scan_head
    return scan_head


SCAN = _scan_of_this_run()

LINE = b"GET / HTTP/1.1\r\n"
CORPUS = Path(__file__).resolve().parent / "corpus"
DEFAULT = ParserLimits()
BOUNDS = (DEFAULT.max_request_line, DEFAULT.max_fields, DEFAULT.max_field_size, DEFAULT.max_head)


def scan(data: bytes, pos: int = 0, bounds: tuple[int, ...] = BOUNDS) -> Any:
    return SCAN(data, pos, bounds)


def described(event: Event) -> object:
    if isinstance(event, RequestHead):
        return (
            "head",
            event.method,
            event.target,
            event.path,
            event.query,
            event.version,
            list(event.headers),
            event.keep_alive,
            event.expect_continue,
            event.body_kind,
            event.content_length,
        )
    if isinstance(event, BodyData):
        return ("body", bytes(event.data))
    if isinstance(event, MessageEnd):
        return ("end", list(event.trailers))
    assert isinstance(event, ProtocolError)
    return ("error", event.status, event.detail)


def parse(stream: bytes, native: bool, limits: ParserLimits | None, pieces: list[bytes]) -> list:
    parser = RequestParser(limits, scan=SCAN if native else None)
    events: list[object] = []
    for piece in [*pieces, stream]:
        events += [described(e) for e in parser.feed(piece)]
    # Consecutive body pieces merged: the two paths may cut a body differently.
    merged: list[object] = []
    for event in events:
        if merged and isinstance(event, tuple) and event[0] == "body":
            last = merged[-1]
            if isinstance(last, tuple) and last[0] == "body":
                merged[-1] = ("body", last[1] + event[1])
                continue
        merged.append(event)
    return merged


def assert_same(stream: bytes, limits: ParserLimits | None = None) -> list:
    scanned = parse(stream, True, limits, [])
    assert scanned == parse(stream, False, limits, [])
    return scanned


# -- which heads the scan takes --------------------------------------------------------


def test_a_plain_head_is_scanned_into_its_parts() -> None:
    head = (
        b"POST /a/b?x=1 HTTP/1.1\r\nHost: example.com:80\r\nUser-Agent: t \t\r\n"
        b"X_Dropped: 1\r\nConnection: keep-alive\r\nExpect: 100-Continue\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 007\r\n\r\nbody..."
    )
    assert scan(head) == (
        head.index(b"body"),
        "POST",
        b"/a/b?x=1",
        "1.1",
        [
            (b"Host", b"example.com:80"),
            (b"User-Agent", b"t"),
            (b"Connection", b"keep-alive"),
            (b"Expect", b"100-Continue"),
            (b"Content-Type", b"text/plain"),
            (b"Content-Length", b"007"),
        ],
        7,
        0,
        b"keep-alive",
        b"100-Continue",
        7,
    )


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_every_plain_method_and_version_is_scanned(method: str, version: str) -> None:
    head = f"{method} / HTTP/{version}\r\n\r\n".encode()
    assert scan(head) == (len(head), method, b"/", version, [], 0, -1, b"", b"", None)


def test_a_head_after_others_is_scanned_from_its_position() -> None:
    first = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
    second = b"GET /2 HTTP/1.1\r\nHost: b\r\n\r\n"
    scanned = scan(first + second, len(first))
    assert scanned[0] == len(first + second) and scanned[2] == b"/2"


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(LINE + b"Host: a\r\n", id="no empty line yet"),
        pytest.param(b"FOO / HTTP/1.1\r\n\r\n", id="other method"),
        pytest.param(b"CONNECT a:1 HTTP/1.1\r\n\r\n", id="CONNECT"),
        pytest.param(b"get / HTTP/1.1\r\n\r\n", id="lower-case method"),
        pytest.param(b"GET  / HTTP/1.1\r\n\r\n", id="two spaces"),
        pytest.param(b"OPTIONS * HTTP/1.1\r\n\r\n", id="asterisk-form"),
        pytest.param(b"GET http://a/ HTTP/1.1\r\n\r\n", id="absolute-form"),
        pytest.param(b"GET /a#b HTTP/1.1\r\n\r\n", id="fragment"),
        pytest.param(b'GET /a"b HTTP/1.1\r\n\r\n', id="quote in target"),
        pytest.param(b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", id="non-ASCII target"),
        pytest.param(b"GET / HTTP/1.2\r\n\r\n", id="HTTP/1.2"),
        pytest.param(b"GET / HTTP/2.0\r\n\r\n", id="HTTP/2.0"),
        pytest.param(b"GET / HTTP/1.1 \r\n\r\n", id="space after version"),
        pytest.param(b"GET / HTTP/1.1\nHost: a\r\n\r\n", id="bare LF"),
        pytest.param(LINE + b"Host: a\r\n b\r\n\r\n", id="obs-fold"),
        pytest.param(LINE + b"Host : a\r\n\r\n", id="space before colon"),
        pytest.param(LINE + b": a\r\n\r\n", id="empty name"),
        pytest.param(LINE + b"A: \x80\r\n\r\n", id="obs-text value"),
        pytest.param(LINE + b"A: \x7f\r\n\r\n", id="DEL in value"),
        pytest.param(LINE + b"A: b\x00c\r\n\r\n", id="NUL in value"),
        pytest.param(LINE + b"A: b\rc\r\n\r\n", id="CR in value"),
        pytest.param(LINE + b"Host: a\r\nhost: a\r\n\r\n", id="two Host"),
        pytest.param(LINE + b"Connection: a\r\nConnection: b\r\n\r\n", id="two Connection"),
        pytest.param(LINE + b"Expect: a\r\nEXPECT: b\r\n\r\n", id="two Expect"),
        pytest.param(LINE + b"Content-Type: a\r\ncontent-type: b\r\n\r\n", id="two Content-Type"),
        pytest.param(
            LINE + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\n", id="two Content-Length"
        ),
        pytest.param(LINE + b"Content-Length: +1\r\n\r\n", id="signed CL"),
        pytest.param(LINE + b"Content-Length: 1 \r\n\r\n", id="CL with OWS"),
        pytest.param(LINE + b"Content-Length: \r\n\r\n", id="empty CL"),
        pytest.param(LINE + b"Content-Length: 1234567890123456789\r\n\r\n", id="19 digits"),
        pytest.param(LINE + b"Transfer-Encoding: chunked\r\n\r\n", id="TE"),
        pytest.param(LINE + b"upgrade: h2c\r\n\r\n", id="Upgrade"),
    ],
)
def test_a_head_that_is_not_plain_is_left_to_the_general_path(head: bytes) -> None:
    assert scan(head) is None
    assert_same(head)


@pytest.mark.parametrize(
    ("head", "bounds"),
    [
        pytest.param(b"GET /abc HTTP/1.1\r\n\r\n", (16, 100, 100, 1000), id="request line"),
        pytest.param(LINE + b"A: b\r\nC: d\r\n\r\n", (100, 1, 100, 1000), id="fields"),
        pytest.param(LINE + b"Ab: cd \r\n\r\n", (100, 100, 4, 1000), id="field size"),
        pytest.param(LINE + b"A: b\r\n\r\n", (100, 100, 100, 23), id="head size"),
    ],
)
def test_a_head_past_a_limit_is_left_to_the_general_path(
    head: bytes, bounds: tuple[int, int, int, int]
) -> None:
    assert scan(head, 0, bounds) is None
    inside = tuple(bound + 1 for bound in bounds)
    assert scan(head, 0, inside) is not None


# -- the two paths agree ---------------------------------------------------------------


@pytest.mark.parametrize(
    "case", sorted(CORPUS.glob("*/*.http")), ids=lambda path: f"{path.parent.name}/{path.stem}"
)
def test_every_corpus_case_parses_the_same_with_and_without_the_scan(case: Path) -> None:
    stream = unescape(case.read_text())
    assert_same(stream)
    assert_same(stream, ParserLimits(max_request_line=40, max_fields=4, max_field_size=40))


def test_a_scanned_head_with_a_body_leaves_llhttp_ready_for_the_next() -> None:
    """llhttp never sees a scanned head, so it must not be given its body either: the head
    after it, which llhttp reads (a chunked one), must parse as if it came first."""
    stream = (
        b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"GET /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    events = assert_same(stream)
    assert [e[2] for e in events if e[0] == "head"] == [b"/1", b"/2", b"/3", b"*"]
    assert [e for e in events if e[0] == "error"] == []


def test_a_refusal_after_the_scan_is_the_parsers_own() -> None:
    """What the scan cannot know: the Host value's syntax, the body limit, keep-alive."""
    assert assert_same(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n")[-1] == (
        "error",
        400,
        "malformed Host header",
    )
    assert assert_same(b"GET / HTTP/1.1\r\n\r\n")[-1] == ("error", 400, "missing Host header")
    limited = ParserLimits(max_body=3)
    refused = assert_same(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n", limited)
    assert refused[-1][:2] == ("error", 413)
    closing = assert_same(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.0\r\n\r\n")
    assert [e[7] for e in closing if e[0] == "head"] == [True, False]


_METHODS = st.sampled_from(
    ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "FOO", "get"]
)
_TARGETS = st.one_of(
    st.text("abz09-._~%!$&'()*+,;=:@/?", max_size=12).map(lambda t: "/" + t),
    st.sampled_from(["*", "http://a/b?c", "/a#b", "/a b", "/\x7f", "/\xe9", "/{x}", '/"', ""]),
)
_VERSIONS = st.sampled_from(
    ["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "HTTP/1.1 ", "http/1.1", "HTTP/11"]
)
_NAMES = st.one_of(
    st.text(TCHAR, min_size=1, max_size=8),
    st.sampled_from(
        [
            "Host",
            "host",
            "HOST",
            "Content-Length",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "CONNECTION",
            "Proxy-Connection",
            "Expect",
            "Upgrade",
            "Content-Type",
            "X_Y",
            "Bad Name",
            "",
            "Keep-Alive",
        ]
    ),
)
_VALUES = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=10),
    st.sampled_from(
        [
            "close",
            "keep-alive",
            "Keep-Alive, close",
            "upgrade",
            "100-continue",
            "5",
            "0",
            "05",
            "+5",
            "5 ",
            "1,2",
            "chunked",
            "a\x00b",
            "\x80\xff",
            "\x7f",
            "  x  ",
            "\tx\t",
            "",
            "example.com",
            "[::1]:80",
            "a b",
        ]
    ),
)
_SEPARATORS = st.sampled_from([":", ": ", ": ", ":\t", " :", ":  "])
_LINE_ENDS = st.sampled_from(["\r\n"] * 8 + ["\n", "\r\n ", "\r"])


@st.composite
def near_plain_requests(draw: st.DrawFn) -> bytes:
    """One request whose every part is usually plain, and sometimes one of its faults."""
    line = f"{draw(_METHODS)} {draw(_TARGETS)} {draw(_VERSIONS)}{draw(_LINE_ENDS)}"
    fields = draw(st.lists(st.tuples(_NAMES, _SEPARATORS, _VALUES, _LINE_ENDS), max_size=6))
    head = line + "".join(name + sep + value + end for name, sep, value, end in fields) + "\r\n"
    body = draw(st.sampled_from([b"", b"hello", b"3\r\nabc\r\n0\r\n\r\n"]))
    return head.encode("latin-1") + body


_LIMITS = st.one_of(
    st.none(),
    st.builds(
        ParserLimits,
        max_request_line=st.integers(8, 40),
        max_fields=st.integers(1, 6),
        max_field_size=st.integers(1, 30),
        max_body=st.integers(0, 8),
    ),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=st.lists(near_plain_requests(), min_size=1, max_size=3), limits=_LIMITS)
def test_near_plain_streams_parse_the_same_with_and_without_the_scan(
    requests: list[bytes], limits: ParserLimits | None
) -> None:
    assert_same(b"".join(requests), limits)


@settings(max_examples=300, deadline=None)
@given(requests=st.lists(near_plain_requests(), min_size=1, max_size=3), cut=st.integers(1, 80))
def test_a_stream_in_two_reads_parses_the_same_with_and_without_the_scan(
    requests: list[bytes], cut: int
) -> None:
    stream = b"".join(requests)
    pieces = [stream[:cut]]
    rest = stream[cut:]
    assert parse(rest, True, None, pieces) == parse(rest, False, None, pieces)


def test_llhttp_is_made_only_for_a_head_the_scan_leaves() -> None:
    """Making an llhttp parser costs ~3k instructions compiled, once a connection: a
    connection of plain heads never needs one (white-box: the cost is the point)."""
    import pronghorn.http.parser as parser_module

    parser = RequestParser(scan=SCAN)
    plain = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    events = parser.feed(plain + b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
    assert [type(e).__name__ for e in events] == [
        "RequestHead",
        "MessageEnd",
        "RequestHead",
        "BodyData",
        "MessageEnd",
    ]
    assert parser._llhttp is parser_module._SPENT_LLHTTP
    events = parser.feed(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(events[0], RequestHead) and events[0].target == b"*"
    assert parser._llhttp is not parser_module._SPENT_LLHTTP


def test_a_field_name_seen_before_is_handed_out_again() -> None:
    """Names repeat from request to request: the scan gives the same bytes object (not
    allocated, and its hash kept for the environ's lookups)."""
    first = scan(LINE + b"Host: a\r\nX-Trace: 1\r\n\r\n")[4]
    second = scan(LINE + b"Host: b\r\nX-Trace: 2\r\n\r\n")[4]
    assert [name for name, _ in first] == [b"Host", b"X-Trace"]
    assert all(a[0] is b[0] for a, b in zip(first, second, strict=True))


def test_names_that_take_each_others_place_come_back_as_sent() -> None:
    """The table of names is small: many names in turn keep replacing one another, and every
    head still gets its own names."""
    for n in range(2000):
        names = [f"X-{n}-{i}".encode() for i in range(5)]
        head = LINE + b"".join(name + b": v\r\n" for name in names) + b"\r\n"
        assert [name for name, _ in scan(head)[4]] == names
