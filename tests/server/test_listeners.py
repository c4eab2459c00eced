"""Listening sockets closed to new connections while what is queued on them stays."""

from __future__ import annotations

import socket

import pytest

from pronghorn.io.listeners import open_listener, stop_new_connections


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
