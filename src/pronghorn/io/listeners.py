"""Listening sockets: `--bind` addresses to bound, listening sockets.

Owns the address forms (`HOST:PORT`, `[v6]:PORT`, `unix:/path`, `fd://N`) and socket
options. The supervisor creates these once and hands them to every worker.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket and how to name it in logs and environ."""

    sock: socket.socket
    server_name: str
    server_port: str

    @property
    def url(self) -> str:
        if self.sock.family == socket.AF_UNIX:
            return f"unix:{self.server_name}"
        host = self.server_name
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.server_port}"


def open_listener(bind: str, backlog: int) -> Listener:
    """Create, bind and listen on one `--bind` address."""
    if bind.startswith("fd://"):
        sock = socket.socket(fileno=int(bind[5:]))
        return describe(sock)
    if bind.startswith("unix:"):
        return _open_unix(bind[5:], backlog)
    host, port = split_host_port(bind)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return describe(sock)


def _open_unix(path: str, backlog: int) -> Listener:
    with contextlib.suppress(FileNotFoundError):
        # Only a stale socket file is removed, never a regular file by mistake.
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return describe(sock)


def describe(sock: socket.socket) -> Listener:
    """A Listener for an already bound socket (ours, inherited, or socket-activated)."""
    if sock.family == socket.AF_UNIX:
        return Listener(sock, str(sock.getsockname()), "0")
    address = sock.getsockname()
    return Listener(sock, str(address[0]), str(address[1]))


def split_host_port(bind: str) -> tuple[str, int]:
    """"127.0.0.1:8000" -> ("127.0.0.1", 8000); "[::1]:80" -> ("::1", 80); "host" -> port 8000."""
    if bind.startswith("["):
        host, _, rest = bind[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "8000"
    elif ":" in bind:
        host, _, port = bind.rpartition(":")
    else:
        host, port = bind, "8000"
    return host or "0.0.0.0", int(port)
