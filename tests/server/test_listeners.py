"""Listening sockets closed to new connections while what is queued on them stays, and
deferred accept (TCP_DEFER_ACCEPT): a connection is handed over once it has sent something."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pronghorn.io.listeners import (
    defers_accept,
    handshakes_pending,
    open_listener,
    stop_new_connections,
)
from rawhttp import wait_until


def _connect(port: int, family: socket.AddressFamily, host: str, timeout: float) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
def test_stop_new_connections_keeps_the_queue(family: socket.AddressFamily, host: str) -> None:
    if family == socket.AF_INET6 and not socket.has_ipv6:
        pytest.skip("no IPv6")
    bind = f"[{host}]:0" if family == socket.AF_INET6 else f"{host}:0"
    try:
        listener = open_listener(bind, 16)
    except OSError as exc:
        pytest.skip(f"cannot listen on {bind}: {exc}")
    sock = listener.sock
    port = int(listener.server_port)
    queued = [_connect(port, family, host, 2.0) for _ in range(3)]
    try:
        for number, client in enumerate(queued):
            client.sendall(b"request %d" % number)
        assert stop_new_connections(sock)
        # A new connection gets no answer: its SYN is dropped (the client would retry)...
        with pytest.raises(TimeoutError):
            _connect(port, family, host, 0.3).close()
        # ...while the ones queued before are still there, with what they sent.
        sock.setblocking(True)
        sock.settimeout(2.0)
        for number in range(3):
            accepted, _ = sock.accept()
            with accepted:
                accepted.settimeout(2.0)
                assert accepted.recv(100) == b"request %d" % number
        sock.close()
        with pytest.raises(ConnectionRefusedError):
            _connect(port, family, host, 2.0).close()
    finally:
        sock.close()
        for client in queued:
            client.close()


def test_stop_new_connections_is_for_tcp_only(tmp_path: object) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        assert not stop_new_connections(sock)


@pytest.fixture
def deferred() -> Iterator[socket.socket]:
    """A listening socket that defers accept by one second, as pronghorn opens its own."""
    listener = open_listener("127.0.0.1:0", 16, defer_accept=1)
    with listener.sock as sock:
        yield sock


def _accept_within(sock: socket.socket, timeout: float) -> socket.socket | None:
    """The next connection `sock` hands over within `timeout`, else None."""
    found: list[socket.socket] = []

    def take() -> bool:
        try:
            found.append(sock.accept()[0])
        except BlockingIOError:
            return False
        return True

    wait_until(take, timeout)
    return found[0] if found else None


def test_a_deferred_connection_is_accepted_with_its_first_bytes(deferred: socket.socket) -> None:
    assert defers_accept(deferred)
    port = deferred.getsockname()[1]
    with _connect(port, socket.AF_INET, "127.0.0.1", 2.0) as client:
        # Connected, silent: the kernel holds it as a handshake, not in the accept queue.
        assert wait_until(lambda: handshakes_pending(deferred), 2.0)
        assert _accept_within(deferred, 0.3) is None
        client.sendall(b"GET / HTTP/1.1\r\n")
        accepted = _accept_within(deferred, 2.0)
        assert accepted is not None
        with accepted:
            assert accepted.recv(100) == b"GET / HTTP/1.1\r\n"  # there already: no wait
        assert not handshakes_pending(deferred)


def test_a_silent_deferred_connection_is_handed_over_in_the_end(deferred: socket.socket) -> None:
    # A client that connects and says nothing (a browser's preconnect) is not refused: the
    # kernel hands it over after the deferral, and --header-timeout takes it from there.
    port = deferred.getsockname()[1]
    with _connect(port, socket.AF_INET, "127.0.0.1", 2.0):
        accepted = _accept_within(deferred, 6.0)
        assert accepted is not None
        accepted.close()


def test_a_deferred_connection_speaking_after_the_cut_off_is_still_accepted(
    deferred: socket.socket,
) -> None:
    # What a stop relies on (Reactor._drain): the filter that drops new connections lets a
    # handshake already made finish when its first bytes come.
    port = deferred.getsockname()[1]
    with _connect(port, socket.AF_INET, "127.0.0.1", 2.0) as client:
        assert wait_until(lambda: handshakes_pending(deferred), 2.0)
        assert stop_new_connections(deferred)
        with pytest.raises(TimeoutError):
            _connect(port, socket.AF_INET, "127.0.0.1", 0.3).close()
        client.sendall(b"late")
        accepted = _accept_within(deferred, 2.0)
        assert accepted is not None
        with accepted:
            assert accepted.recv(100) == b"late"


def test_without_deferral_a_silent_connection_is_accepted_at_once() -> None:
    with open_listener("127.0.0.1:0", 16).sock as sock:
        assert not defers_accept(sock)
        port = sock.getsockname()[1]
        with _connect(port, socket.AF_INET, "127.0.0.1", 2.0):
            accepted = _accept_within(sock, 2.0)
            assert accepted is not None
            accepted.close()
            assert not handshakes_pending(sock)
