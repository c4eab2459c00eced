"""The bottom of the I/O layer: sending on, and waiting for, one non-blocking socket.

Owns the three socket verbs every writer of the I/O layer shares (the request thread's
channel, the reactor's parked output and held responses, refusals): `send_some` (what the
socket takes now), `send_all` (all of it, waiting up to a timeout per stall) and `wait_for`
(readiness with a timeout). A client that is gone, or stalls past the timeout, is one
exception for all of them: `ClientDisconnected`. Nothing here knows of connections.

Also the compiled build's native accept and read (`NATIVE_ACCEPT`, `NATIVE_RECEIVE`, from
`pronghorn/io/_sockcalls.c`), None in the pure build: they say "nothing yet" with None
instead of an exception (see the C source for why).
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Final

from pronghorn.channel import ClientDisconnected
from pronghorn.io.stream import Stream

__all__ = ["NATIVE_ACCEPT", "NATIVE_RECEIVE", "send_all", "send_some", "wait_for"]

Accept = Callable[[int], tuple[int, tuple[str, int] | None] | None]
"""listen fd -> (non-blocking fd, (host, port) or None for a Unix socket), or None."""
Receive = Callable[[int, int], bytes | None]
"""(fd, size) -> up to size bytes, b"" at the end, or None when none has arrived."""


def _native_calls() -> tuple[Accept | None, Receive | None]:
    """The C accept and read of the compiled build, or (None, None): the pure build, which
    never builds them, and PRONGHORN_PURE=1, which does not load them (pronghorn.build)."""
    try:
        from pronghorn.io._sockcalls import accept_connection, receive
    except ImportError:
        return None, None
    return accept_connection, receive


_NATIVE: Final = _native_calls()
NATIVE_ACCEPT: Final = _NATIVE[0]
NATIVE_RECEIVE: Final = _NATIVE[1]


def send_some(sock: Stream, data: bytes | memoryview, then: bytes = b"", flags: int = 0) -> int:
    """Send what a non-blocking socket takes now of `data` (and `then` after it, in one
    `sendmsg`); 0 when it is full. ClientDisconnected when the client is gone."""
    try:
        return sock.sendmsg((data, then), (), flags) if then else sock.send(data, flags)
    except BlockingIOError:
        return 0
    except OSError as exc:
        raise ClientDisconnected(f"client went away: {exc}") from exc


def send_all(sock: Stream, data: bytes | memoryview, timeout: float) -> None:
    """Send all of `data` on a non-blocking socket, waiting up to `timeout` per stall."""
    sent = send_some(sock, data)
    if sent == len(data):
        return
    view = memoryview(data)[sent:]
    while view:
        if not wait_for(sock, select.POLLOUT, timeout):
            raise ClientDisconnected("client stopped reading the response")
        # Not `view[send_some(sock, view):]`: compiled, a slice of anything but a list,
        # tuple, str or bytes evaluates its bounds twice, so that sent every piece twice
        # (docs/design.md, "Writing code that compiles correctly").
        sent = send_some(sock, view)
        view = view[sent:]


def wait_for(sock: Stream, events: int, timeout: float) -> bool:
    """Block until `sock` is ready for `events` (select.POLLIN/POLLOUT) or `timeout` passes."""
    poller = select.poll()
    poller.register(sock, events)
    return bool(poller.poll(timeout * 1000.0))
