"""The `--metrics-bind` listener: a small HTTP/1.1 server that never blocks its caller.

Owns `MetricsEndpoint`. Its owner calls `serve(timeout, wake_fd)` from its own loop (the
master's, see `pronghorn.supervisor.telemetry`; without a master, a thread of the one
process): it waits for the listening socket, its connections or `wake_fd`, at most
`timeout` seconds, does what is ready with non-blocking calls only, and returns. Requests
are parsed by pronghorn's own HTTP core (`pronghorn.http.connection`) under tight limits and
answered by the owner's `answer(method, path)`; only GET and HEAD without a body are asked.

Bounded for a slow or hostile peer, so that the master's loop is never held and its memory
never grows: peers not in `--metrics-allow-from` get one 403 and are closed; at most
`MAX_PEERS` connections are open (more wait in the listen backlog); a request head of at
most ~16 KiB, complete within `HEAD_SECONDS`; nothing more is read from a peer while an
answer to it is unsent, and an answer it does not take within `WRITE_SECONDS` closes it; an
idle keep-alive connection is closed after `IDLE_SECONDS`. Every refusal is one log line.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pronghorn.http.connection import CLOSED, FRESH, HEAD, IDLE, ServerConnection
from pronghorn.http.events import BodyKind, ProtocolError, RequestHead
from pronghorn.http.limits import ParserLimits
from pronghorn.http.response import error_response, http_date, plan_response
from pronghorn.wsgi.proxies import TrustedAddresses

Answer = tuple[int, str, str, bytes]
"""(status code, reason phrase, content type, body)."""

MAX_PEERS = 32
HEAD_SECONDS = 5.0
IDLE_SECONDS = 30.0
WRITE_SECONDS = 10.0
_LIMITS = ParserLimits(max_request_line=2048, max_fields=32, max_field_size=4096, max_body=1)
_RECV = 8192
_IN = select.POLLIN
_OUT = select.POLLOUT
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


@dataclass(frozen=True, slots=True)
class Bounds:
    """How much one peer may take of the listener (tests shorten the times)."""

    max_peers: int = MAX_PEERS
    head_seconds: float = HEAD_SECONDS
    idle_seconds: float = IDLE_SECONDS
    write_seconds: float = WRITE_SECONDS


class _Peer:
    """One connection to the metrics listener."""

    __slots__ = ("address", "deadline", "http", "out", "sock")

    def __init__(self, sock: socket.socket, address: str, deadline: float) -> None:
        self.sock = sock
        self.address = address
        self.http = ServerConnection(_LIMITS, body_buffer=0)
        self.out = b""
        self.deadline = deadline


class MetricsEndpoint:
    """A listening socket and its connections, served a step at a time by `serve`."""

    def __init__(
        self,
        sock: socket.socket,
        allow: Iterable[str],
        answer: Callable[[str, str], Answer],
        log: logging.Logger,
        bounds: Bounds = Bounds(),
    ) -> None:
        sock.setblocking(False)
        self.sock = sock
        # --metrics-allow-from, matched as --forwarded-allow-ips is (canonical peer text).
        self._allow = TrustedAddresses(allow)
        self._answer = answer
        self._log = log
        self._bounds = bounds
        self._peers: dict[int, _Peer] = {}
        self._poll = select.poll()
        self._poll.register(sock, _IN)
        self._accepting = True
        self._wake_fd = -1

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def serve(self, timeout: float, wake_fd: int = -1) -> None:
        """Wait up to `timeout` seconds for the listener, a peer or `wake_fd` to be ready,
        and do what is ready. Never blocks on a peer; never raises for a peer's doing."""
        if wake_fd != self._wake_fd:
            if self._wake_fd >= 0:
                self._poll.unregister(self._wake_fd)
            if wake_fd >= 0:
                self._poll.register(wake_fd, _IN)
            self._wake_fd = wake_fd
        try:
            events = self._poll.poll(max(0.0, timeout) * 1000.0)
        except InterruptedError:
            events = []
        now = time.monotonic()
        for fd, mask in events:
            if fd == self.sock.fileno():
                self._accept(now)
                continue
            peer = self._peers.get(fd)
            if peer is not None:
                self._step(peer, mask, now)
        self._expire(now)

    def close(self) -> None:
        """Close the listener and every connection."""
        for peer in list(self._peers.values()):
            self._drop(peer)
        with contextlib.suppress(KeyError, ValueError):
            self._poll.unregister(self.sock)
        self.sock.close()

    def forget(self) -> None:
        """In a forked child: close the descriptors without touching the shared state."""
        for peer in self._peers.values():
            peer.sock.close()
        self._peers.clear()
        self.sock.close()

    # -- connections --------------------------------------------------------------------

    def _accept(self, now: float) -> None:
        while len(self._peers) < self._bounds.max_peers:
            try:
                sock, address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._log.warning("Metrics listener: accept failed: %s", exc)
                return
            sock.setblocking(False)
            host = str(address[0]) if isinstance(address, tuple) else ""
            if host not in self._allow:
                self._log.warning(
                    "Metrics listener: refused %s (not in --metrics-allow-from)", host
                )
                with contextlib.suppress(OSError):
                    sock.send(error_response(403, http_date(time.time())))
                sock.close()
                continue
            peer = _Peer(sock, f"{host}:{address[1]}", now + self._bounds.head_seconds)
            self._peers[sock.fileno()] = peer
            self._poll.register(sock, _IN)
        self._set_accepting(False)  # at MAX_PEERS: the backlog holds the rest

    def _set_accepting(self, accepting: bool) -> None:
        if accepting != self._accepting:
            self._accepting = accepting
            self._poll.modify(self.sock, _IN if accepting else 0)

    def _step(self, peer: _Peer, mask: int, now: float) -> None:
        try:
            if peer.out:
                self._flush(peer, now)
                if not peer.out:
                    self._serve_pending(peer, now)  # pipelined requests already received
            elif mask & (_IN | _GONE):
                self._read(peer, now)
        except Exception:  # a boundary: one peer's trouble never reaches the owner's loop
            self._log.exception("Metrics listener: error serving %s", peer.address)
            self._drop(peer)

    def _read(self, peer: _Peer, now: float) -> None:
        try:
            data = peer.sock.recv(_RECV)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        http = peer.http
        was_waiting = http.phase is FRESH or http.phase is IDLE
        http.receive(data)
        self._serve_pending(peer, now)
        if was_waiting and http.phase is HEAD and peer.sock.fileno() in self._peers:
            # A new head has started: it must be complete in HEAD_SECONDS from now.
            peer.deadline = min(peer.deadline, now + self._bounds.head_seconds)

    def _serve_pending(self, peer: _Peer, now: float) -> None:
        """Answer the requests received, one at a time: the next only once the answer to
        the one before is sent, so that what waits to be sent stays one answer."""
        while not peer.out:
            item = peer.http.next_request()
            if item is None:
                break
            if type(item) is ProtocolError:
                self._refuse(peer, item, now)
                return
            assert type(item) is RequestHead
            self._respond(peer, item, now)
        if not peer.out and peer.http.phase is CLOSED:
            self._drop(peer)

    def _respond(self, peer: _Peer, head: RequestHead, now: float) -> None:
        if head.body_kind is not BodyKind.NONE:
            self._refuse(peer, ProtocolError(413, "a request body"), now)
            return
        if head.method not in ("GET", "HEAD"):
            code, reason, kind, body = 405, "Method Not Allowed", "text/plain", b"GET only\n"
        else:
            code, reason, kind, body = self._answer(head.method, head.path.decode("latin-1"))
        headers = [("Content-Type", kind), ("Cache-Control", "no-store")]
        if code == 405:
            headers.append(("Allow", "GET, HEAD"))
        plan = plan_response(
            method=head.method,
            request_version=head.version,
            request_keep_alive=head.keep_alive,
            status=f"{code} {reason}",
            headers=headers,
            date=http_date(time.time()),
            body_length=len(body),
        )
        peer.http.end_request(plan.keep_alive)
        self._send(peer, plan.head + body if plan.sends_body else plan.head, now)

    def _refuse(self, peer: _Peer, error: ProtocolError, now: float) -> None:
        self._log.info("Metrics listener: %d %s from %s", error.status, error.detail, peer.address)
        self._send(peer, peer.http.refusal(error, http_date(time.time())), now)

    def _send(self, peer: _Peer, data: bytes, now: float) -> None:
        peer.out = data
        peer.deadline = now + self._bounds.write_seconds
        self._flush(peer, now)

    def _flush(self, peer: _Peer, now: float) -> None:
        """Send what the socket takes of the answer; once all is sent, wait for the next
        request (or close)."""
        try:
            sent = peer.sock.send(peer.out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._drop(peer)
            return
        peer.out = peer.out[sent:]
        if peer.out:
            if sent:
                peer.deadline = now + self._bounds.write_seconds  # a stall, not the whole answer
            self._poll.modify(peer.sock, _OUT)
            return
        if peer.http.phase is CLOSED:
            self._drop(peer)
            return
        peer.deadline = now + self._bounds.idle_seconds
        self._poll.modify(peer.sock, _IN)

    def _expire(self, now: float) -> None:
        for peer in [p for p in self._peers.values() if p.deadline <= now]:
            if not peer.out and peer.http.phase is HEAD:
                self._log.info("Metrics listener: 408 request head timed out from %s", peer.address)
                refusal = peer.http.refusal(
                    ProtocolError(408, "request head timed out"), http_date(time.time())
                )
                with contextlib.suppress(OSError):
                    peer.sock.send(refusal)  # one try: a peer this slow gets no other
            self._drop(peer)

    def _drop(self, peer: _Peer) -> None:
        fd = peer.sock.fileno()
        if self._peers.pop(fd, None) is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._poll.unregister(fd)
        peer.sock.close()
        if len(self._peers) < self._bounds.max_peers:
            self._set_accepting(True)
