"""Listening sockets: `--bind` addresses to bound, listening sockets.

Owns the address forms (`HOST:PORT`, `[v6]:PORT`, `unix:/path`, `fd://N`), socket options,
a Unix socket file's mode and owner (`unix_socket_mode`), what they speak as the logs say
it (`protocol_note`), deferred accept (`defer_accept_seconds`, `handshakes_pending`), and
`stop_new_connections`, which closes a TCP socket to new connections while keeping those
already queued on it (see docs/design.md, "Graceful stop"). The supervisor creates these once
and hands them to every worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import stat
import struct
from dataclasses import dataclass, replace
from typing import Final

from pronghorn.config.address import FdAddress, UnixAddress, parse_bind
from pronghorn.config.model import Config


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket and how to name it in logs and environ."""

    sock: socket.socket
    server_name: str
    server_port: str
    owned: bool = False
    """pronghorn made this socket (it is not systemd's, nor an `fd://` one): when the server
    stops for good, a stop may close it to new connections without harming anyone else."""
    exclusive: bool = False
    """No other process accepts on it (a worker's own --reuse-port socket, the socket of
    --single-process): closing it resets what is still queued, so a stop must take that
    first. A socket shared by the workers is drained only when the whole server stops."""

    def url(self, scheme: str = "http") -> str:
        """How to reach it, for logs: `http://127.0.0.1:8000` (`https` with TLS), `unix:PATH`."""
        if self.sock.family == socket.AF_UNIX:
            return f"unix:{self.server_name}"
        host = self.server_name
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.server_port}"


UNIX_SOCKET_MODE: Final = 0o660
"""A Unix socket file's mode when no --umask is given: its owner and group may connect.
Anyone who may write to the file may connect, and connections on a Unix socket are trusted
with proxy headers (see --forwarded-allow-ips): so not everyone, by default."""


def listener_scheme(config: Config) -> str:
    """What a client speaks to the main listeners, as the scheme of their URL: https with
    --certfile, uwsgi with --protocol uwsgi (nginx's `uwsgi_pass uwsgi://...`), and
    http+proxy when each connection must begin with a PROXY protocol header (a plain HTTP
    client is refused there)."""
    if config.protocol == "uwsgi":
        return "uwsgi"
    if config.certfile:
        return "https"
    if config.proxy_protocol != "off":
        return "http+proxy"
    return "http"


def protocol_note(config: Config) -> str | None:
    """The line logged after where a server listens, when it speaks another protocol than
    HTTP (--protocol; the connections are served as `pronghorn.io.protocols` says)."""
    if config.protocol != "uwsgi":
        return None
    allowed = ", ".join(config.uwsgi_allow_ips) or "none"
    return f"Protocol uwsgi (nginx uwsgi_pass); TCP peers allowed: {allowed} (--uwsgi-allow-from)"


def unix_socket_mode(umask: int | None) -> int:
    """The mode of a Unix socket file: 0777 less `umask` (as gunicorn), else 0660."""
    return UNIX_SOCKET_MODE if umask is None else 0o777 & ~umask


# Linux only; 0 where the system has none. A plain int: declared `Final[int | None]` and
# narrowed at its uses, the compiled build's C did not compile (gcc: a pointer assigned
# to an integer), and builds again with this form.
_TCP_DEFER_ACCEPT: Final[int] = int(getattr(socket, "TCP_DEFER_ACCEPT", 0))


_DEFER_ACCEPT_SECONDS: Final = 1


def defer_accept_seconds(config: Config) -> int:
    """How long the kernel may hold a new TCP connection that has sent nothing before it
    hands it to accept() anyway (TCP_DEFER_ACCEPT); 0 (not deferred) with
    --no-defer-accept or where the system has no such option.

    Why defer: an accepted connection whose request has not arrived yet costs a read that
    finds nothing and a trip through epoll; a deferred one is accepted with its request in
    the socket buffer (uWSGI defers by default, nginx with `listen ... deferred`). A client
    that connects and stays silent (a browser's preconnect) is not refused: the kernel hands
    it over when it speaks, or when the deferral ends. One second, as nginx: --header-timeout
    runs from the accept, so a longer deferral would lengthen it by as much."""
    if not config.defer_accept or not _TCP_DEFER_ACCEPT:
        return 0
    return _DEFER_ACCEPT_SECONDS


def open_listener(
    bind: str,
    backlog: int,
    *,
    unix_mode: int = UNIX_SOCKET_MODE,
    unix_owner: tuple[int, int] = (-1, -1),
    defer_accept: int = 0,
) -> Listener:
    """Create, bind and listen on one `--bind` address (already validated by the config).

    A Unix socket file gets `unix_mode` and the (uid, gid) `unix_owner` (-1: unchanged); a
    TCP socket defers accept by `defer_accept` seconds (`defer_accept_seconds`; 0: not). An
    `fd://` socket is used as it comes: whoever made it chose its options."""
    address = parse_bind(bind)
    if isinstance(address, FdAddress):
        return describe(socket.socket(fileno=address.fd))
    if isinstance(address, UnixAddress):
        return _open_unix(address.path, backlog, unix_mode, unix_owner)
    family = socket.AF_INET6 if address.is_ipv6 else socket.AF_INET
    sock = _tcp_socket(family, (address.host, address.port), backlog, defer_accept=defer_accept)
    return describe(sock, owned=True)


