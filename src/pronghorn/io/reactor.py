"""The reactor: one epoll set, a relay of threads taking turns to watch it, and deadlines.

Owns how a worker's threads share the work. At any time one thread is the *leader*: it
waits on epoll, accepts connections and runs each ready request itself, inline, with no
hand-off to another thread (the fast path: a request costs no thread switch at all). One
more thread is the *standby*: it sleeps, waking every few milliseconds only while the
leader is inside an application call; if that call has lasted longer than `TAKEOVER_AFTER`
(a view blocked on its database, say), the standby becomes the leader and the stuck thread
finishes its request and then waits its turn. So at most `--threads` application calls run
at once, a blocking app never stops the others from being served, and a fast app never pays
for threads. Connections are registered EPOLLONESHOT: once an event is taken, nobody else
sees the socket until the thread that took it hands it back (`_serve`), so no two threads
ever touch one connection.

All shared bookkeeping (leadership, which connections are claimed, closing) happens under
one lock, `_lock`, held only for a few attribute changes at a time.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pronghorn.config.model import Config
from pronghorn.http.events import RequestHead
from pronghorn.io.batching import HeldResponses
from pronghorn.io.channel import SocketChannel
from pronghorn.io.client import WAIT_IDLE, WAIT_WRITE, ClientConnection, Wait
from pronghorn.io.listeners import Listener
from pronghorn.io.parked import ParkingBudget

if TYPE_CHECKING:
    from pronghorn.io.worker import WorkerState

TAKEOVER_AFTER = 0.004
_STANDBY_TICK = 0.002
_QUIET_TICKS = 25
_CORK_SECONDS = 0.002
_ACCEPT_BATCH = 64
_FRESH_GRACE = 1.0
_POLL_EVENTS = 64
_CONN_EVENTS = select.EPOLLIN | select.EPOLLONESHOT | select.EPOLLRDHUP
_WRITE_EVENTS = select.EPOLLOUT | select.EPOLLONESHOT


class Reactor:
    """The event-watching side of one worker, shared by its threads."""

    def __init__(self, state: WorkerState, listeners: Sequence[Listener]) -> None:
        self.state = state
        self.config: Config = state.config
        config = self.config
        self.wait_seconds = {
            Wait.FRESH: config.keep_alive,
            Wait.IDLE: config.keep_alive,
            Wait.HEAD: config.header_timeout,
            Wait.DISCARD: config.io_timeout,
            Wait.WRITE: config.io_timeout,
        }
        self._epoll = select.epoll()
        self._listeners = {lst.sock.fileno(): (lst.sock, i) for i, lst in enumerate(listeners)}
        # Read once: `socket.family` converts to an IntEnum on every read (see _accept).
        self._families = {i: int(lst.sock.family) for i, lst in enumerate(listeners)}
        for fd in self._listeners:
            self._epoll.register(fd, select.EPOLLIN)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._conns: dict[int, ClientConnection] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._standby_wake = threading.Event()
        self._leader: int | None = None
        self._standby: int | None = None
        self._standby_deep = False
        self._busy_since = 0.0
        self._calls = 0
        # The leader's current epoll batch and how far it has gone (see _rearm_rest_of_batch).
        self._batch: list[tuple[int, int]] = []
        self._batch_next = 0
        self._held = HeldResponses(_CORK_SECONDS, config.io_timeout, self._serve)
        self.parking = ParkingBudget()  # bytes parked for full sockets, all connections
        self.stopping = False
        self.finished = threading.Event()

    # -- the threads --------------------------------------------------------------------

    def thread_main(self) -> None:
        me = threading.get_ident()
        while not self.finished.is_set():
            with self._lock:
                if self._leader is None or self._leader == me:
                    self._leader = me  # a standby that took the lead comes back here
                    role = "lead"
                elif self._standby is None:
                    self._standby = me
                    role = "standby"
                else:
                    self._idle.wait(1.0)
                    continue
            if role == "lead":
                self._lead(me)
            else:
                self._stand_by(me)

    def _lead(self, me: int) -> None:
        poll = self._epoll.poll
        held = self._held
        while self._leader == me and not self.finished.is_set():
            events = poll(1.0, _POLL_EVENTS)
            self._batch = events
            for position, (fd, mask) in enumerate(events, 1):
                if self._leader != me:
                    break  # lost the lead in an app call: the new leader re-armed the rest
                self._batch_next = position
                self._dispatch(fd, mask)
                if held.overdue():
                    held.flush()
            held.flush()
            if self.stopping:
                self.close_idle()

    def _stand_by(self, me: int) -> None:
        quiet_ticks = 0
        calls_seen = self._calls
        while not self.finished.is_set():
            with self._lock:
                if self._leader is None or (
                    self._busy_since and time.monotonic() - self._busy_since > TAKEOVER_AFTER
                ):
                    self._leader = me
                    self._standby = None
                    self._busy_since = 0.0
                    self._idle.notify()  # someone else may stand by now
                    self._rearm_rest_of_batch()
                    return
                # Sleep deeply only once the leader has started no request for a while:
                # waking the standby on every request would cost a thread switch each.
                quiet_ticks = quiet_ticks + 1 if self._calls == calls_seen else 0
                calls_seen = self._calls
                deep = quiet_ticks >= _QUIET_TICKS and not self._busy_since
                if deep:
                    self._standby_deep = True
                    self._standby_wake.clear()
            if deep:
                # Bounded, so a wake-up lost to a race costs at most this much delay.
                self._standby_wake.wait(0.05)
                quiet_ticks = 0
            else:
                time.sleep(_STANDBY_TICK)
                if self._held.overdue():
                    self._held.flush()  # the leader is inside an app call: don't keep them

    def _rearm_rest_of_batch(self) -> None:
        """Under the lock, taking the lead from a thread inside an application call: the
        connections that thread polled and has not acted on yet would wait for that call to
        end (EPOLLONESHOT reports them no more), so they are armed again for the new leader.
        The old leader stops at the next event of its batch (see `_lead`); should both reach
        one connection, `_claim` gives it to one only."""
        conns = self._conns
        for fd, _mask in self._batch[self._batch_next :]:
            conn = conns.get(fd)  # listeners and the wake pipe are level-triggered: skipped
            if conn is not None and not conn.busy and not conn.closed and conn.registered:
                events = _WRITE_EVENTS if conn.wait is WAIT_WRITE else _CONN_EVENTS
                with contextlib.suppress(OSError):
                    self._epoll.modify(fd, events)
        self._batch = []
        self._batch_next = 0

    def run_request(
        self,
        head: RequestHead,
        channel: SocketChannel,
        remote: tuple[str, int] | None,
        listener_index: int,
    ) -> None:
        """Run one request on this thread; the standby may take the lead meanwhile."""
        me = threading.get_ident()
        started = time.monotonic()
        leading = self._leader == me
        if leading:
            self._calls += 1
            self._busy_since = started
            if self._standby_deep:
                self._standby_deep = False
                self._standby_wake.set()
        try:
            self.state.run_request(head, channel, remote, listener_index, me, started)
        finally:
            # If the standby took the lead meanwhile, the busy mark is the new leader's.
            if leading and self._leader == me:
                self._busy_since = 0.0

    # -- events -------------------------------------------------------------------------

    def _dispatch(self, fd: int, mask: int) -> None:
        listener = self._listeners.get(fd)
        if listener is not None:
            self._accept(*listener)
            return
        if fd == self._wake_r:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 4096)
            return
        conn = self._claim(fd)
        if conn is not None:
            self._run(conn)

    def _run(self, conn: ClientConnection) -> None:
        """Act on what a claimed connection sent; its finished response may be held."""
        conn.corked = True
        try:
            keep = conn.writable() if conn.wait is WAIT_WRITE else conn.readable()
        finally:
            conn.corked = False
        if conn.outbox:
            self._held.add(conn, keep)
        else:
            self._serve(conn, keep)

    def _accept(self, sock: socket.socket, index: int, *, serve_now: bool = True) -> None:
        family = self._families[index]
        for _ in range(_ACCEPT_BATCH):
            try:
                # `_accept` and a socket made from its descriptor: what `socket.accept` does,
                # without its three IntEnum conversions of family and type per connection.
                fd, address = sock._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.state.error_log.warning("accept failed: %s", exc)
                return
            client = socket.socket(family, socket.SOCK_STREAM, 0, fileno=fd)
            client.setblocking(False)
            # TCP_NODELAY is inherited from the listening socket (see listeners.describe).
            if family != socket.AF_UNIX:
                remote: tuple[str, int] | None = (str(address[0]), int(address[1]))
            else:
                remote = None
            conn = ClientConnection(self, client, remote, index)
            with self._lock:
                self._conns[fd] = conn
            if serve_now:
                self._run(conn)  # most clients send their request with the handshake
            else:
                self._serve(conn, True)  # stopping: whoever leads serves it from epoll

    def _claim(self, fd: int) -> ClientConnection | None:
        with self._lock:
            conn = self._conns.get(fd)
            if conn is None or conn.closed or conn.busy:
                return None
            conn.busy = True
            return conn

    def _serve(self, conn: ClientConnection, keep: bool) -> None:
        """Hand a connection back to the reactor after a thread is done with it, or close.

        Output parked for a full socket is sent first, even when the connection is to
        close after it: epoll then watches for writability instead of a request."""
        if conn.parked:
            if not keep:
                conn.close_after_write = True
            conn.wait = WAIT_WRITE
            events = _WRITE_EVENTS
        elif keep and not (self.stopping and conn.wait is WAIT_IDLE):
            events = _CONN_EVENTS
        else:
            self._close(conn)
            return
        conn.arm_deadline()
        with self._lock:
            if conn.closed:
                return
            conn.busy = False
            if conn.registered:
                self._epoll.modify(conn.sock.fileno(), events)
            else:
                conn.registered = True
                self._epoll.register(conn.sock.fileno(), events)

    def _close(self, conn: ClientConnection) -> None:
        with self._lock:
            if conn.closed:
                return
            conn.closed = True
            # No epoll.unregister: closing the socket (its only descriptor) takes it out of
            # the epoll set, one system call fewer per connection. Once it is out of
            # `_conns`, a late event for its number finds nothing to claim.
            self._conns.pop(conn.sock.fileno(), None)
        conn.parked.release()
        with contextlib.suppress(OSError):
            conn.sock.close()

    # -- deadlines and stopping (any thread; the worker's clock thread calls these) -------

    def sweep(self) -> None:
        """Close connections whose deadline passed while they waited in the reactor."""
        now = time.monotonic()
        expired = []
        with self._lock:
            for conn in self._conns.values():
                if not conn.busy and conn.deadline <= now:
                    conn.busy = True  # ours now: no thread can claim it
                    expired.append(conn)
        for conn in expired:
            conn.deadline_action()
            self._close(conn)

    def connection_count(self) -> int:
        return len(self._conns)

    def begin_stop(self) -> None:
        """Stop accepting; idle connections close, busy ones after their response, and
        connections that have not sent anything yet get a moment to send their request."""
        self.stopping = True
        soon = time.monotonic() + _FRESH_GRACE
        with self._lock:
            for fd in self._listeners:
                with contextlib.suppress(FileNotFoundError, ValueError):
                    self._epoll.unregister(fd)
        # Connections the kernel accepted before we stopped are ours to answer: take them
        # from the backlog (the leader serves them), then close the listening sockets so
        # new connections are refused.
        for sock, index in self._listeners.values():
            self._accept(sock, index, serve_now=False)
            sock.close()
        with self._lock:
            for conn in self._conns.values():
                if conn.wait is Wait.FRESH:
                    conn.deadline = min(conn.deadline, soon)
        self.wake()

    def close_idle(self) -> None:
        """While stopping: close every connection that is waiting for its next request."""
        with self._lock:
            idle = [c for c in self._conns.values() if not c.busy and c.wait is Wait.IDLE]
            for conn in idle:
                conn.busy = True
        for conn in idle:
            self._close(conn)

    def force_close_all(self) -> None:
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            if not conn.busy:
                self._close(conn)

    def finish(self) -> None:
        self.finished.set()
        self._standby_wake.set()
        with self._lock:
            self._idle.notify_all()
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def close(self) -> None:
        self._epoll.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
