"""What an edge-triggered epoll must not lose (pronghorn.io.reactor, `_serve`).

A keep-alive connection stays registered edge-triggered from one request to the next,
with no system call to arm it again: epoll reports new bytes once, when they arrive. So
the reactor must arm it again itself wherever that one report could be spent: an event
that came while a thread had the connection; a read that filled its buffer and may have
left bytes behind; and an event that also brought the peer's close, which a read that
stops at the data before it leaves unread. Each test here hangs (the client's read times
out, or the connection is not closed) without its re-arm. One more, an event in the rest
of an epoll batch when another thread takes the lead, is the soak test's (tests/soak):
without it, 1 request of 11,037 and 1 of 5,865 went unanswered in two runs."""

from __future__ import annotations

import socket

from server_setup import app_args

from rawhttp import RawClient, request
from serverproc import Serve

_READ_TIMEOUT = 5.0


def _register(client: RawClient) -> None:
    """One request and its answer first. A connection's first request, come with it, is
    served straight from the accept, and the connection is registered with epoll only
    after it, when epoll looks at the socket anyway: the cases below are the ones after."""
    client.send(request("GET", "/hello?tag=warm"))
    assert client.response().body == b"hello GET warm\n"


def test_a_request_that_arrives_while_its_connection_is_busy_is_answered(serve: Serve) -> None:
    # Two threads: while the first request's app runs, the other thread leads and polls,
    # and the second request's one event reaches it while the connection is still taken.
    server = serve(*app_args("--threads", "2", "--keep-alive", "30"))
    with RawClient.connect(server.host, server.port, timeout=_READ_TIMEOUT) as client:
        _register(client)
        client.send(request("GET", "/slow?s=0.5&tag=first"))
        server.wait_for_log("started first", 5.0)
        client.send(request("GET", "/hello?tag=second"))
        assert client.response().body == b"slept first\n"
        assert client.response().body == b"hello GET second\n"


def test_requests_past_one_read_that_arrived_together_are_all_answered(serve: Serve) -> None:
    # One thread, busy in the app while the next requests arrive: all of them are in the
    # socket when it is free, more than one read (64 KiB) takes, and nothing more comes.
    server = serve(*app_args("--threads", "1", "--keep-alive", "30"))
    padding = [("X-Pad", "p" * 900)]
    count = 80  # about 75 KiB
    with RawClient.connect(server.host, server.port, timeout=_READ_TIMEOUT) as client:
        _register(client)
        client.send(request("GET", "/slow?s=0.5&tag=first"))
        server.wait_for_log("started first", 5.0)
        client.send(
            b"".join(request("GET", f"/hello?tag=r{i}", headers=padding) for i in range(count))
        )
        assert client.response().body == b"slept first\n"
        for i in range(count):
            assert client.response().body == f"hello GET r{i}\n".encode()


def test_a_close_that_came_with_the_last_request_is_seen(serve: Serve) -> None:
    # One thread, busy with another connection's request while this one's last request
    # and its close (SHUT_WR) arrive: one event brings both. The read stops at the request,
    # and the close must be read too, or the connection waits out its keep-alive (30 s).
    # Seen first through nginx's uwsgi module, which closes after the response while
    # pronghorn still discards the unread body: the worker's stop then waited for it.
    server = serve(*app_args("--threads", "1", "--keep-alive", "30"))
    with (
        RawClient.connect(server.host, server.port, timeout=_READ_TIMEOUT) as busy,
        RawClient.connect(server.host, server.port, timeout=_READ_TIMEOUT) as client,
    ):
        _register(client)
        busy.send(request("GET", "/slow?s=0.5&tag=busy"))
        server.wait_for_log("started busy", 5.0)
        client.send(request("GET", "/hello?tag=last"))
        client.sock.shutdown(socket.SHUT_WR)
        assert busy.response().body == b"slept busy\n"
        assert client.response().body == b"hello GET last\n"
        assert client.closed_within(3.0), "the server did not see the client's close"
