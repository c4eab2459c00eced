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

from pronghorn.config.address import FdAddress, UnixAddress, parse_bind


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
    """Create, bind and listen on one `--bind` address (already validated by the config)."""
    address = parse_bind(bind)
    if isinstance(address, FdAddress):
        return describe(socket.socket(fileno=address.fd))
    if isinstance(address, UnixAddress):
        return _open_unix(address.path, backlog)
    family = socket.AF_INET6 if address.is_ipv6 else socket.AF_INET
    return describe(_tcp_socket(family, (address.host, address.port), backlog))


def _tcp_socket(
    family: socket.AddressFamily,
    address: tuple[str, int],
    backlog: int | None,
    *,
    reuse_port: bool = False,
) -> socket.socket:
    """A bound TCP socket, listening (non-blocking) unless `backlog` is None."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        if backlog is not None:
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


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
    # Accepted sockets inherit TCP_NODELAY on Linux: set once here, not per connection.
    # Small responses go out at once instead of waiting for the peer's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    address = sock.getsockname()
    return Listener(sock, str(address[0]), str(address[1]))


def reserve_reuse_port(bind: str) -> Listener | None:
    """For --reuse-port: a TCP socket bound with SO_REUSEPORT but not listening, which holds
    the address (and learns the port when it is 0) for the workers' own sockets; None for
    addresses that are not TCP."""
    address = parse_bind(bind)
    if isinstance(address, FdAddress | UnixAddress):
        return None
    family = socket.AF_INET6 if address.is_ipv6 else socket.AF_INET
    return describe(_tcp_socket(family, (address.host, address.port), None, reuse_port=True))


def is_reservation(sock: socket.socket) -> bool:
    """True for a TCP socket that is bound but not listening (a `reserve_reuse_port` one)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0


def open_reuse_port(reservation: Listener, backlog: int) -> Listener:
    """A worker's own listening socket on the address `reservation` holds (SO_REUSEPORT)."""
    held = reservation.sock
    return describe(_tcp_socket(held.family, held.getsockname(), backlog, reuse_port=True))
