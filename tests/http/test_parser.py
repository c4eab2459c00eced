"""Parser limits at their exact boundaries, and the memory bound on unfinished heads."""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import dataclass

import pytest
from eventlog import feed_pieces, summarise

from pronghorn.http.events import BodyKind, MessageEnd, ProtocolError, RequestHead
from pronghorn.http.parser import MAX_CHUNK_LINE, HostMemo, ParserLimits, RequestParser


def _get(target: bytes = b"/", fields: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n"


def _post_length(body: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)


def _post_chunked(body: bytes, size: int = 3) -> bytes:
    chunks = b"".join(
        b"%x\r\n%b\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    )
    return (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )


def _fields(count: int) -> bytes:
    return b"".join(b"X-%d: v\r\n" % i for i in range(count))


@dataclass(frozen=True)
class Boundary:
    name: str
    limits: ParserLimits
    at_limit: bytes
    over_limit: bytes
    status: int


N = 64
BOUNDARIES = [
    # The whole request line counts: "GET " + target + " HTTP/1.1" (RFC 9112 section 3).
    Boundary(
        "request_line",
        ParserLimits(max_request_line=N),
        _get(b"/" + b"a" * (N - 14)),
        _get(b"/" + b"a" * (N - 13)),
        414,
    ),
    Boundary(
        "fields", ParserLimits(max_fields=5), _get(fields=_fields(4)), _get(fields=_fields(5)), 431
    ),
    # name + value: "X" + value
    Boundary(
        "field_size",
        ParserLimits(max_field_size=N),
        _get(fields=b"X: " + b"v" * (N - 1) + b"\r\n"),
        _get(fields=b"X: " + b"v" * N + b"\r\n"),
        431,
    ),
    Boundary(
        "field_size_host",
        ParserLimits(max_field_size=N),
        b"GET / HTTP/1.1\r\nHost: " + b"h" * (N - 4) + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: " + b"h" * (N - 3) + b"\r\n\r\n",
        431,
    ),
    Boundary(
        "body_length",
        ParserLimits(max_body=N),
        _post_length(b"b" * N),
        _post_length(b"b" * (N + 1)),
        413,
    ),
    Boundary(
        "body_chunked",
        ParserLimits(max_body=N),
        _post_chunked(b"b" * N),
        _post_chunked(b"b" * (N + 1)),
        413,
    ),
    Boundary(
        "trailer_fields",
        ParserLimits(max_fields=3),
        _post_chunked(b"abc").replace(b"0\r\n\r\n", b"0\r\nT: 1\r\n\r\n"),
        _post_chunked(b"abc").replace(b"0\r\n\r\n", b"0\r\nT: 1\r\nU: 2\r\n\r\n"),
        431,
    ),
]


@pytest.mark.parametrize("case", BOUNDARIES, ids=[b.name for b in BOUNDARIES])
@pytest.mark.parametrize("piece", [None, 1, 7])
def test_limit_boundary(case: Boundary, piece: int | None) -> None:
    def run(data: bytes) -> tuple[int, ProtocolError | None]:
        pieces = [len(data)] if piece is None else [piece] * (len(data) // piece)
        outcome = feed_pieces(data, pieces, case.limits)
        complete = sum(1 for r in outcome.requests if r.trailers is not None)
        return complete, outcome.error

    assert run(case.at_limit) == (1, None)
    complete, error = run(case.over_limit)
    assert complete == 0
    assert error is not None and error.status == case.status


def test_chunked_body_over_limit_delivers_exactly_the_limit() -> None:
    data = _post_chunked(b"0123456789" * 3, size=7)
    for piece in (1, 5, len(data)):
        outcome = feed_pieces(data, [piece] * (len(data) // piece), ParserLimits(max_body=12))
        assert bytes(outcome.requests[0].body) == b"012345678901"
        assert outcome.error is not None and outcome.error.status == 413


def _trickle(parser: RequestParser, data: bytes, piece: int) -> tuple[int, ProtocolError | None]:
    """Feed `data` in `piece`-sized parts; return how much was fed and the error, if any."""
    for offset in range(0, len(data), piece):
        for event in parser.feed(data[offset : offset + piece]):
            if isinstance(event, ProtocolError):
                return offset + piece, event
    return len(data), None


MIB = 1 << 20
KIB = 1 << 10


@pytest.mark.parametrize(
    "prefix",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-",  # a never-ending field name
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: ",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nX: ",  # second request
    ],
    ids=["value", "name", "trailer", "pipelined"],
)
def test_endless_field_is_refused_with_bounded_memory(prefix: bytes) -> None:
    limits = ParserLimits()
    data = prefix + b"v" * MIB
    parser = RequestParser(limits)
    tracemalloc.start()
    try:
        fed, error = _trickle(parser, data, KIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error is not None and error.status == 431
    # Refused within one line limit plus one read, long before the whole megabyte.
    assert fed <= len(prefix) + limits.max_line + 2 * KIB
    assert peak < 4 * limits.max_line + 64 * KIB


def test_whole_head_too_large_in_tiny_pieces() -> None:
    # Every field is within its limit, but the section keeps growing: fail at max_head.
    limits = ParserLimits(max_fields=10_000, max_field_size=100)
    line = b"X-Field: " + b"v" * 80 + b"\r\n"
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + line * 20_000
    fed, error = _trickle(RequestParser(limits), data, 64)
    assert error is not None and error.status == 431
    assert fed <= limits.max_head + 2 * KIB


def test_leading_empty_lines_forever_are_refused() -> None:
    fed, error = _trickle(RequestParser(), b"\r\n" * MIB, KIB)
    assert error is not None and error.status == 431
    assert fed < MIB


def test_parser_is_dead_after_error() -> None:
    parser = RequestParser()
    (error,) = parser.feed(b"GET / HTTP/1.1\r\nX : y\r\n\r\n")
    assert isinstance(error, ProtocolError) and error.status == 400
    assert parser.failed
    assert parser.feed(_get()) == []


def test_closed_after_connection_close() -> None:
    parser = RequestParser()
    outcome = summarise(parser.feed(_get(fields=b"Connection: close\r\n") + _get()))
    assert len(outcome.requests) == 1 and outcome.error is None
    assert parser.closed and not parser.failed
    assert parser.feed(_get()) == []


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET\x01/ HTTP/1.1\r\n", 400),  # a method not followed by SP
        (b"bla:rgh /foo HTTP/1.1\r\n", 400),  # ":" is not a tchar: not a method
        (b"(GET) / HTTP/1.1\r\n", 400),
        (b" GET / HTTP/1.1\r\n", 400),  # no method at all
        (b"GET\r\n", 400),
        (b"CONNECT a:443 HTTP/1.1\r\n", 501),
    ],
)
def test_method_errors(raw: bytes, status: int) -> None:
    for piece in (1, len(raw)):
        outcome = feed_pieces(raw + b"Host: a\r\n\r\n", [piece] * (len(raw) // piece))
        assert outcome.error is not None and outcome.error.status == status


@pytest.mark.parametrize(
    ("second_host", "valid"),
    [(b"a", True), (b"b.example:8080", True), (b"a b", False), (b"a@b", False), (b"a/", False)],
)
def test_every_host_of_a_connection_is_checked(second_host: bytes, valid: bool) -> None:
    """The parser skips matching a Host equal to the last valid one: a different one, on
    the same connection, is still matched (and refused when malformed)."""
    first = _get(fields=b"")  # Host: a
    second = b"GET /2 HTTP/1.1\r\nHost: " + second_host + b"\r\n\r\n"
    for together in (True, False):
        parser = RequestParser()
        events = (
            parser.feed(first + second) if together else [*parser.feed(first), *parser.feed(second)]
        )
        outcome = summarise(events)
        if valid:
            assert outcome.error is None
            assert [r.head.target for r in outcome.requests] == [b"/", b"/2"]
        else:
            assert outcome.error is not None and outcome.error.status == 400
            assert [r.head.target for r in outcome.requests] == [b"/"]


@pytest.mark.parametrize(
    ("second_host", "valid"),
    [(b"a", True), (b"b.example:8080", True), (b"a b", False), (b"a@b", False), (b"a/", False)],
)
def test_parsers_sharing_a_host_memo_match_every_other_host(
    second_host: bytes, valid: bool
) -> None:
    """A listener's connections share a HostMemo: the next connection skips matching the
    Host the last one found valid, still matches any other, and the memo keeps only values
    that matched."""
    memo = HostMemo()
    assert summarise(RequestParser(hosts=memo).feed(_get())).error is None
    assert memo.valid == b"a"
    second = RequestParser(hosts=memo)
    outcome = summarise(second.feed(b"GET /2 HTTP/1.1\r\nHost: " + second_host + b"\r\n\r\n"))
    if valid:
        assert outcome.error is None and [r.head.target for r in outcome.requests] == [b"/2"]
        assert memo.valid == second_host
    else:
        assert outcome.error is not None and outcome.error.status == 400
        assert outcome.requests == [] and memo.valid == b"a"


@pytest.mark.parametrize(
    ("version", "expected"),
    [(b"1.1", "1.1"), (b"1.0", "1.0"), (b"1.2", "1.1"), (b"1.9", "1.1")],
)
@pytest.mark.parametrize("target", [b"/", b"/HTTP/1.0", b"/a?b=HTTP/1.1", b"*"])
@pytest.mark.parametrize("blank_lines", [b"", b"\r\n\r\n"])
def test_the_version_is_read_after_the_target(
    version: bytes, expected: str, target: bytes, blank_lines: bytes
) -> None:
    """The parser reads "1.1" from the bytes after the target (others from llhttp):
    whatever the target holds, and after empty lines, each request gets its version."""
    method = b"OPTIONS" if target == b"*" else b"GET"
    raw = method + b" " + target + b" HTTP/" + version + b"\r\nHost: a\r\n\r\n"
    for count in (1, 2):
        outcome = summarise(RequestParser().feed(blank_lines + raw * count))
        assert outcome.error is None
        # An HTTP/1.0 request without keep-alive is the connection's last.
        answered = 1 if expected == "1.0" else count
        assert [r.head.version for r in outcome.requests] == [expected] * answered


@pytest.mark.parametrize("piece", [1, 7, 20])
def test_a_head_in_pieces_is_not_read_as_the_last_whole_one(piece: int) -> None:
    """A whole HTTP/1.1 head, then one of the same shape as HTTP/1.0 in pieces: the second
    is read as 1.0 (the last whole head's bytes are not where its version is read)."""
    first = b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n"
    second = b"GET /abc HTTP/1.0\r\nHost: a\r\n\r\n"
    outcome = feed_pieces(first + second, [len(first), *[piece] * (len(second) // piece)])
    assert outcome.error is None
    assert [r.head.version for r in outcome.requests] == ["1.1", "1.0"]
    assert [r.head.keep_alive for r in outcome.requests] == [True, False]


@pytest.mark.parametrize(
    "method", [b"FOO", b"get", b"GETX", b"PURGE", b"BLARGH", b"M-SEARCH", b"A", b"X" * 100]
)
def test_any_token_is_a_method(method: bytes) -> None:
    # RFC 9110 section 9.1: the app decides 405/501 for a method it does not route.
    raw = method + b" /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok" + _get()
    for piece in (1, 5, len(raw)):
        outcome = feed_pieces(raw, [piece] * (len(raw) // piece))
        assert outcome.error is None
        assert [r.head.method for r in outcome.requests] == [method.decode(), "GET"]
        assert bytes(outcome.requests[0].body) == b"ok"


PLAIN_METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH")


@pytest.mark.parametrize(
    "method",
    [
        *PLAIN_METHODS,
        *(m + b"X" for m in PLAIN_METHODS),  # a plain method's prefix is not that method
        *(m[:-1] for m in PLAIN_METHODS),
        b"GETGET",
        b"OPTIONSS",
    ],
)
@pytest.mark.parametrize("lead", [b"", b"\r\n"])
def test_a_whole_head_in_one_read_has_its_method(method: bytes, lead: bytes) -> None:
    # The one-read path matches the plain methods by prefix (and takes any other token
    # as sent); an empty line first takes the path that searches for the space.
    raw = lead + method + b" /p?q HTTP/1.1\r\nHost: a\r\n\r\n"
    outcome = feed_pieces(raw, [len(raw)])
    assert outcome.error is None
    (request,) = outcome.requests
    assert (request.head.method, request.head.path, request.head.query) == (
        method.decode(),
        b"/p",
        b"q",
    )


@pytest.mark.parametrize(
    ("sent", "value"),
    [
        (b"v", b"v"),
        (b"v ", b"v"),
        (b"v\t", b"v"),
        (b"v \t \t", b"v"),
        (b"a b\tc", b"a b\tc"),  # whitespace inside a value stays
        (b"", b""),
        (b" \t ", b""),
    ],
)
def test_field_values_lose_the_whitespace_around_them(sent: bytes, value: bytes) -> None:
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-V: " + sent + b"\r\n\r\n"
    outcome = feed_pieces(raw, [len(raw)])
    assert outcome.error is None
    assert outcome.requests[0].head.headers == [(b"Host", b"a"), (b"X-V", value)]


@pytest.mark.parametrize("second", [b"Host", b"host", b"HOST", b"hOsT"])
@pytest.mark.parametrize("first", [b"Host", b"host", b"HOST"])
def test_host_is_counted_in_any_spelling(first: bytes, second: bytes) -> None:
    alone = feed_pieces(b"GET / HTTP/1.1\r\n" + second + b": a\r\n\r\n", [1000])
    assert alone.error is None and len(alone.requests) == 1
    raw = b"GET / HTTP/1.1\r\n" + first + b": a\r\n" + second + b": a\r\n\r\n"
    twice = feed_pieces(raw, [len(raw)])
    assert twice.error is not None and twice.error.status == 400
    assert "Host" in twice.error.detail


@pytest.mark.parametrize("piece", [None, 1, 1000, 65536])
def test_newline_free_body_is_not_a_head_line(piece: int | None) -> None:
    # The head arrives alone, then the body in reads of `piece` bytes (None: one read).
    # The body's last read holds far more than a head line after its last LF: the next
    # request must still be parsed (a false 431 came from counting it as a head line).
    for body in (b"\x00" * 256 * KIB, b"{" + b"a" * 100_000 + b"}"):
        parser = RequestParser(ParserLimits())
        events = parser.feed(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        step = piece or len(body)
        for at in range(0, len(body), step):
            events += parser.feed(body[at : at + step])
        events += parser.feed(_get())
        outcome = summarise(events)
        assert outcome.error is None
        assert [len(r.body) for r in outcome.requests] == [len(body), 0]


def test_chunk_line_with_endless_extensions_is_refused() -> None:
    # h11 CVE-2025-43859's class: a chunk-size line that never ends must not be read for
    # ever; it is bounded (extensions included) whatever the reads.
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5"
    parser = RequestParser(ParserLimits(max_body=100))
    fed, error = _trickle(parser, head + b";e=v" * MIB, KIB)
    assert error is not None and error.status == 400
    assert fed <= len(head) + MAX_CHUNK_LINE + 2 * KIB


def test_head_fields() -> None:
    data = (
        b"POST /a/b?x=1&y HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
        b"Content-Length: 3\r\n\r\nabc"
    )
    outcome = feed_pieces(data, [len(data)])
    head = outcome.requests[0].head
    assert (head.path, head.query) == (b"/a/b", b"x=1&y")
    assert head.expect_continue
    assert head.body_kind is BodyKind.LENGTH and head.content_length == 3
    chunked = feed_pieces(_post_chunked(b"abc"), [1000]).requests[0].head
    assert chunked.body_kind is BodyKind.CHUNKED and chunked.content_length is None
    plain = feed_pieces(_get(), [1000]).requests[0].head
    assert plain.body_kind is BodyKind.NONE and plain.content_length is None


def _garbage_after_dropping(release: bool) -> int:
    """How many objects the cycle collector finds once a parser that parsed a request is
    dropped (reference counting frees the rest)."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        parser = RequestParser()
        # An asterisk-form target: llhttp reads it in either build (the compiled build's
        # native scan leaves it, and makes no llhttp parser for the heads it takes).
        events = parser.feed(b"OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert [type(event) for event in events] == [RequestHead, MessageEnd]
        if release:
            parser.release()
        del parser, events
        return gc.collect()
    finally:
        if was_enabled:
            gc.enable()


def test_a_released_parser_is_freed_without_the_cycle_collector() -> None:
    assert _garbage_after_dropping(release=False) > 0  # the cycle that release() cuts
    assert _garbage_after_dropping(release=True) == 0


def test_a_released_parser_parses_nothing_more() -> None:
    parser = RequestParser()
    parser.release()
    assert parser.closed
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []
