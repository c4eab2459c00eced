"""One worker: the event loop, its listeners, the app pool, the sweep, and graceful stop.

Owns `serve(config, app, logs)`, the single-process entry point (the supervisor runs the
same function in each worker), and `WorkerState`, what every connection of this worker
shares: config, app, pool, the cached Date header and the set of open connections.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from pronghorn.config.model import Config
from pronghorn.http.events import RequestHead
from pronghorn.http.parser import ParserLimits
from pronghorn.http.response import http_date
from pronghorn.io.bridge import RequestBridge
from pronghorn.io.connection import Connection
from pronghorn.io.listeners import Listener, open_listener
from pronghorn.io.pool import ThreadPool
from pronghorn.logs import AccessRecord, Logs
from pronghorn.static import StaticFiles, StaticOptions
from pronghorn.wsgi.environ import EnvironBuilder, ServerFacts
from pronghorn.wsgi.file_wrapper import FileWrapper
from pronghorn.wsgi.input import InputStream
from pronghorn.wsgi.runner import WSGIApp, run_app

_SWEEP_SECONDS = 1.0
_ACCEPT_SETTLE_SECONDS = 0.02


class WorkerControl(Protocol):
    """What a supervisor that started this worker asks of it (see `pronghorn.supervisor`)."""

    request_limit: int
    """Stop gracefully after this many requests (--max-requests); 0 means never."""

    def beat(self, oldest_request: tuple[float, str] | None, handled: int) -> bool:
        """Loop thread, when serving starts and then once a second: the monotonic start and
        request line of the longest-running request (None when idle) and the number of
        requests answered so far. True asks the worker for a graceful stop."""
        ...


class WorkerState:
    """Everything the connections of one worker share. Lives on the loop thread, except
    `run_request`, which runs on an application thread and only reads shared fields."""

    def __init__(
        self,
        config: Config,
        app: WSGIApp | None,
        logs: Logs,
        loop: asyncio.AbstractEventLoop,
        listeners: Sequence[Listener],
        multiprocess: bool = False,
    ) -> None:
        self.config = config
        self.app = app
        self.logs = logs
        self.error_log: logging.Logger = logs.error
        self.loop = loop
        self.listeners = listeners
        self.parser_limits = ParserLimits(
            max_request_line=config.limit_request_line,
            max_fields=config.limit_request_fields,
            max_field_size=config.limit_request_field_size,
            max_body=config.limit_request_body,
        )
        self.connections: set[Connection] = set()
        self.pool = ThreadPool(config.threads, self.error_log)
        self.stopping = False
        self.date = http_date(time.time())
        self.pid = os.getpid()
        # Application threads add and remove their request here; the sweep only copies it.
        self.in_flight: dict[int, tuple[float, RequestHead]] = {}
        self.handled = 0
        self.request_limit = 0
        self.on_request_limit: Callable[[], None] = lambda: None
        self.static = (
            StaticFiles(
                config.static,
                StaticOptions(
                    fallthrough=config.static_fallthrough,
                    cache_control=config.static_cache_control,
                    immutable_fingerprinted=config.static_immutable,
                    allow_dotfiles=config.static_dotfiles,
                    follow_outside_symlinks=config.static_follow_symlinks,
                ),
                has_app=app is not None,
                error_log=self.error_log,
            )
            if config.static or app is None
            else None
        )
        self.builders = [
            EnvironBuilder(
                ServerFacts(
                    server_name=lst.server_name,
                    server_port=lst.server_port,
                    root_path=config.root_path,
                    multithread=config.threads > 1,
                    multiprocess=multiprocess,
                ),
                errors=_ErrorStream(self.error_log),
            )
            for lst in listeners
        ]

    def run_request(
        self,
        head: RequestHead,
        bridge: RequestBridge,
        remote: tuple[str, int] | None,
        listener_index: int,
    ) -> None:
        """Application thread: serve one request, listed in `in_flight` meanwhile so the
        supervisor's heartbeat can name a request stuck past --timeout."""
        key = threading.get_ident()
        self.in_flight[key] = (time.monotonic(), head)
        try:
            self._serve_request(head, bridge, remote, listener_index)
        finally:
            del self.in_flight[key]
            self.handled += 1
            if self.request_limit and self.handled >= self.request_limit:
                self.loop.call_soon_threadsafe(self.on_request_limit)

    def _serve_request(
        self,
        head: RequestHead,
        bridge: RequestBridge,
        remote: tuple[str, int] | None,
        listener_index: int,
    ) -> None:
        """Application thread: build environ, call the app, write the access log."""
        started = time.monotonic()
        # Static mounts answer first; None means the request is the app's (StaticFiles
        # never returns None when there is no app).
        outcome = None if self.static is None else self.static.serve(head, bridge, self.date)
        if outcome is None:
            environ = self.builders[listener_index].build(
                head, remote, InputStream(bridge), FileWrapper
            )
            app = self.app
            assert app is not None
            outcome = run_app(app, environ, head, bridge, self.date, self.error_log)
        if self.logs.access.enabled:
            self._log_access(
                remote,
                head.method,
                head.target.decode("latin-1"),
                "HTTP/" + head.version,
                outcome.status,
                outcome.body_bytes,
                time.monotonic() - started,
                head.headers,
                outcome.headers,
            )

    def log_refusal(self, remote: tuple[str, int] | None, status: int) -> None:
        """Access-log a request we refused before it reached the app."""
        if self.logs.access.enabled:
            self._log_access(remote, "-", "-", "HTTP/1.1", status, 0, 0.0, [], [])

    def _log_access(
        self,
        remote: tuple[str, int] | None,
        method: str,
        target: str,
        version: str,
        status: int,
        body_bytes: int,
        duration: float,
        request_headers: list[tuple[bytes, bytes]],
        response_headers: list[tuple[str, str]],
    ) -> None:
        self.logs.access.log(
            AccessRecord(
                remote_addr=remote[0] if remote else "-",
                remote_port=remote[1] if remote else 0,
                request_time=time.time(),
                method=method,
                target=target,
                version=version,
                status=status,
                response_bytes=body_bytes,
                duration=duration,
                request_headers=request_headers,
                response_headers=response_headers,
                pid=self.pid,
            )
        )

    def oldest_request(self) -> tuple[float, str] | None:
        """Loop thread: when the longest-running request started, and its request line."""
        running = self.in_flight.copy()  # one C call: safe while app threads change it
        if not running:
            return None
        started, head = min(running.values(), key=lambda entry: entry[0])
        return started, f"{head.method} {head.target.decode('latin-1')}"

    def sweep(self) -> None:
        """Once a second: refresh the Date header and enforce connection deadlines."""
        self.date = http_date(time.time())
        now = time.monotonic()
        for connection in [c for c in self.connections if c.deadline <= now]:
            connection.deadline_passed()


