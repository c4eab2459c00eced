"""Responses held back to be sent with their batch never wait for another request's app."""

from __future__ import annotations

import time

from rawhttp import RawClient
from serverproc import ServerProcess


def test_pipelined_response_is_not_held_behind_a_slow_request(
    shared_server: ServerProcess,
) -> None:
    with RawClient.connect(shared_server.host, shared_server.port) as client:
        client.send(
            b"GET /status?code=200 HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /slow?s=1.5 HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        started = time.monotonic()
        assert client.response().status == 200
        first = time.monotonic() - started
        assert client.response().status == 200
        both = time.monotonic() - started
    assert first < 0.75, f"first response took {first:.2f} s: held behind the slow one"
    assert both >= 1.4
