"""`TLSStream` on real loopback sockets with small buffers: it keeps a plain non-blocking
socket's promises (BlockingIOError, never a lost or repeated byte) through OpenSSL's
rules (a write that blocked must be given the same bytes again; decrypted bytes can wait
in OpenSSL's buffer where epoll does not see them)."""

from __future__ import annotations

import random
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tlstools import Site, client_context

from pronghorn.io.tls_connection import TLSStream


@dataclass
class Pair:
    server: TLSStream
    client: ssl.SSLSocket


def _wait(stream: TLSStream, events: int) -> None:
    poller = select.poll()
    poller.register(stream.fileno(), events)
    assert poller.poll(10_000), "the socket never became ready"


@pytest.fixture
def pair(site: Site) -> Iterator[Pair]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(site.pki.server_cert), str(site.pki.server_key))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        raw_client = socket.socket()
        raw_client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        raw_client.connect(listener.getsockname())
        raw_server, _ = listener.accept()
    raw_server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    raw_server.setblocking(False)
    stream = TLSStream(raw_server)
    client = client_context(site).wrap_socket(
        raw_client, server_hostname="127.0.0.1", do_handshake_on_connect=False
    )
    shaking = threading.Thread(target=client.do_handshake, daemon=True)
    shaking.start()
    while True:
        try:
            stream.handshake(context)
            break
        except ssl.SSLWantReadError:
            _wait(stream, select.POLLIN)
        except ssl.SSLWantWriteError:
            _wait(stream, select.POLLOUT)
    shaking.join(10)
    client.settimeout(10)
    try:
        yield Pair(stream, client)
    finally:
        client.close()
        stream.close()


def _read_all(client: ssl.SSLSocket, size: int, into: list[bytes]) -> None:
    got = 0
    while got < size:
        piece = client.recv(65536)
        if not piece:
            return
        into.append(piece)
        got += len(piece)


def test_a_blocked_write_resumes_whatever_way_the_rest_is_cut(pair: Pair) -> None:
    """After BlockingIOError the caller gives the rest again, sometimes in smaller pieces,
    sometimes joined with what follows: the client reads every byte once, in order."""
    data = random.Random(1).randbytes(3 * 1024 * 1024)
    received: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(pair.client, len(data), received))
    blocked = 0
    position = 0
    cuts = random.Random(2)
    while position < len(data):
        # The caller's view of the rest: cut at random, as parking and send_all do.
        end = min(len(data), position + cuts.choice([1, 100, 16384, 20000, 300000]))
        try:
            sent = pair.server.send(memoryview(data)[position:end])
        except BlockingIOError:
            blocked += 1
            if blocked == 1:
                reader.start()  # only now: the first writes had to fill the socket
            _wait(pair.server, select.POLLOUT)
            continue
        assert 0 < sent <= end - position
        position += sent
    assert blocked > 0, "the socket never filled: the test proves nothing"
    reader.join(30)
    assert b"".join(received) == data


def test_sendmsg_sends_the_pieces_in_order(pair: Pair) -> None:
    pieces = [b"head\r\n\r\n", b"x" * 40000, b"tail"]
    total = sum(len(piece) for piece in pieces)
    received: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(pair.client, total, received))
    reader.start()
    rest = b"".join(pieces)
    sent = pair.server.sendmsg(pieces)
    rest = rest[sent:]
    while rest:
        try:
            rest = rest[pair.server.send(rest) :]
        except BlockingIOError:
            _wait(pair.server, select.POLLOUT)
    reader.join(30)
    assert b"".join(received) == b"".join(pieces)


def test_recv_leaves_nothing_decrypted_behind(pair: Pair) -> None:
    """However small the read asked for, what OpenSSL decrypted comes out with it: epoll
    would never report bytes that are already out of the socket."""
    data = random.Random(3).randbytes(200_000)
    pair.client.sendall(data)
    got = bytearray()
    ssl_socket = pair.server._ssl
    assert ssl_socket is not None
    while len(got) < len(data):
        try:
            piece = pair.server.recv(10)  # far less than a record
        except BlockingIOError:
            _wait(pair.server, select.POLLIN)
            continue
        assert piece
        assert ssl_socket.pending() == 0
        got += piece
    assert bytes(got) == data


def test_recv_takes_several_records_at_once(pair: Pair) -> None:
    data = b"y" * 60000  # four records
    pair.client.sendall(data)
    got = bytearray()
    reads = 0
    while len(got) < len(data):
        _wait(pair.server, select.POLLIN)
        try:
            got += pair.server.recv(65536)
        except BlockingIOError:
            continue
        reads += 1
    assert bytes(got) == data
    assert reads < 4


def test_peek_and_end(pair: Pair) -> None:
    with pytest.raises(BlockingIOError):
        pair.server.recv(65536)
    with pytest.raises(BlockingIOError):  # as a plain socket: nothing waits
        pair.server.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    pair.client.sendall(b"GET / HTTP/1.1\r\n\r\n")
    _wait(pair.server, select.POLLIN)
    assert pair.server.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)  # a request waits
    assert pair.server.recv(65536) == b"GET / HTTP/1.1\r\n\r\n"
    pair.client.close()
    _wait(pair.server, select.POLLIN)
    assert pair.server.recv(65536) == b""
