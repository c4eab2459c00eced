"""The reactor: one epoll set, a relay of threads taking turns to watch it, and deadlines.

Owns how a worker's threads share the work. At any time one thread is the *leader*: it
waits on epoll, accepts connections and runs each ready request itself, inline, with no
hand-off to another thread (the fast path: a request costs no thread switch at all). One
more thread is the *standby*: it sleeps, waking every few milliseconds only while the
leader is inside an application call; if that call has lasted longer than `TAKEOVER_AFTER`
(a view blocked on its database, say), the standby becomes the leader and the stuck thread
finishes its request and then waits its turn. So at most `--threads` application calls run
at once, a blocking app never stops the others from being served, and a fast app never pays
for threads. A thread that takes a connection's event marks it busy under the lock
(`_claim`), and nobody else acts on it until that thread hands it back (`_serve`), so no
two threads ever touch one connection. Plain connections stay registered edge-triggered
from one request to the next, with no system call to arm them again. The hand-back arms
one again when its one report may have been spent: an event that came while it was busy,
a read that may have left bytes behind, an event that also brought the peer's close. TLS
and PROXY-preamble connections, and writes waiting for the socket, are armed one-shot
each time (docs/design.md, "Edge-triggered keep-alive").

All shared bookkeeping (leadership, which connections are claimed, closing, whether a
listening socket is open) happens under one lock, `_lock`, held only for a few attribute
changes (or one non-blocking accept and the making of its connection) at a time.
Stopping is here too (`begin_stop`): no new connections, every request that has arrived
answered (see docs/design.md, "Graceful stop").
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from pronghorn.channel import RequestChannel
from pronghorn.config.model import Config
from pronghorn.dispatch.requests import Dispatcher
from pronghorn.http.connection import ConnectionState
from pronghorn.http.events import RequestHead
from pronghorn.io.batching import HeldResponses
from pronghorn.io.client import (
    WAIT_FRESH,
    WAIT_IDLE,
    WAIT_PREAMBLE,
    WAIT_WRITE,
    ClientConnection,
    Wait,
)
from pronghorn.io.contracts import ConnectionHost
from pronghorn.io.listeners import (
    Listener,
    defers_accept,
    handshakes_pending,
    stop_new_connections,
)
from pronghorn.io.outbox import Outbox, ReportingOutbox
from pronghorn.io.parked import ParkingBudget
from pronghorn.io.preamble import ProxyHeaderStep
from pronghorn.io.protocols import ListenerProtocol, listener_protocol
from pronghorn.io.sockets import NATIVE_ACCEPT
from pronghorn.io.stream import Stream
from pronghorn.io.tls_connection import TLSConnection
from pronghorn.metrics.recorder import REFUSED_ACCEPT_ERROR, REFUSED_STOPPING
from pronghorn.wsgi.proxies import TrustedAddresses
from pronghorn.wsgi.uwsgi_environ import AnyEnvironBuilder

# Makes the socket object for an accepted descriptor: (family, type, proto, fileno).
SocketType = Callable[[int, int, int, int], _socket.socket]


class ConnectionMaker:
    """Makes the connection for an accepted socket: a plain `ClientConnection`, or with `tls`
    a `TLSConnection` (on the `socket.socket` that `SSLContext.wrap_socket` needs).

    An object with a method, not the class held in a variable: compiled, a class called
    from a variable goes through Python's generic call (its five arguments parsed into the
    constructor, ~1k instructions a connection), where a method of a native class is a
    direct call (docs/design.md, "What a new connection costs")."""

    __slots__ = ("_tls",)

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self._tls = tls

    def make(
        self,
        reactor: Reactor,
        sock: _socket.socket,
        remote: tuple[str, int] | None,
        builder: AnyEnvironBuilder,
        state: ConnectionState,
    ) -> ClientConnection:
        tls = self._tls
        if tls is None:
            return ClientConnection(reactor, sock, remote, builder, state)
        assert isinstance(sock, socket.socket)  # a TLS listener's socket_type
        return TLSConnection(reactor, sock, remote, builder, state, context=tls)


TAKEOVER_AFTER: Final = 0.004
_STANDBY_TICK: Final = 0.002
_QUIET_TICKS: Final = 25
_DEEP_WAIT: Final = 0.05  # the standby's sleep on a quiet worker, between two looks
_PAUSE_NOTE_SECONDS: Final = 60.0  # out of descriptors: one log line a minute at most
_CORK_SECONDS: Final = 0.002
_ACCEPT_BATCH: Final = 64
# Within an accept batch, the held responses go out after every this many connections,
# not only at the batch's end: a batch of all of a client's connections held to its end
# leaves the client idle while the server works through it, and then the server idle while
# the client answers them all (docs/design.md, "Held responses in an accept batch").
_FLUSH_EVERY_ACCEPTS: Final = 16
# accept() errors that say "not now" (out of descriptors or memory), not "broken".
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_DRAIN_BATCH: Final = 4096  # a stop accepts at most this many queued connections at a time
_FRESH_GRACE: Final = 1.0  # while stopping: how long a new connection may take to send anything
_PEEK: Final = socket.MSG_PEEK | socket.MSG_DONTWAIT
_POLL_EVENTS: Final = 64
# How a connection is watched between requests (see `_serve`): edge-triggered, left
# registered from one request to the next; or one-shot, armed again after each (TLS, a
# preamble); and for a write that waits for the socket, always armed again.
_EDGE_READ: Final = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET
_ONESHOT_READ: Final = select.EPOLLIN | select.EPOLLONESHOT | select.EPOLLRDHUP
_ONESHOT_WRITE: Final = select.EPOLLOUT | select.EPOLLONESHOT
_PEER_CLOSED: Final = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR


# Bound once: compiled, `time.monotonic()` looks the function up on the module each call
# (~0.3k instructions), a Final name is read directly. For what runs on every request.
_monotonic: Final = time.monotonic
_get_ident: Final = threading.get_ident

# --proxy-protocol: the header versions each value accepts.
_PROXY_VERSIONS: Final = {"off": (), "v1": (1,), "v2": (2,), "auto": (1, 2)}


class Reactor(ConnectionHost):
    """The event-watching side of one worker, shared by its threads."""

    def __init__(self, state: Dispatcher, listeners: Sequence[Listener]) -> None:
        self.state = state
        # The same, as its class: compiled, the call a request makes on it goes straight to
        # the method (through a Protocol it would be a generic Python call).
        self._dispatcher = state
        self.config: Config = state.config
        config = self.config
        self.wait_seconds = {
            Wait.FRESH: config.keep_alive,
            Wait.IDLE: config.keep_alive,
            Wait.HEAD: config.header_timeout,
            Wait.BODY: config.io_timeout,
            Wait.DISCARD: config.io_timeout,
            Wait.WRITE: config.io_timeout,
            Wait.PREAMBLE: config.header_timeout,
        }
        # --proxy-protocol: the peers whose connections must start with a PROXY header.
        self._proxy_versions = _PROXY_VERSIONS[config.proxy_protocol]
        self._proxy_peers = (
            TrustedAddresses(config.proxy_allow_from) if config.proxy_protocol != "off" else None
        )
        self._epoll = select.epoll()
        maker = ConnectionMaker(state.tls)
        # A plain connection's socket is the C `_socket.socket`: `socket.socket` adds a
        # Python-level __init__ and close (about 0.9 µs a connection of its 1.7) and nothing
        # the connection code uses. TLS needs `socket.socket`, which wrap_socket takes.
        socket_type: SocketType = _socket.socket
        if state.tls is not None:
            socket_type = socket.socket
        self._listening = {
            lst.sock.fileno(): _Listening(
                lst,
                state.builders[index],
                maker,
                socket_type,
                listener_protocol(
                    config, state.parser_limits, unix=lst.sock.family == socket.AF_UNIX
                ),
            )
            for index, lst in enumerate(listeners)
        }
        for fd in self._listening:
            self._epoll.register(fd, select.EPOLLIN)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._conns: dict[int, ClientConnection] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._standby_wake = threading.Event()
        # The leading and the standby thread's idents; 0 for none (no thread has that
        # ident). Ints, not None: compiled, comparing an `int | None` boxes the ident and
        # compares generically (~0.2k instructions), for the leader twice a request and
        # once an event.
        self._leader = 0
        self._standby = 0
        self._standby_deep = False
        self._busy_since = 0.0
        self._calls = 0
        # The leader's current epoll batch and how far it has gone (see _rearm_rest_of_batch).
        self._batch: list[tuple[int, int]] = []
        self._batch_next = 0
        self._held: HeldResponses[ClientConnection] = HeldResponses(_CORK_SECONDS, self._serve)
        self.parking = ParkingBudget()  # bytes parked for full sockets, all connections
        # Chosen once: a worker without an access log never looks for a held line.
        self.outbox_type: type[Outbox] = ReportingOutbox if state.access_logging else Outbox
        self.metrics = state.metrics  # None unless metrics are on (pronghorn.io.observer)
        self.stopping = False
        self._accept_paused = False  # some listener is not watched: out of descriptors
        self.finished = threading.Event()
        # What the leader's loop reads instead of finished.is_set(), a Python-level call
        # (~0.6k instructions a call compiled, in a profile) at every epoll batch. Set before
        # `finished`.
        self._finishing = False

    # -- the threads --------------------------------------------------------------------

    def thread_main(self) -> None:
        me = threading.get_ident()
        while not self.finished.is_set():
            with self._lock:
                if self._leader == 0 or self._leader == me:
                    self._leader = me  # a standby that took the lead comes back here
                    role = "lead"
                elif self._standby == 0:
                    self._standby = me
                    role = "standby"
                else:
                    # No `continue` in here: mypyc cannot compile one inside `with`.
                    self._idle.wait(1.0)
                    role = "wait"
            if role == "lead":
                self._lead(me)
            elif role == "standby":
                self._stand_by(me)

    def _lead(self, me: int) -> None:
        poll = self._epoll.poll
        held = self._held
        while self._leader == me and not self._finishing:
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

    def _stand_by(self, me: int) -> None:
        quiet_ticks = 0
        calls_seen = self._calls
        while not self.finished.is_set():
            with self._lock:
                if self._leader == 0 or (
                    self._busy_since and time.monotonic() - self._busy_since > TAKEOVER_AFTER
                ):
                    self._leader = me
                    self._standby = 0
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
                # Bounded, so a wake-up lost to a race costs at most this much delay. Only a
                # request that started starts the ticks again: a wait that ran out on an
                # idle worker sleeps deeply again at once (counting the ticks afresh woke an
                # idle worker ~250 times a second; docs/design.md, "Concurrency model").
                if self._standby_wake.wait(_DEEP_WAIT):
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
            if conn is None or conn.closed or not conn.armed:
                continue
            if conn.busy:
                conn.rearm = True  # its event is spent: re-armed when it is handed back
                continue
            with contextlib.suppress(OSError):
                self._epoll.modify(fd, conn.armed)  # the socket's state looked at anew
        self._batch = []
        self._batch_next = 0

    def run_request(
        self,
        head: RequestHead,
        channel: RequestChannel,
        remote: tuple[str, int] | None,
        builder: AnyEnvironBuilder,
    ) -> None:
        """Run one request on this thread; the standby may take the lead meanwhile."""
        me = _get_ident()
        started = _monotonic()
        leading = self._leader == me
        if leading:
            self._calls += 1
            self._busy_since = started
            if self._standby_deep:
                self._standby_deep = False
                self._standby_wake.set()
        try:
            self._dispatcher.run_request(head, channel, remote, builder, me, started)
        finally:
            # If the standby took the lead meanwhile, the busy mark is the new leader's.
            if leading and self._leader == me:
                self._busy_since = 0.0

    # -- events -------------------------------------------------------------------------

    def _dispatch(self, fd: int, mask: int) -> None:
        listening = self._listening.get(fd)
        if listening is not None:
            self._accept(listening)
            return
        if fd == self._wake_r:
            self._drain_wake_pipe()
            return
        conn = self._claim(fd)
        if conn is not None:
            if mask & _PEER_CLOSED:
                # The peer's close came with this event, perhaps behind data: a read that
                # stops short at the data leaves the end of the stream unread, and no new
                # edge will announce it (see _serve).
                conn.rearm = True
            self._run(conn)

    def _drain_wake_pipe(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)

    def _run(self, conn: ClientConnection) -> None:
        """Act on what a claimed connection sent; its finished response may be held."""
        outbox = conn.outbox
        outbox.corked = True
        wait = conn.wait
        try:
            if wait is WAIT_WRITE:
                keep = conn.writable()
            elif wait is WAIT_PREAMBLE:
                keep = conn.run_preamble()
            else:
                keep = conn.readable()
        finally:
            outbox.corked = False
        if outbox.held:
            self._held.add(conn, keep)
        else:
            self._serve(conn, keep)

    def _accept(self, listening: _Listening) -> None:
        """Take up to a batch of new connections and run each one at once: a request that
        has arrived with its connection is served without a trip through epoll (one that
        has not is found missing by one read, and the connection waits in epoll). Their
        held responses go out every `_FLUSH_EVERY_ACCEPTS` connections."""
        held = self._held
        for taken in range(1, _ACCEPT_BATCH + 1):
            conn = self._take(listening)
            if conn is None:
                return
            self._run(conn)
            if taken % _FLUSH_EVERY_ACCEPTS == 0:
                held.flush()

    def _take(self, listening: _Listening) -> ClientConnection | None:
        """Accept one connection; None when none is waiting, the socket is being closed,
        or the peer was refused (the listener, level-triggered, reports the rest again).

        accept() runs under the lock, and a stop closes the socket only after marking it
        under the same lock, so a socket is never closed under a thread inside accept().
        The connection is entered into `_conns` before the lock is let go: a stop's
        `settled` (under the lock) never finds a connection accepted and not yet there
        (docs/design.md, "Graceful stop", "A connection between accept and adopt")."""
        refused: tuple[_socket.socket, tuple[str, int] | None] | None = None
        conn: ClientConnection | None = None
        lock = self._lock  # acquire/release, not `with`: see _claim
        lock.acquire()
        try:
            if not listening.open or listening.paused:
                return None
            try:
                accepted = self._accept_one(listening)
            except OSError as exc:
                failure: OSError | None = exc
            else:
                failure = None
                if accepted is None:
                    return None
                fd, remote = accepted
                client = self._socket_for(listening, fd)
                if _allowed(listening, remote):
                    conn = self._adopt(listening, client, remote)
                else:
                    refused = (client, remote)
        finally:
            lock.release()
        if failure is not None:
            if self.metrics is not None:
                self.metrics.refused[REFUSED_ACCEPT_ERROR] += 1
            if failure.errno in _OUT_OF_RESOURCES:
                self._pause_accepting(f"accept paused: {failure}")
            else:
                self.state.error_log.warning("accept failed: %s", failure)
            return None
        if refused is not None:
            self._refuse_peer(listening.protocol, refused[0], refused[1])  # it logs: unlocked
            return None
        limit = self.config.worker_connections
        if limit and len(self._conns) >= limit:
            self._pause_accepting("")  # --worker-connections: the backlog holds the rest
        return conn

    def _pause_accepting(self, reason: str) -> None:
        """Stop watching the listeners: at --worker-connections, or out of descriptors
        (where the listener would otherwise wake every thread at once, again and again,
        with the same error). The kernel's backlog holds new connections meanwhile;
        accepting resumes when a connection closes, or at the next sweep. `reason`, if
        given, is logged, at most once a minute (`_pause_to_log`)."""
        with self._lock:
            paused = [lst for lst in self._listening.values() if lst.open and not lst.paused]
            for listening in paused:
                listening.paused = True
                with contextlib.suppress(OSError):  # a stop may have unregistered it already
                    self._epoll.modify(listening.sock.fileno(), 0)
            self._accept_paused = True
            unlogged = _pause_to_log(paused, time.monotonic()) if paused and reason else None
        if unlogged is not None:
            self.state.error_log.warning(
                "%s (%d connections open); resuming as connections close%s",
                reason,
                len(self._conns),
                f" ({unlogged} more pauses since the last line)" if unlogged else "",
            )

    def _resume_accepting(self) -> None:
        limit = self.config.worker_connections
        if limit and len(self._conns) >= limit:
            return
        with self._lock:
            self._accept_paused = False
            for listening in self._listening.values():
                if listening.paused and listening.open:
                    listening.paused = False
                    with contextlib.suppress(OSError):  # a stop may have unregistered it
                        self._epoll.modify(listening.sock.fileno(), select.EPOLLIN)

    def _accept_one(self, listening: _Listening) -> tuple[int, tuple[str, int] | None] | None:
        """One queued connection as (its descriptor, its peer; None on a Unix socket), or
        None when none is waiting; OSError when accept failed.

        The compiled build's C accept (pronghorn.io.sockets) says "none" with None and
        returns a non-blocking descriptor; Python's `_accept` raises BlockingIOError and
        returns a blocking one (see `_socket_for`). Either way no `socket.accept`, which
        converts family and type to IntEnums on every connection."""
        native = listening.native_accept
        if native is not None:
            return native(listening.fd)
        try:
            fd, address = listening.sock._accept()  # type: ignore[attr-defined]
        except (BlockingIOError, InterruptedError):
            return None
        if listening.family == socket.AF_UNIX:
            return fd, None
        return fd, (str(address[0]), int(address[1]))

    @staticmethod
    def _socket_for(listening: _Listening, fd: int) -> _socket.socket:
        """The socket object for a descriptor `_accept_one` returned."""
        client = listening.socket_type(listening.family, listening.accepted_type, 0, fd)
        if listening.set_nonblocking:
            client.setblocking(False)
        # TCP_NODELAY is inherited from the listening socket (see listeners.describe).
        return client

    def _adopt(
        self, listening: _Listening, client: _socket.socket, remote: tuple[str, int] | None
    ) -> ClientConnection:
        """The connection for an accepted socket, entered into `_conns`; the caller holds
        the lock it accepted under, and owns the connection (busy)."""
        conn = listening.maker.make(self, client, remote, listening.builder, listening.new_state())
        proxies = self._proxy_peers
        # A Unix socket's peer is always allowed: the socket file's permissions say who
        # may connect. A peer not allowed is not asked for the header at all.
        if proxies is not None and (remote is None or remote[0] in proxies):
            conn.begin_preamble([ProxyHeaderStep(self._proxy_versions)])
        self._conns[conn.fd] = conn
        if self.metrics is not None:
            self.metrics.accepted += 1
        return conn

    def _refuse_peer(
        self, protocol: ListenerProtocol, client: _socket.socket, remote: tuple[str, int] | None
    ) -> None:
        assert remote is not None  # a Unix socket's peer is always allowed: see _allowed
        self.state.error_log.warning(
            "%s connection from %s:%d refused: not in --uwsgi-allow-from",
            protocol.name,
            remote[0],
            remote[1],
        )
        client.close()

    def _claim(self, fd: int) -> ClientConnection | None:
        # acquire/release, not `with`: compiled, `with` looks up and calls __enter__ and
        # __exit__ generically (~0.4k instructions more), and this runs on every request.
        lock = self._lock
        lock.acquire()
        try:
            conn = self._conns.get(fd)
            if conn is None or conn.closed:
                return None
            if conn.busy:
                # Edge-triggered, this event is not reported again: the thread that has the
                # connection re-arms it when it hands it back (see _serve).
                conn.rearm = True
                return None
            conn.busy = True
            return conn
        finally:
            lock.release()

    def _serve(self, conn: ClientConnection, keep: bool) -> None:
        """Hand a connection back to the reactor after a thread is done with it, or close.

        Output parked for a full socket is sent first, even when the connection is to
        close after it: epoll then watches for writability instead of a request."""
        if conn.parked:
            if not keep:
                conn.close_after_write = True
            conn.wait = WAIT_WRITE
            events = _ONESHOT_WRITE
        elif keep and not (self.stopping and conn.wait is WAIT_IDLE):
            events = _EDGE_READ if conn.edge else _ONESHOT_READ
        else:
            self._close(conn)
            return
        conn.arm_deadline()
        lock = self._lock  # acquire/release, not `with`: see _claim
        lock.acquire()
        try:
            if conn.closed:
                return
            conn.busy = False
            armed = conn.armed
            # The keep-alive case, edge-triggered, needs no system call: the socket stays
            # registered, and epoll reports the next bytes that arrive. Unless the last
            # read may have left some behind, an event came while this thread had the
            # connection (the edge was spent), or the event it was taken for said the peer
            # had closed: then re-armed, which makes epoll look at the socket anew
            # (docs/design.md, "Edge-triggered keep-alive").
            if events != _EDGE_READ or armed != events or conn.rearm or not conn.drained:
                conn.rearm = False
                conn.armed = events
                if armed:
                    self._epoll.modify(conn.fd, events)
                else:
                    self._epoll.register(conn.fd, events)
        finally:
            lock.release()

    def _close(self, conn: ClientConnection) -> None:
        lock = self._lock  # acquire/release, not `with`: see _claim
        lock.acquire()
        try:
            if conn.closed:
                return
            conn.closed = True
            # No epoll.unregister: closing the socket (its only descriptor) takes it out of
            # the epoll set, one system call fewer per connection. Once it is out of
            # `_conns`, a late event for its number finds nothing to claim. Only if the
            # number is still ours: a TLS socket that failed to wrap was closed under us,
            # and the number may already be another connection's.
            fd = conn.sock.fileno()
            if self._conns.get(fd) is conn:
                del self._conns[fd]
        finally:
            lock.release()
        conn.parked.release()
        conn.http.release()
        # A `try`, not `contextlib.suppress`: that is three Python-level calls (its
        # constructor, __enter__ and __exit__) on every connection, in both builds.
        try:  # noqa: SIM105
            conn.sock.close()
        except OSError:
            pass
        if self._accept_paused:
            self._resume_accepting()

    # -- deadlines and stopping (any thread; the worker's clock thread calls these) -------

    def sweep(self) -> None:
        """Close connections whose deadline passed while they waited in the reactor.

        A connection waiting for a request whose bytes have already arrived is not idle: it
        waits for a free thread, and is left for one (closing it would reset the request)."""
        now = time.monotonic()
        expired = []
        with self._lock:
            for conn in self._conns.values():
                if not conn.busy and conn.deadline <= now:
                    wait = conn.wait
                    if (wait is WAIT_FRESH or wait is WAIT_IDLE) and _request_waiting(conn.sock):
                        continue
                    conn.busy = True  # ours now: no thread can claim it
                    expired.append(conn)
        metrics = self.metrics
        for conn in expired:
            if metrics is not None:
                if self.stopping and conn.wait is WAIT_FRESH:
                    metrics.refused[REFUSED_STOPPING] += 1  # sent nothing: never a request
                else:
                    metrics.timed_out_in(conn.wait)
            conn.deadline_action()
            self._close(conn)
        if self._accept_paused:
            self._resume_accepting()  # at least once a second, even if nothing closed

    def connection_count(self) -> int:
        return len(self._conns)

    def requests_waiting(self, limit: int = 4096) -> int:
        """Connections no thread holds whose next request has already arrived: requests
        waiting for a free thread. Peeks at up to `limit` sockets (the clock thread asks,
        once a second, only while every thread is busy)."""
        with self._lock:
            waiting = [
                c.sock
                for c in self._conns.values()
                if not c.busy and (c.wait is WAIT_FRESH or c.wait is WAIT_IDLE)
            ]
        # A socket closed meanwhile fails the peek and is not counted.
        return sum(1 for sock in waiting[:limit] if _request_waiting(sock))

    def settled(self) -> bool:
        """True once stopping has no more to do: no connection left, no socket listening.
        Under the lock: a thread between its accept and the connection's entry into
        `_conns` holds it (see `_take`)."""
        with self._lock:
            return not self._conns and not self._listening

    def stop_accepting(self) -> None:
        """No thread of ours accepts a new connection from now on; the listening sockets stay
        open until `begin_stop` retires them. The first step of `begin_stop`, and for
        --max-requests called earlier by the request that reached the limit: the thread
        that served it may be inside an accept batch, and would go on taking and serving
        the connections queued behind it until the clock thread begins the stop."""
        with self._lock:
            for fd, listening in self._listening.items():
                listening.open = False
                with contextlib.suppress(FileNotFoundError, ValueError):
                    self._epoll.unregister(fd)

    def begin_stop(self, drain_shared: bool) -> None:
        """Stop taking new connections, and answer every request that has arrived.

        No thread accepts any more. A listening socket no other process will accept on (an
        exclusive one, or any when `drain_shared`: the whole server is stopping) is first
        closed to new connections and then emptied, so that nothing queued on it is reset
        when it closes; one the other workers still serve is closed at once, and what is
        queued on it is theirs. Connections that have sent nothing within a short grace are
        closed, idle ones now, the others after their response (see docs/design.md,
        "Graceful stop")."""
        self.stopping = True
        for fresh in (Wait.FRESH, Wait.PREAMBLE):
            self.wait_seconds[fresh] = min(self.wait_seconds[fresh], _FRESH_GRACE)
        soon = time.monotonic() + _FRESH_GRACE
        self.stop_accepting()  # from now on no thread of ours accepts
        with self._lock:
            for conn in self._conns.values():
                if conn.wait is Wait.FRESH or conn.wait is WAIT_PREAMBLE:
                    conn.deadline = min(conn.deadline, soon)
            for listening in self._listening.values():
                listening.drain = drain_shared or listening.listener.exclusive
        self.retire_listeners()
        self.close_idle()
        self.wake()

    def retire_listeners(self) -> None:
        """While stopping: empty and close the listening sockets (see `begin_stop`). A socket
        that could not be emptied yet (out of descriptors) is tried again on the next call."""
        for fd, listening in list(self._listening.items()):
            if listening.drain and not self._drain(listening):
                continue
            del self._listening[fd]  # first, so a late event for `fd` finds no listener
            listening.sock.close()

    def _drain(self, listening: _Listening) -> bool:
        """Accept every connection queued on a socket no thread accepts on any more, for the
        threads to serve from epoll; True when it is empty and may be closed.

        Under deferred accept (--defer-accept) a connection that has not sent anything yet
        waits in the kernel, outside the queue, and closing the socket would reset it: so a
        socket closed to new connections stays open while such connections remain, for as
        long as an accepted one is given to send its request (`_FRESH_GRACE`)."""
        if listening.listener.owned and not listening.cut_off:
            listening.cut_off = stop_new_connections(listening.sock)
            if listening.cut_off and defers_accept(listening.sock):
                listening.deferred_until = time.monotonic() + _FRESH_GRACE
        # Looked for before emptying the queue, not after: a handshake whose first bytes
        # come in between moves into the queue, and would be reset by the close.
        waiting = _handshakes_waiting(listening)
        for _ in range(_DRAIN_BATCH):
            try:
                accepted = self._accept_one(listening)
            except OSError as exc:  # out of descriptors or memory: requests finishing free some
                if not listening.warned:
                    listening.warned = True
                    self.state.error_log.warning("accept failed while stopping: %s", exc)
                return not listening.cut_off
            if accepted is None:
                return not waiting
            client = self._socket_for(listening, accepted[0])
            remote = accepted[1]
            if not _allowed(listening, remote):
                self._refuse_peer(listening.protocol, client, remote)
                continue
            with self._lock:  # as `_take` does: see there
                conn = self._adopt(listening, client, remote)
            self._serve(conn, True)
        # Still more: a socket that is closed to new connections is emptied on the next
        # call; one that is not may never be empty, so it is closed now.
        return not listening.cut_off

    def close_idle(self) -> None:
        """While stopping: close every connection that waits for its next request and has
        not sent one."""
        with self._lock:
            idle = [
                c
                for c in self._conns.values()
                if not c.busy and c.wait is WAIT_IDLE and not _request_waiting(c.sock)
            ]
            for conn in idle:
                conn.busy = True
        for conn in idle:
            self._close(conn)

    def force_close_all(self) -> None:
        """At the end of --graceful-timeout: cut off whatever is left."""
        for fd, listening in list(self._listening.items()):
            del self._listening[fd]
            listening.sock.close()
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            if not conn.busy:
                self._close(conn)

    def finish(self) -> None:
        self._finishing = True
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


def _allowed(listening: _Listening, remote: tuple[str, int] | None) -> bool:
    """Whether the listener's protocol lets this peer in (--uwsgi-allow-from). A Unix
    socket's peer always: the socket file's permissions say who may connect."""
    allowed = listening.allowed
    return allowed is None or remote is None or remote[0] in allowed


class _Listening:
    """One listening socket as the threads of a worker share it. `open` changes only under
    the reactor's lock, and threads accept only under it and while it is True."""

    __slots__ = (
        "accepted_type",
        "allowed",
        "builder",
        "cut_off",
        "deferred_until",
        "drain",
        "family",
        "fd",
        "listener",
        "maker",
        "native_accept",
        "new_state",
        "next_pause_note",
        "open",
        "paused",
        "protocol",
        "set_nonblocking",
        "sock",
        "socket_type",
        "unlogged_pauses",
        "warned",
    )

    def __init__(
        self,
        listener: Listener,
        builder: AnyEnvironBuilder,
        maker: ConnectionMaker,
        socket_type: SocketType,
        protocol: ListenerProtocol,
    ) -> None:
        self.listener = listener
        self.sock = listener.sock
        self.builder = builder  # the environ its connections' requests start from
        self.maker = maker
        self.socket_type = socket_type
        self.protocol = protocol
        # Read once a connection: bound here, not looked up through `protocol`.
        self.new_state = protocol.new_state
        self.allowed = protocol.allowed
        # Read once: `socket.family` converts to an IntEnum on every read (see _adopt).
        self.family = int(listener.sock.family)
        self.fd = listener.sock.fileno()  # for the C accept: only while `open` (see _take)
        # How accepted descriptors become sockets: the C accept's are non-blocking already,
        # and SOCK_NONBLOCK in the type tells the socket so without a system call (Linux;
        # elsewhere, and for Python's blocking ones, `setblocking` makes one). Kept here,
        # not on the Reactor (see docs/design.md, "What is slow only pure").
        self.native_accept = NATIVE_ACCEPT
        nonblocking = getattr(socket, "SOCK_NONBLOCK", 0) if NATIVE_ACCEPT is not None else 0
        self.accepted_type = socket.SOCK_STREAM | nonblocking
        self.set_nonblocking = not nonblocking
        self.open = True
        self.drain = False  # while stopping: take what is queued on it before closing it
        self.cut_off = False  # closed to new connections (listeners.stop_new_connections)
        # While stopping, deferred accept: until when connections still in the kernel's
        # handshake are waited for (see Reactor._drain). 0: not waited for.
        self.deferred_until = 0.0
        self.paused = False  # not watched: at --worker-connections or out of descriptors
        self.warned = False
        # Out of descriptors: when the next pause may be logged, and the ones not logged.
        self.next_pause_note = 0.0
        self.unlogged_pauses = 0


