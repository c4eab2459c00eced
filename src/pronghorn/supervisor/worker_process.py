"""A worker process, from the fork to `os._exit`.

Owns: `run_worker`, what a freshly forked child does: put back the signal dispositions the
master changed, name the process, open its own SO_REUSEPORT sockets if asked, switch to
--user/--group (`pronghorn.supervisor.privileges`), load the
application (unless the master preloaded it), run the hooks, then hand over to
`pronghorn.io.serve` — the one entry point into the I/O layer — with a `WorkerAgent` that
beats the heartbeat, reopens logs on USR1, asks for a graceful stop at --max-requests or
when the master is gone, tells the I/O layer whether the whole server is stopping, and
reports where the worker is when the master's watchdog asks (`STACKS_SIGNAL`: every
thread's stack through `faulthandler`, then the requests in flight). Exit codes: 0 after a
stop, EXIT_APP_LOAD when the application cannot be loaded (the master then refuses to
respawn), EXIT_FAILURE on a crash.
"""

from __future__ import annotations

import faulthandler
import importlib
import logging
import os
import random
import signal
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from pronghorn.config.model import Config
from pronghorn.errors import EXIT_APP_LOAD, EXIT_FAILURE, AppLoadError
from pronghorn.io import serve
from pronghorn.io.listeners import (
    Listener,
    defer_accept_seconds,
    is_reservation,
    open_reuse_port,
)
from pronghorn.logs import Logs
from pronghorn.metrics.block import MetricsBlock
from pronghorn.metrics.readiness import ReadinessFlag
from pronghorn.supervisor.heartbeat import Heartbeat
from pronghorn.supervisor.hooks import ServerView, WorkerView, call_hook
from pronghorn.supervisor.privileges import PrivilegeError, Privileges, drop
from pronghorn.supervisor.title import set_title, title_name
from pronghorn.supervisor.watchdog import STACKS_SIGNAL

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

AppLoader = Callable[[Config], "WSGIApplication | None"]


@dataclass(frozen=True, slots=True)
class WorkerStart:
    """Everything a worker needs from the master, fixed at the fork."""

    config: Config
    logs: Logs
    listeners: Sequence[Listener]
    load_app: AppLoader
    preloaded: WSGIApplication | None
    heartbeat: Heartbeat
    age: int
    server: ServerView
    privileges: Privileges
    tls: ssl.SSLContext | None = None
    """The TLS context the master read (certificates included), or None for plain HTTP."""
    metrics_block: MetricsBlock | None = None
    """Where this worker publishes its counters (--metrics-bind), read by the master."""
    readiness: ReadinessFlag | None = None
    """The master's verdict that --readiness-path repeats."""


class WorkerAgent:
    """The worker's side of the supervisor contract (`pronghorn.io.worker.WorkerControl`)."""

    def __init__(self, start: WorkerStart) -> None:
        self._heartbeat = start.heartbeat
        self._logs = start.logs
        self._master_pid = start.server.pid
        config = start.config
        jitter = random.randint(0, config.max_requests_jitter) if config.max_requests else 0
        self.request_limit = config.max_requests + jitter if config.max_requests else 0
        self._leaving = False
        self.reopen_requested = False
        self.stacks_requested = False
        self._running_requests: Callable[[], list[str]] = list
        self._stacks_fd = -1

    def serving(self, running_requests: Callable[[], list[str]]) -> None:
        self._running_requests = running_requests

    def beat(self, oldest_request: tuple[float, str] | None, handled: int) -> bool:
        self._heartbeat.write(time.monotonic(), oldest_request)
        if self.reopen_requested:
            self.reopen_requested = False
            self._logs.reopen()
            self.write_stacks_to_error_log()  # the file it wrote to may have been rotated
        if self.stacks_requested:
            self.stacks_requested = False
            self._report_requests()
        if self._leaving:
            return True
        if os.getppid() != self._master_pid:
            self._leave("the master (pid %d) is gone", self._master_pid)
        return self._leaving

    def server_stopping(self) -> bool:
        return self._heartbeat.server_stopping()

    def write_stacks_to_error_log(self) -> None:
        """On STACKS_SIGNAL, faulthandler writes every thread's stack to the error log's file.

        It writes from the signal handler itself, so it needs a descriptor, not the log's
        stream object: a duplicate, so that log rotation cannot close it under the handler
        (this is called again after a reopen). It then chains to the handler `_reset_signals`
        installed, which asks the next beat for the list of requests."""
        stream = self._logs.error_stream()
        if stream is None:
            return
        try:
            fd = os.dup(stream.fileno())
        except (OSError, ValueError):
            return
        faulthandler.register(STACKS_SIGNAL, file=fd, all_threads=True, chain=True)
        if self._stacks_fd >= 0:
            os.close(self._stacks_fd)
        self._stacks_fd = fd

    def _report_requests(self) -> None:
        running = self._running_requests()
        log = self._logs.error
        if not running:
            log.error("Stacks written for the master; no request in flight")
        for line in running:
            log.error("Stacks written for the master; in flight: %s", line)
        for handler in log.handlers:
            handler.flush()
        self._heartbeat.count_stacks_written()

    def _leave(self, reason: str, *args: object) -> None:
        self._logs.error.info("Worker stopping gracefully: " + reason, *args)
        self._leaving = True


