"""A closed connection leaves nothing for the cyclic garbage collector.

The parser of a connection held llhttp, which held the parser's bound methods: a cycle that
only the collector freed, with the last request's head and events on it (12 objects a
connection; `RequestParser.release` cuts it when the reactor closes the connection). Run
against a real server whose app keeps whatever a collection finds (cycles_app.py)."""

from __future__ import annotations

from pathlib import Path

from rawhttp import RawClient, request
from serverproc import ServerProcess

HERE = str(Path(__file__).resolve().parent)
# What a request on a closed connection must not leave behind.
CONNECTION_TYPES = {"RequestParser", "HttpRequestParser", "RequestHead", "MessageEnd"}


def collected(server: ServerProcess) -> dict[str, int]:
    with RawClient.connect(server.host, server.port) as client:
        client.send(request("GET", "/collect", [("Connection", "close")]))
        response = client.response()
    assert response.status == 200
    pairs = (line.rsplit(" ", 1) for line in response.body.decode().splitlines())
    return {name: int(count) for name, count in pairs}


def closing_traffic(server: ServerProcess, rounds: int) -> None:
    """Connections ended every way a connection ends: `Connection: close`, the client
    closing after a keep-alive request, HTTP/1.0, a refused request, a bodied POST."""
    for _ in range(rounds):
        with RawClient.connect(server.host, server.port) as client:
            client.send(request("GET", "/", [("Connection", "close")]))
            assert client.response().status == 200
        with RawClient.connect(server.host, server.port) as client:
            client.send(request("GET", "/"))
            assert client.response().status == 200
        with RawClient.connect(server.host, server.port) as client:
            client.send(request("GET", "/", version="1.0"))
            assert client.response().status == 200
        with RawClient.connect(server.host, server.port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
            assert client.response().status == 400
        with RawClient.connect(server.host, server.port) as client:
            client.send(request("POST", "/", [("Connection", "close")], body=b"x" * 5000))
            assert client.response().status == 200


def test_closed_connections_leave_no_cycles() -> None:
    args = ["--pythonpath", HERE, "-b", "127.0.0.1:0", "--single-process", "cycles_app:app"]
    with ServerProcess(args) as server:
        closing_traffic(server, 2)  # anything made once, at the first requests, goes now
        collected(server)
        closing_traffic(server, 20)
        left = collected(server)
        assert not CONNECTION_TYPES & left.keys(), left
