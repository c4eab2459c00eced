"""The sans-I/O connection state machine (`pronghorn.http.connection`), without sockets:
table-driven decisions, and the property that requests on one keep-alive connection are
seen exactly as each would be on a fresh one, whatever their bodies and reads."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pronghorn.http.connection import (
    BODY,
    CLOSED,
    DISCARD,
    FRESH,
    HEAD,
    IDLE,
    RUNNING,
    BodyError,
    ServerConnection,
)
from pronghorn.http.events import ProtocolError, RequestHead
from pronghorn.http.parser import ParserLimits
from pronghorn.http.response import CONTINUE_100


def _head(method: str = "GET", target: str = "/", headers: str = "") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: a\r\n{headers}\r\n".encode()


def _post(body: bytes, extra: str = "", target: str = "/") -> bytes:
    return _head("POST", target, f"Content-Length: {len(body)}\r\n{extra}") + body


def _chunked(body: bytes, sizes: list[int] | None = None, target: str = "/") -> bytes:
    out, at, sizes = [], 0, list(sizes or [max(1, len(body))])
    while at < len(body):
        size = sizes[len(out) % len(sizes)] or 1
        piece = body[at : at + size]
        out.append(b"%x\r\n%b\r\n" % (len(piece), piece))
        at += size
    return _head("POST", target, "Transfer-Encoding: chunked\r\n") + b"".join(out) + b"0\r\n\r\n"


def _read_all(conn: ServerConnection) -> bytes:
    got = b""
    while (piece := conn.read_body(1 << 20)) not in (None, b""):
        got += piece
    return got


# -- decisions, one table ---------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    sent: bytes
    phase: int  # after receiving `sent` and asking for the next request
    runs: bool  # a request is handed out
    keep_alive: bool | None = None  # what its response may say, if it runs


CASES = [
    Case("nothing yet", b"", FRESH, False),
    Case("part of a head", b"GET / HT", HEAD, False),
    Case("a GET", _head(), RUNNING, True, True),
    Case("Connection: close", _head(headers="Connection: close\r\n"), RUNNING, True, False),
    Case("whole body", _post(b"abc"), RUNNING, True, True),
    Case("body to come", _post(b"abcdef")[:-3], BODY, False),
    Case("chunked to come", _chunked(b"abcdef")[:-5], BODY, False),
    Case(
        "expect-continue, body not sent",
        _head("POST", "/", "Content-Length: 5\r\nExpect: 100-continue\r\n"),
        RUNNING,
        True,
        False,  # unless the app reads the body, the server closes after the response
    ),
    Case(
        "body larger than the buffer",
        _head("POST", "/", "Content-Length: 300000\r\n") + b"x" * 10,
        RUNNING,
        True,
        True,
    ),
    Case("a refused head", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", CLOSED, False),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decisions(case: Case) -> None:
    conn = ServerConnection()
    if case.sent:
        conn.receive(case.sent)
    item = conn.next_request()
    assert conn.phase == case.phase
    assert isinstance(item, RequestHead) is case.runs
    if case.runs:
        assert isinstance(item, RequestHead) and item.keep_alive is case.keep_alive
    if case.name == "a refused head":
        assert isinstance(item, ProtocolError) and item.status == 400


def test_continue_is_owed_once_and_reopens_keep_alive() -> None:
    conn = ServerConnection()
    conn.receive(_head("POST", "/", "Content-Length: 5\r\nExpect: 100-continue\r\n"))
    head = conn.next_request()
    assert isinstance(head, RequestHead) and head.keep_alive is False
    assert conn.continue_bytes() == CONTINUE_100
    assert conn.continue_bytes() == b""
    assert head.keep_alive is True  # the body will come: the connection can go on
    assert conn.read_body(10) is None
    conn.receive(b"hello")
    assert _read_all(conn) == b"hello"
    conn.end_request(head.keep_alive)
    assert conn.next_request() is None and conn.phase == IDLE


def test_expect_continue_with_the_body_already_sent_owes_nothing() -> None:
    conn = ServerConnection()
    conn.receive(_post(b"hello", "Expect: 100-continue\r\n"))
    head = conn.next_request()
    assert isinstance(head, RequestHead) and head.keep_alive
    assert conn.continue_bytes() == b""


def test_unread_chunked_body_under_a_limit_closes() -> None:
    conn = ServerConnection(ParserLimits(max_body=100), body_buffer=0)
    conn.receive(_chunked(b"abcdef")[:-5])
    head = conn.next_request()
    assert isinstance(head, RequestHead) and head.keep_alive is False
    conn.end_request(head.keep_alive)
    assert conn.next_request() is None and conn.phase == CLOSED


def test_unread_body_is_discarded_then_the_next_request_runs() -> None:
    conn = ServerConnection(body_buffer=0)
    data = _post(b"x" * 1000) + _head("GET", "/next")
    conn.receive(data[:200])
    first = conn.next_request()
    assert isinstance(first, RequestHead) and first.keep_alive
    conn.end_request(True)
    assert conn.next_request() is None and conn.phase == DISCARD
    conn.receive(data[200:])
    second = conn.next_request()
    assert isinstance(second, RequestHead) and second.target == b"/next"


def test_broken_body_of_a_gathered_request_is_refused_before_it_runs() -> None:
    conn = ServerConnection()
    conn.receive(_head("POST", "/", "Transfer-Encoding: chunked\r\n") + b"zz\r\n")
    item = conn.next_request()
    assert isinstance(item, ProtocolError) and item.status == 400
    assert conn.phase == CLOSED


def test_broken_body_of_a_running_request_is_a_body_error() -> None:
    conn = ServerConnection(body_buffer=0)
    conn.receive(_head("POST", "/", "Transfer-Encoding: chunked\r\n") + b"3\r\nabc\r\n")
    head = conn.next_request()
    assert isinstance(head, RequestHead)
    assert conn.read_body(10) == b"abc"
    conn.receive(b"zz\r\n")
    with pytest.raises(BodyError) as raised:
        conn.read_body(10)
    assert raised.value.status == 400
    conn.end_request(False)
    assert conn.next_request() is None and conn.phase == CLOSED


def test_broken_body_after_the_answer_closes_silently() -> None:
    # The app answered without reading; the rest of its body turns out malformed. The
    # client has its answer: the connection just closes, with no second answer.
    conn = ServerConnection(body_buffer=0)
    conn.receive(_head("POST", "/", "Transfer-Encoding: chunked\r\n") + b"3\r\nabc\r\n")
    head = conn.next_request()
    assert isinstance(head, RequestHead)
    conn.end_request(True)
    conn.receive(b"zz\r\n")
    assert conn.next_request() is None and conn.phase == CLOSED


def test_peer_closing_after_its_requests_still_runs_them() -> None:
    conn = ServerConnection()
    conn.receive(_head("GET", "/1") + _head("GET", "/2"))
    conn.receive(b"")
    for target in (b"/1", b"/2"):
        head = conn.next_request()
        assert isinstance(head, RequestHead) and head.target == target
        conn.end_request(True)
    assert conn.next_request() is None and conn.phase == CLOSED


def test_refusing_keep_alive_applies_to_the_next_response() -> None:
    conn = ServerConnection()
    conn.receive(_head())
    conn.refuse_keep_alive()
    head = conn.next_request()
    assert isinstance(head, RequestHead) and head.keep_alive is False


def test_peer_leaving_mid_body_is_a_body_error() -> None:
    conn = ServerConnection(body_buffer=0)
    conn.receive(_post(b"x" * 100)[:-50])
    head = conn.next_request()
    assert isinstance(head, RequestHead)
    conn.receive(b"")
    assert conn.read_body(100) == b"x" * 50
    with pytest.raises(BodyError):
        conn.read_body(100)


# -- the keep-alive property -------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    wire: bytes
    body: bytes
    read: int  # how much of its body the app reads: -1 all


@st.composite
def requests(draw: st.DrawFn) -> Sent:
    # Sizes up to 1 MiB, any bytes: a seeded pattern keeps large bodies cheap to draw.
    size = draw(st.one_of(st.integers(0, 64), st.integers(0, 1 << 20)))
    if size <= 64:
        body = draw(st.binary(min_size=size, max_size=size))
    else:
        body = random.Random(draw(st.integers(0, 1 << 30))).randbytes(size)
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PURGE", "HEAD"]))
    target = "/" + draw(st.text("abc", max_size=4))
    if draw(st.booleans()):
        sizes = draw(st.lists(st.integers(1, 70_000), min_size=1, max_size=4))
        wire = _chunked(body, sizes, target).replace(b"POST", method.encode(), 1)
    elif body:
        wire = _post(body, target=target).replace(b"POST", method.encode(), 1)
    else:
        wire = _head(method, target)
    read = draw(st.sampled_from([-1, 0, 1, 100, 70_000]))
    return Sent(wire, body, read)


def _serve(sent: list[Sent], cuts: list[int], body_buffer: int) -> list[tuple[bytes, bytes]]:
    """Feed the requests' bytes at the given cuts; return (target, what the app read)."""
    stream = b"".join(s.wire for s in sent)
    bounds = sorted({min(c, len(stream)) for c in cuts} | {len(stream)})
    pieces, at = [], 0
    for bound in bounds:
        pieces.append(stream[at:bound])
        at = bound
    conn = ServerConnection(body_buffer=body_buffer)
    seen: list[tuple[bytes, bytes]] = []

    def more() -> None:
        assert pieces, "the connection waits for bytes that were all sent"
        conn.receive(pieces.pop(0))

    while len(seen) < len(sent):
        item = conn.next_request()
        if item is None:
            assert conn.phase != CLOSED
            more()
            continue
        assert isinstance(item, RequestHead), item
        want = sent[len(seen)].read
        # A bytearray: `bytes +=` copies the whole body each piece, and a 1 MiB body in
        # one-byte chunks made that quadratic harness alone near the test timeout.
        got = bytearray()
        while want < 0 or len(got) < want:
            piece = conn.read_body(65536 if want < 0 else want - len(got))
            if piece is None:
                more()
            elif not piece:
                break
            else:
                got += piece
        seen.append((item.target, bytes(got)))
        conn.end_request(item.keep_alive)
        assert item.keep_alive
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(requests(), min_size=1, max_size=4),
    st.lists(st.integers(1, 1 << 21), max_size=6),
    st.sampled_from([0, 1000, 256 * 1024]),
)
def test_keep_alive_is_the_same_as_fresh_connections(
    sent: list[Sent], cuts: list[int], body_buffer: int
) -> None:
    together = _serve(sent, cuts, body_buffer)
    alone = [_serve([s], [], body_buffer)[0] for s in sent]
    assert together == alone
    for (_, got), s in zip(together, sent, strict=True):
        assert got == (s.body if s.read < 0 else s.body[: s.read])


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_refusal_of_a_read_head_answers_as_its_method(method: str) -> None:
    conn = ServerConnection()
    conn.receive(_head(method, "/", "Content-Length: 10\r\n") + b"abc")
    assert conn.next_request() is None and conn.phase == BODY
    answer = conn.refusal(ProtocolError(408, "timed out"), "Thu, 01 Jan 1970 00:00:00 GMT")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in head
    assert body == (b"" if method == "HEAD" else b"408 Request Timeout\n")
    assert conn.phase == CLOSED
