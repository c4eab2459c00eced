"""A tiny HTTP/1.1 client over a raw socket, for tests that must see the exact wire.

`RawClient` sends whatever bytes a test gives it and parses responses one at a time
(Content-Length, chunked with trailers, close-delimited, bodiless for HEAD/1xx/204/304),
keeping any bytes that follow for the next response, so pipelining can be checked.
Every socket it opens has a timeout; every wait has a deadline.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 5.0


class ConnectionClosed(Exception):
    """The server closed the connection before a complete response arrived."""


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return ", ".join(values) if values else None

    def all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]


class RawClient:
    """One connection; `send` raw bytes, `response()` parses the next response."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.eof = False

    @classmethod
    def connect(
        cls, host: str, port: int, timeout: float = DEFAULT_TIMEOUT, rcvbuf: int | None = None
    ) -> RawClient:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect((host, port))
        return cls(sock)

    @classmethod
    def connect_unix(cls, path: str, timeout: float = DEFAULT_TIMEOUT) -> RawClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(path)
        return cls(sock)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    # -- receiving -----------------------------------------------------------------

    def _recv(self) -> bool:
        """Read more into the buffer; False at EOF (a reset counts as EOF)."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def _until(self, marker: bytes) -> bytes:
        while (index := self.buffer.find(marker)) < 0:
            if not self._recv():
                raise ConnectionClosed(f"closed before {marker!r}; got {bytes(self.buffer)!r}")
        end = index + len(marker)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._recv():
                raise ConnectionClosed(f"closed after {len(self.buffer)} of {size} bytes")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def head(self) -> Response:
        """The next response head (interim 1xx ones included); no body is read."""
        raw = self._until(b"\r\n\r\n")
        lines = raw[:-4].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        return Response(int(code), reason, version, headers, raw_head=raw)

    def response(self, method: str = "GET", skip_interim: bool = True) -> Response:
        """The next complete response; 100 Continue is skipped unless asked for."""
        while True:
            resp = self.head()
            if not (skip_interim and 100 <= resp.status < 200):
                break
        if method == "HEAD" or resp.status < 200 or resp.status in (204, 304):
            return resp
        te = resp.header("Transfer-Encoding")
        length = resp.header("Content-Length")
        if te is not None and te.lower() == "chunked":
            resp.body, resp.trailers = self._chunked()
        elif length is not None:
            resp.body = self._exactly(int(length))
        else:
            resp.body = self.read_to_eof()
        return resp

    def _chunked(self) -> tuple[bytes, list[tuple[str, str]]]:
        body = bytearray()
        while True:
            size = int(self._until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                break
            body += self._exactly(size)
            assert self._exactly(2) == b"\r\n"
        trailers = []
        while (line := self._until(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            trailers.append((name, value.strip()))
        return bytes(body), trailers

    def read_to_eof(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """Everything until the server closes; fails if it does not within `timeout`."""
        deadline = time.monotonic() + timeout
        while self._recv():
            if time.monotonic() > deadline:
                raise TimeoutError("the server kept the connection open")
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def closed_within(self, timeout: float) -> bool:
        """True if the server closes (EOF or reset) within `timeout`, reading what comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                if not self._recv():
                    return True
            except TimeoutError:
                return False
        return False


def request(
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    version: str = "1.1",
    host: str | None = "test",
) -> bytes:
    """Serialise a request; Content-Length is added for a body unless headers set framing."""
    lines = [f"{method} {target} HTTP/{version}"]
    names = {n.lower() for n, _ in headers or []}
    if host is not None and "host" not in names:
        lines.append(f"Host: {host}")
    lines += [f"{n}: {v}" for n, v in headers or []]
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def wait_until(predicate: object, timeout: float, interval: float = 0.02) -> bool:
    """Poll `predicate()` until true or `timeout` passes; returns its last truth."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)  # polling interval of a bounded wait, not a readiness sleep


def has_ipv6_loopback() -> bool:
    """Whether this machine can listen on ::1 (some containers have no IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True
