"""The master's view of the whole server: metrics summed over workers, health, readiness.

Owns `Telemetry`, which the master loop drives (`pronghorn.supervisor.master`): a shared
block per worker, made before its fork (`pronghorn.metrics.block`); the totals of workers
that have exited, so that counters survive restarts; worker restarts by cause; the
`--metrics-bind` listener, served inside the master's own loop (`wait` replaces the loop's
sleep); the readiness flag the workers' `--readiness-path` repeats; and statsd's
`gunicorn.workers`.

Why the master's loop and not a thread or a process of its own: the master forks, and a
thread that holds a lock (the logging module's, say) when the master forks leaves that lock
held forever in the child. A process forked once at start would need the master's state
(which workers serve, which are stopping, why each one exited) sent to it as well as the
blocks made later. The loop already wakes ten times a second; the listener only adds its
descriptors to the loop's wait, and `pronghorn.metrics.endpoint` never blocks it.

How exact the counts are: a worker publishes once a second and as it exits, so a scrape
lags by at most a second; a worker that exits (a reload, --max-requests, a stop, a crash
that Python sees) loses nothing; one killed by SIGKILL (the watchdog, the kernel's OOM
killer) loses what it counted since its last publication, at most a second's worth.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import struct
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from pronghorn.config.model import Config
from pronghorn.errors import EXIT_APP_LOAD
from pronghorn.io.listeners import Listener, listener_scheme, open_listener
from pronghorn.metrics.block import MetricsBlock
from pronghorn.metrics.catalogue import BLOCK_SLOTS, GAUGE_SLOTS
from pronghorn.metrics.endpoint import Answer, MetricsEndpoint
from pronghorn.metrics.exposition import CONTENT_TYPE, Exposition, add_worker_families
from pronghorn.metrics.readiness import READY, STARTING, STOPPING, ReadinessFlag
from pronghorn.metrics.slots import WorkerSlots, add_slot_families
from pronghorn.metrics.statsd import StatsdClient
from pronghorn.supervisor.roster import WorkerRecord

METRICS_FD_VAR = "_PRONGHORN_METRICS_FD"
"""A USR2 upgrade hands the metrics listener to the new master under this name."""
RESTART_CAUSES = ("crash", "timeout", "max_requests", "reload", "boot_failure")
_COUNTER_SLOTS = [slot for slot in range(BLOCK_SLOTS) if slot not in GAUGE_SLOTS]
_TCP_INFO = struct.Struct("=8B6I")  # tcp_info up to tcpi_sacked: state ... unacked, sacked
_TEXT = "text/plain; charset=utf-8"
_REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}
_STATSD_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What the master knows that health and metrics are made of."""

    workers: Collection[WorkerRecord]
    stopping: str
    """"" while serving; "graceful" or "quick" once a stop began."""
    closing_at: float
    """While --shutdown-delay runs: when the listeners close (monotonic); 0.0 otherwise."""
    listeners: Sequence[Listener]
    timeout: float