def _tcp_socket(
    family: socket.AddressFamily,
    address: tuple[str, int],
    backlog: int | None,
    *,
    reuse_port: bool = False,
    defer_accept: int = 0,
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
            if defer_accept and _TCP_DEFER_ACCEPT:
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_DEFER_ACCEPT, defer_accept)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _open_unix(path: str, backlog: int, mode: int, owner: tuple[int, int]) -> Listener:
    with contextlib.suppress(FileNotFoundError):
        # Only a stale socket file is removed, never a regular file by mistake.
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Created owner-only, then opened up: never, even for a moment, wider than asked.
        # (The umask is process-wide; this runs at start, before any other thread.)
        previous = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(previous)
        if owner != (-1, -1):
            os.chown(path, *owner)
        os.chmod(path, mode)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return describe(sock, owned=True)


def describe(sock: socket.socket, *, owned: bool = False) -> Listener:
    """A Listener for an already bound socket (ours, inherited, or socket-activated)."""
    if sock.family == socket.AF_UNIX:
        return Listener(sock, str(sock.getsockname()), "0", owned)
    # Accepted sockets inherit TCP_NODELAY on Linux: set once here, not per connection.
    # Small responses go out at once instead of waiting for the peer's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    address = sock.getsockname()
    return Listener(sock, str(address[0]), str(address[1]), owned)


def reserve_reuse_port(bind: str) -> Listener | None:
    """For --reuse-port: a TCP socket bound with SO_REUSEPORT but not listening, which holds
    the address (and learns the port when it is 0) for the workers' own sockets; None for
    addresses that are not TCP."""
    address = parse_bind(bind)
    if isinstance(address, FdAddress | UnixAddress):
        return None
    family = socket.AF_INET6 if address.is_ipv6 else socket.AF_INET
    sock = _tcp_socket(family, (address.host, address.port), None, reuse_port=True)
    return describe(sock, owned=True)


def is_reservation(sock: socket.socket) -> bool:
    """True for a TCP socket that is bound but not listening (a `reserve_reuse_port` one)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0


def open_reuse_port(reservation: Listener, backlog: int, *, defer_accept: int = 0) -> Listener:
    """A worker's own listening socket on the address `reservation` holds (SO_REUSEPORT)."""
    held = reservation.sock
    address = held.getsockname()
    sock = _tcp_socket(held.family, address, backlog, reuse_port=True, defer_accept=defer_accept)
    return replace(describe(sock, owned=True), exclusive=True)


def defers_accept(sock: socket.socket) -> bool:
    """True for a TCP listening socket with TCP_DEFER_ACCEPT set (by us or by whoever made
    it): connections that have sent nothing wait in the kernel, not in its accept queue."""
    if not _TCP_DEFER_ACCEPT or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, _TCP_DEFER_ACCEPT) > 0
    except OSError:
        return False


_SYN_RECV: Final = b"03"  # the state column of /proc/net/tcp


def handshakes_pending(sock: socket.socket) -> bool:
    """True while some connection to this socket's port is still a handshake in the kernel:
    under TCP_DEFER_ACCEPT, one that has connected but not sent anything yet. Closing the
    listening socket would reset it, and its request, sent a moment later, would be lost;
    a stop waits for it a short while (see docs/design.md, "Graceful stop").

    Linux lists these in /proc/net/tcp (tcp6) in state SYN_RECV; a system without that file
    has none to wait for. Read only while stopping."""
    table = "/proc/net/tcp6" if sock.family == socket.AF_INET6 else "/proc/net/tcp"
    port_suffix = b":%04X" % sock.getsockname()[1]
    try:
        with open(table, "rb") as rows:
            next(rows, None)  # the header
            for row in rows:
                fields = row.split(None, 4)
                if len(fields) > 3 and fields[3] == _SYN_RECV and fields[1].endswith(port_suffix):
                    return True
    except OSError:
        return False
    return False


# A classic BPF program, which the kernel runs on each TCP segment that reaches a listening
# socket, with the TCP header at offset 0: drop a segment with SYN set (a new connection),
# pass anything else (the last ACK of a handshake already under way). (code, jt, jf, k).
_DROP_SYN: Final = (
    (0x30, 0, 0, 13),  # ldb [13]: the flags byte
    (0x45, 1, 0, 0x02),  # jset #SYN: to the drop
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1: pass the whole segment
    (0x06, 0, 0, 0),  # ret #0: drop it
)
_SO_ATTACH_FILTER: Final = getattr(socket, "SO_ATTACH_FILTER", 26)


def stop_new_connections(sock: socket.socket) -> bool:
    """Close a TCP listening socket to new connections, keeping those already queued on it.

    Closing a listening socket resets every connection still in its queue, and until it is
    closed the kernel keeps queueing new ones: so "accept what is queued, then close" always
    leaves a moment in which a connection arrives and is reset. A socket filter that drops
    SYNs closes that window: nothing new enters the queue, what is queued stays to be
    accepted, and a client whose SYN was dropped retries it (after a second) and is refused
    once the socket is closed (or reaches whoever listens then). The filter stays on the
    socket for good, so call this only on a socket no other server will use.
    False for a socket that is not TCP, or when the filter cannot be attached."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    code = b"".join(struct.pack("=HBBI", *op) for op in _DROP_SYN)
    program = ctypes.create_string_buffer(code, len(code))
    try:
        _attach_filter(sock, program, len(_DROP_SYN))
    except OSError:
        return False
    return True


def _attach_filter(sock: socket.socket, program: ctypes.Array[ctypes.c_char], count: int) -> None:
    # `program` is an argument so that the caller holds it through setsockopt, which is given
    # only its address: compiled code frees a local right after its last use (here
    # `addressof`), not at the function's end. The kernel copies the program during the call.
    # struct sock_fprog: the number of instructions and a pointer to them (native layout).
    fprog = struct.pack("@HP", count, ctypes.addressof(program))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
