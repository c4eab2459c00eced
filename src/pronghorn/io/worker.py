"""One worker: its threads, the clock, and graceful stop.

Owns `serve(config, app, logs)`, the single-process entry point (the supervisor runs the
same function in each worker), and the worker's wiring: its listeners, its request
`Dispatcher` (`pronghorn.dispatch`: what its requests share and how each is answered),
its reactor and threads, and its observer (metrics and health).
The main thread is the worker's clock: once a second it refreshes the Date header, closes
connections past their deadline and beats the supervisor's heartbeat; the `--threads`
threads share the reactor (see `pronghorn.io.reactor`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final, Protocol

from pronghorn.build import running_build
from pronghorn.config.model import Config
from pronghorn.dispatch.requests import Dispatcher
from pronghorn.errors import EXIT_FAILURE
from pronghorn.io.listeners import (
    Listener,
    defer_accept_seconds,
    listener_scheme,
    open_listener,
    protocol_note,
    unix_socket_mode,
)
from pronghorn.io.observer import WorkerObserver
from pronghorn.io.observer import wanted as observer_wanted
from pronghorn.io.reactor import Reactor
from pronghorn.logs import Logs
from pronghorn.metrics.block import MetricsBlock
from pronghorn.metrics.readiness import ReadinessFlag
from pronghorn.wsgi.runner import WSGIApp

_SWEEP_SECONDS: Final = 1.0
_FOLD_SECONDS: Final = 0.1
"""How often the clock thread folds the requests the pure build's metrics recorded (see
`pronghorn.metrics.recorder`): what waits to be folded is then a tenth of a second of
requests, not a whole second's."""
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
    try:
        if listeners is None:
            # Alone, with no master: nobody else accepts on these sockets.
            mode = unix_socket_mode(config.umask)
            defer = defer_accept_seconds(config)
            listeners = [
                replace(
                    open_listener(bind, config.backlog, unix_mode=mode, defer_accept=defer),
                    exclusive=True,
                )
                for bind in config.bind
            ]
        observer = (
            WorkerObserver(config, logs.error, metrics_block, readiness, control is None)
            if observer_wanted(config)
            else None
        )
    except OSError as exc:
        # A port taken, say: one line, as the master says it (pronghorn.supervisor.master).
        logs.error.error("Cannot listen: %s", exc)
        return EXIT_FAILURE
    metrics = observer.metrics if observer is not None else None
    probes = observer.probes if observer is not None else None
    if config.extras.hook("pre_request") or config.extras.hook("post_request"):
        from pronghorn.dispatch.request_hooks import HookedDispatcher

        state: Dispatcher = HookedDispatcher(
            config, app, logs, listeners, multiprocess, hook_worker, tls, metrics, probes
        )
    else:
        state = Dispatcher(config, app, logs, listeners, multiprocess, tls, metrics, probes)
    reactor = Reactor(state, listeners)
    stop = StopFlag()
    restore = _on_stop_signals(stop, reactor)
    threads = [
        threading.Thread(target=reactor.thread_main, name=f"pronghorn-{i}", daemon=True)
        for i in range(max(1, config.threads))
    ]
    if control is not None and control.request_limit:
        _limit_requests(state, reactor, control.request_limit, stop)  # before any request
    try:
        for thread in threads:
            thread.start()
        # Under a supervisor the master says where it listens, once.
        log = state.error_log.info if control is None else state.error_log.debug
        for listener in listeners:
            log("Listening at: %s (%d)", listener.url(listener_scheme(config)), state.pid)
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
        _graceful_stop(state, reactor, threads, drain_shared, observer)
    finally:
        restore()
        stop.close()
        if observer is not None:
            observer.close()  # the last counts, after the last request
        reactor.close()
    return 0


