"""One request of a worker, from its head to its access-log line: static, probe or app.

Owns `Dispatcher`, what every request of one worker shares (config, app, static mounts,
the cached Date header, the requests in flight), and its `run_request`, which the I/O layer
calls on the thread that runs a request: the health probes, then the static mounts, then
the application answer it (`pronghorn.metrics.probes`, `pronghorn.static`,
`pronghorn.wsgi.runner`); the metrics are counted and the access-log line prepared. The
line is written when the channel says the response's last byte went to the kernel
(`RequestChannel.when_sent`), which for a slow client is long after the app returned, with
the bytes that actually went out. Nothing here touches a socket: the request's bytes come
and go through its `RequestChannel`.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final

from pronghorn.channel import RequestChannel
from pronghorn.config.model import Config
from pronghorn.dispatch.settings import (
    ListenerFacts,
    environ_builders,
    parser_limits,
    static_files,
)
from pronghorn.http.events import BodyKind, RequestHead
from pronghorn.http.response import http_date
from pronghorn.logs import AccessRecord, Logs
from pronghorn.metrics.probes import HealthProbes
from pronghorn.metrics.recorder import COUNT_IN_PLACE, WorkerMetrics
from pronghorn.wsgi.environ import client_address
from pronghorn.wsgi.file_wrapper import FileWrapper
from pronghorn.wsgi.head_memo import HeadMemo
from pronghorn.wsgi.input import EmptyInput, InputStream
from pronghorn.wsgi.runner import Outcome, WSGIApp, run_app
from pronghorn.wsgi.uwsgi_environ import AnyEnvironBuilder

__all__ = ["Dispatcher"]

# Bound once: compiled, `time.monotonic()` is a module attribute lookup a call (docs/design.md,
# "What is slow only compiled"); read on every request when metrics or the access log are on.
_monotonic: Final = time.monotonic

_NO_BODY: Final = BodyKind.NONE  # bound once: Enum member reads are slow on 3.11


class Dispatcher:
    """Everything the requests of one worker share; `run_request` runs on any of its
    threads and only reads shared fields (the clock thread replaces `date`)."""

    def __init__(
        self,
        config: Config,
        app: WSGIApp | None,
        logs: Logs,
        listeners: Sequence[ListenerFacts],
        multiprocess: bool = False,
        tls: ssl.SSLContext | None = None,
        metrics: WorkerMetrics | None = None,
        probes: HealthProbes | None = None,
    ) -> None:
        self.config = config
        self.tls = tls  # every listener speaks TLS with this context (--certfile), or none
        self.app = app
        self.logs = logs
        self.error_log: logging.Logger = logs.error
        self.listeners = listeners
        self.parser_limits = parser_limits(config)
        self.stopping = False
        self.date = http_date(time.time())
        self.pid = os.getpid()
        # Request threads add and remove their request here; the sweep only copies it.
        self.in_flight: dict[int, tuple[float, RequestHead]] = {}
        self.handled = 0
        # `report` runs after each request only when it has something to do: without an
        # access log (and request hooks, see pronghorn.dispatch.request_hooks) it costs one test.
        self.reporting = self.access_logging = logs.access.enabled
        self.request_limit = 0
        self.on_request_limit: Callable[[], None] = lambda: None
        uwsgi = config.protocol == "uwsgi"
        # The response heads the app repeats. On uwsgi nothing is chunked (see there).
        self.head_memo = HeadMemo(chunked=not uwsgi)
        # Both None unless metrics or health paths are on (see pronghorn.io.observer).
        self.metrics = metrics
        self.probes = probes
        self._no_body = EmptyInput()  # wsgi.input of every request without a body
        self.static = static_files(config, app is not None, self.error_log)
        # Per listener, the environ its requests start from (a TLS connection adds its own
        # variables to it once its handshake is done: pronghorn.io.tls_connection).
        self.builders = environ_builders(config, listeners, tls, multiprocess, self.error_log)

    def behind_tls(self, builder: AnyEnvironBuilder) -> AnyEnvironBuilder:
        """The builder that a connection whose listener's builder is `builder` uses once
        its PROXY header said the client spoke TLS to the proxy: its environ says https.
        Only with --proxy-protocol (the second half of `builders`)."""
        index = self.builders.index(builder)
        return self.builders[index % len(self.listeners) + len(self.listeners)]

    def run_request(
        self,
        head: RequestHead,
        channel: RequestChannel,
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
                    app_started = _monotonic()
                outcome = run_app(
                    app, environ, head, channel, self.date, self.error_log, self.head_memo
                )
            if metrics is None:
                pass
            elif COUNT_IN_PLACE:  # compiled: cheapest counted now (pronghorn.metrics.recorder)
                metrics.request_done(
                    head.method, outcome.status, outcome.body_bytes, started, app_started
                )
            else:  # pure: cheapest appended for the clock thread to fold, with no frame
                metrics.record(
                    (
                        head.method,
                        outcome.status,
                        outcome.body_bytes,
                        started,
                        app_started,
                        _monotonic(),
                    )
                )
            if self.reporting:
                self.report(head, remote, builder, environ, outcome, started, thread_id, channel)
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
        channel: RequestChannel,
    ) -> None:
        """After an answered request, when `reporting`: the access log line, written once
        the channel says the response went out. `environ` is None for a request the static
        files answered."""
        # The client as trusted proxy headers name it, not the proxy.
        client = builder.client(head, remote) if environ is None else client_address(environ)
        record = AccessRecord(
            remote_addr=client[0] if client else "-",
            remote_port=client[1] if client else 0,
            request_time=0.0,  # both set when the line is written
            method=head.method,
            target=head.target.decode("latin-1"),
            version="HTTP/" + head.version,
            status=outcome.status,
            response_bytes=outcome.body_bytes,
            duration=0.0,
            request_headers=head.headers,
            response_headers=outcome.headers,
            pid=self.pid,
            keep_alive=outcome.keep_alive,
            completed=not channel.aborted,
        )
        channel.when_sent(partial(self._log_sent, record, started))

    def _log_sent(self, record: AccessRecord, started: float, unsent: int) -> None:
        """The response went out (`unsent` 0), or its connection was dropped with `unsent`
        of its bytes never sent: the line, with the body bytes that went out."""
        if unsent:
            # The unsent bytes are the response's tail: its body, unless even the head
            # did not all go (chunk framing counts as body here).
            record.response_bytes = max(0, record.response_bytes - unsent)
            record.completed = False
        record.duration = _monotonic() - started
        record.request_time = time.time()
        self.logs.access.log(record)

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