def run_worker(start: WorkerStart) -> NoReturn:
    """The child's whole life after the fork; never returns."""
    code = EXIT_FAILURE
    log = start.logs.error
    try:
        code = _run(start, log)
    except AppLoadError as exc:
        log.error("cannot load the application %s: %s", start.config.app, exc)
        if start.config.error_logfile != "-":
            sys.stderr.write(f"pronghorn: cannot load the application {start.config.app}: {exc}\n")
        code = EXIT_APP_LOAD
    except PrivilegeError as exc:
        log.error("Worker cannot switch user, so it will not serve: %s", exc)
        code = EXIT_APP_LOAD  # a boot failure: the master stops rather than respawn in a loop
    except BaseException:  # the worker's outermost boundary: log whatever killed it
        log.exception("Worker crashed")
    finally:
        for handler in logging.getLogger("pronghorn.error").handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _run(start: WorkerStart, log: logging.Logger) -> int:
    agent = WorkerAgent(start)
    _reset_signals(agent)
    agent.write_stacks_to_error_log()  # from now on: even a hung import can be seen
    config = start.config
    set_title(f"pronghorn: worker [{title_name(config)}]")
    me = WorkerView(os.getpid(), start.server.pid, start.age, log)
    call_hook(config, "post_fork", log, start.server, me)
    defer = defer_accept_seconds(config)
    listeners = [
        open_reuse_port(listener, config.backlog, defer_accept=defer)
        if is_reservation(listener.sock)
        else listener
        for listener in start.listeners
    ]
    # After binding (a --reuse-port socket on port 80 needs root), before the app is loaded.
    drop(start.privileges)
    app = start.preloaded
    if app is None and config.app is not None:
        # New code on disk must be seen even if the import system cached a directory.
        importlib.invalidate_caches()
        app = start.load_app(config)
    call_hook(config, "post_worker_init", log, me)
    code = serve(
        config, app, start.logs, listeners, multiprocess=config.workers > 1, control=agent,
        hook_worker=me, tls=start.tls,
        metrics_block=start.metrics_block, readiness=start.readiness,
    )  # fmt: skip
    call_hook(config, "worker_exit", log, start.server, me)
    return code


def _reset_signals(agent: WorkerAgent) -> None:
    """Undo the master's signal set-up: workers obey TERM/INT (io), QUIT, USR1 and the
    watchdog's STACKS_SIGNAL only."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH):
        signal.signal(signum, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)

    def quick_exit(signum: int, frame: FrameType | None) -> None:
        os._exit(0)

    def reopen_logs(signum: int, frame: FrameType | None) -> None:
        agent.reopen_requested = True  # done by the next beat, on the clock thread

    def stacks_written(signum: int, frame: FrameType | None) -> None:
        agent.stacks_requested = True  # faulthandler has written them; the beat lists requests

    signal.signal(signal.SIGQUIT, quick_exit)
    signal.signal(signal.SIGUSR1, reopen_logs)
    signal.signal(STACKS_SIGNAL, stacks_written)
