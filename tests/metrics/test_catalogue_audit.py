"""Issue 12's list of metrics, each checked on a real server against what the test did:
bytes in; bad requests by reason (400/408/413/431/501/505); connections timed out (head,
idle, fresh), open, and refused when a stop begins; requests waiting for a thread; the listen
queue; worker uptime; worker restarts by cause (reload, timeout) and per slot. (Requests by
method and status, both duration histograms, bytes out, static hits, 304s, sendfile bytes,
accepted connections and the crash and max_requests causes are in test_prometheus.py.)"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
from pathlib import Path

from observing import metrics_port, scrape, value, wait_until

from procstat import children
from serverproc import Serve


def _exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send `data`; read until the server closes (bounded by `timeout`)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
    return received


def _counted(mport: int, expected: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> bool:
    samples = scrape(mport)
    return all(value(samples, name, **dict(labels)) == n for (name, labels), n in expected.items())


def _shown(mport: int, expected: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> str:
    samples = scrape(mport)
    return ", ".join(f"{name}{dict(labels)}={value(samples, name, **dict(labels))}"
                     for name, labels in expected)  # fmt: skip


def _state(pid: int) -> str:
    """The process state letter of /proc/PID/stat (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_bytes_in_bad_requests_and_timeouts(serve: Serve, app_dir: Path) -> None:
    server = serve("-b", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0", "--header-timeout",
                   "1", "--keep-alive", "1", "--limit-request-body", "10", "metricsapp:app",
                   cwd=app_dir)  # fmt: skip
    mport = metrics_port(server)
    request = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    for _ in range(3):
        assert _exchange(server.port, request).startswith(b"HTTP/1.1 200 ")
    bytes_in = ("pronghorn_received_bytes_total", ())
    assert wait_until(lambda: _counted(mport, {bytes_in: 3 * len(request)}), 10), scrape(mport)

    refusals = {
        b"GARBAGE\r\n\r\n": b"400",
        b"GET / HTTP/1.1\r\nHost": b"408",  # never finished: --header-timeout
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n": b"413",
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 200 + b"\r\n": b"431",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n": b"501",
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n": b"505",
    }
    for data, status in refusals.items():
        assert _exchange(server.port, data).startswith(b"HTTP/1.1 " + status), data[:40]
    # A keep-alive connection left idle, and one that never sends anything: both closed.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"\n"):
            chunk = idle.recv(65536)
            assert chunk, "closed before the answer"
            answer += chunk
        assert idle.recv(65536) == b"", "closed after --keep-alive"
    assert _exchange(server.port, b"") == b""
    expected = {("pronghorn_bad_requests_total", (("status", s.decode()),)): 1 for s in
                refusals.values()}  # fmt: skip
    expected[("pronghorn_bad_requests_total", ())] = len(refusals)
    expected[("pronghorn_connections_timed_out_total", (("phase", "head"),))] = 1
    expected[("pronghorn_connections_timed_out_total", (("phase", "idle"),))] = 1
    expected[("pronghorn_connections_timed_out_total", (("phase", "fresh"),))] = 1
    assert wait_until(lambda: _counted(mport, expected), 10), _shown(mport, expected)


def _ask(connection: http.client.HTTPConnection, path: str, statuses: list[int]) -> None:
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    statuses.append(response.status)


def test_requests_waiting_connections_open_and_the_listen_queue(
    serve: Serve, app_dir: Path
) -> None:
    server = serve("-b", "127.0.0.1:0", "-w", "1", "--threads", "1", "--backlog", "64",
                   "--metrics-bind", "127.0.0.1:0", "metricsapp:app", cwd=app_dir)  # fmt: skip
    mport = metrics_port(server)
    statuses: list[int] = []
    # Three keep-alive connections, accepted while the one thread is free.
    connections = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                   for _ in range(3)]  # fmt: skip
    try:
        for connection in connections:
            _ask(connection, "/", statuses)
        # One request holds the thread; the next two, on connections already open, wait.
        slow = threading.Thread(target=_ask, args=(connections[0], "/sleep?3", statuses))
        slow.start()
        assert wait_until(lambda: value(scrape(mport), "pronghorn_requests_in_flight") == 1, 10)
        clients = [
            threading.Thread(target=_ask, args=(connection, "/", statuses))
            for connection in connections[1:]
        ]
        for client in clients:
            client.start()
        busy = {
            ("pronghorn_requests_in_flight", ()): 1,
            ("pronghorn_requests_waiting", ()): 2,
            ("pronghorn_connections_open", ()): 3,
            ("pronghorn_slot_requests_in_flight", (("slot", "1"),)): 1,
            ("pronghorn_slot_connections_open", (("slot", "1"),)): 3,
        }
        assert wait_until(lambda: _counted(mport, busy), 2.5), _shown(mport, busy)
        for client in [slow, *clients]:
            client.join(30)
    finally:
        for connection in connections:
            connection.close()
    assert statuses == [200] * 6

    # A worker that does not accept: the kernel queues the connections.
    listener = f"http://127.0.0.1:{server.port}"
    queue = ("pronghorn_listen_queue", (("listener", listener),))
    limit = ("pronghorn_listen_queue_limit", (("listener", listener),))
    (worker,) = children(server.pid)
    os.kill(worker, signal.SIGSTOP)
    assert wait_until(lambda: _state(worker) == "T", 5), "stopped before the connections come"
    waiting = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
    try:
        assert wait_until(lambda: _counted(mport, {queue: 3, limit: 64}), 5), _shown(
            mport, {queue: 3, limit: 64}
        )
    finally:
        os.kill(worker, signal.SIGCONT)
        for sock in waiting:
            sock.close()
    assert wait_until(lambda: _counted(mport, {queue: 0}), 5)


