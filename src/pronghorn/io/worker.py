"""One worker: its threads, the clock, and graceful stop.

Owns `serve(config, app, logs)`, the single-process entry point (the supervisor runs the
same function in each worker), and `WorkerState`, what every request of this worker
shares: config, app, static mounts, the cached Date header and the requests in flight.
The main thread is the worker's clock: once a second it refreshes the Date header, closes
connections past their deadline and beats the supervisor's heartbeat; the `--threads`
threads share the reactor (see `pronghorn.io.reactor`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Final, Protocol

from pronghorn.build import running_build
from pronghorn.config.model import Config
from pronghorn.http.events import BodyKind, RequestHead
from pronghorn.http.parser import ParserLimits
from pronghorn.http.response import http_date
from pronghorn.io.channel import SocketChannel
from pronghorn.io.listeners import Listener, open_listener, protocol_note, unix_socket_mode
from pronghorn.io.observer import WorkerObserver
from pronghorn.io.observer import wanted as observer_wanted
from pronghorn.io.reactor import Reactor
from pronghorn.logs import AccessRecord, Logs
from pronghorn.metrics.block import MetricsBlock
from pronghorn.metrics.readiness import ReadinessFlag
from pronghorn.static import StaticFiles, StaticOptions
from pronghorn.wsgi.environ import EnvironBuilder, ServerFacts, client_address
from pronghorn.wsgi.file_wrapper import FileWrapper
from pronghorn.wsgi.head_memo import HeadMemo
from pronghorn.wsgi.input import EmptyInput, InputStream
from pronghorn.wsgi.proxies import TrustedProxies
from pronghorn.wsgi.runner import Outcome, WSGIApp, run_app
from pronghorn.wsgi.uwsgi_environ import AnyEnvironBuilder, UwsgiEnvironBuilder

_NO_BODY: Final = BodyKind.NONE  # bound once: Enum member reads are slow on 3.11 (see client)
_SWEEP_SECONDS: Final = 1.0
_STOP_POLL_SECONDS: Final = 0.05


class WorkerControl(Protocol):
    """What a supervisor that started this worker asks of it (see `pronghorn.supervisor`)."""

    request_limit: int
    """Stop gracefully after this many requests (--max-requests); 0 means never."""

    def serving(self, running_requests: Callable[[], list[str]]) -> None:
        """Once, before the first beat: how to list the requests in flight, one line each
        (the thread, the request line, the seconds so far), for a report on a hung worker."""
        ...

    def beat(self, oldest_request: tuple[float, str] | None, handled: int) -> bool:
        """Clock thread, when serving starts and then once a second: the monotonic start and
        request line of the longest-running request (None when idle) and the number of
        requests answered so far. True asks the worker for a graceful stop."""
        ...

    def server_stopping(self) -> bool:
        """Asked when a graceful stop begins: True when the whole server is stopping, so no
        other worker will accept the connections still queued on the listening sockets this
        one shares, and it must take its part of them before closing; False when it is only
        this worker that stops (a reload, --max-requests, one worker fewer)."""
        ...


class WorkerState:
    """Everything the requests of one worker share; `run_request` runs on any of its
    threads and only reads shared fields (the clock thread replaces `date`)."""

    def __init__(
        self,
        config: Config,
        app: WSGIApp | None,
        logs: Logs,
        listeners: Sequence[Listener],
        multiprocess: bool = False,
        tls: ssl.SSLContext | None = None,
        observer: WorkerObserver | None = None,
    ) -> None:
        self.config = config
        self.tls = tls  # every listener speaks TLS with this context (--certfile), or none
        self.app = app
        self.logs = logs
        self.error_log: logging.Logger = logs.error
        self.listeners = listeners
        self.parser_limits = ParserLimits(
            max_request_line=config.limit_request_line,
            max_fields=config.limit_request_fields,
            max_field_size=config.limit_request_field_size,
            max_body=config.limit_request_body,
        )
        self.stopping = False
        self.date = http_date(time.time())
        self.pid = os.getpid()
        # Request threads add and remove their request here; the sweep only copies it.
        self.in_flight: dict[int, tuple[float, RequestHead]] = {}
        self.handled = 0
        # `report` runs after each request only when it has something to do: without an
        # access log (and request hooks, see pronghorn.io.request_hooks) it costs one test.
        self.reporting = logs.access.enabled
        self.request_limit = 0
        self.on_request_limit: Callable[[], None] = lambda: None
        uwsgi = config.protocol == "uwsgi"
        # The response heads the app repeats. On uwsgi nothing is chunked (see there).
        self.head_memo = HeadMemo(chunked=not uwsgi)
        # Both None unless metrics or health paths are on (see pronghorn.io.observer).
        self.metrics = observer.metrics if observer is not None else None
        self.probes = observer.probes if observer is not None else None
        self._no_body = EmptyInput()  # wsgi.input of every request without a body
        self.static = (
            StaticFiles(
                config.static,
                StaticOptions(
                    fallthrough=config.static_fallthrough,
                    cache_control=config.static_cache_control,
                    immutable_fingerprinted=config.static_immutable,
                    allow_dotfiles=config.static_dotfiles,
                    follow_outside_symlinks=config.static_follow_symlinks,
                    cache_entries=config.static_cache_entries,
                    cache_bytes=config.static_cache_bytes,
                ),
                has_app=app is not None,
                error_log=self.error_log,
            )
            if config.static or app is None
            else None
        )
        proxies = TrustedProxies(config.forwarded_allow_ips, config.trusted_proxy_headers)
        # Per listener, the environ its requests start from (a TLS connection adds its own
        # variables to it once its handshake is done: pronghorn.io.tls_connection).
        facts = [
            ServerFacts(
                server_name=lst.server_name,
                server_port=lst.server_port,
                url_scheme="http" if tls is None else "https",
                root_path=config.root_path,
                multithread=config.threads > 1,
                multiprocess=multiprocess,
                server_from_host=lst.sock.family == socket.AF_UNIX,
                proxies=proxies,
            )
            for lst in listeners
        ]
        if config.proxy_protocol != "off":
            # Then one more per listener, for the connections whose PROXY v2 header says
            # the client reached the proxy over TLS (see `behind_tls`).
            facts += [replace(fact, url_scheme="https", server_from_host=True) for fact in facts]
        errors = _ErrorStream(self.error_log)
        self.builders: list[AnyEnvironBuilder] = [
            UwsgiEnvironBuilder(fact, errors) if uwsgi else EnvironBuilder(fact, errors)
            for fact in facts
        ]

    def behind_tls(self, builder: AnyEnvironBuilder) -> AnyEnvironBuilder:
        """The builder that a connection whose listener's builder is `builder` uses once
        its PROXY header said the client spoke TLS to the proxy: its environ says https.
        Only with --proxy-protocol (the second half of `builders`)."""
        index = self.builders.index(builder)
        return self.builders[index % len(self.listeners) + len(self.listeners)]

    def run_request(
        self,
        head: RequestHead,
        channel: SocketChannel,
        remote: tuple[str, int] | None,
        builder: AnyEnvironBuilder,
        thread_id: int,
        started: float,
    ) -> None:
        """Application thread: build environ, call the app, write the access log.

        The request is listed in `in_flight` meanwhile (under the thread's id, from its
        `started` time on the monotonic clock), so the supervisor's heartbeat can name a
        request stuck past --timeout."""
        self.in_flight[thread_id] = (started, head)
        metrics = self.metrics
        app_started = 0.0
        try:
            # Health paths, then static mounts answer first; None means the request is the
            # app's (StaticFiles never returns None when there is no app).
            probes = self.probes
            outcome = None if probes is None else probes.answer(head, channel, self.date)
            static = self.static
            if outcome is None and static is not None:
                outcome = static.serve(head, channel, self.date)
                if metrics is not None and outcome is not None:
                    metrics.static_served(outcome.status)
            environ = None
            if outcome is None:
                body = self._no_body if head.body_kind is _NO_BODY else InputStream(channel)
                environ = builder.build(head, remote, body, FileWrapper)
                app = self.app
                assert app is not None
                if metrics is not None:
                    app_started = time.monotonic()
                outcome = run_app(
                    app, environ, head, channel, self.date, self.error_log, self.head_memo
                )
            if metrics is not None:
                metrics.request_done(
                    head.method, outcome.status, outcome.body_bytes, started, app_started
                )
            if self.reporting:
                self.report(head, remote, builder, environ, outcome, started, thread_id)
        finally:
            del self.in_flight[thread_id]
            self.handled += 1
            if self.request_limit and self.handled >= self.request_limit:
                self.on_request_limit()

    def report(
        self,
        head: RequestHead,
        remote: tuple[str, int] | None,
        builder: AnyEnvironBuilder,
        environ: dict[str, Any] | None,
        outcome: Outcome,
        started: float,
        thread_id: int,
    ) -> None:
        """After an answered request, when `reporting`: the access log line. `environ` is
        None for a request the static files answered."""
        # The client as trusted proxy headers name it, not the proxy.
        client = builder.client(head, remote) if environ is None else client_address(environ)
        self._log_access(
            client,
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

    def running_requests(self) -> list[str]:
        """Any thread: the requests in flight, oldest first, one line each. Threads are named
        as `faulthandler` names them in a stack dump."""
        now = time.monotonic()
        running = sorted(self.in_flight.copy().items(), key=lambda item: item[1][0])
        return [
            f"thread 0x{thread:016x}: {head.method} {head.target.decode('latin-1')} "
            f"for {now - started:.1f} s"
            for thread, (started, head) in running
        ]

    def oldest_request(self) -> tuple[float, str] | None:
        """Clock thread: when the longest-running request started, and its request line."""
        running = self.in_flight.copy()  # one C call: safe while request threads change it
        if not running:
            return None
        started, head = min(running.values(), key=lambda entry: entry[0])
        return started, f"{head.method} {head.target.decode('latin-1')}"

    def tick(self) -> None:
        """Once a second, on the clock thread: refresh the cached Date header."""
        self.date = http_date(time.time())


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


def serve(
    config: Config,
    app: WSGIApp | None,
    logs: Logs,
    listeners: Sequence[Listener] | None = None,
    multiprocess: bool = False,
    control: WorkerControl | None = None,
    hook_worker: object = None,
    tls: ssl.SSLContext | None = None,
    metrics_block: MetricsBlock | None = None,
    readiness: ReadinessFlag | None = None,
) -> int:
    """Run one worker until SIGTERM/SIGINT (or `control` asks); returns the exit code.

    `hook_worker` is what the config file's request hooks get as `worker`. With `tls`
    (`pronghorn.io.tls.server_context`) every listener speaks TLS. Under a master,
    `metrics_block` is where this worker publishes its counters and `readiness` the
    master's verdict that --readiness-path repeats (see pronghorn.io.observer)."""
    if listeners is None:
        # Alone, with no master: nobody else accepts on these sockets.
        mode = unix_socket_mode(config.umask)
        listeners = [
            replace(open_listener(bind, config.backlog, unix_mode=mode), exclusive=True)
            for bind in config.bind
        ]
    observer = (
        WorkerObserver(config, logs.error, metrics_block, readiness, standalone=control is None)
        if observer_wanted(config)
        else None
    )
    if config.extras.hook("pre_request") or config.extras.hook("post_request"):
        from pronghorn.io.request_hooks import HookedWorkerState

        state: WorkerState = HookedWorkerState(
            config, app, logs, listeners, multiprocess, hook_worker, tls, observer
        )
    else:
        state = WorkerState(config, app, logs, listeners, multiprocess, tls, observer)
    reactor = Reactor(state, listeners)
    stop = threading.Event()
    restore = _on_stop_signals(stop, reactor)
    threads = [
        threading.Thread(target=reactor.thread_main, name=f"pronghorn-{i}", daemon=True)
        for i in range(max(1, config.threads))
    ]
    if control is not None and control.request_limit:
        _limit_requests(state, control.request_limit, stop)  # before any request is served
    try:
        for thread in threads:
            thread.start()
        # Under a supervisor the master says where it listens, once.
        log = state.error_log.info if control is None else state.error_log.debug
        for listener in listeners:
            log("Listening at: %s (%d)", listener.url(_scheme(tls)), state.pid)
        log("Running the %s build", running_build())  # compiled or pure (pronghorn.build)
        note = protocol_note(config)
        if note is not None:
            log("%s", note)
        if control is not None:
            control.serving(state.running_requests)
        if observer is not None:
            observer.serving(state, reactor)
        _keep_time(state, reactor, control, stop, observer)
        if observer is not None:
            observer.stopping()
        state.error_log.info(
            "Shutting down: graceful stop of %d connections", reactor.connection_count()
        )
        drain_shared = control is not None and control.server_stopping()
        _graceful_stop(state, reactor, threads, drain_shared)
    finally:
        restore()
        if observer is not None:
            observer.close()  # the last counts, after the last request
        reactor.close()
    return 0


