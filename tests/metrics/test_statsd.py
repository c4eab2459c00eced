"""`--statsd-host`: gunicorn's statsd metrics arrive on a real UDP socket, under the prefix,
and add up to the requests the test sent."""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections import Counter
from pathlib import Path

from serverproc import Serve

_LINE = re.compile(r"^([\w.]+):([0-9.]+)\|(c|ms|g)(?:\|@([0-9.]+))?$")


def _get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class _Receiver:
    """A statsd server's socket: reads datagrams and adds up what they say."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.counters: Counter[str] = Counter()
        self.timings: dict[str, list[float]] = {}
        self.gauges: dict[str, float] = {}
        self.datagrams = 0

    def receive_until(self, done: object, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(done) and done():
                return True
            try:
                datagram = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.datagrams += 1
            assert len(datagram) <= 1432, len(datagram)
            for line in datagram.decode("ascii").split("\n"):
                self._take(line)
        return bool(callable(done) and done())

    def _take(self, line: str) -> None:
        match = _LINE.match(line)
        assert match is not None, line
        name, number, kind, rate = match.groups()
        assert rate is None, "no sampling at this rate of requests"
        if kind == "c":
            self.counters[name] += int(number)
        elif kind == "ms":
            self.timings.setdefault(name, []).append(float(number))
        else:
            self.gauges[name] = float(number)

    def close(self) -> None:
        self.sock.close()


def test_statsd_gets_gunicorns_metrics(serve: Serve, app_dir: Path) -> None:
    receiver = _Receiver()
    try:
        server = serve(
            "-b", "127.0.0.1:0", "-w", "2", "--statsd-host", f"127.0.0.1:{receiver.port}",
            "--statsd-prefix", "shop.web", "metricsapp:app", cwd=app_dir,
        )  # fmt: skip
        for _ in range(10):
            assert _get(server.port, "/") == 200
        for _ in range(3):
            assert _get(server.port, "/status/404") == 404
        assert _get(server.port, "/sleep?0.05") == 200

        def complete() -> bool:
            return (
                receiver.counters["shop.web.gunicorn.requests"] == 14
                and len(receiver.timings.get("shop.web.gunicorn.request.duration", [])) == 14
                and receiver.gauges.get("shop.web.gunicorn.workers") == 2
            )

        assert receiver.receive_until(complete, 15), (receiver.counters, receiver.gauges)
        assert receiver.counters["shop.web.gunicorn.request.status.200"] == 11
        assert receiver.counters["shop.web.gunicorn.request.status.404"] == 3
        durations = receiver.timings["shop.web.gunicorn.request.duration"]
        assert max(durations) >= 50.0, "milliseconds, as gunicorn sends them"
        assert set(receiver.counters) == {
            "shop.web.gunicorn.requests",
            "shop.web.gunicorn.request.status.200",
            "shop.web.gunicorn.request.status.404",
        }
    finally:
        receiver.close()


def test_an_unreachable_statsd_changes_nothing(serve: Serve, app_dir: Path) -> None:
    # Nobody listens there: sends fail (ICMP port unreachable), requests never notice.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = serve("-b", "127.0.0.1:0", "--statsd-host", f"127.0.0.1:{port}", "metricsapp:app",
                   cwd=app_dir)  # fmt: skip
    until = time.monotonic() + 2.5  # requests all along several once-a-second sends
    answered = 0
    while time.monotonic() < until:
        assert _get(server.port, "/") == 200
        answered += 1
    assert answered > 10
    assert "Traceback" not in server.log_text()
