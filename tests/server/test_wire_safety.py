"""Defects a healthy client once met on the wire, each over real sockets: a false error
after a body on keep-alive, an error answer to HEAD that carried a body, closing without
`Connection: close`, and trickled uploads holding every app thread."""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_setup import app_args

from rawhttp import RawClient, request, wait_until
from serverproc import Serve, ServerProcess


def connect(server: ServerProcess) -> RawClient:
    return RawClient.connect(server.host, server.port)


@pytest.fixture(scope="module")
def unlimited_server(serve_module: Serve) -> ServerProcess:
    """Default limits and body buffer (the shared server has a 64 KiB body limit)."""
    return serve_module(*app_args("--threads", "4"))


@pytest.fixture(params=["shared_server", "streaming_server"])
def either_server(request: pytest.FixtureRequest) -> ServerProcess:
    """The body gathered before the app runs, and streamed to it."""
    server: ServerProcess = request.getfixturevalue(request.param)
    return server


@pytest.mark.parametrize("body", [b"\x00" * 256 * 1024, b"{" + b"a" * 100_000 + b"}"])
def test_newline_free_body_on_keep_alive_is_followed_by_a_good_request(
    unlimited_server: ServerProcess, body: bytes
) -> None:
    # What browsers and nginx's upstream keepalive send: a few GETs, then an upload whose
    # body has no line break, then more requests on the same connection.
    with connect(unlimited_server) as client:
        for _ in range(3):
            client.send(request("GET", "/big?size=16384"))
            assert client.response().status == 200
        client.send(request("POST", "/echo", body=body))
        resp = client.response()
        assert resp.status == 200 and resp.body == body
        for _ in range(3):
            client.send(request("GET", "/big?size=16384"))
            resp = client.response()
            assert resp.status == 200 and len(resp.body) == 16384


@pytest.mark.parametrize("read", ["all", "some", "none"])
def test_unread_or_partly_read_body_keeps_the_connection_in_step(
    unlimited_server: ServerProcess, read: str
) -> None:
    body = b"\xff" * 300_000  # larger than --body-buffer: it streams to the app
    target = {"all": "/echo", "some": "/partial?n=1000", "none": "/noread"}[read]
    with connect(unlimited_server) as client:
        client.send(request("POST", target, body=body) + request("GET", "/hello?tag=next"))
        assert client.response().status == 200
        resp = client.response()
        assert resp.status == 200 and resp.header("X-Tag") == "next"


def test_head_answered_by_an_app_error_carries_no_body(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("HEAD", "/boom?tag=h") + request("GET", "/hello?tag=after"))
        first = client.response("HEAD")
        assert first.status == 500
        assert first.header("Content-Length") is not None
        second = client.response()
        assert (second.status, second.header("X-Tag")) == (200, "after")


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_app_error_answer_says_how_the_connection_goes_on(
    shared_server: ServerProcess, version: str
) -> None:
    keep = [("Connection", "keep-alive")] if version == "1.0" else []
    with connect(shared_server) as client:
        client.send(request("GET", "/boom?tag=v", keep, version=version))
        resp = client.response()
        assert resp.status == 500
        expected = "keep-alive" if version == "1.0" else None
        assert resp.header("Connection") == expected
        client.send(request("GET", "/hello?tag=still", version=version, headers=keep))
        assert client.response().header("X-Tag") == "still"


def test_expect_continue_body_not_read_is_announced_as_close(
    either_server: ServerProcess,
) -> None:
    with connect(either_server) as client:
        client.send(
            request("POST", "/noread", [("Content-Length", "1000"), ("Expect", "100-continue")])
        )
        resp = client.response(skip_interim=False)
        assert resp.status == 200, "no 100 Continue for a body the app never asked for"
        assert resp.header("Connection") == "close"
        assert client.closed_within(2.0)


def test_expect_continue_body_read_keeps_the_connection(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("POST", "/echo", [("Content-Length", "5"), ("Expect", "100-continue")]))
        assert client.head().status == 100
        client.send(b"hello")
        resp = client.response()
        assert resp.body == b"hello" and resp.header("Connection") is None
        client.send(request("GET", "/hello?tag=again"))
        assert client.response().header("X-Tag") == "again"


