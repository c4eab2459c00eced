"""A worker's stop, in the process: a `Reactor` over a real listening socket, with a thread
that accepts stopped in the middle of taking its connection (pronghorn.io.reactor).

The race this pins down lost a request in CI (the systemd recipe's reload): a thread had
accepted a connection and not yet entered it among the reactor's connections when the
stop began; the stop found nothing left, the worker ended, and the client's request was
reset. Between two threads it is a window of microseconds, so the test holds the thread
inside it: the listener's socket type, which the thread calls to wrap the descriptor it
accepted, waits until the test lets it go."""

from __future__ import annotations

import _socket
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator

import pytest

from pronghorn.config.sources import load_config
from pronghorn.dispatch.requests import Dispatcher
from pronghorn.io.listeners import open_listener
from pronghorn.io.reactor import Reactor
from pronghorn.io.worker import _graceful_stop
from pronghorn.logs.access_format import AccessLog
from pronghorn.logs.setup import Logs

_BODY = b"answered\n"
_WITHIN = 10.0


def _app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Length", str(len(_BODY)))])
    return [_BODY]


def _held_socket_type() -> tuple[type[_socket.socket], threading.Event, threading.Event]:
    """A socket type whose making, in the accepting thread, waits for the test's word:
    the type, the event it sets once made, and the event it waits for."""
    made = threading.Event()
    go_on = threading.Event()

    class HeldSocket(_socket.socket):
        def __init__(self, family: int, kind: int, proto: int, fileno: int) -> None:
            super().__init__(family, kind, proto, fileno)
            made.set()
            assert go_on.wait(_WITHIN)

    return HeldSocket, made, go_on


@pytest.fixture
def reactor() -> Iterator[Reactor]:
    # A socket the workers share (not exclusive): a stop closes it at once, as on HUP.
    listener = open_listener("127.0.0.1:0", 16)
    config = load_config(["--graceful-timeout", "10", "app:application"], {})
    logger = logging.getLogger("pronghorn.test.reactor_stop")
    access = AccessLog(logging.getLogger("pronghorn.test.reactor_stop.access"), "", enabled=False)
    made = Reactor(Dispatcher(config, _app, Logs(logger, access, ()), [listener]), [listener])
    try:
        yield made
    finally:
        made.finish()
        made.force_close_all()
        made.close()


def test_a_connection_accepted_as_the_stop_begins_is_answered(reactor: Reactor) -> None:
    ((_, listening),) = reactor._listening.items()
    listening.socket_type, made, go_on = _held_socket_type()
    address = listening.sock.getsockname()
    settled_at_stop: list[bool] = []

    def begin_stop() -> None:
        reactor.begin_stop(False)
        settled_at_stop.append(reactor.settled())

    with socket.create_connection(address, timeout=_WITHIN) as client:
        # A thread of the worker takes the connection: held once it has accepted it.
        taking = threading.Thread(target=reactor._accept, args=(listening,))
        taking.start()
        assert made.wait(_WITHIN)
        # The stop begins meanwhile. It may wait for the taking thread (the accept and the
        # connection's entry are under one lock): given a moment, then the thread goes on.
        stopping = threading.Thread(target=begin_stop)
        stopping.start()
        stopping.join(0.5)
        go_on.set()
        taking.join(_WITHIN)
        stopping.join(_WITHIN)
        assert settled_at_stop == [False], "the stop would end the worker under its connection"
        # The worker goes on as it would: its threads serve, the clock thread stops.
        serving = threading.Thread(target=reactor.thread_main, daemon=True)
        serving.start()
        finishing = threading.Thread(
            target=_graceful_stop, args=(reactor.state, reactor, [serving], False, None)
        )
        finishing.start()
        client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        finishing.join(_WITHIN)
        assert not finishing.is_alive()
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n" + _BODY)
    assert reactor.settled()
