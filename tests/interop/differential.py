"""One differential run: raw bytes sent to a proxy, and what the proxy and the app made of them.

`Upstream` is the pronghorn process behind the proxies, serving `echo_app` on one thread,
and the log where the app records every request it received. `run_bytes` sends a case's
bytes to a proxy followed by a request the proxy answers itself and closes on, reads until
the proxy closes (bounded by a deadline), and then fences: a request straight to pronghorn
whose line in the app's log (and marker in pronghorn's log) closes the case's window.
pronghorn runs one worker with one thread, which serves the requests it has already read on
a connection (pipelined ones too) before it turns to another connection, so a request
smuggled inside an upstream connection is in the app's log before the fence.

The resulting `CaseRun` holds the three views of one case: the responses the client got,
the requests the proxy logged (forwarded or not), the requests the app saw; and the logs of
all three for a failure message (`describe`).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echo_app import FENCE_PREFIX, fence_marker
from proxies import Forwarded, ProxyProcess

from rawhttp import ConnectionClosed, RawClient, Response, request
from serverproc import ServerProcess

CASE_DEADLINE = 8.0
LOG_DEADLINE = 3.0
# Sent after every case, answered by the proxy itself (its readiness path) and closing the
# connection: the proxy reads the case to its end, pipelined requests included, and then
# closes. (Half-closing instead makes haproxy drop pipelined requests at random.) A proxy
# that takes this request for more of the case's body is shown EOF after QUIET_LIMIT.
END_TARGET = "/__proxy_ready"
END_OF_CASE = b"GET /__proxy_ready HTTP/1.1\r\nHost: end\r\nConnection: close\r\n\r\n"
QUIET_LIMIT = 2.0


@dataclass
class Upstream:
    server: ServerProcess
    app_log: Path
    fences: int = 0

    def mark(self) -> tuple[int, int]:
        """Offsets of the app's log and pronghorn's own log now."""
        return (_size(self.app_log), len(self.server.log_text()))

    def fence(self, since: tuple[int, int]) -> tuple[list[dict[str, Any]], str]:
        """Close the window opened at `since`: the app's records and pronghorn's log in it.

        The fence's own line is left out of both. pronghorn's log is read from its stderr by a
        thread of ours, so the fence also writes a marker there and we wait to have read it.
        """
        self.fences += 1
        name = str(self.fences)
        with RawClient.connect(self.server.host, self.server.port) as client:
            client.send(request("GET", f"{FENCE_PREFIX}{name}", host="fence"))
            assert client.response().status == 200, "the fence request failed"
        marker = fence_marker(name)
        log = self.server.wait_for_log(marker)[since[1] :]
        return self._records(since, name), log[: log.index(marker)]

    def _records(self, since: tuple[int, int], name: str) -> list[dict[str, Any]]:
        records = []
        with self.app_log.open(encoding="utf-8") as log:
            log.seek(since[0])
            for line in log:
                record = json.loads(line)
                if record.get("fence") == name:
                    return records
                if "fence" not in record:
                    records.append(record)
        raise AssertionError(f"fence {name} answered but not in the app's log")


@dataclass
class CaseRun:
    proxy: ProxyProcess
    sent: bytes
    received: bytes = b""
    hung: bool = False
    half_closed: bool = False
    end_answered: bool = False
    responses: list[Response] = field(default_factory=list)
    unparsed: bytes = b""
    forwarded: list[Forwarded] = field(default_factory=list)
    app: list[dict[str, Any]] = field(default_factory=list)
    proxy_since: tuple[int, int] = (0, 0)
    pronghorn_log: str = ""

    def statuses(self) -> list[int]:
        return [response.status for response in self.responses]

    def describe(self) -> str:
        forwarded = "\n".join(
            f"  {f.method} {f.target!r} status={f.status} upstream={f.upstream_status} "
            f"body={f.body}"
            for f in self.forwarded
        )
        app = "\n".join(f"  {json.dumps(record, sort_keys=True)}" for record in self.app)
        return (
            f"=== sent to {self.proxy.kind} ===\n{self.sent!r}\n"
            f"=== client got statuses {self.statuses()} (hung={self.hung}, "
            f"end of case answered={self.end_answered}, half-closed={self.half_closed}) ===\n"
            f"{self.received[:3000]!r}\n"
            f"=== {self.proxy.kind} logged ===\n{forwarded}\n"
            f"=== the app saw ===\n{app}\n"
            f"=== pronghorn log ===\n{self.pronghorn_log[-4000:]}\n"
            f"{self.proxy.describe(self.proxy_since)}"
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _exchange(proxy: ProxyProcess, data: bytes) -> tuple[bytes, bool, bool]:
    """Send `data` and the end-of-case request; read until the proxy closes.

    Returns the bytes, whether the hard deadline passed (a hang), and whether the proxy had
    to be shown EOF because it took the end-of-case request for more of the case.
    """
    start = time.monotonic()
    received = bytearray()
    half_closed = False
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=CASE_DEADLINE) as sock:
        # A proxy that refused early may have closed already: read what it answered.
        with contextlib.suppress(OSError):
            sock.sendall(data + END_OF_CASE)
        while (left := start + CASE_DEADLINE - time.monotonic()) > 0:
            if not half_closed and time.monotonic() - start > QUIET_LIMIT:
                half_closed = True
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
            sock.settimeout(min(left, QUIET_LIMIT) if not half_closed else left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return bytes(received), False, half_closed
            received += chunk
    return bytes(received), True, half_closed


def parse_responses(data: bytes) -> tuple[list[Response], bytes]:
    """The complete responses in `data` (interim ones skipped) and any bytes left over."""
    reader = RawClient(socket.socket())  # never connected: it only parses the buffer
    reader.sock.close()
    reader.buffer += data
    reader.eof = True
    responses = []
    while reader.buffer:
        before = bytes(reader.buffer)
        try:
            responses.append(reader.response())
        except (ConnectionClosed, ValueError, AssertionError):
            return responses, before
    return responses, b""


def run_bytes(proxy: ProxyProcess, upstream: Upstream, data: bytes) -> CaseRun:
    """Send `data` through `proxy` and gather what everyone made of it."""
    run = CaseRun(proxy=proxy, sent=data, proxy_since=proxy.mark())
    upstream_since = upstream.mark()
    run.received, run.hung, run.half_closed = _exchange(proxy, data)
    run.responses, run.unparsed = parse_responses(run.received)
    count = len(run.responses)
    if run.responses and run.responses[-1].body == proxy.token.encode():
        run.end_answered = True
        run.responses.pop()
    run.app, run.pronghorn_log = upstream.fence(upstream_since)
    run.forwarded = [
        f for f in wait_forwarded(proxy, run.proxy_since, count) if f.target != END_TARGET
    ]
    return run


def wait_forwarded(proxy: ProxyProcess, since: tuple[int, int], at_least: int) -> list[Forwarded]:
    """The proxy's log lines since `since`, once there is one per response its client got.

    nginx writes a request's line before it answers the next one; haproxy may write the last
    one just after it closed the connection, hence the bounded wait.
    """
    deadline = time.monotonic() + LOG_DEADLINE
    while True:
        forwarded = proxy.forwarded(since)
        if len(forwarded) >= at_least or time.monotonic() > deadline:
            return forwarded
        time.sleep(0.01)  # polling interval of a bounded wait for a log line