def _scheme(tls: ssl.SSLContext | None) -> str:
    return "http" if tls is None else "https"


def _keep_time(
    state: WorkerState,
    reactor: Reactor,
    control: WorkerControl | None,
    stop: threading.Event,
    observer: WorkerObserver | None,
) -> None:
    """The clock thread's loop until a stop is asked for."""
    while True:
        if control is not None and control.beat(state.oldest_request(), state.handled):
            stop.set()
        if stop.wait(_SWEEP_SECONDS):
            return
        state.tick()
        reactor.sweep()
        if observer is not None:
            observer.tick()


def _limit_requests(state: WorkerState, limit: int, stop: threading.Event) -> None:
    """--max-requests: ask for a graceful stop once `limit` requests are answered."""
    state.request_limit = limit

    def limit_reached() -> None:
        if not stop.is_set():
            state.error_log.info(
                "Worker stopping: %d requests served (--max-requests)", state.handled
            )
            stop.set()

    state.on_request_limit = limit_reached


def _graceful_stop(
    state: WorkerState, reactor: Reactor, threads: list[threading.Thread], drain_shared: bool
) -> None:
    """Answer every request that has arrived, for up to --graceful-timeout (see
    `Reactor.begin_stop` and docs/design.md, "Graceful stop"), then cut off the rest."""
    reactor.begin_stop(drain_shared)
    deadline = time.monotonic() + state.config.graceful_timeout
    pause = threading.Event()
    while not reactor.settled() and time.monotonic() < deadline:
        pause.wait(_STOP_POLL_SECONDS)
        reactor.retire_listeners()
        reactor.close_idle()
        reactor.sweep()
    reactor.finish()
    reactor.force_close_all()
    # Threads still inside the application are daemons: they cannot keep the process alive.
    join_until = time.monotonic() + 0.5
    for thread in threads:
        thread.join(max(0.0, join_until - time.monotonic()))


def _on_stop_signals(stop: threading.Event, reactor: Reactor) -> Callable[[], None]:
    """SIGTERM/SIGINT ask for a graceful stop (main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        stop.set()
        reactor.wake()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
