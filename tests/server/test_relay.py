"""The relay engine: a blocking app call never stalls other clients, and responses held
to be sent with their batch never wait for another request's app."""

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


def test_a_blocking_app_call_does_not_stall_other_clients(shared_server: ServerProcess) -> None:
    # The shared server runs 4 threads: while one is stuck in the app, the standby takes
    # the lead and serves everyone else.
    with (
        RawClient.connect(shared_server.host, shared_server.port) as stuck,
        RawClient.connect(shared_server.host, shared_server.port) as other,
    ):
        stuck.send(b"GET /slow?s=2&tag=relay-stuck HTTP/1.1\r\nHost: a\r\n\r\n")
        shared_server.wait_for_log("started relay-stuck", 5.0)
        started = time.monotonic()
        for _ in range(5):
            other.send(b"GET /status?code=200 HTTP/1.1\r\nHost: a\r\n\r\n")
            assert other.response().status == 200
        others = time.monotonic() - started
        assert stuck.response().status == 200
    assert others < 1.0, f"5 quick requests took {others:.2f} s behind a blocking one"
