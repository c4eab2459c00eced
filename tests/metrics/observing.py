"""Helpers for the metrics tests: where a server's metrics listener is, its answers, and a
reading of the Prometheus text format.

`parse_scrape` is deliberately small: the format itself is checked by Prometheus and
`promtool` (tests/metrics/test_prometheus.py); this only reads values back.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Callable

from serverproc import ServerProcess

METRICS_RE = re.compile(r"Metrics at: http://(\[[^\]]+\]|[^\s:]+):(\d+)/metrics")
Series = tuple[str, frozenset[tuple[str, str]]]
_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics_port(server: ServerProcess) -> int:
    """The port of the server's metrics listener, from its log line."""
    match = METRICS_RE.search(server.wait_for_log("Metrics at: http://"))
    assert match is not None
    return int(match.group(2))


def fetch(port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET `path` from 127.0.0.1:`port`: (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def try_fetch(port: int, path: str, timeout: float = 5.0) -> tuple[int, str] | str:
    """Like `fetch`, but a connection that fails is an outcome: 'refused' or the error."""
    try:
        return fetch(port, path, timeout)
    except ConnectionRefusedError:
        return "refused"
    except (OSError, http.client.HTTPException) as exc:
        return repr(exc)


def parse_scrape(text: str) -> dict[Series, float]:
    """Every sample of a scrape: (name, labels) -> value."""
    samples: dict[Series, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match is not None, line
        name, labels, value = match.groups()
        pairs = frozenset(_LABEL.findall(labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


def value(samples: dict[Series, float], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, pairs), v in samples.items() if n == name and wanted <= pairs)


def scrape(port: int) -> dict[Series, float]:
    status, body = fetch(port, "/metrics")
    assert status == 200, body
    return parse_scrape(body)


def connectable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)  # polling interval of a bounded wait


def free_port() -> int:
    """A TCP port nobody listens on now (for a program that cannot be told port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
