"""Bad and hostile clients of the metrics listener: each gets a 4xx or a closed connection and
costs one log line, and the master goes on serving (its workers, the main listener and
/metrics) as if nothing happened. The master serves this listener inside its own loop, so
anything that blocked here would stop the whole server's supervision.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

from observing import fetch, metrics_port, parse_scrape, value, wait_until

from procstat import children
from pronghorn.metrics.endpoint import Bounds, MetricsEndpoint
from serverproc import Serve


def _exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data`, then read until the server closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
        return received


CASES = [
    (b"GARBAGE\r\n\r\n", b"HTTP/1.1 400 ", "400"),
    (b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\nHost: m\r\n\r\n", b"HTTP/1.1 414 ", "414"),
    (
        b"GET /metrics HTTP/1.1\r\nHost: m\r\n" + b"X-A: b\r\n" * 40 + b"\r\n",
        b"HTTP/1.1 431 ",
        "431",
    ),
    (
        b"POST /metrics HTTP/1.1\r\nHost: m\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 413 ",
        "413",
    ),
    (
        b"GET /metrics HTTP/1.1\r\nHost: m\r\nContent-Length: 99999999\r\n\r\n",
        b"HTTP/1.1 413 ",
        "413",
    ),
    (b"GET / HTTP/1.1\r\nHost: m\r\nContent-Length: 1\r\n\r\nx", b"HTTP/1.1 413 ", "413"),
    (b"GET /metrics HTTP/2.0\r\nHost: m\r\n\r\n", b"HTTP/1.1 505 ", "505"),
]


def test_malformed_requests_get_a_4xx_and_one_log_line(serve: Serve, app_dir: Path) -> None:
    server = serve("-b", "127.0.0.1:0", "-w", "2", "--metrics-bind", "127.0.0.1:0",
                   "metricsapp:app", cwd=app_dir)  # fmt: skip
    mport = metrics_port(server)
    assert wait_until(lambda: fetch(mport, "/readyz")[0] == 200, 15)
    workers = children(server.pid)
    for request, answer, status in CASES:
        logged = server.log_text().count("Metrics listener:") + 1
        reply = _exchange(mport, request)
        assert reply.startswith(answer), (request[:60], reply[:200])
        assert b"Connection: close" in reply
        assert wait_until(lambda n=logged: server.log_text().count("Metrics listener:") == n, 5)
        assert f"Metrics listener: {status} " in server.log_text()
    # Asked politely but wrongly: answers, and no log line.
    logged = server.log_text().count("Metrics listener:")
    assert _exchange(mport, b"DELETE /metrics HTTP/1.1\r\nHost: m\r\n\r\n").startswith(
        b"HTTP/1.1 405 "
    )
    assert fetch(mport, "/nothing-here")[0] == 404
    # Pipelined: each answered in order on the one connection.
    last = b"GET /readyz HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n"
    replies = _exchange(mport, b"GET /livez HTTP/1.1\r\nHost: m\r\n\r\n" * 3 + last)
    assert replies.count(b"HTTP/1.1 200 OK\r\n") == 4 and replies.endswith(b"serving\n")
    assert server.log_text().count("Metrics listener:") == logged
    # The master and its workers did not notice.
    assert children(server.pid) == workers
    assert fetch(server.port, "/")[0] == 200
    assert value(parse_scrape(fetch(mport, "/metrics")[1]), "pronghorn_workers") == 2


def test_slow_and_greedy_clients_do_not_hold_the_master(serve: Serve, app_dir: Path) -> None:
    server = serve("-b", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0", "--timeout", "5",
                   "metricsapp:app", cwd=app_dir)  # fmt: skip
    mport = metrics_port(server)
    hogs = []
    try:
        # 40 connections that ask for /metrics again and again and never read (their
        # receive buffers are tiny), and 10 more that send half a head and stop.
        for _ in range(40):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            sock.connect(("127.0.0.1", mport))
            sock.setblocking(False)
            try:
                for _ in range(50):
                    sock.send(b"GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
            except BlockingIOError:
                pass
            hogs.append(sock)
        for _ in range(10):
            hogs.append(socket.create_connection(("127.0.0.1", mport), timeout=5))
            hogs[-1].sendall(b"GET /metr")
        # Meanwhile the master supervises as always: its worker serves, a new one replaces
        # a killed one (which takes the master's loop: reaping, forking, the watchdog).
        for _ in range(20):
            assert fetch(server.port, "/")[0] == 200
        (worker,) = children(server.pid)
        os.kill(worker, signal.SIGKILL)
        assert wait_until(lambda: len(children(server.pid) - {worker}) == 1, 10)
        assert wait_until(lambda: _ok(server.port), 10)
    finally:
        for sock in hogs:
            sock.close()
    # Once the hogs are gone, /metrics answers again (they were closed or timed out).
    assert wait_until(lambda: _ok(mport, "/livez"), 15)
    assert "Traceback" not in server.log_text()


def _ok(port: int, path: str = "/") -> bool:
    try:
        return fetch(port, path, timeout=2)[0] == 200
    except OSError:
        return False


def test_a_peer_not_allowed_gets_403_and_one_log_line(serve: Serve, app_dir: Path) -> None:
    server = serve("-b", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0",
                   "--metrics-allow-from", "10.9.8.7,192.168.0.0/16", "metricsapp:app",
                   cwd=app_dir)  # fmt: skip
    mport = metrics_port(server)
    reply = _exchange(mport, b"GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 403 "), reply
    assert b"pronghorn_" not in reply
    assert wait_until(lambda: "not in --metrics-allow-from" in server.log_text(), 5)
    assert server.log_text().count("Metrics listener:") == 1
    assert fetch(server.port, "/")[0] == 200


def test_a_head_that_never_ends_is_answered_408() -> None:
    """The deadlines, with short bounds, on the endpoint alone (a thread drives it)."""
    listener = socket.create_server(("127.0.0.1", 0))
    log = logging.getLogger("test.metrics.endpoint")
    bounds = Bounds(max_peers=2, head_seconds=0.5, idle_seconds=0.5, write_seconds=0.5)
    endpoint = MetricsEndpoint(
        listener, ["127.0.0.1"], lambda method, path: (200, "OK", "text/plain", b"x\n"), log,
        bounds,
    )  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=lambda: _drive(endpoint, stop), daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        reply = _exchange(port, b"GET /metrics HTTP/1.1\r\nHost: m\r\n", timeout=5)
        assert reply.startswith(b"HTTP/1.1 408 "), reply
        assert time.monotonic() - started < 4
        # An idle keep-alive connection is closed after its bound; more than max_peers
        # connections wait in the backlog and are served once one closes.
        first = socket.create_connection(("127.0.0.1", port), timeout=5)
        second = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert _exchange(port, b"GET /x HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n",
                         timeout=5).endswith(b"\r\n\r\nx\n")  # fmt: skip
        assert first.recv(1) == b"" and second.recv(1) == b"", "closed as idle"
        first.close()
        second.close()
    finally:
        stop.set()
        thread.join(5)
        endpoint.close()


def _drive(endpoint: MetricsEndpoint, stop: threading.Event) -> None:
    while not stop.is_set():
        endpoint.serve(0.05)
