"""Requests the server refuses before the app sees them: every 4xx/5xx the parser
produces, the header timeout (slowloris), each answered, logged and closed."""

from __future__ import annotations

import json
import time

import pytest

from rawhttp import RawClient
from serverproc import ServerProcess

CASES = [
    ("nul-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", 400),
    ("no-host-1.1", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("bad-header", b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400),
    (
        "cl-and-te",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    ("te-not-chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("te-in-1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (
        "bad-chunk",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    ("body-too-large", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413),
    # The whole request line counts against --limit-request-line (default 8190).
    ("request-line-too-long", b"GET /" + b"a" * 8177 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    ("too-many-fields", b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431),
    ("field-too-large", b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    ("method-not-a-token", b"bla:rgh /foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (
        "chunk-extensions-without-end",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5" + b";e=v" * 30_000,
        400,
    ),
    ("connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
    ("version-2", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
]


@pytest.mark.parametrize(("raw", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parser_refusals_are_answered_logged_and_closed(
    shared_server: ServerProcess, raw: bytes, status: int
) -> None:
    # Only lines written after the mark: an earlier connection may have had our port.
    since = shared_server.log_mark()
    with RawClient.connect(shared_server.host, shared_server.port) as client:
        port = client.local_port()
        client.send(raw)
        resp = client.response()
        assert resp.status == status
        assert resp.header("Connection") == "close"
        assert client.closed_within(2.0)
    text = shared_server.wait_for_log(f"from 127.0.0.1:{port}", 5.0, since=since)
    line = next(line for line in text.splitlines() if f"from 127.0.0.1:{port}" in line)
    assert f"{status} " in line, line


@pytest.mark.parametrize("method", [b"BREW", b"PURGE", b"FOO", b"get"])
def test_any_token_method_reaches_the_app(shared_server: ServerProcess, method: bytes) -> None:
    # RFC 9110 section 9.1: methods are extensible; the app routes them (or answers 405).
    with RawClient.connect(shared_server.host, shared_server.port) as client:
        client.send(method + b" /environ HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = client.response()
        assert resp.status == 200
        assert json.loads(resp.body)["REQUEST_METHOD"] == method.decode()


def test_longest_request_line_is_served(shared_server: ServerProcess) -> None:
    # RFC 9112 section 3: at least 8000 octets; the default limit is 8190, the whole line.
    line = b"GET /hello?" + b"a" * (8190 - len(b"GET /hello? HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == 8190
    with RawClient.connect(shared_server.host, shared_server.port) as client:
        client.send(line + b"\r\nHost: a\r\n\r\n")
        assert client.response().status == 200


def test_refusal_after_a_good_pipelined_request(shared_server: ServerProcess) -> None:
    with RawClient.connect(shared_server.host, shared_server.port) as client:
        client.send(b"GET /slow?s=0.2 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/9.9\r\nHost: a\r\n\r\n")
        assert client.response().status == 200
        assert client.response().status == 505
        assert client.closed_within(2.0)


def test_slowloris_head_gets_408_after_header_timeout(shared_server: ServerProcess) -> None:
    since = shared_server.log_mark()
    with RawClient.connect(shared_server.host, shared_server.port) as client:
        port = client.local_port()
        started = time.monotonic()
        dribble = b"GET /hello HTTP/1.1\r\nHost: a\r\nX-Slow: "
        index = 0
        # One byte every 0.1 s, never finishing the head; --header-timeout is 1 s and the
        # sweep runs each second, so the server must give up within about 2 s.
        while not client.closed_within(0.1):
            assert time.monotonic() - started < 4.0, "the server waited on a dribbling head"
            try:
                client.send(dribble[index % len(dribble) :][:1] if index < len(dribble) else b"y")
            except (BrokenPipeError, ConnectionResetError):
                break
            index += 1
        assert time.monotonic() - started >= 0.9
        assert b"408" in bytes(client.buffer).split(b"\r\n")[0]
    shared_server.wait_for_log(
        f"408 timed out waiting for the request head from 127.0.0.1:{port}", 5.0, since=since
    )


def test_silent_connection_is_closed_without_an_answer(shared_server: ServerProcess) -> None:
    with RawClient.connect(shared_server.host, shared_server.port) as client:
        assert client.closed_within(3.5)
        assert client.buffer == b""
