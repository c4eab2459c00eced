"""A thin HTTP client for the framework tests, over http.client and raw sockets.

`fetch` makes one request on a fresh `http.client.HTTPConnection` and returns
a `Reply`; `Session` keeps cookies across fetches (for Django's CSRF and
admin login). `raw_exchange` and `parse_response` read the bytes a server
really sent, so tests can check chunked framing. Every socket has a timeout.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

TIMEOUT = 10.0
MAX_RAW_RESPONSE = 64 * 1024 * 1024


@dataclass
class Reply:
    """A response read completely by http.client."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for value in self.headers.get_all("Set-Cookie") or []:
            jar.load(value)
        return {name: morsel.value for name, morsel in jar.items()}

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode("utf-8")


def read_reply(response: http.client.HTTPResponse) -> Reply:
    """Read `response` to its end and wrap it."""
    return Reply(response.status, response.headers, response.read())


def fetch(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """Make one request on a new connection and read the whole response."""
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        return read_reply(conn.getresponse())
    finally:
        conn.close()


def exchange_with_cookies(
    conn: http.client.HTTPConnection,
    cookies: dict[str, str],
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request on `conn` carrying `cookies`, which take what the response sets."""
    all_headers = dict(headers or {})
    if cookies:
        all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    conn.request(method, path, body=body, headers=all_headers)
    reply = read_reply(conn.getresponse())
    cookies.update(reply.cookies())
    return reply


def browser_tls_connection(port: int, server_name: str, source: str) -> http.client.HTTPSConnection:
    """A TLS connection to 127.0.0.1:`port` from address `source`, as a browser opens one to
    https://`server_name` (SNI and Host); the test's self-signed certificate is not checked."""
    raw = socket.create_connection(("127.0.0.1", port), TIMEOUT, source_address=(source, 0))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(server_name, timeout=TIMEOUT)
    conn.sock = context.wrap_socket(raw, server_hostname=server_name)
    return conn


@dataclass
class Session:
    """Requests to one server that carry the cookies it has set."""

    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def fetch(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            return exchange_with_cookies(conn, self.cookies, method, path, body, headers)
        finally:
            conn.close()

    def post_form(self, path: str, fields: Mapping[str, str]) -> Reply:
        body = urlencode(fields).encode()
        return self.fetch("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


def multipart(
    fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes]]
) -> tuple[bytes, str]:
    """Encode form fields and (filename, data) files; return body and content type."""
    boundary = f"----pronghorn{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, data) in files.items():
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def connect(host: str, port: int) -> socket.socket:
    """A connected TCP socket with the standard timeout."""
    return socket.create_connection((host, port), timeout=TIMEOUT)


def recv_until_close(sock: socket.socket) -> bytes:
    """Read until the peer closes, bounded in size and time."""
    deadline = time.monotonic() + TIMEOUT
    received = bytearray()
    while len(received) <= MAX_RAW_RESPONSE:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        data = sock.recv(65536)
        if not data:
            return bytes(received)
        received += data
    raise AssertionError("response larger than the test allows")


def raw_exchange(host: str, port: int, request: bytes) -> bytes:
    """Send raw request bytes, then read everything until the server closes."""
    with connect(host, port) as sock:
        sock.sendall(request)
        return recv_until_close(sock)


@dataclass
class RawResponse:
    """A response parsed strictly from the bytes on the wire."""

    status_line: str
    headers: list[tuple[str, str]]
    chunks: list[bytes] | None
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def parse_response(raw: bytes) -> RawResponse:
    """Parse one complete response; decode chunked framing, checking it strictly."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, f"no end of headers in {raw[:200]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    response = RawResponse(status_line, headers, None, rest)
    if (response.header("Transfer-Encoding") or "").lower() == "chunked":
        response.chunks, trailing = split_chunks(rest)
        assert trailing == b"", f"bytes after the last chunk: {trailing[:200]!r}"
        response.body = b"".join(response.chunks)
    return response


def split_chunks(data: bytes) -> tuple[list[bytes], bytes]:
    """Split chunked-encoded `data` into chunks; return them and what follows."""
    chunks: list[bytes] = []
    pos = 0
    while True:
        line_end = data.index(b"\r\n", pos)
        size_text = data[pos:line_end].split(b";", 1)[0].strip()
        size = int(size_text, 16)
        pos = line_end + 2
        if size == 0:
            break
        chunk = data[pos : pos + size]
        assert len(chunk) == size, "truncated chunk"
        assert data[pos + size : pos + size + 2] == b"\r\n", "chunk not followed by CRLF"
        chunks.append(chunk)
        pos += size + 2
    # Trailer section: header lines up to an empty line.
    while not data.startswith(b"\r\n", pos):
        pos = data.index(b"\r\n", pos) + 2
    return chunks, data[pos + 2 :]