class Telemetry:
    """Metrics and health of one server, kept by its master."""

    def __init__(
        self, config: Config, log: logging.Logger, status: Callable[[], ServerStatus]
    ) -> None:
        self.config = config
        self.log = log
        self._status = status
        self.metrics_on = bool(config.metrics_bind)
        self.readiness = ReadinessFlag() if config.readiness_path else None
        self._blocks: dict[int, MetricsBlock] = {}
        self._slots = WorkerSlots()
        self._retired = [0.0] * BLOCK_SLOTS
        self._restarts = dict.fromkeys(RESTART_CAUSES, 0)
        self._endpoint: MetricsEndpoint | None = None
        self._statsd: StatsdClient | None = None
        self._statsd_due = 0.0
        self._started = time.time()

    # -- start and stop -----------------------------------------------------------------

    def open(self) -> None:
        """Open the metrics listener (or take the one an old master handed over) and the
        statsd socket. Raises OSError when the listener cannot be opened."""
        inherited = os.environ.pop(METRICS_FD_VAR, "")
        if self.config.statsd_host:
            try:
                self._statsd = StatsdClient(
                    self.config.statsd_host, self.config.statsd_prefix, self.log
                )
            except OSError as exc:
                self.log.warning("statsd: cannot resolve %s: %s", self.config.statsd_host, exc)
        if not self.config.metrics_bind:
            return
        if inherited.isdecimal():
            sock = socket.socket(fileno=int(inherited))
            os.set_inheritable(sock.fileno(), False)
        else:
            sock = open_listener(self.config.metrics_bind, 64).sock
        allow = self.config.metrics_allow_from
        self._endpoint = MetricsEndpoint(sock, allow, self._answer, self.log)
        host, port = self._endpoint.address
        shown = f"[{host}]" if ":" in host else host
        self.log.info("Metrics at: http://%s:%d/metrics", shown, port)

    def upgrade_env(self) -> dict[str, str]:
        """For a USR2 upgrade: what the new master's environment needs to take over the
        metrics listener (whose descriptor is then made inheritable)."""
        if self._endpoint is None:
            return {}
        fd = self._endpoint.sock.fileno()
        os.set_inheritable(fd, True)
        return {METRICS_FD_VAR: str(fd)}

    def hand_over(self) -> None:
        """A new master took over (USR2): it answers on the metrics listener from now on."""
        if self._endpoint is not None:
            self._endpoint.close()
            self._endpoint = None

    def enter_child(self) -> None:
        """In a freshly forked worker: let go of the master's descriptors and blocks."""
        if self._endpoint is not None:
            self._endpoint.forget()
            self._endpoint = None
        if self._statsd is not None:
            self._statsd.close()
            self._statsd = None
        for block in self._blocks.values():
            block.close()
        self._blocks.clear()

    def close(self) -> None:
        self.hand_over()
        if self._statsd is not None:
            self._statsd.close()

    # -- the loop -----------------------------------------------------------------------

    def wait(self, wake_fd: int, timeout: float) -> None:
        """The master loop's sleep: until `wake_fd` is readable or `timeout` passes,
        serving the metrics listener meanwhile."""
        if self._endpoint is None:
            with contextlib.suppress(InterruptedError):
                select.select([wake_fd], [], [], timeout)
            return
        self._endpoint.serve(timeout, wake_fd)

    def tick(self) -> None:
        """Every turn of the master loop: the readiness flag, and statsd once a second."""
        if self.readiness is None and self._statsd is None:
            return
        status = self._status()
        if self.readiness is not None:
            ready, _ = readiness(status)
            stopping = status.stopping or status.closing_at
            self.readiness.set(READY if ready else STOPPING if stopping else STARTING)
        now = time.monotonic()
        if self._statsd is not None and now >= self._statsd_due:
            self._statsd_due = now + _STATSD_EVERY
            self._statsd.send([f"gunicorn.workers:{len(status.workers)}|g"])

    # -- workers ------------------------------------------------------------------------

    def new_block(self) -> MetricsBlock | None:
        """Before forking a worker: the block it will publish in (None: metrics are off)."""
        return MetricsBlock() if self.metrics_on else None

    def spawned(self, pid: int, block: MetricsBlock | None) -> None:
        if block is not None:
            self._blocks[pid] = block
            self._slots.take(pid)

    def worker_exited(
        self, record: WorkerRecord, code: int, generation: int, stopping: str
    ) -> None:
        """Keep what an exited worker counted (its gauges go with it), and why it went."""
        block = self._blocks.pop(record.pid, None)
        if block is not None:
            published = block.read()
            block.close()
            self._slots.give_back(record.pid, None if published is None else published[1])
            if published is not None:
                retired, values = self._retired, published[1]
                for slot in _COUNTER_SLOTS:
                    retired[slot] += values[slot]
        cause = restart_cause(record, code, generation, stopping)
        if cause:
            self._restarts[cause] += 1

    # -- answers ------------------------------------------------------------------------

    def _answer(self, method: str, path: str) -> Answer:
        status = self._status()
        if path == "/metrics":
            return 200, "OK", CONTENT_TYPE, self.scrape(status)
        if path == "/livez":
            return _text(*liveness(status, time.monotonic()))
        if path == "/readyz":
            return _text(*readiness(status))
        return _text(False, "not found: try /metrics, /livez or /readyz", code=404)

    def scrape(self, status: ServerStatus) -> bytes:
        """The Prometheus text of the whole server: every worker's counters added to those
        of the workers that exited, then the master's own families."""
        totals = list(self._retired)
        by_pid: dict[int, tuple[float, ...]] = {}
        for pid, block in self._blocks.items():
            published = block.read()
            if published is not None:
                by_pid[pid] = published[1]
                for slot, value in enumerate(published[1]):
                    totals[slot] += value
        out = Exposition()
        add_worker_families(out, totals)
        self._master_families(out, status)
        slots = [
            self._slots.sample(slot, pid, restarts, by_pid.get(pid))
            for slot, pid, restarts in self._slots.occupied()
        ]
        add_slot_families(out, slots)
        return out.render()

    def _master_families(self, out: Exposition, status: ServerStatus) -> None:
        out.family(
            "pronghorn_worker_restarts_total", "counter",
            "Workers replaced, by cause: crash (exited or killed unasked), timeout (killed "
            "by the watchdog, --timeout), max_requests, reload (HUP, --reload), "
            "boot_failure (could not load the application).",
        )  # fmt: skip
        for cause in RESTART_CAUSES:
            out.sample("pronghorn_worker_restarts_total", [("cause", cause)], self._restarts[cause])
        out.family("pronghorn_workers", "gauge", "Worker processes, by state.")
        counts = {"booting": 0, "serving": 0, "stopping": 0}
        for record in status.workers:
            state = "stopping" if record.stopping else "serving" if record.booted else "booting"
            counts[state] += 1
        for state, count in counts.items():
            out.sample("pronghorn_workers", [("state", state)], count)
        out.family(
            "pronghorn_worker_uptime_seconds", "gauge",
            "Seconds since each worker was started (worker: its number, 1 for the first).",
        )  # fmt: skip
        now = time.monotonic()
        for record in sorted(status.workers, key=lambda r: r.age):
            labels = [("worker", str(record.age)), ("pid", str(record.pid))]
            out.sample("pronghorn_worker_uptime_seconds", labels, round(now - record.started, 3))
        ready, _ = readiness(status)
        out.family("pronghorn_ready", "gauge", "1 when the server should be sent traffic.")
        out.sample("pronghorn_ready", (), 1 if ready else 0)
        out.family("pronghorn_start_time_seconds", "gauge", "When the master started (Unix time).")
        out.sample("pronghorn_start_time_seconds", (), round(self._started, 3))
        _listen_queues(out, status.listeners, listener_scheme(self.config))


