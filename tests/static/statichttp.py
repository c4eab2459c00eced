"""A tiny HTTP/1.1 client over a raw socket, so request targets reach the server untouched.

`Client` keeps one connection open and reads responses framed by Content-Length (or none,
for HEAD, 1xx, 204 and 304), which is all the static handler ever sends.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

TIMEOUT = 20.0


@dataclass
class Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw_head: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def names(self) -> set[str]:
        return {key.lower() for key, _ in self.headers}


class Client:
    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""
        self.host = f"{host}:{port}"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(
        self, method: str, target: bytes | str, headers: dict[str, str] | None = None
    ) -> Reply:
        raw_target = target.encode("latin-1") if isinstance(target, str) else target
        lines = [f"{method} ".encode() + raw_target + b" HTTP/1.1", f"Host: {self.host}".encode()]
        lines += [f"{k}: {v}".encode("latin-1") for k, v in (headers or {}).items()]
        self.send_raw(b"\r\n".join(lines) + b"\r\n\r\n")
        return self.read_reply(method)

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buffer += data

    def read_reply(self, method: str = "GET") -> Reply:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        _, code, reason = [*status_line.split(" ", 2), ""][:3]
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in header_lines]
        reply = Reply(int(code), reason, headers, raw_head=head)  # type: ignore[arg-type]
        length = reply.header("Content-Length")
        if method == "HEAD" or reply.status in (204, 304) or reply.status < 200:
            return reply
        assert length is not None, f"no Content-Length in {head!r}"
        size = int(length)
        while len(self.buffer) < size:
            self._fill()
        reply.body, self.buffer = self.buffer[:size], self.buffer[size:]
        return reply


def fetch(
    host: str, port: int, method: str, target: bytes | str, headers: dict[str, str] | None = None
) -> Reply:
    with Client(host, port) as client:
        return client.request(method, target, headers)
