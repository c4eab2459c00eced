"""Request and response bodies over real sockets: chunked both ways, 100-continue,
HEAD, bodiless statuses, and the request body limit (413, never a 500)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from server_setup import BODY_LIMIT, SHARED_OPTIONS, app_args

from rawhttp import RawClient, request
from serverproc import Serve, ServerProcess


def connect(server: ServerProcess) -> RawClient:
    return RawClient.connect(server.host, server.port)


def chunked(*pieces: bytes, trailers: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n" + trailers + b"\r\n"


def test_chunked_request_body_with_trailers(shared_server: ServerProcess) -> None:
    body = chunked(
        b"line one\n", b"line ", b"two\n" * 3, trailers=b"X-Checksum: abc\r\nX-More: 1\r\n"
    )
    with connect(shared_server) as client:
        client.send(request("POST", "/lines", [("Transfer-Encoding", "chunked")], body=body))
        resp = client.response()
        assert resp.status == 200
        assert resp.body == b"line one\nline two\ntwo\ntwo\n"
        assert resp.header("X-Lines") == "4"
        # the connection is still good after the trailers
        client.send(request("GET", "/hello?tag=after"))
        assert client.response().header("X-Tag") == "after"


def test_chunked_request_body_arriving_slowly(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("POST", "/echo?piece=3", [("Transfer-Encoding", "chunked")]))
        for piece in (b"abc", b"defgh", b"i"):
            client.send(b"%x\r\n%b\r\n" % (len(piece), piece))
        client.send(b"0\r\n\r\n")
        assert client.response().body == b"abcdefghi"


def test_generator_response_is_chunked(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("GET", "/stream?n=4&size=3"))
        resp = client.response()
        assert resp.header("Transfer-Encoding") == "chunked"
        assert resp.header("Content-Length") is None
        assert resp.body == b"aaabbbcccddd"
        client.send(request("GET", "/hello"))
        assert client.response().status == 200


def test_list_response_gets_content_length(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("GET", "/hello?tag=cl"))
        resp = client.response()
        assert resp.header("Content-Length") == str(len(b"hello GET cl\n"))
        assert resp.header("Date") and resp.header("Server") == "pronghorn"


def test_100_continue_sent_when_the_app_reads(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("POST", "/echo", [("Expect", "100-continue"), ("Content-Length", "5")]))
        interim = client.head()
        assert interim.status == 100
        client.send(b"12345")
        resp = client.response()
        assert (resp.status, resp.body) == (200, b"12345")
        client.send(request("GET", "/hello?tag=next"))
        assert client.response().header("X-Tag") == "next"


def test_100_continue_not_sent_when_the_app_answers_without_reading(
    shared_server: ServerProcess,
) -> None:
    with connect(shared_server) as client:
        client.send(
            request("POST", "/noread", [("Expect", "100-continue"), ("Content-Length", "5000")])
        )
        resp = client.response(skip_interim=False)
        assert resp.status == 200
        assert b"100 Continue" not in resp.raw_head
        # The client never sent the body, so the connection cannot be reused: it closes.
        assert resp.header("Connection") == "close" or client.closed_within(2.0)
        assert client.closed_within(2.0)
        assert client.buffer == b""


def test_unread_body_is_discarded_and_the_connection_reused(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("POST", "/noread?tag=1", body=b"q" * 40000))
        assert client.response().header("X-Tag") == "1"
        client.send(request("POST", "/echo?tag=2", body=b"second"))
        resp = client.response()
        assert (resp.header("X-Tag"), resp.body) == ("2", b"second")


def test_head_has_get_headers_and_no_body(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("GET", "/status?code=200&tag=h"))
        get = client.response()
        client.send(request("HEAD", "/status?code=200&tag=h"))
        head = client.response("HEAD")
        strip = {"date"}
        assert [h for h in head.headers if h[0].lower() not in strip] == [
            h for h in get.headers if h[0].lower() not in strip
        ]
        assert head.header("Content-Length") == str(len(get.body))
        client.send(request("GET", "/hello?tag=after-head"))
        # had the HEAD response carried a body, this would read it instead
        assert client.response().body == b"hello GET after-head\n"


def test_head_of_a_streamed_response(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("HEAD", "/stream?n=2&size=2"))
        client.response("HEAD")
        client.send(request("GET", "/hello?tag=x"))
        assert client.response().body == b"hello GET x\n"


def test_204_and_304_have_no_body(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        for code in ("204", "304"):
            client.send(request("GET", f"/status?code={code}"))
            resp = client.response()
            assert resp.status == int(code)
            assert resp.header("Transfer-Encoding") is None
            if code == "204":
                assert resp.header("Content-Length") is None
        client.send(request("GET", "/hello?tag=z"))
        assert client.response().body == b"hello GET z\n"


def test_content_length_over_the_limit_is_413(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("POST", "/echo", [("Content-Length", str(BODY_LIMIT + 1))]))
        resp = client.response()
        assert resp.status == 413
        assert client.closed_within(2.0)
    with connect(shared_server) as client:
        client.send(request("POST", "/echo", body=b"k" * BODY_LIMIT))
        assert client.response().header("X-Got") == str(BODY_LIMIT)


def test_chunked_body_crossing_the_limit_is_413(shared_server: ServerProcess) -> None:
    piece = b"c" * 10000
    body = chunked(*[piece] * (BODY_LIMIT // len(piece) + 2))
    with connect(shared_server) as client:
        client.send(request("POST", "/echo?piece=1000", [("Transfer-Encoding", "chunked")]))
        # the server may close before all of it was sent
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.send(body)
        resp = client.response()
        assert resp.status == 413
        assert client.closed_within(2.0)


def test_body_crossing_the_limit_inside_the_iterable_is_413(serve: Serve) -> None:
    # With --body-buffer 0 the body streams to the app, which meets the limit as it reads.
    server = serve(*app_args(*SHARED_OPTIONS, "--body-buffer", "0"))
    piece = b"c" * 10000
    body = chunked(*[piece] * (BODY_LIMIT // len(piece) + 2))
    with connect(server) as client:
        client.send(request("POST", "/read-in-iter?tag=limit", [("Transfer-Encoding", "chunked")]))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.send(body)
        assert client.response().status == 413
        assert client.closed_within(2.0)
    server.wait_for_log("closed limit", 5.0)


def test_buffered_body_crossing_the_limit_is_refused_before_the_app(
    shared_server: ServerProcess,
) -> None:
    # A body within --body-buffer is gathered before the app runs: one that breaks the
    # limit is answered 413 there, and the app is never called.
    piece = b"c" * 10000
    body = chunked(*[piece] * (BODY_LIMIT // len(piece) + 2))
    since = shared_server.log_mark()
    with connect(shared_server) as client:
        port = client.local_port()
        client.send(request("POST", "/read-in-iter?tag=early", [("Transfer-Encoding", "chunked")]))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.send(body)
        resp = client.response()
        assert resp.status == 413
        assert resp.header("Connection") == "close"
        assert client.closed_within(2.0)
    shared_server.wait_for_log(
        f"413 request body larger than --limit-request-body from 127.0.0.1:{port}",
        5.0,
        since=since,
    )
    assert "early" not in shared_server.log_text()


def test_file_wrapper_bodies_over_the_socket(shared_server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    with connect(shared_server) as client:
        client.send(request("GET", f"/file?path={path}"))
        resp = client.response()
        assert resp.header("Content-Length") == str(len(data))
        assert resp.body == data
        client.send(request("GET", f"/file?path={path}&offset=1000&cl=5000"))
        assert client.response().body == data[1000:6000]
        client.send(request("HEAD", f"/file?path={path}"))
        assert client.response("HEAD").header("Content-Length") == str(len(data))
        # pipelined behind a file body, and the connection still in step
        client.send(request("GET", f"/file?path={path}&offset=7") + request("GET", "/hello?tag=f"))
        assert client.response().body == data[7:]
        assert client.response().body == b"hello GET f\n"


def test_file_wrapper_to_a_slow_reader(shared_server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    data = os.urandom(2 * 1024 * 1024)
    path.write_bytes(data)
    client = RawClient.connect(shared_server.host, shared_server.port, rcvbuf=32768)
    with client:
        client.send(request("GET", f"/file?path={path}"))
        head = client.head()
        body = bytearray(client.buffer)
        client.buffer.clear()
        while len(body) < len(data):
            piece = client.sock.recv(4096)
            assert piece, "closed early"
            body += piece
        assert head.status == 200 and bytes(body) == data