class StopFlag:
    """A graceful stop asked for: set by a SIGTERM/SIGINT handler or by any thread, waited
    for by the clock thread (the main thread).

    Not a `threading.Event`: `Event.set` takes the lock that `Event.wait` holds while it runs
    Python code, and a signal handler runs in the main thread between two of its bytecodes.
    A TERM that arrives while the clock thread is entering or leaving `wait` therefore
    deadlocks the main thread on its own lock, and the worker never begins its stop (the
    likely cause of a worker that ignored a TERM for 10 s in one CI run). A flag and a pipe
    need no lock: `set` writes a byte, `wait` is a `select` on the pipe."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._set = False

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        with contextlib.suppress(OSError):  # full or closed: the flag is what counts
            os.write(self._write, b"\0")

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Until set or `timeout` seconds; True when set."""
        if not self._set:
            # A signal's handler runs, then select is resumed (PEP 475): the byte it wrote
            # ends the wait at once.
            select.select([self._read], [], [], max(0.0, timeout))
        return self._set

    def close(self) -> None:
        """After the stop: set first, so a late `set` writes nothing."""
        self._set = True
        os.close(self._read)
        os.close(self._write)


def _keep_time(
    state: Dispatcher,
    reactor: Reactor,
    control: WorkerControl | None,
    stop: StopFlag,
    observer: WorkerObserver | None,
) -> None:
    """The clock thread's loop until a stop is asked for."""
    fold = observer.recorded_fold() if observer is not None else None
    while True:
        if control is not None and control.beat(state.oldest_request(), state.handled):
            stop.set()
        if _wait_folding(stop, fold):
            return
        state.tick()
        reactor.sweep()
        if observer is not None:
            observer.tick()


def _wait_folding(stop: StopFlag, fold: Callable[[], None] | None) -> bool:
    """Wait a sweep's time, or until `stop` is set (then True), folding the recorded
    metrics every _FOLD_SECONDS meanwhile when there are any."""
    if fold is None:
        return stop.wait(_SWEEP_SECONDS)
    deadline = time.monotonic() + _SWEEP_SECONDS
    while True:
        left = deadline - time.monotonic()
        if left <= 0.0:
            return False
        if stop.wait(min(left, _FOLD_SECONDS)):
            return True
        fold()


def _limit_requests(state: Dispatcher, reactor: Reactor, limit: int, stop: StopFlag) -> None:
    """--max-requests: once `limit` requests are answered, take no new connection (the
    other workers, or this one's successor, get them) and ask for a graceful stop."""
    state.request_limit = limit

    def limit_reached() -> None:
        reactor.stop_accepting()
        if not stop.is_set():
            state.error_log.info(
                "Worker stopping: %d requests served (--max-requests)", state.handled
            )
            stop.set()

    state.on_request_limit = limit_reached


def _graceful_stop(
    state: Dispatcher,
    reactor: Reactor,
    threads: list[threading.Thread],
    drain_shared: bool,
    observer: WorkerObserver | None,
) -> None:
    """Answer every request that has arrived, for up to --graceful-timeout (see
    `Reactor.begin_stop` and docs/design.md, "Graceful stop"), then cut off the rest.

    The metrics are still published once a second meanwhile: a drain can last the whole
    --graceful-timeout, and an operator watching it should see the connections and the
    requests in flight fall, not the numbers of the moment the stop began."""
    reactor.begin_stop(drain_shared)
    now = time.monotonic()
    deadline = now + state.config.graceful_timeout
    publish_at = now
    pause = threading.Event()
    while not reactor.settled() and now < deadline:
        pause.wait(_STOP_POLL_SECONDS)
        reactor.retire_listeners()
        reactor.close_idle()
        reactor.sweep()
        now = time.monotonic()
        if observer is not None and now >= publish_at:
            observer.tick()
            publish_at = now + _SWEEP_SECONDS
    reactor.finish()
    reactor.force_close_all()
    # Threads still inside the application are daemons: they cannot keep the process alive.
    join_until = time.monotonic() + 0.5
    for thread in threads:
        thread.join(max(0.0, join_until - time.monotonic()))


def _on_stop_signals(stop: StopFlag, reactor: Reactor) -> Callable[[], None]:
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