def restart_cause(record: WorkerRecord, code: int, generation: int, stopping: str) -> str:
    """Why a worker that exited with `code` (as `os.waitstatus_to_exitcode`) was replaced,
    or "" when it was not (the server or the worker count was going down)."""
    if stopping:
        return ""
    if record.killed_for.startswith("timeout"):
        return "timeout"
    if code == EXIT_APP_LOAD and not record.booted:
        return "boot_failure"
    if record.stop_deadline or record.killed_for:
        return "reload" if record.generation < generation else ""
    return "max_requests" if code == 0 else "crash"


def readiness(status: ServerStatus) -> tuple[bool, str]:
    """Whether the server should be sent traffic, and why in a few words.

    Ready once at least one worker has loaded the application and is not stopping. Not
    ready from the moment a stop begins (TERM, through --shutdown-delay and the drain).
    A reload (HUP) keeps the server ready: the old workers serve until the new ones do,
    and the listening sockets never close."""
    if status.stopping:
        workers = len(status.workers)
        return False, f"stopping: {status.stopping} stop, {workers} worker(s) finishing requests"
    if status.closing_at:
        left = max(0.0, status.closing_at - time.monotonic())
        return False, f"stopping: the listeners close in {left:.1f} s (--shutdown-delay)"
    serving = sum(1 for r in status.workers if r.booted and not r.stopping)
    if serving:
        return True, f"ready: {serving} worker(s) serving"
    if any(r.booted for r in status.workers):
        return False, "not ready: no worker is serving (a replacement is starting)"
    return False, "starting: no worker has loaded the application yet"


def liveness(status: ServerStatus, now: float) -> tuple[bool, str]:
    """Live while the master runs (it answers) and some worker beats within --timeout, or
    is still within --timeout of its start."""
    workers = list(status.workers)
    if not workers:
        return True, "live: no worker yet" if not status.stopping else "live: stopping"
    beating = 0
    silent = float("inf")
    for record in workers:
        beat = record.heartbeat.read()
        last = beat.alive if beat is not None else record.started
        silent = min(silent, now - last)
        if now - last <= status.timeout:
            beating += 1
    if beating:
        return True, f"live: {beating} of {len(workers)} worker(s) beating"
    return False, f"not live: no worker has beaten for {silent:.1f} s"


def _text(good: bool, line: str, code: int = 0) -> Answer:
    code = code or (200 if good else 503)
    return code, _REASONS[code], _TEXT, (line + "\n").encode("utf-8")


def _listen_queues(out: Exposition, listeners: Sequence[Listener], scheme: str) -> None:
    """Connections waiting in each TCP listener's accept queue, and its limit (--backlog),
    as the kernel reports them for a listening socket (tcp_info's unacked and sacked)."""
    queues = []
    for listener in listeners:
        if listener.sock.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            raw = listener.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
            fields = _TCP_INFO.unpack(raw)
        except (OSError, struct.error):
            continue
        queues.append((listener.url(scheme), fields[-2], fields[-1]))
    if not queues:
        return
    out.family(
        "pronghorn_listen_queue", "gauge",
        "Connections the kernel has queued on a listening socket that no worker accepted yet.",
    )  # fmt: skip
    for url, queued, _ in queues:
        out.sample("pronghorn_listen_queue", [("listener", url)], queued)
    out.family("pronghorn_listen_queue_limit", "gauge", "The length of that queue (--backlog).")
    for url, _, limit in queues:
        out.sample("pronghorn_listen_queue_limit", [("listener", url)], limit)
