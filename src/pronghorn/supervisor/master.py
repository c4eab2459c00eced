"""The master process: listeners, pre-forked workers, signals, heartbeats, reloads, upgrades.

Owns: `Master.run()`, the loop of the process that binds the listeners once and forks
`--workers` workers sharing them. Signal handlers only record the signal and wake the loop
(through `signal.set_wakeup_fd`); the loop does the work:

- TERM: graceful stop. The workers take no new connection, answer every request already
  received (those still queued in the listen backlog too: the master tells them in the
  heartbeat that nobody else will) for up to --graceful-timeout, then exit; so does the
  master, with 0. INT, QUIT: quick stop.
- HUP: re-read the config and the TLS certificates, apply the log settings, start a new
  generation of workers (they import the app afresh), and only when all of them serve, stop
  the old ones gracefully: their open connections finish with the certificate they began with.
- TTIN / TTOU: one worker more / fewer. USR1: reopen log files (here and in the workers).
- USR2: start a new master (same command) that inherits the listening sockets; once its
  workers serve it takes over the pid file (and systemd's MAINPID) and stops this one
  (`pronghorn.supervisor.upgrade` decides and does it; this loop dispatches to it).

A worker that dies is replaced; one that stops beating (or sits in one request) for longer
than --timeout is made to write its stacks to the error log, then killed and replaced (see
`pronghorn.supervisor.watchdog`). A worker that cannot load the app when no worker is
serving stops the master with EXIT_APP_LOAD rather than respawning in a loop.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import ssl
import stat
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from pronghorn.build import running_build
from pronghorn.config.model import Config
from pronghorn.errors import EXIT_APP_LOAD, EXIT_FAILURE, EXIT_OK, ConfigError
from pronghorn.io.listeners import (
    Listener,
    defer_accept_seconds,
    describe,
    listener_scheme,
    open_listener,
    protocol_note,
    reserve_reuse_port,
)
from pronghorn.io.tls import server_context
from pronghorn.loader import apply_environment
from pronghorn.logs import Logs
from pronghorn.logs.setup import configure_again
from pronghorn.supervisor import systemd
from pronghorn.supervisor.heartbeat import Heartbeat
from pronghorn.supervisor.hooks import ServerView, WorkerView, call_hook
from pronghorn.supervisor.pidfile import remove_pidfile, write_pidfile
from pronghorn.supervisor.privileges import Privileges, give_log_files
from pronghorn.supervisor.reloader import SourceWatcher
from pronghorn.supervisor.roster import WorkerRecord, exit_message
from pronghorn.supervisor.telemetry import ServerStatus, Telemetry
from pronghorn.supervisor.title import set_title, title_name
from pronghorn.supervisor.upgrade import Upgrade, new_master_environment
from pronghorn.supervisor.watchdog import Watchdog
from pronghorn.supervisor.worker_process import AppLoader, WorkerStart, run_worker

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

_TICK = 0.1
_QUICK_STOP_SECONDS = 1.0
_STOP_MARGIN = 0.7
"""Beyond --graceful-timeout, the time a stopping worker gets to close its pool and exit."""
_BOOT_FAILURE_BACKOFF = 1.0
_HANDLED = (
    signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGTTIN,
    signal.SIGTTOU, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Launch:
    """How this master was started, for reloads (re-read the config) and USR2 (re-run it).
    `argv` is None when there is no command line to re-run: an application object given to
    `pronghorn.serve`, which a new master could not import."""

    argv: tuple[str, ...] | None
    cwd: str
    load_app: AppLoader
    reconfigure: Callable[[], Config]


def _privilege_settings(config: Config) -> tuple[object, ...]:
    return (config.user, config.group, config.umask, config.initgroups)


class Master:
    """The supervisor of one server. Build it, call `run()`, get the exit code."""

    def __init__(
        self,
        config: Config,
        logs: Logs,
        launch: Launch,
        preloaded: WSGIApplication | None = None,
        privileges: Privileges | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.tls = tls  # read by the caller at start (pronghorn.io.tls), again on HUP
        self.privileges = privileges or Privileges(umask=config.umask)
        self.logs = logs
        self.log = logs.error
        self.launch = launch
        self.preloaded = preloaded
        self.pid = os.getpid()
        self.workers: dict[int, WorkerRecord] = {}
        self.target = config.workers
        self.generation = 1
        self.next_age = 1
        self.listeners: list[Listener] = []
        self.unix_paths: list[str] = []
        self.signals: deque[int] = deque()
        self.stopping = ""
        self.exit_code = EXIT_OK
        self.ready = False
        self.reload_started = 0.0
        self.respawn_after = 0.0
        self.upgrade = Upgrade.from_environment(os.environ)  # USR2, either side
        self.watcher: SourceWatcher | None = None
        self.watchdog = Watchdog(self.log)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.closing_at = 0.0  # --shutdown-delay: when the listeners close after TERM
        self.telemetry = Telemetry(config, self.log, self._status)

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        """Serve until told to stop; return the exit status."""
        try:
            return self._run()
        finally:
            self._cleanup()

    def _run(self) -> int:
        call_hook(self.config, "on_starting", self.log, self._view())
        try:
            self._open_listeners()
            self.telemetry.open()
        except OSError as exc:
            self.log.error("Cannot listen: %s", exc)
            self.exit_code = EXIT_FAILURE
            return self.exit_code
        if self.config.pid and not self.upgrade.old_master:
            write_pidfile(self.config.pid, self.pid)
        give_log_files(self.config, self.privileges)
        set_title(f"pronghorn: master [{title_name(self.config)}]")
        scheme = listener_scheme(self.config)
        for listener in self.listeners:
            self.log.info("Listening at: %s (%d)", listener.url(scheme), self.pid)
        note = protocol_note(self.config)
        if note is not None:
            self.log.info("%s", note)
        # Which build runs (compiled or pure, pronghorn.build): said once a start has worked.
        build = running_build()
        self.log.info("Master %d starting %d worker(s), %s build", self.pid, self.target, build)
        if self.privileges.switches:
            self.log.info("Workers run as %s", self.privileges.describe())
        self._install_signals()
        if self.config.reload:
            self._start_watcher()
        if self.preloaded is not None:
            # Objects that exist now are never touched by the collector again, so the pages
            # holding them stay shared between master and workers instead of being copied.
            gc.collect()
            gc.freeze()
        while not (self.stopping and not self.workers):
            self._maintain()
            self._wait()
            self._handle_signals()
            self._reap()
            self.watchdog.check(self.workers.values(), self.config.timeout)
            self._check_progress()
            if self.watcher is not None and not self.stopping and self.watcher.changed():
                self._reload("a source file changed")
            if self.closing_at and time.monotonic() >= self.closing_at:
                self._begin_stop("graceful", "TERM after --shutdown-delay")
            self.telemetry.tick()
        return self.exit_code

    def _wait(self) -> None:
        self.telemetry.wait(self.wake_r, _TICK)  # serves --metrics-bind meanwhile
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_r, 4096):
                pass

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"\0")

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for signum in _HANDLED:
            signal.signal(signum, self._record_signal)

    def _record_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def _handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.popleft()
            if signum == signal.SIGTERM:
                self._terminate()
            elif signum in (signal.SIGINT, signal.SIGQUIT):
                self._begin_stop("quick", signal.Signals(signum).name)
            elif signum == signal.SIGHUP:
                self._reload("HUP")
            elif signum in (signal.SIGTTIN, signal.SIGTTOU):
                self._resize(1 if signum == signal.SIGTTIN else -1)
            elif signum == signal.SIGUSR1:
                self.logs.reopen()
                give_log_files(self.config, self.privileges)  # new files are the master's
                self.log.info("Reopened log files (USR1)")
                self._signal_workers(signal.SIGUSR1)
            elif signum == signal.SIGUSR2:
                self._upgrade()

    # -- listeners ----------------------------------------------------------------------

    def _open_listeners(self) -> None:
        inherited = systemd.inherited_sockets(os.environ)
        if inherited is not None:
            for sock, owned in inherited:
                listener = describe(sock, owned=owned)
                self.listeners.append(listener)
                if owned and sock.family == socket.AF_UNIX:
                    self.unix_paths.append(listener.server_name)  # ours to remove at the end
            self.log.info("Using %d inherited listening socket(s)", len(inherited))
            return
        for bind in self.config.bind:
            reserved = reserve_reuse_port(bind) if self.config.reuse_port else None
            listener = reserved or open_listener(
                bind,
                self.config.backlog,
                unix_mode=self.privileges.socket_mode,
                unix_owner=self.privileges.owner,
                defer_accept=defer_accept_seconds(self.config),
            )
            self.listeners.append(listener)
            if listener.sock.family == socket.AF_UNIX:
                self.unix_paths.append(listener.server_name)

    def _close_listeners(self) -> None:
        for listener in self.listeners:
            listener.sock.close()
        self.listeners = []
        if self.upgrade.child:
            return  # the new master listens on these paths now
        for path in self.unix_paths:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    os.unlink(path)
        self.unix_paths = []

    # -- workers ------------------------------------------------------------------------

    def _maintain(self) -> None:
        if self.stopping or time.monotonic() < self.respawn_after:
            return
        current = self._current()
        for _ in range(self.target - len(current)):
            self._spawn()
        for record in sorted(current, key=lambda r: r.age)[: max(0, len(current) - self.target)]:
            self._stop_worker(record, signal.SIGTERM)

    def _current(self) -> list[WorkerRecord]:
        return [
            r for r in self.workers.values() if r.generation == self.generation and not r.stopping
        ]

    def _spawn(self) -> None:
        heartbeat = Heartbeat()
        age, self.next_age = self.next_age, self.next_age + 1
        server = self._view()
        call_hook(self.config, "pre_fork", self.log, server, WorkerView(0, self.pid, age, self.log))
        block = self.telemetry.new_block()
        start = WorkerStart(
            self.config, self.logs, tuple(self.listeners), self.launch.load_app,
            self.preloaded, heartbeat, age, server, self.privileges, self.tls,
            metrics_block=block, readiness=self.telemetry.readiness,
        )  # fmt: skip
        # Signals stay blocked across the fork so the child cannot run the master's handlers.
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    self._enter_child()
                    run_worker(start)
                finally:
                    os._exit(EXIT_FAILURE)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        self.workers[pid] = WorkerRecord(pid, age, self.generation, heartbeat, time.monotonic())
        self.telemetry.spawned(pid, block)
        self.log.info("Booting worker with pid: %d", pid)

    def _enter_child(self) -> None:
        """In a fresh child: drop the master's signal plumbing before signals are unblocked."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        os.close(self.wake_r)
        os.close(self.wake_w)
        for record in self.workers.values():
            record.heartbeat.close()
        self.telemetry.enter_child()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)

    def _stop_worker(self, record: WorkerRecord, signum: int) -> None:
        grace = (
            _QUICK_STOP_SECONDS
            if signum == signal.SIGQUIT
            else self.config.graceful_timeout + _STOP_MARGIN
        )
        deadline = time.monotonic() + grace
        if not record.stop_deadline or deadline < record.stop_deadline:
            record.stop_deadline = deadline
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signum)

    def _signal_workers(self, signum: int) -> None:
        for record in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signum)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            if self.upgrade.child_exited(pid, code, self.log):
                continue
            record = self.workers.pop(pid, None)
            if record is not None:
                self._worker_exited(record, code)

    def _worker_exited(self, record: WorkerRecord, code: int) -> None:
        record.heartbeat.close()
        self.telemetry.worker_exited(record, code, self.generation, self.stopping)
        if code == EXIT_APP_LOAD and not record.booted:
            self._boot_failed()
        else:
            level, message = exit_message(record, code)
            self.log.log(level, message)
        call_hook(
            self.config,
            "child_exit",
            self.log,
            self._view(),
            WorkerView(record.pid, self.pid, record.age, self.log),
        )

    def _boot_failed(self) -> None:
        serving = [r for r in self.workers.values() if r.booted and not r.stopping]
        if not serving:
            if not self.stopping:
                self.log.error(
                    "Worker failed to boot and no worker is serving: stopping (exit %d)",
                    EXIT_APP_LOAD,
                )
                self.exit_code = EXIT_APP_LOAD
                self._begin_stop("quick", "boot failure")
            return
        self.log.error(
            "A new worker failed to boot; the workers already serving carry on. "
            "Fix the application, then reload (HUP)."
        )
        for record in list(self.workers.values()):
            if record.generation == self.generation and not record.booted:
                self._stop_worker(record, signal.SIGQUIT)
        for record in serving:
            record.generation = self.generation  # the running code stays current
        self.reload_started = 0.0
        self.respawn_after = time.monotonic() + _BOOT_FAILURE_BACKOFF

    def _check_progress(self) -> None:
        """When every current worker serves: retire older generations, announce readiness."""
        if self.stopping:
            return
        current = self._current()
        if len(current) < self.target or not all(r.booted for r in current):
            return
        for record in list(self.workers.values()):
            if record.generation < self.generation and not record.stopping:
                self._stop_worker(record, signal.SIGTERM)
        if not self.ready:
            self.ready = True
            self._announce_ready()
        elif self.reload_started:
            took = time.monotonic() - self.reload_started
            self.log.info(
                "Reload complete: %d new worker(s) serving after %.3f s", len(current), took
            )
            systemd.notify("READY=1")
            self.reload_started = 0.0

    def _announce_ready(self) -> None:
        self.log.info("Ready: %d worker(s) serving", self.target)
        call_hook(self.config, "when_ready", self.log, self._view())
        if self.upgrade.old_master:
            self.upgrade.take_over(self.pid, self.config.pid, self.log)
        else:
            systemd.notify("READY=1")

    # -- commands -----------------------------------------------------------------------

    def _begin_stop(self, mode: str, why: str) -> None:
        if self.stopping == "quick" or self.stopping == mode:
            return
        if not self.stopping:
            systemd.notify("STOPPING=1")
            self._close_listeners()
            if self.upgrade.child:
                self.telemetry.hand_over()  # the new master answers on it now
        self.log.info("Handling signal: %s: %s stop", why, mode)
        self.stopping = mode
        signum = signal.SIGQUIT if mode == "quick" else signal.SIGTERM
        # Unless a new master shares the listening sockets (an upgrade under way), nobody
        # will accept what is queued on them once the workers close them: they must drain.
        shared_with_another = self.upgrade.shares_listeners
        for record in list(self.workers.values()):
            if not shared_with_another:
                record.heartbeat.announce_server_stop()
            self._stop_worker(record, signum)

    def _terminate(self) -> None:
        """TERM: with --shutdown-delay, first only stop being ready (load balancers that
        probe readiness then stop sending) and stop when the delay is over; a second TERM,
        or a new master taking over (USR2), stops at once."""
        delay = self.config.shutdown_delay
        if self.stopping or self.closing_at or not delay or self.upgrade.child:
            self.closing_at = 0.0
            self._begin_stop("graceful", "TERM")
            return
        self.closing_at = time.monotonic() + delay
        self.log.info(
            "Handling signal: TERM: not ready; stopping in %g s (--shutdown-delay)", delay
        )

    def _status(self) -> ServerStatus:
        return ServerStatus(
            self.workers.values(),
            self.stopping,
            self.closing_at,
            self.listeners,
            self.config.timeout,
        )

    def _reload(self, why: str) -> None:
        if self.stopping:
            return
        self.log.info("Reloading (%s)", why)
        systemd.notify(systemd.reloading_message())
        try:
            config = self.launch.reconfigure()
        except ConfigError as exc:
            self.log.error("Reload: the configuration is invalid, keeping the old one: %s", exc)
            config = self.config
        if config.bind != self.config.bind:
            self.log.warning("Reload: a new --bind takes a restart or an upgrade (USR2)")
        if _privilege_settings(config) != _privilege_settings(self.config):
            self.log.warning(
                "Reload: new --user, --group, --umask or --initgroups take a restart or an "
                "upgrade (USR2); new workers run as before"
            )
        self.target = config.workers if config.workers != self.config.workers else self.target
        apply_environment(config.raw_env)  # before the new workers are forked
        self._reload_tls(config)
        self.logs = configure_again(config, self.config, self.logs)  # new workers inherit it
        give_log_files(config, self.privileges)
        self.config = config
        call_hook(config, "on_reload", self.log, self._view())
        self.generation += 1
        self.reload_started = time.monotonic()
        self.respawn_after = 0.0

    def _reload_tls(self, config: Config) -> None:
        """Read the certificates again (renewed files, or new paths in the config) for the
        new workers; if they cannot be used, the new workers keep the ones that work."""
        try:
            tls = server_context(config)
        except ConfigError as exc:
            self.log.error("Reload: %s; the new workers keep the certificate in use", exc)
            return
        if (tls is None) != (self.tls is None):
            speak = "plain HTTP" if tls is None else "HTTPS"
            self.log.warning("Reload: --certfile changed: the new workers speak %s", speak)
        elif tls is not None:
            self.log.info("Reload: certificate read again from %s", config.certfile)
        self.tls = tls

    def _resize(self, delta: int) -> None:
        old = self.target
        self.target = max(1, self.target + delta)
        self.log.info("Workers: %d -> %d", old, self.target)
        if self.target != old:
            call_hook(self.config, "nworkers_changed", self.log, self._view(), self.target, old)

    def _upgrade(self) -> None:
        refusal = self.upgrade.refusal(self.stopping, self.launch.argv is not None)
        if refusal or self.launch.argv is None:  # (the second test is for the type checker)
            self.log.warning("%s", refusal)
            return
        call_hook(self.config, "pre_exec", self.log, self._view())
        fds, env = new_master_environment(
            os.environ, self.listeners, self.pid, self.telemetry.upgrade_env()
        )
        pid = self.upgrade.start(list(self.launch.argv), self.launch.cwd, fds, env)
        self.log.info("Upgrade (USR2): started a new master, pid %d", pid)

    def _start_watcher(self) -> None:
        roots = [os.getcwd(), *self.config.pythonpath]
        self.watcher = SourceWatcher(roots, self._wake)
        self.log.info(
            "Reloading on source changes under %s (%s)", ", ".join(roots), self.watcher.engine
        )

    def _view(self) -> ServerView:
        return ServerView(self.pid, self.log, self.config, self.target)

    def _cleanup(self) -> None:
        self._close_listeners()
        self.telemetry.close()
        if self.watcher is not None:
            self.watcher.close()
        if self.config.pid:
            remove_pidfile(self.config.pid, self.pid)
        signal.set_wakeup_fd(-1)
        os.close(self.wake_r)
        os.close(self.wake_w)
        call_hook(self.config, "on_exit", self.log, self._view())
        self.log.info("Master %d exiting with status %d", self.pid, self.exit_code)
