"""gunicorn-compatible statsd: `--statsd-host` and `--statsd-prefix`, over UDP.

Owns `StatsdClient` (a non-blocking UDP socket: a line that cannot be sent now is dropped,
never waited for) and `WorkerStatsd`, what a worker sends once a second from its clock
thread, never from the request path: the requests since the last send
(`gunicorn.requests`, a counter), by status code (`gunicorn.request.status.<code>`), and
their durations in milliseconds (`gunicorn.request.duration`, a timer; at most
`recorder.STATSD_SAMPLES` a second, and then with statsd's `@rate` so that the counts it
derives stay right). The master sends `gunicorn.workers` (a gauge). The names are gunicorn's,
under `--statsd-prefix` (a dot is added when it has none), so dashboards built for gunicorn
keep working. Lines are packed into datagrams of at most `DATAGRAM_BYTES`, one per line
(statsd's multi-metric packets).
"""

from __future__ import annotations

import contextlib
import logging
import socket

from pronghorn.config.address import TcpAddress, parse_bind
from pronghorn.metrics.recorder import WorkerMetrics

DATAGRAM_BYTES = 1432
"""A datagram that fits an Ethernet frame with room for tunnels (statsd's usual advice)."""


def normalise_prefix(prefix: str) -> str:
    """gunicorn's rule: a non-empty prefix ends with exactly one dot."""
    stripped = prefix.rstrip(".")
    return stripped + "." if stripped else ""


class StatsdClient:
    """A UDP socket to one statsd server; sending never blocks and never raises."""

    def __init__(self, address: str, prefix: str, log: logging.Logger) -> None:
        target = parse_bind(address)
        assert isinstance(target, TcpAddress)  # the config allows HOST:PORT only
        self.prefix = normalise_prefix(prefix)
        self._log = log
        self._warned = False
        family, _, _, _, sockaddr = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_DGRAM
        )[0]
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._target = sockaddr

    def send(self, lines: list[str]) -> None:
        """Send `lines` (without the prefix), as few datagrams as fit."""
        packet: list[bytes] = []
        size = 0
        for line in lines:
            data = (self.prefix + line).encode("ascii", "replace")
            if packet and size + 1 + len(data) > DATAGRAM_BYTES:
                self._send(b"\n".join(packet))
                packet, size = [], 0
            packet.append(data)
            size += len(data) + (1 if size else 0)
        if packet:
            self._send(b"\n".join(packet))

    def _send(self, datagram: bytes) -> None:
        try:
            self._sock.sendto(datagram, self._target)
        except OSError as exc:  # full buffer, unreachable: statsd is best effort
            if not self._warned:
                self._warned = True
                self._log.warning("statsd: cannot send to %s: %s", self._target, exc)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class WorkerStatsd:
    """The lines one worker sends once a second, from its counters."""

    def __init__(self, client: StatsdClient, metrics: WorkerMetrics) -> None:
        self._client = client
        self._metrics = metrics
        self._sent_codes: dict[int, int] = {}

    def send(self) -> None:
        """Clock thread: the requests since the last call, by status, and their durations."""
        codes, samples = self._metrics.statsd_take()
        lines = []
        total = 0
        for code, count in sorted(codes.items()):
            new = count - self._sent_codes.get(code, 0)
            if new:
                lines.append(f"gunicorn.request.status.{code}:{new}|c")
                total += new
        self._sent_codes = codes
        if not total:
            return
        lines.insert(0, f"gunicorn.requests:{total}|c")
        rate = f"|@{len(samples) / total:.4g}" if len(samples) < total else ""
        duration = "gunicorn.request.duration"
        lines.extend(f"{duration}:{seconds * 1000.0:.3f}|ms{rate}" for seconds in samples)
        self._client.send(lines)
