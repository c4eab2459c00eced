"""The uwsgi packet parser and connection state (`pronghorn.http.uwsgi`), without sockets.

Table-driven: valid packets and what they become, broken or over-limit packets and the
status each gets, every case fed whole, byte by byte and at seeded random splits. Then the
connection state (gathering a body, a peer that leaves mid-packet or mid-body, one request
and no more), and hypothesis properties: split invariance, and nothing but events out of
any bytes.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
from eventlog import Outcome, splits, summarise
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pronghorn.http.connection import BODY, CLOSED, DISCARD, FRESH, HEAD, RUNNING, BodyError
from pronghorn.http.events import BodyKind, Event, ProtocolError
from pronghorn.http.limits import ParserLimits
from pronghorn.http.uwsgi import (
    MAX_DISCARD,
    MAX_OTHER_VARIABLES,
    UwsgiConnection,
    UwsgiHead,
    UwsgiParser,
)
from uwsgipacket import nginx_variables, packet, pair

DATE = "Thu, 01 Jan 2026 00:00:00 GMT"


def feed(data: bytes, pieces: Iterable[int], limits: ParserLimits | None = None) -> Outcome:
    parser = UwsgiParser(limits)
    events: list[Event] = []
    offset = 0
    for size in pieces:
        events += parser.feed(data[offset : offset + size])
        offset += size
    if offset < len(data):
        events += parser.feed(data[offset:])
    return summarise(events)


def every_split(data: bytes, limits: ParserLimits | None = None) -> list[Outcome]:
    """The outcome of `data` whole, byte by byte and at random splits; all must agree."""
    outcomes = [feed(data, pieces, limits) for _, pieces in splits(data, seed=len(data))]
    first = outcomes[0]
    for other in outcomes[1:]:
        assert _shape(other) == _shape(first)
    return outcomes


def _shape(outcome: Outcome) -> object:
    heads = [
        (r.head.method, r.head.target, r.head.path, r.head.query, r.head.version,
         r.head.headers, r.head.body_kind, r.head.content_length,
         getattr(r.head, "variables", None), bytes(r.body), r.trailers)
        for r in outcome.requests
    ]  # fmt: skip
    error = None if outcome.error is None else (outcome.error.status, outcome.error.detail)
    return heads, error


def one_request(data: bytes, limits: ParserLimits | None = None) -> tuple[UwsgiHead, bytes]:
    outcome = every_split(data, limits)[0]
    assert outcome.error is None, outcome.error
    assert len(outcome.requests) == 1
    request = outcome.requests[0]
    assert isinstance(request.head, UwsgiHead)
    assert request.trailers == []  # the message ended
    return request.head, bytes(request.body)


# -- valid packets ----------------------------------------------------------------------


def test_a_get_as_nginx_sends_it() -> None:
    head, body = one_request(packet(nginx_variables("GET", "/a%20b/c?x=1&y=%2F")))
    assert (head.method, head.target, head.path, head.query) == (
        "GET", b"/a%20b/c?x=1&y=%2F", b"/a%20b/c", b"x=1&y=%2F"
    )  # fmt: skip
    assert head.version == "1.1"
    assert not head.keep_alive and not head.expect_continue
    assert (head.body_kind, head.content_length, body) == (BodyKind.NONE, None, b"")
    assert head.headers == [(b"host", b"example.com")]
    assert head.variables["PATH_INFO"] == "/a b/c"
    assert head.variables["REMOTE_ADDR"] == "203.0.113.9"
    assert head.variables["CONTENT_LENGTH"] == ""


def test_a_post_body_is_content_length_bytes() -> None:
    data = bytes(range(256)) * 40
    head, body = one_request(packet(nginx_variables("POST", "/p", body=data), data))
    assert (head.body_kind, head.content_length, body) == (BodyKind.LENGTH, len(data), data)


def test_bytes_after_the_body_are_ignored() -> None:
    wire = packet(nginx_variables("POST", "/p", body=b"abc"), b"abc") + b"more" + packet([])
    _, body = one_request(wire)
    assert body == b"abc"


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        # Repeated header fields are joined as RFC 9110 joins them; cookies with "; ".
        ([("HTTP_X_A", "1"), ("HTTP_X_A", "2")], {"HTTP_X_A": "1, 2"}),
        ([("HTTP_COOKIE", "a=1"), ("HTTP_COOKIE", "b=2")], {"HTTP_COOKIE": "a=1; b=2"}),
        # Any other variable sent twice: the last one counts, as in uWSGI.
        ([("DOCUMENT_ROOT", "/a"), ("DOCUMENT_ROOT", "/b")], {"DOCUMENT_ROOT": "/b"}),
        # Bytes above 0x7f are latin-1 text (PEP 3333).
        ([("HTTP_X_NAME", b"caf\xc3\xa9")], {"HTTP_X_NAME": "caf\xc3\xa9"}),
        ([("EMPTY", "")], {"EMPTY": ""}),
    ],
)
def test_variables(pairs: list[tuple[str, str | bytes]], expected: dict[str, str]) -> None:
    head, _ = one_request(packet([("REQUEST_METHOD", "GET"), *pairs]))
    for name, value in expected.items():
        assert head.variables[name] == value


def test_headers_are_the_http_variables() -> None:
    pairs = [("HTTP_USER_AGENT", "curl"), ("HTTP_X_A", "1"), ("HTTP_X_A", "2")]
    head, _ = one_request(packet(nginx_variables(headers=pairs)))
    assert head.headers == [(b"user-agent", b"curl"), (b"x-a", b"1"), (b"x-a", b"2")]


@pytest.mark.parametrize(
    ("protocol", "version"),
    [("HTTP/1.1", "1.1"), ("HTTP/1.0", "1.0"), ("HTTP/2.0", "2.0"), ("", "1.0"), ("x", "1.0")],
)
def test_version_is_the_clients(protocol: str, version: str) -> None:
    head, _ = one_request(packet([("REQUEST_METHOD", "GET"), ("SERVER_PROTOCOL", protocol)]))
    assert head.version == version


def test_without_request_uri_the_target_is_made_from_path_info() -> None:
    pairs = [("REQUEST_METHOD", "GET"), ("PATH_INFO", "/a b/é"), ("QUERY_STRING", "q=1")]
    head, _ = one_request(packet(pairs))
    assert (head.target, head.path, head.query) == (b"/a%20b/%E9?q=1", b"/a%20b/%E9", b"q=1")


def test_modifier1_30_is_served() -> None:
    head, _ = one_request(packet(nginx_variables(), modifier1=30))
    assert head.method == "GET"


def test_modifier2_is_ignored() -> None:
    head, _ = one_request(packet(nginx_variables(), modifier2=7))
    assert head.method == "GET"


def test_limits_at_their_edge_pass() -> None:
    limits = ParserLimits(max_request_line=40, max_fields=2, max_field_size=10, max_body=3)
    pairs = [
        ("REQUEST_METHOD", "GET"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_URI", "/" + "a" * 26),  # "GET", 27, "HTTP/1.1" and two spaces: 40
        ("HTTP_X", "123456789"),  # name "X" and 9: 10
        ("HTTP_Y", "1"),
        ("CONTENT_LENGTH", "3"),
    ]
    _, body = one_request(packet(pairs, b"abc"), limits)
    assert body == b"abc"
    others = [(f"V{i}", "") for i in range(MAX_OTHER_VARIABLES - 1)]
    one_request(packet([("REQUEST_METHOD", "GET"), *others]))


# -- refusals ---------------------------------------------------------------------------

_GET = pair("REQUEST_METHOD", "GET")


@dataclass
class Refused:
    name: str
    wire: bytes
    status: int
    detail: str  # a part of the log line
    limits: ParserLimits = field(default_factory=ParserLimits)


REFUSED = [
    Refused("http-request", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "an HTTP client?"),
    Refused("modifier1", packet(nginx_variables(), modifier1=5), 400, "modifier1 5"),
    Refused("modifier1-255", b"\xff\x00\x00\x00", 400, "modifier1 255"),
    Refused("no-method", packet([("REQUEST_URI", "/")]), 400, "without REQUEST_METHOD"),
    Refused("empty-method", packet([("REQUEST_METHOD", "")]), 400, "without REQUEST_METHOD"),
    Refused("method-not-token", packet([("REQUEST_METHOD", "G T")]), 400, "not a token"),
    Refused(
        "name-length-cut",
        b"\x00" + (len(_GET) + 1).to_bytes(2, "little") + b"\x00" + _GET + b"\x01",
        400,
        "inside a name",
    ),
    Refused("name-past-block", b"\x00\x04\x00\x00\x09\x00abc", 400, "name runs past"),
    Refused(
        "value-past-block",
        b"\x00" + (len(_GET) - 1).to_bytes(2, "little") + b"\x00" + _GET[:-1],
        400,
        "value runs past",
    ),
    Refused(
        "declared-size-short",
        packet([("REQUEST_METHOD", "GET")], size=len(_GET) - 2),
        400,
        "value runs past",
    ),
    Refused("empty-name", packet([("REQUEST_METHOD", "GET"), ("", "x")]), 400, "name empty"),
    Refused("name-space", packet([("REQUEST_METHOD", "GET"), ("A B", "x")]), 400, "name"),
    Refused("name-8bit", packet([("REQUEST_METHOD", "GET"), (b"\xe9", "x")]), 400, "name"),
    Refused("value-lf", packet(nginx_variables(headers=[("HTTP_X", "a\nb")])), 400, "CR or LF"),
    Refused("value-cr", packet(nginx_variables(headers=[("HTTP_X", "a\rb")])), 400, "CR or LF"),
    Refused("value-nul", packet(nginx_variables(uri="/a\x00")), 400, "NUL"),
    Refused(
        "length-negative",
        packet([("REQUEST_METHOD", "GET"), ("CONTENT_LENGTH", "-1")]),
        400,
        "CONTENT_LENGTH",
    ),
    Refused(
        "length-hex",
        packet([("REQUEST_METHOD", "GET"), ("CONTENT_LENGTH", "0x10")]),
        400,
        "CONTENT_LENGTH",
    ),
    Refused(
        "length-space",
        packet([("REQUEST_METHOD", "GET"), ("CONTENT_LENGTH", " 1")]),
        400,
        "CONTENT_LENGTH",
    ),
    Refused(
        "length-superscript",
        packet([("REQUEST_METHOD", "GET"), ("CONTENT_LENGTH", "\xb2")]),
        400,
        "CONTENT_LENGTH",
    ),
    Refused(
        "length-huge",
        packet([("REQUEST_METHOD", "GET"), ("CONTENT_LENGTH", "9" * 19)]),
        400,
        "CONTENT_LENGTH",
    ),
    Refused(
        "body-over-limit",
        packet([("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "11")], b"x" * 11),
        413,
        "body too large",
        ParserLimits(max_body=10),
    ),
    Refused(
        "uri-over-limit",
        packet(
            [
                ("REQUEST_METHOD", "GET"),
                ("SERVER_PROTOCOL", "HTTP/1.1"),
                ("REQUEST_URI", "/" + "a" * 27),
            ]
        ),
        414,
        "REQUEST_URI too long",
        ParserLimits(max_request_line=40),
    ),
    Refused(
        "too-many-fields",
        packet([("REQUEST_METHOD", "GET"), ("HTTP_A", ""), ("HTTP_B", ""), ("HTTP_C", "")]),
        431,
        "too many header fields",
        ParserLimits(max_fields=2),
    ),
    Refused(
        "field-too-large",
        packet([("REQUEST_METHOD", "GET"), ("HTTP_X", "1234567890")]),
        431,
        "HTTP_X",
        ParserLimits(max_field_size=10),
    ),
    Refused(
        "too-many-others",
        packet([("REQUEST_METHOD", "GET"), *((f"V{i}", "") for i in range(MAX_OTHER_VARIABLES))]),
        431,
        "besides HTTP_",
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=[case.name for case in REFUSED])
def test_refused(case: Refused) -> None:
    for outcome in every_split(case.wire, case.limits):
        assert outcome.requests == []
        assert outcome.error is not None
        assert outcome.error.status == case.status
        assert case.detail in outcome.error.detail


def test_nothing_is_read_after_a_refusal() -> None:
    parser = UwsgiParser()
    assert [type(e) for e in parser.feed(b"\x05\x00\x00\x00")] == [ProtocolError]
    assert parser.feed(packet(nginx_variables())) == []


def test_an_http_request_is_refused_at_its_first_byte() -> None:
    # No waiting for the 17 KiB "ET" would declare as the size of the variables block.
    assert [type(e) for e in UwsgiParser().feed(b"G")] == [ProtocolError]


# -- the connection ---------------------------------------------------------------------


def _post(size: int) -> tuple[bytes, bytes]:
    body = random.Random(size).randbytes(size)
    return packet(nginx_variables("POST", "/up", body=body), body), body


def test_connection_runs_one_request_then_closes() -> None:
    conn = UwsgiConnection()
    assert conn.phase is FRESH
    assert conn.next_request() is None
    conn.receive(packet(nginx_variables()) + packet(nginx_variables("GET", "/second")))
    head = conn.next_request()
    assert isinstance(head, UwsgiHead) and head.target == b"/"
    assert conn.phase is RUNNING and conn.next_request() is None
    assert conn.continue_bytes() == b"" and not conn.continue_owed
    assert conn.read_body(100) == b""
    conn.end_request(keep_alive=True)  # whatever the response said: one request only
    assert conn.phase is CLOSED and conn.next_request() is None


def test_connection_gathers_a_body_before_the_request_runs() -> None:
    wire, body = _post(1000)
    conn = UwsgiConnection(body_buffer=4096)
    conn.receive(wire[:10])
    assert conn.next_request() is None and conn.phase is HEAD
    conn.receive(wire[10:-500])
    assert conn.next_request() is None and conn.phase is BODY
    conn.receive(wire[-500:])
    assert isinstance(conn.next_request(), UwsgiHead)
    assert b"".join(iter(lambda: conn.read_body(300) or b"", b"")) == body


def test_connection_streams_a_body_larger_than_the_buffer() -> None:
    wire, body = _post(5000)
    conn = UwsgiConnection(body_buffer=4096)
    conn.receive(wire[:-4000])
    assert isinstance(conn.next_request(), UwsgiHead)  # runs now: the app reads the rest
    got = b""
    while (piece := conn.read_body(1 << 20)) is not None:
        got += piece
    conn.receive(wire[-4000:])
    while piece := conn.read_body(1 << 20):
        got += piece
    assert got == body and conn.read_body(10) == b""


def test_a_body_the_app_left_unread_is_dropped_before_the_close() -> None:
    wire, _ = _post(10_000)
    conn = UwsgiConnection(body_buffer=100)
    conn.receive(wire[:-5000])
    assert isinstance(conn.next_request(), UwsgiHead)
    conn.end_request(keep_alive=False)  # answered without reading
    assert conn.phase is DISCARD and conn.next_request() is None
    conn.receive(wire[-5000:-1])
    assert conn.next_request() is None and conn.phase is DISCARD
    assert conn.read_body(1 << 20) is None  # nothing is kept
    conn.receive(wire[-1:])
    assert conn.next_request() is None and conn.phase is CLOSED


def test_a_peer_that_leaves_while_its_unread_body_is_dropped() -> None:
    wire, _ = _post(10_000)
    conn = UwsgiConnection(body_buffer=100)
    conn.receive(wire[:-5000])
    assert isinstance(conn.next_request(), UwsgiHead)
    conn.end_request(keep_alive=False)
    conn.receive(b"")
    assert conn.next_request() is None and conn.phase is CLOSED


def test_a_huge_unread_body_is_not_waited_for() -> None:
    body = b"x" * 1000
    wire = packet(
        [("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", str(MAX_DISCARD + len(body) + 1))], body
    )
    conn = UwsgiConnection(body_buffer=100)
    conn.receive(wire)
    assert isinstance(conn.next_request(), UwsgiHead)
    conn.end_request(keep_alive=False)
    assert conn.phase is CLOSED


def test_peer_leaving_mid_packet_is_refused_with_a_reason() -> None:
    conn = UwsgiConnection()
    conn.receive(packet(nginx_variables())[:20])
    conn.receive(b"")
    error = conn.next_request()
    assert isinstance(error, ProtocolError) and error.status == 400
    assert "cut short" in error.detail
    assert conn.phase is CLOSED


def test_peer_leaving_before_a_byte_just_closes() -> None:
    conn = UwsgiConnection()
    conn.receive(b"")
    assert conn.next_request() is None and conn.phase is CLOSED


def test_peer_leaving_mid_body_before_the_request_runs() -> None:
    wire, _ = _post(1000)
    conn = UwsgiConnection()
    conn.receive(wire[:-1])
    conn.receive(b"")
    error = conn.next_request()
    assert isinstance(error, ProtocolError) and error.status == 400
    answer = conn.refusal(error, DATE)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"\r\n\r\n400 Bad Request\n")


def test_peer_leaving_mid_body_while_the_app_reads() -> None:
    wire, _ = _post(10_000)
    conn = UwsgiConnection(body_buffer=100)
    conn.receive(wire[:-1])
    assert isinstance(conn.next_request(), UwsgiHead)
    while conn.read_body(1 << 20):
        pass
    conn.receive(b"")
    with pytest.raises(BodyError):
        conn.read_body(10)


def test_a_refusal_waits_for_the_body_the_packet_declared() -> None:
    # Closing with the body unread would reset the connection and lose the answer.
    wire = packet([("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "1000")], b"x" * 1000)
    conn = UwsgiConnection(ParserLimits(max_body=10))
    conn.receive(wire[:-1])
    assert conn.next_request() is None and conn.phase is DISCARD
    conn.receive(wire[-1:])
    error = conn.next_request()
    assert isinstance(error, ProtocolError) and error.status == 413


def test_a_refusal_is_answered_when_the_peer_stops_sending() -> None:
    wire = packet([("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "1000")], b"x" * 10)
    conn = UwsgiConnection(ParserLimits(max_body=10))
    conn.receive(wire)
    assert conn.next_request() is None and conn.phase is DISCARD
    conn.receive(b"")
    error = conn.next_request()
    assert isinstance(error, ProtocolError) and error.status == 413


def test_a_refusal_of_a_huge_body_is_answered_at_once() -> None:
    length = str(MAX_DISCARD + 1)
    conn = UwsgiConnection(ParserLimits(max_body=10))
    conn.receive(packet([("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", length)]))
    error = conn.next_request()
    assert isinstance(error, ProtocolError) and error.status == 413


def test_refusal_of_a_packet_and_of_a_head_request() -> None:
    conn = UwsgiConnection(ParserLimits(max_body=1))
    conn.receive(packet([("REQUEST_METHOD", "HEAD"), ("CONTENT_LENGTH", "2")], b"ab"))
    error = conn.next_request()
    assert isinstance(error, ProtocolError) and error.status == 413
    answer = conn.refusal(error, DATE)
    # The answer to HEAD has no body (only the length a GET's would have).
    assert answer.startswith(b"HTTP/1.1 413 ") and answer.endswith(b"\r\n\r\n")


# -- properties -------------------------------------------------------------------------

names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789.", min_size=1, max_size=12)
texts = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)


Packet = tuple[list[tuple[str, str]], bytes]


@st.composite
def requests(draw: st.DrawFn) -> Packet:
    pairs = [("REQUEST_METHOD", draw(st.sampled_from(["GET", "POST", "PUT", "HEAD"])))]
    pairs += draw(
        st.lists(
            st.tuples(names, texts).filter(
                lambda p: p[0] not in ("REQUEST_METHOD", "CONTENT_LENGTH", "SERVER_PROTOCOL")
            ),
            max_size=12,
        )
    )
    body = draw(st.binary(max_size=200))
    if body:
        pairs.append(("CONTENT_LENGTH", str(len(body))))
    draw(st.randoms()).shuffle(pairs)
    return pairs, body


@st.composite
def cuts(draw: st.DrawFn, total: int) -> list[int]:
    points = draw(st.lists(st.integers(0, total), max_size=12, unique=True))
    bounds = [0, *sorted(points), total]
    return [b - a for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests(), data=st.data())
def test_split_invariance(
    request: tuple[list[tuple[str, str]], bytes], data: st.DataObject
) -> None:
    pairs, body = request
    wire = packet(pairs, body)
    whole = feed(wire, [len(wire)])
    assert whole.error is None and len(whole.requests) == 1
    got = whole.requests[0]
    assert bytes(got.body) == body and got.trailers == []
    assert isinstance(got.head, UwsgiHead)
    expected: dict[str, str] = {}
    for name, value in pairs:
        earlier = expected.get(name)
        if earlier is not None and name.startswith("HTTP_"):
            value = earlier + ("; " if name == "HTTP_COOKIE" else ", ") + value
        expected[name] = value
    assert got.head.variables == expected
    assert _shape(feed(wire, data.draw(cuts(len(wire))))) == _shape(whole)
    assert _shape(feed(wire, [1] * len(wire))) == _shape(whole)


limits = st.builds(
    ParserLimits,
    max_request_line=st.integers(1, 64),
    max_fields=st.integers(1, 8),
    max_field_size=st.integers(1, 64),
    max_body=st.integers(0, 32),
)
_PIECES = st.sampled_from(
    [b"\x00", b"\x1e", b"\xff\xff", b"\x05\x00", pair("REQUEST_METHOD", "GET"),
     pair("CONTENT_LENGTH", "5"), pair("HTTP_X", "y"), b"GET / HTTP/1.1\r\n", b"\r\n"]
)  # fmt: skip
streams = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(_PIECES, st.binary(max_size=8)), max_size=30).map(b"".join),
    st.builds(lambda r: packet(*r), requests()),
)


@settings(max_examples=1000, deadline=None)
@given(stream=streams, data=st.data(), limits=st.one_of(st.none(), limits))
def test_never_raises(stream: bytes, data: st.DataObject, limits: ParserLimits | None) -> None:
    conn = UwsgiConnection(limits, body_buffer=data.draw(st.integers(0, 64)))
    offset = 0
    for size in data.draw(cuts(len(stream))):
        conn.receive(stream[offset : offset + size])
        offset += size
        item = conn.next_request()
        if item is not None:
            break
    else:
        conn.receive(b"")
        item = conn.next_request()
    if isinstance(item, ProtocolError):
        assert 400 <= item.status < 500
        assert conn.refusal(item, DATE).startswith(b"HTTP/1.1 4")
    elif item is not None:
        assert isinstance(item, UwsgiHead)
        assert len(conn.read_body(1 << 20) or b"") <= (item.content_length or 0)
