"""Connection reuse: keep-alive, HTTP/1.0, pipelining and the idle timeout."""

from __future__ import annotations

import threading

from server_setup import app_args

from rawhttp import RawClient, request
from serverproc import Serve, ServerProcess


def connect(server: ServerProcess) -> RawClient:
    return RawClient.connect(server.host, server.port)


def test_keep_alive_serves_several_requests_on_one_connection(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        for i in range(5):
            client.send(request("GET", f"/hello?tag=r{i}"))
            resp = client.response()
            assert resp.status == 200
            assert resp.body == f"hello GET r{i}\n".encode()
            assert resp.header("Connection") is None
        client.send(request("GET", "/hello?tag=last", [("Connection", "close")]))
        resp = client.response()
        assert resp.header("Connection") == "close"
        assert client.closed_within(2.0)


def test_http10_without_keep_alive_closes(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("GET", "/hello?tag=ten", version="1.0", host=None))
        resp = client.response()
        assert (resp.status, resp.body) == (200, b"hello GET ten\n")
        assert resp.header("Connection") != "keep-alive"
        assert client.closed_within(2.0)


def test_http10_with_keep_alive_stays_open(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        for i in range(3):
            client.send(
                request("GET", f"/hello?tag=k{i}", [("Connection", "keep-alive")], version="1.0")
            )
            resp = client.response()
            assert resp.body == f"hello GET k{i}\n".encode()
            assert resp.header("Connection") == "keep-alive"
            assert resp.header("Content-Length") is not None


def test_http10_streamed_response_is_close_delimited(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(
            request("GET", "/stream?n=3&size=4", [("Connection", "keep-alive")], version="1.0")
        )
        resp = client.response()
        assert resp.header("Transfer-Encoding") is None
        assert resp.body == b"aaaabbbbcccc"
        assert client.eof


def test_pipelined_requests_are_answered_in_order(shared_server: ServerProcess) -> None:
    burst = b"".join(request("GET", f"/hello?tag=p{i}") for i in range(8))
    with connect(shared_server) as client:
        client.send(burst)
        tags = [client.response().header("X-Tag") for _ in range(8)]
        assert tags == [f"p{i}" for i in range(8)]


def test_pipelined_requests_with_bodies(shared_server: ServerProcess) -> None:
    bodies = [b"first body", b"", b"x" * 30000, b"chunky"]
    burst = b"".join(
        [
            request("POST", "/echo?tag=0", body=bodies[0]),
            request("GET", "/echo?tag=1"),
            request("PUT", "/echo?tag=2&piece=1000", body=bodies[2]),
            request(
                "POST",
                "/echo?tag=3",
                [("Transfer-Encoding", "chunked")],
                body=b"3\r\nchu\r\n3\r\nnky\r\n0\r\n\r\n",
            ),
            request("GET", "/hello?tag=4"),
        ]
    )
    with connect(shared_server) as client:
        client.send(burst)
        for i, body in enumerate(bodies):
            resp = client.response()
            assert (resp.status, resp.header("X-Tag"), resp.body) == (200, str(i), body)
        assert client.response().body == b"hello GET 4\n"


def test_pipelined_request_after_unread_body(shared_server: ServerProcess) -> None:
    burst = request("POST", "/noread?tag=a", body=b"z" * 5000) + request("GET", "/hello?tag=b")
    with connect(shared_server) as client:
        client.send(burst)
        assert client.response().header("X-Tag") == "a"
        assert client.response().body == b"hello GET b\n"


def test_idle_keep_alive_connection_is_closed(shared_server: ServerProcess) -> None:
    with connect(shared_server) as client:
        client.send(request("GET", "/hello"))
        assert client.response().status == 200
        # --keep-alive 1 and a sweep each second: closed within about 2 s, nothing sent.
        assert client.closed_within(3.5)
        assert client.buffer == b""


def test_client_stalling_in_an_unread_body_is_closed(streaming_server: ServerProcess) -> None:
    with connect(streaming_server) as client:
        client.send(request("POST", "/noread", [("Content-Length", "1000")]) + b"only part")
        assert client.response().status == 200
        assert client.closed_within(4.0)


def test_client_stalling_in_a_buffered_body_gets_408(shared_server: ServerProcess) -> None:
    # The body is gathered before the app runs; a stall past --io-timeout (1 s) is a 408.
    since = shared_server.log_mark()
    with connect(shared_server) as client:
        port = client.local_port()
        client.send(request("POST", "/noread", [("Content-Length", "1000")]) + b"only part")
        resp = client.response()
        assert resp.status == 408
        assert resp.header("Connection") == "close"
        assert client.closed_within(4.0)
    shared_server.wait_for_log(
        f"408 timed out waiting for the request body from 127.0.0.1:{port}", 5.0, since=since
    )


def test_keep_alive_zero_closes_after_each_response(serve: Serve) -> None:
    server = serve(*app_args("--keep-alive", "0"))
    with RawClient.connect(server.host, server.port) as client:
        client.send(request("GET", "/hello?tag=one") + request("GET", "/hello?tag=two"))
        resp = client.response()
        assert resp.header("X-Tag") == "one"
        assert resp.header("Connection") == "close"
        assert client.closed_within(0.5)
        assert client.buffer == b"", "a second request was served on the connection"


def test_pipelined_large_body_behind_a_slow_request(serve: Serve) -> None:
    server = serve(*app_args("--io-timeout", "2"))
    body = bytes(range(256)) * 8192  # 2 MiB: more than one read, so some waits in the socket
    burst = (
        request("GET", "/slow?s=0.3&tag=first")
        + request("POST", "/echo?tag=big", body=body)
        + request("GET", "/hello?tag=third")
    )
    with RawClient.connect(server.host, server.port) as client:
        sender = threading.Thread(target=client.send, args=(burst,))
        sender.start()
        assert client.response().body == b"slept first\n"
        resp = client.response()
        assert (resp.status, resp.header("X-Tag"), resp.body == body) == (200, "big", True)
        assert client.response().body == b"hello GET third\n"
        sender.join(5.0)
