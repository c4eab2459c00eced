"""The relay engine: a blocking app call never stalls other clients, and responses held
to be sent with their batch never wait for another request's app."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from server_setup import app_args

from rawhttp import RawClient
from serverproc import Serve, ServerProcess


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


def test_an_accept_batch_does_not_hold_its_first_responses_to_its_end(
    serve: Serve, tmp_path: Path
) -> None:
    # Connections that queue up while the only thread is busy (2 s: time for all 20 to
    # connect and send, even on a loaded machine) are accepted in one batch. Their
    # responses are held to go out together, but not until the whole batch is served:
    # the 20th connection's app waits for the file the client makes once it holds the
    # first connection's response. Held to the end of the batch, that response would
    # come only after the 20th app gave up waiting, 3 s later.
    server = serve(*app_args("--threads", "1"))
    seen = tmp_path / "first-answered"
    with RawClient.connect(server.host, server.port) as gate:
        gate.send(b"GET /slow?s=2&tag=batch-gate HTTP/1.1\r\nHost: a\r\n\r\n")
        server.wait_for_log("started batch-gate", 5.0)
        clients = [RawClient.connect(server.host, server.port, timeout=8.0) for _ in range(20)]
        try:
            for client in clients[:-1]:
                client.send(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
            clients[-1].send(
                f"GET /until-file?path={seen}&s=3 HTTP/1.1\r\nHost: a\r\n\r\n".encode()
            )

            def answer_first() -> None:
                if clients[0].response().status == 200:
                    seen.touch()

            reader = threading.Thread(target=answer_first)
            reader.start()
            assert gate.response().status == 200
            started = time.monotonic()
            last = clients[-1].response()
            waited = time.monotonic() - started
            reader.join(5.0)
        finally:
            for client in clients:
                client.close()
    assert last.status == 200
    assert last.body == b"seen\n", f"the first response was held {waited:.1f} s"