class _ErrorStream:
    """`wsgi.errors`: a text stream that writes into the error log."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log

    def write(self, text: str) -> int:
        stripped = text.rstrip("\n")
        if stripped:
            self._log.error("%s", stripped)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        return None


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """uvloop when asked for or (with "auto") when installed; asyncio's loop otherwise."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


def serve(
    config: Config,
    app: WSGIApp | None,
    logs: Logs,
    listeners: Sequence[Listener] | None = None,
    multiprocess: bool = False,
    control: WorkerControl | None = None,
) -> int:
    """Run one worker until SIGTERM/SIGINT (or `control` asks); returns the exit code."""
    if listeners is None:
        listeners = [open_listener(bind, config.backlog) for bind in config.bind]
    loop = new_event_loop(config.loop)
    try:
        asyncio.set_event_loop(loop)
        state = WorkerState(config, app, logs, loop, listeners, multiprocess)
        return loop.run_until_complete(_run(state, control))
    finally:
        loop.close()


async def _run(state: WorkerState, control: WorkerControl | None) -> int:
    loop = state.loop
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    servers = []
    for index, listener in enumerate(state.listeners):
        server = await loop.create_server(
            lambda index=index: Connection(state, index),  # type: ignore[misc]
            sock=listener.sock,
            backlog=state.config.backlog,
        )
        servers.append(server)
        # Under a supervisor the master says where it listens, once.
        log = state.error_log.info if control is None else state.error_log.debug
        log("Listening at: %s (%d)", listener.url, state.pid)
    if control is not None and control.request_limit:
        state.request_limit = control.request_limit

        def limit_reached() -> None:
            if not stop.is_set():
                state.error_log.info(
                    "Worker stopping: %d requests served (--max-requests)", state.handled
                )
                stop.set()

        state.on_request_limit = limit_reached
    sweeper = loop.create_task(_sweep_forever(state, control, stop))
    await stop.wait()
    state.error_log.info("Shutting down: graceful stop of %d connections", len(state.connections))
    await _graceful_stop(state, servers)
    sweeper.cancel()
    return 0


async def _sweep_forever(
    state: WorkerState, control: WorkerControl | None, stop: asyncio.Event
) -> None:
    while True:
        if control is not None and control.beat(state.oldest_request(), state.handled):
            stop.set()
        await asyncio.sleep(_SWEEP_SECONDS)
        state.sweep()


async def _graceful_stop(state: WorkerState, servers: list[Any]) -> None:
    state.stopping = True
    if isinstance(state.loop, asyncio.selector_events.BaseSelectorEventLoop):
        # asyncio resets a socket accepted just before Server.close() (its transport cannot
        # attach to a closed server): stop accepting first, let those attach, then close.
        for listener in state.listeners:
            state.loop.remove_reader(listener.sock.fileno())
        await asyncio.sleep(_ACCEPT_SETTLE_SECONDS)
    for server in servers:
        server.close()
    # Sockets accepted just before the close become connections a few loop turns later;
    # let them, or they would be dropped (reset) when the loop closes.
    await asyncio.sleep(_ACCEPT_SETTLE_SECONDS)
    for connection in list(state.connections):
        connection.close_if_idle()
    deadline = time.monotonic() + state.config.graceful_timeout
    while state.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for connection in list(state.connections):
        connection.force_close()
    state.pool.shutdown(timeout=0.5)
