"""A real Prometheus scrapes `--metrics-bind` of a server with two workers; what it stores
must be what the test sent, across workers that exit (--max-requests) and one killed.

Each request goes on a connection of its own, so the kernel hands them to both workers;
`--max-requests 15` makes every worker exit (after publishing its last counts) and be
replaced several times during the test, and a worker killed with SIGKILL is replaced too.
Counters must come out exact, never go backwards (Prometheus's `resets()` stays 0), and the
restarts must be counted by cause.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
from pathlib import Path

from observing import metrics_port, scrape, value, wait_until
from prometheus import Prometheus

from procstat import children
from serverproc import Serve


def _request(port: int, method: str, path: str, **headers: str) -> tuple[int, bytes, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = b"x" if method == "POST" else None
        connection.request(method, path, body=body, headers={"Connection": "close", **headers})
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("ETag") or ""
    finally:
        connection.close()


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        return sock.recv(65536)


def _load(port: int) -> tuple[set[str], int]:
    """The requests of the test: the pids of the workers that answered, and the body bytes
    of the answers (refusals aside: no request was made of those)."""
    pids = set()
    body_bytes = 0
    for method, path, status, count in [
        ("GET", "/", 200, 40), ("GET", "/status/404", 404, 3), ("POST", "/status/503", 503, 2)
    ]:  # fmt: skip
        for _ in range(count):
            answer = _request(port, method, path)
            assert answer[0] == status
            pids.add(answer[1].decode().strip())
            body_bytes += len(answer[1])
    status, body, etag = _request(port, "GET", "/static/big.bin")
    assert status == 200 and len(body) == 262144 and etag
    body_bytes += len(body)
    assert _request(port, "GET", "/static/big.bin", **{"If-None-Match": etag})[0] == 304
    assert _raw(port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    long_line = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _raw(port, long_line).startswith(b"HTTP/1.1 414 ")
    return pids, body_bytes


EXPECTED = {
    'sum(pronghorn_requests_total{method="GET",status="2xx"})': 41,  # 40 and the file
    'sum(pronghorn_requests_total{method="GET",status="3xx"})': 1,
    'sum(pronghorn_requests_total{method="GET",status="4xx"})': 3,
    'sum(pronghorn_requests_total{method="POST",status="5xx"})': 2,
    "sum(pronghorn_requests_total)": 47,
    "pronghorn_app_duration_seconds_count": 45,
    'pronghorn_app_duration_seconds_bucket{le="+Inf"}': 45,
    "pronghorn_request_duration_seconds_count": 47,
    "pronghorn_static_hits_total": 1,
    "pronghorn_static_not_modified_total": 1,
    "pronghorn_sendfile_bytes_total": 262144,
    'pronghorn_bad_requests_total{status="400"}': 1,
    'pronghorn_bad_requests_total{status="414"}': 1,
    "pronghorn_connections_accepted_total": 49,
}


def test_prometheus_sees_the_whole_server_across_restarts(
    serve: Serve, app_dir: Path, tmp_path: Path
) -> None:
    server = serve(
        "-b", "127.0.0.1:0", "-w", "2", "--max-requests", "15", "--metrics-bind",
        "127.0.0.1:0", "--static", "/static=public", "metricsapp:app", cwd=app_dir,
    )  # fmt: skip
    mport = metrics_port(server)
    with Prometheus(tmp_path, mport) as prometheus:
        pids, body_bytes = _load(server.port)
        assert len(pids) >= 3, "45 requests at 15 a worker: at least three workers served"
        expected = {**EXPECTED, "pronghorn_response_body_bytes_total": body_bytes}

        def all_seen() -> bool:
            return all(prometheus.value(query) == number for query, number in expected.items())

        assert wait_until(all_seen, 30, 0.5), {q: prometheus.value(q) for q in expected}
        restarts = 'pronghorn_worker_restarts_total{cause="max_requests"}'
        assert (prometheus.value(restarts) or 0) >= 2
        assert prometheus.value("sum(resets(pronghorn_requests_total[5m]))") == 0

        # A worker killed outright: what it had published stays, and it is a crash.
        before = scrape(mport)
        victim = min(children(server.pid))
        os.kill(victim, signal.SIGKILL)
        assert wait_until(
            lambda: value(scrape(mport), "pronghorn_worker_restarts_total", cause="crash") == 1,
            15,
        )
        after = scrape(mport)
        for series, number in before.items():
            if series[0].endswith(("_total", "_count", "_bucket", "_sum")):
                assert after.get(series, 0) >= number, series
        assert value(after, "pronghorn_requests_total") == 47
        assert (
            value(after, "pronghorn_workers", state="serving")
            + value(after, "pronghorn_workers", state="booting")
            == 2
        )

        # And counting goes on from there.
        for _ in range(5):
            assert _request(server.port, "GET", "/")[0] == 200
        total = "sum(pronghorn_requests_total)"
        assert wait_until(lambda: prometheus.value(total) == 52, 20, 0.5), prometheus.value(total)
        assert prometheus.value("sum(resets(pronghorn_requests_total[5m]))") == 0


def test_a_scrape_passes_promtool(serve: Serve, app_dir: Path) -> None:
    """`promtool check metrics`: the text format and Prometheus' naming conventions."""
    server = serve("-b", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0", "metricsapp:app",
                   cwd=app_dir)  # fmt: skip
    mport = metrics_port(server)
    assert _request(server.port, "GET", "/")[0] == 200
    connection = http.client.HTTPConnection("127.0.0.1", mport, timeout=10)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    text = response.read()
    connection.close()
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not checked.stdout.strip() and not checked.stderr.strip(), checked.stdout
