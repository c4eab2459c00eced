"""A client that reads a response slowly, and the access-log lines it is checked against.

Shared by the access-log timing tests over plain TCP (tests/server) and TLS (tests/tls).
The client shrinks its receive buffer and pauses after every read, so the server's socket
stays full and the response's tail waits in the server; it notes when it has read how
much, so a test can say "the client took at least this long".
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

# The access-log format the tests read back: request line, status, body bytes, duration in
# microseconds and how the connection ended (%(X)s), separated by tabs.
FORMAT = "%(r)s\t%(s)s\t%(B)s\t%(D)s\t%(X)s"
SMALL_RCVBUF = 16384
READ_DEADLINE = 120.0


def kernel_margin(rcvbuf: int = SMALL_RCVBUF) -> int:
    """At most this many bytes of a response can sit in the kernel, between the server's
    send buffer (autotuned up to tcp_wmem's maximum) and this client's receive buffer, plus
    1 MiB of slack. The server cannot have sent its last byte while more is unread."""
    wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return wmem_max + 4 * rcvbuf + (1 << 20)


def small_buffer_socket(host: str, port: int, rcvbuf: int = SMALL_RCVBUF) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: the window
    sock.connect((host, port))
    return sock


class SlowReader:
    """Reads responses from `sock` (plain or TLS), pausing `pause` s after every read."""

    def __init__(self, sock: socket.socket | ssl.SSLSocket, pause: float) -> None:
        self.sock = sock
        self.pause = pause
        self.buffer = bytearray()
        self.deadline = time.monotonic() + READ_DEADLINE

    def _read(self) -> None:
        assert time.monotonic() < self.deadline, "the response took too long to read"
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed with {len(self.buffer)} bytes buffered")
        self.buffer += data
        time.sleep(self.pause)  # the client's own slowness, not a wait for the server

    def head(self) -> tuple[int, int]:
        """The next response head: its status and Content-Length."""
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._read()
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        length = next(
            int(value)
            for name, _, value in (line.partition(":") for line in lines[1:])
            if name.lower() == "content-length"
        )
        return int(lines[0].split()[1]), length

    def body(self, length: int, marks: dict[int, float] | None = None) -> int:
        """Read `length` body bytes and drop them; in `marks` (a count of bytes read, to
        fill in), the monotonic time the client had read that many. Returns the count."""
        got = 0
        pending = sorted(marks) if marks else []
        while got < length:
            if not self.buffer:
                self._read()
            take = min(len(self.buffer), length - got)
            del self.buffer[:take]
            got += take
            while pending and got >= pending[0]:
                assert marks is not None
                marks[pending.pop(0)] = time.monotonic()
        return got

    def some(self, count: int) -> int:
        """Read at least `count` bytes (head and body alike); how many were read."""
        total = len(self.buffer)
        while total < count:
            before = len(self.buffer)
            self._read()
            total += len(self.buffer) - before
        return total


def access_lines(log: Path, needle: str) -> list[list[str]]:
    """The fields of each access-log line whose request line contains `needle`."""
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    return [line.split("\t") for line in text.splitlines() if needle in line.split("\t")[0]]


def wait_for_line(log: Path, needle: str, timeout: float = 30.0) -> list[str]:
    """Poll (with a deadline) for the one access-log line of the request `needle` names."""
    found = _poll(lambda: access_lines(log, needle), timeout)
    assert found, f"no access-log line for {needle!r} in {timeout} s:\n{_text(log)}"
    assert len(found) == 1, found
    return found[0]


def _poll(probe: Callable[[], list[list[str]]], timeout: float) -> list[list[str]]:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)  # polling interval of a bounded wait


def _text(log: Path) -> str:
    return log.read_text(encoding="utf-8") if log.exists() else "(no log file)"