def test_uptime_and_restarts_by_cause(serve: Serve, app_dir: Path) -> None:
    server = serve("-b", "127.0.0.1:0", "-w", "2", "--timeout", "2", "--metrics-bind",
                   "127.0.0.1:0", "metricsapp:app", cwd=app_dir)  # fmt: skip
    mport = metrics_port(server)
    assert wait_until(lambda: value(scrape(mport), "pronghorn_workers", state="serving") == 2, 15)

    def uptimes() -> dict[str, float]:
        return {
            dict(labels)["pid"]: number
            for (name, labels), number in scrape(mport).items()
            if name == "pronghorn_worker_uptime_seconds"
        }

    first = uptimes()
    assert set(first) == {str(pid) for pid in children(server.pid)}
    assert wait_until(lambda: all(uptimes()[pid] > first[pid] for pid in first), 5)

    # A reload replaces both workers.
    os.kill(server.pid, signal.SIGHUP)
    reloaded = {("pronghorn_worker_restarts_total", (("cause", "reload"),)): 2}
    assert wait_until(lambda: _counted(mport, reloaded), 20), scrape(mport)
    assert wait_until(lambda: len(uptimes()) == 2 and not set(uptimes()) & set(first), 10)

    # A request longer than --timeout: the watchdog kills its worker, replaced in its slot.
    stuck = threading.Thread(target=_exchange, args=(server.port, b"GET /sleep?8 HTTP/1.0\r\n\r\n"))
    stuck.start()
    killed = {("pronghorn_worker_restarts_total", (("cause", "timeout"),)): 1}
    assert wait_until(lambda: _counted(mport, killed), 15), scrape(mport)
    stuck.join(15)
    samples = scrape(mport)
    assert value(samples, "pronghorn_worker_restarts_total", cause="crash") == 0
    assert value(samples, "pronghorn_slot_restarts_total") == 1


def test_connections_refused_when_a_graceful_stop_begins(serve: Serve, app_dir: Path) -> None:
    """A connection that has sent nothing when SIGTERM comes is closed and counted as refused
    (reason stopping), visible on the metrics listener while a request still drains: the
    worker keeps publishing during the drain."""
    server = serve("-b", "127.0.0.1:0", "-w", "1", "--graceful-timeout", "20",
                   "--metrics-bind", "127.0.0.1:0", "metricsapp:app", cwd=app_dir)  # fmt: skip
    mport = metrics_port(server)
    answers: list[bytes] = []
    slow = threading.Thread(
        target=lambda: answers.append(_exchange(server.port, b"GET /sleep?8 HTTP/1.0\r\n\r\n"))
    )
    slow.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as silent:
        opened = {("pronghorn_connections_open", ()): 2, ("pronghorn_requests_in_flight", ()): 1}
        assert wait_until(lambda: _counted(mport, opened), 5), _shown(mport, opened)
        os.kill(server.pid, signal.SIGTERM)
        assert silent.recv(1) == b"", "the silent connection is closed when the stop begins"
        refused = {("pronghorn_connections_refused_total", (("reason", "stopping"),)): 1}
        drained = {**refused, ("pronghorn_connections_open", ()): 1}
        assert wait_until(lambda: _counted(mport, drained), 2.5), _shown(mport, drained)
        assert slow.is_alive(), "counted while the slow request still drains"
    slow.join(15)
    assert answers and answers[0].startswith(b"HTTP/1.1 200 "), answers
    assert wait_until(lambda: server.returncode() is not None, 15)