def _pause_to_log(paused: list[_Listening], now: float) -> int | None:
    """Count a pause for lack of descriptors on the listeners in `paused`: the number of
    such pauses not logged before it, when a line is due now, else None (not logged).

    A worker out of descriptors pauses again after each connection that closes (the one
    descriptor freed is taken by the next queued connection, and the accept after it fails
    again), so a line per pause would be a line per closed connection for as long as the
    shortage lasts. One line a minute says it is still happening, and how often."""
    if all(now < listening.next_pause_note for listening in paused):
        for listening in paused:
            listening.unlogged_pauses += 1
        return None
    unlogged = max(listening.unlogged_pauses for listening in paused)
    for listening in paused:
        listening.unlogged_pauses = 0
        listening.next_pause_note = now + _PAUSE_NOTE_SECONDS
    return unlogged


def _handshakes_waiting(listening: _Listening) -> bool:
    """True while a stopping, deferred-accept socket should stay open for connections that
    have not sent anything yet (see Reactor._drain)."""
    if not listening.deferred_until or time.monotonic() >= listening.deferred_until:
        return False
    return handshakes_pending(listening.sock)


def _request_waiting(sock: Stream) -> bool:
    """True when the client has sent bytes nobody has read yet."""
    try:
        return bool(sock.recv(1, _PEEK))
    except OSError:  # nothing yet (BlockingIOError), or the connection is broken
        return False