def test_unread_chunked_body_under_a_limit_is_announced_as_close(
    streaming_server: ServerProcess,
) -> None:
    # The rest of an unread chunked body could run past --limit-request-body while it is
    # discarded; the server will close, so the response says so.
    with connect(streaming_server) as client:
        client.send(
            request("POST", "/noread", [("Transfer-Encoding", "chunked")]) + b"5\r\nhello\r\n"
        )
        resp = client.response()
        assert resp.status == 200
        assert resp.header("Connection") == "close"
        assert client.closed_within(2.0)


def test_trickled_bodies_do_not_hold_the_app_threads(serve: Serve) -> None:
    # Four uploads at a byte a tick, as many as there are threads: an unrelated GET is
    # still answered while they trickle, because their bodies are gathered in the event
    # loop before an app thread is taken.
    server = serve(*app_args("--threads", "4", "--io-timeout", "5"))
    stop = threading.Event()
    sent = [0] * 4
    statuses: list[int] = []

    def trickle(index: int) -> None:
        with connect(server) as client:
            client.send(request("POST", "/echo", [("Content-Length", "100")]))
            for _ in range(99):
                if stop.wait(0.05):
                    break
                client.send(b"x")
                sent[index] += 1
            client.send(b"x" * (100 - sent[index]))
            statuses.append(client.response().status)

    threads = [threading.Thread(target=trickle, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        assert wait_until(lambda: min(sent) >= 3, 10.0)
        with connect(server) as client:
            client.send(request("GET", "/hello?tag=unrelated"))
            resp = client.response()
            assert resp.header("X-Tag") == "unrelated"
        # The uploads were still going on when the GET was answered.
        assert max(sent) < 99
    finally:
        stop.set()
        for thread in threads:
            thread.join(10.0)
    assert statuses == [200] * 4


def test_closing_after_eof_still_answers_complete_requests(shared_server: ServerProcess) -> None:
    # A client that sends its requests and shuts down its sending side still gets them.
    with connect(shared_server) as client:
        client.send(request("GET", "/hello?tag=a") + request("GET", "/hello?tag=b"))
        with contextlib.suppress(OSError):
            client.sock.shutdown(1)
        assert client.response().header("X-Tag") == "a"
        assert client.response().header("X-Tag") == "b"


@st.composite
def _exchanges(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A request with an arbitrary body (0..1 MiB, any bytes, chunked or not) for an app
    that reads all, part or none of it; and the answer it must get."""
    size = draw(
        st.one_of(
            st.integers(0, 100),
            st.sampled_from([8300, 65536, 100_000, 262_144, 1 << 20]),
            st.integers(0, 1 << 20),
        )
    )
    if draw(st.booleans()):  # a binary upload: no line break at all
        body = bytes([draw(st.integers(0, 255).filter(lambda b: b != 10))]) * size
    else:
        body = random.Random(draw(st.integers(0, 1 << 30))).randbytes(size)
    read = draw(st.sampled_from([None, 0, 1, 5000, 300_000]))
    target = "/echo" if read is None else f"/partial?n={read}"
    if draw(st.booleans()):
        pieces = [body[i : i + 50_000] for i in range(0, len(body), 50_000)]
        framed = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        wire = request("POST", target, [("Transfer-Encoding", "chunked")], body=framed)
    else:
        wire = request("POST", target, [("Content-Length", str(size))], body=body)
    expected = body if read is None else hashlib.sha256(body[:read]).hexdigest().encode()
    return wire, expected


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_exchanges(), min_size=2, max_size=5))
def test_keep_alive_answers_as_fresh_connections_do(
    unlimited_server: ServerProcess, exchanges: list[tuple[bytes, bytes]]
) -> None:
    fresh = []
    for wire, _ in exchanges:
        with connect(unlimited_server) as client:
            client.send(wire)
            resp = client.response()
            fresh.append((resp.status, resp.body))
    together = []
    with connect(unlimited_server) as client:
        for wire, _ in exchanges:
            client.send(wire)
            resp = client.response()
            together.append((resp.status, resp.body))
    assert together == fresh == [(200, expected) for _, expected in exchanges]
