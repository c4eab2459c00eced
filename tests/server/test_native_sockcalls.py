"""The compiled build's C accept and read (pronghorn/io/_sockcalls.c), on real sockets.

They must do what the reactor did with Python's `_accept` and `recv`, but say "nothing yet"
with None instead of BlockingIOError: the same peer address as Python spells it, a
descriptor that is non-blocking and close-on-exec, the same bytes, b"" at the end of the
stream, and every other error raised as the same OSError subclass. Both runs of the suite
run these: the compiled run tests the installed module (tests/test_build.py checks the
reactor found it), the pure run the same C source built here (tests/nativebuild.py).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from types import ModuleType

import pytest

from nativebuild import build_native
from pronghorn.io.sockets import NATIVE_ACCEPT, NATIVE_RECEIVE


def _calls_of_this_run() -> ModuleType | None:
    if NATIVE_ACCEPT is not None:
        return None  # the installed ones (below)
    return build_native("pronghorn.io._sockcalls")


_BUILT = _calls_of_this_run()
accept_connection = NATIVE_ACCEPT if _BUILT is None else _BUILT.accept_connection
receive = NATIVE_RECEIVE if _BUILT is None else _BUILT.receive
assert accept_connection is not None and receive is not None


def _listener(family: socket.AddressFamily, address: object) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind(address)
    sock.listen(8)
    sock.setblocking(False)
    return sock


@pytest.fixture
def tcp_listener() -> Iterator[socket.socket]:
    with closing(_listener(socket.AF_INET, ("127.0.0.1", 0))) as sock:
        yield sock


def _accept_waiting(listener: socket.socket) -> tuple[int, tuple[str, int] | None]:
    """The connection a client has just opened (the kernel queues it at once on loopback,
    but poll for it with a deadline rather than assume)."""
    ready = select_readable(listener, 5.0)
    assert ready, "the connection never reached the listener"
    accepted = accept_connection(listener.fileno())
    assert accepted is not None
    return accepted


def select_readable(sock: socket.socket | int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def _pair(listener: socket.socket, family: socket.AddressFamily) -> tuple[socket.socket, int]:
    """A connected client and the server side's descriptor from accept_connection."""
    client = socket.socket(family, socket.SOCK_STREAM)
    client.connect(listener.getsockname())
    fd, _ = _accept_waiting(listener)
    return client, fd


# -- accept ------------------------------------------------------------------------------


def test_accept_says_none_when_nobody_waits(tcp_listener: socket.socket) -> None:
    assert accept_connection(tcp_listener.fileno()) is None
    assert accept_connection(tcp_listener.fileno()) is None  # and again: nothing left set


def test_accept_gives_the_peer_as_python_spells_it(tcp_listener: socket.socket) -> None:
    with socket.create_connection(tcp_listener.getsockname()) as client:
        fd, remote = _accept_waiting(tcp_listener)
        os.close(fd)
        host, port = client.getsockname()
        assert remote == (host, port)
        assert type(remote[0]) is str and type(remote[1]) is int
    assert accept_connection(tcp_listener.fileno()) is None  # one connection, one accept


@pytest.mark.parametrize(
    "source",
    ["127.0.0.1", "127.1.10.100", "127.255.99.0", "127.200.0.10", "127.9.250.255"],
)
def test_accept_spells_every_kind_of_octet_as_python_does(
    tcp_listener: socket.socket, source: str
) -> None:
    """The C formats an IPv4 peer itself (not with inet_ntop): one, two and three digits,
    zeros, and 255, from source addresses across 127/8 (all of it is loopback on Linux)."""
    with socket.create_connection(tcp_listener.getsockname(), source_address=(source, 0)) as client:
        fd, remote = _accept_waiting(tcp_listener)
        os.close(fd)
        assert remote == client.getsockname()
        assert remote is not None and remote[0] == source


def test_accept_gives_an_ipv6_peer_as_python_spells_it() -> None:
    listener = _listener(socket.AF_INET6, ("::1", 0))
    with closing(listener), socket.create_connection(listener.getsockname()[:2]) as client:
        fd, remote = _accept_waiting(listener)
        os.close(fd)
        assert remote == client.getsockname()[:2]
        assert remote is not None and remote[0] == "::1"


def test_accept_gives_no_peer_on_a_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    listener = _listener(socket.AF_UNIX, path)
    with closing(listener), socket.socket(socket.AF_UNIX) as client:
        client.connect(path)
        fd, remote = _accept_waiting(listener)
        os.close(fd)
        assert remote is None


def test_an_accepted_descriptor_is_non_blocking_and_close_on_exec(
    tcp_listener: socket.socket,
) -> None:
    with socket.create_connection(tcp_listener.getsockname()):
        fd, _ = _accept_waiting(tcp_listener)
        try:
            assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
            assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
            assert not os.get_inheritable(fd)
        finally:
            os.close(fd)


def test_a_failed_accept_raises_the_errors_oserror() -> None:
    with socket.socket() as not_listening:
        with pytest.raises(OSError) as raised:
            accept_connection(not_listening.fileno())
        assert raised.value.errno == errno.EINVAL
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError) as closed:
        accept_connection(read_end)  # closed: nothing there any more
    assert closed.value.errno == errno.EBADF
    with pytest.raises(ValueError):
        accept_connection(-1)


# -- read --------------------------------------------------------------------------------


def test_receive_says_none_when_nothing_arrived(tcp_listener: socket.socket) -> None:
    client, fd = _pair(tcp_listener, socket.AF_INET)
    with client:
        try:
            assert receive(fd, 65536) is None
        finally:
            os.close(fd)


def test_receive_returns_what_arrived_up_to_size(tcp_listener: socket.socket) -> None:
    client, fd = _pair(tcp_listener, socket.AF_INET)
    with client:
        try:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert select_readable(fd, 5.0)
            assert receive(fd, 4) == b"GET "
            assert receive(fd, 65536) == b"/ HTTP/1.1\r\nHost: x\r\n\r\n"
            assert receive(fd, 65536) is None
        finally:
            os.close(fd)


def test_receive_says_empty_at_the_end_of_the_stream(tcp_listener: socket.socket) -> None:
    client, fd = _pair(tcp_listener, socket.AF_INET)
    try:
        client.sendall(b"last")
        client.close()
        assert select_readable(fd, 5.0)
        assert receive(fd, 65536) == b"last"
        assert receive(fd, 65536) == b""
    finally:
        os.close(fd)


def test_receive_raises_a_reset_as_python_does(tcp_listener: socket.socket) -> None:
    client, fd = _pair(tcp_listener, socket.AF_INET)
    try:
        # Closed with unread data and a zero linger: the kernel sends RST, not FIN.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        assert select_readable(fd, 5.0)
        with pytest.raises(ConnectionResetError):
            receive(fd, 65536)
    finally:
        os.close(fd)


def test_receive_refuses_what_is_not_a_read() -> None:
    with pytest.raises(ValueError):
        receive(0, 0)
    with pytest.raises(TypeError):
        receive(0)  # type: ignore[call-arg]
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError) as closed:
        receive(read_end, 16)
    assert closed.value.errno == errno.EBADF
