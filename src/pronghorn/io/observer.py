"""A worker's side of metrics and health: what its clock thread publishes once a second.

Owns `WorkerObserver`, built by `pronghorn.io.worker.serve` when any of --metrics-bind,
--statsd-host, --liveness-path or --readiness-path is set (and not at all otherwise, so a
server without them pays nothing). It holds the worker's `WorkerMetrics` (incremented by the
request path) and `HealthProbes`, and on every tick of the clock thread samples the gauges
(connections open, requests in flight, requests waiting for a thread), publishes the counters
in the worker's shared block for the master (`pronghorn.metrics.block`) and sends statsd's
lines. `close()` publishes once more as the worker exits, so a worker that stops loses no
count.

Without a master (--single-process) there is nobody to read a block: the observer then
serves --metrics-bind itself from a thread of its own (a process that never forks may have
threads), answering from its counters directly, and keeps the readiness flag: ready once
serving, not ready from the moment a stop begins.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from pronghorn.config.model import Config
from pronghorn.io.listeners import open_listener
from pronghorn.metrics.block import MetricsBlock
from pronghorn.metrics.endpoint import Answer, MetricsEndpoint
from pronghorn.metrics.exposition import CONTENT_TYPE, Exposition, add_worker_families
from pronghorn.metrics.probes import HealthProbes
from pronghorn.metrics.readiness import READY, STARTING, STOPPING, ReadinessFlag
from pronghorn.metrics.recorder import COUNT_IN_PLACE, StatsdMetrics, WorkerMetrics
from pronghorn.metrics.slots import SlotSample, add_slot_families
from pronghorn.metrics.statsd import StatsdClient, WorkerStatsd

if TYPE_CHECKING:
    from pronghorn.dispatch.requests import Dispatcher
    from pronghorn.io.reactor import Reactor

_STANDALONE_POLL: Final = 0.5
_TEXT: Final = "text/plain; charset=utf-8"


def wanted(config: Config) -> bool:
    """Whether a worker with `config` observes anything at all."""
    return bool(
        config.metrics_bind or config.statsd_host or config.liveness_path or config.readiness_path
    )


class WorkerObserver:
    """Metrics and health of one worker; `tick` and `close` run on its clock thread."""

    def __init__(
        self,
        config: Config,
        log: logging.Logger,
        block: MetricsBlock | None,
        readiness: ReadinessFlag | None,
        standalone: bool,
    ) -> None:
        self.config = config
        self.log = log
        self.block = block
        self.started = time.monotonic()
        self.last_tick = self.started
        counting = bool(config.metrics_bind or config.statsd_host)
        recorder = StatsdMetrics if config.statsd_host else WorkerMetrics
        self.metrics = recorder() if counting else None
        self.readiness = readiness or ReadinessFlag()
        self.probes = (
            HealthProbes(config.liveness_path, config.readiness_path, self.readiness)
            if config.liveness_path or config.readiness_path
            else None
        )
        self._statsd: WorkerStatsd | None = None
        self._client: StatsdClient | None = None
        if config.statsd_host and self.metrics is not None:
            try:
                self._client = StatsdClient(config.statsd_host, config.statsd_prefix, log)
            except OSError as exc:
                log.warning("statsd: cannot resolve %s: %s", config.statsd_host, exc)
            else:
                self._statsd = WorkerStatsd(self._client, self.metrics)
        self._standalone = standalone
        self._endpoint: MetricsEndpoint | None = None
        self._stop = threading.Event()
        self._endpoint_thread: threading.Thread | None = None
        self._state: Dispatcher | None = None
        self._reactor: Reactor | None = None
        if standalone and config.metrics_bind:
            # Opened with the worker, before its threads accept: opened once they serve, a
            # flood of connections could take the last descriptors first (EMFILE), and the
            # worker would fail with requests in hand. It is served from `serving` on.
            sock = open_listener(config.metrics_bind, 64).sock
            self._endpoint = MetricsEndpoint(sock, config.metrics_allow_from, self._answer, log)

    def serving(self, state: Dispatcher, reactor: Reactor) -> None:
        """The worker serves: from now on `tick` samples `state` and `reactor`. Without a
        master, the server is ready, and the metrics listener (opened with this observer) is
        served."""
        self._state, self._reactor = state, reactor
        if not self._standalone:
            return
        self.readiness.set(READY)
        if self._endpoint is not None:
            host, port = self._endpoint.address
            self.log.info("Metrics at: http://%s:%d/metrics", host, port)
            self._endpoint_thread = threading.Thread(
                target=self._serve_endpoint, name="pronghorn-metrics", daemon=True
            )
            self._endpoint_thread.start()

    def recorded_fold(self) -> Callable[[], None] | None:
        """What the clock thread calls between ticks to fold the requests the recorder was
        handed (the pure build; see pronghorn.metrics.recorder), or None: no metrics, or
        counted in place."""
        if self.metrics is None or COUNT_IN_PLACE:
            return None
        return self.metrics.fold

    def tick(self) -> None:
        """Clock thread, once a second: sample the gauges, publish, send statsd."""
        self.last_tick = time.monotonic()
        metrics, state, reactor = self.metrics, self._state, self._reactor
        if metrics is None or state is None or reactor is None:
            return
        metrics.open_connections = reactor.connection_count()
        in_flight = len(state.in_flight)
        metrics.in_flight = in_flight
        # Requests wait for a thread only while every thread is busy (see catalogue).
        busy = in_flight >= max(1, self.config.threads)
        metrics.waiting = reactor.requests_waiting() if busy else 0
        if self.block is not None:
            self.block.publish(metrics.values(), self.last_tick)
        if self._statsd is not None:
            self._statsd.send()

    def stopping(self) -> None:
        """A graceful stop begins (the clock thread, before the listeners close)."""
        if self._standalone:
            self.readiness.set(STOPPING)

    def close(self) -> None:
        """The worker is exiting: publish the last counts; stop the standalone listener."""
        try:
            self.tick()
        finally:
            self._stop.set()
            if self._endpoint_thread is not None:
                self._endpoint_thread.join(2.0)
            if self._endpoint is not None:
                self._endpoint.close()
            if self._client is not None:
                self._client.close()

    # -- without a master ---------------------------------------------------------------

    def _serve_endpoint(self) -> None:
        endpoint = self._endpoint
        assert endpoint is not None
        while not self._stop.is_set():
            endpoint.serve(_STANDALONE_POLL)

    def _answer(self, method: str, path: str) -> Answer:
        if path == "/metrics" and self.metrics is not None:
            out = Exposition()
            values = self.metrics.values()
            add_worker_families(out, values)
            out.family("pronghorn_ready", "gauge", "1 when the server should be sent traffic.")
            out.sample("pronghorn_ready", (), 1.0 if self.readiness.state() == READY else 0.0)
            add_slot_families(out, [SlotSample(1, os.getpid(), values, 0)])  # the one worker
            return 200, "OK", CONTENT_TYPE, out.render()
        if path == "/livez":
            silent = time.monotonic() - self.last_tick
            if silent > self.config.timeout:
                return _text(503, f"not live: the clock has not ticked for {silent:.1f} s")
            return _text(200, "live")
        if path == "/readyz":
            state = self.readiness.state()
            if state == READY:
                return _text(200, "ready")
            why = "starting" if state == STARTING else "stopping"
            return _text(503, f"not ready: {why}")
        return _text(404, "not found: try /metrics, /livez or /readyz")


def _text(code: int, line: str) -> Answer:
    reasons = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}
    return code, reasons[code], _TEXT, (line + "\n").encode("utf-8")
