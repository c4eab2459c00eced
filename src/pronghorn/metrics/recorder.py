"""The counters of one worker, incremented on the request path.

Owns `WorkerMetrics`: plain Python ints, floats and lists that the request threads add to
(a request costs one method call: a dict lookup for the method, a `bisect` for each
histogram bucket, a few additions), and `values()`, the snapshot the worker's clock thread
publishes once a second (`pronghorn.metrics.block`) in the order of
`pronghorn.metrics.catalogue.WORKER_FAMILIES`.

Why no lock: under CPython's global interpreter lock a thread switch happens only at a call
or a backward jump, never inside `x += 1` on an attribute or a list item of ints and floats,
so the increments of several threads are never lost (`tests/metrics/test_recorder.py` runs
four threads against each other to hold us to it). A free-threaded build would need a
recorder per thread. The snapshot may see one request half counted (its request counted,
its duration not yet): the next snapshot is whole again.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import defaultdict

from pronghorn.metrics.catalogue import (
    BAD_REQUEST_STATUSES,
    BLOCK_SLOTS,
    DURATION_BUCKETS,
    METHOD_INDEX,
    METHODS,
    REFUSAL_REASONS,
    STATUS_CLASSES,
    TIMEOUT_PHASES,
)

_CLASSES = len(STATUS_CLASSES)
# The row of each method in `requests`, less one, so that row + status // 100 is the slot.
_ROW = {method: index * _CLASSES - 1 for method, index in METHOD_INDEX.items()}
_OTHER_ROW = (len(METHODS) - 1) * _CLASSES - 1
_BAD_INDEX = {int(status): i for i, status in enumerate(BAD_REQUEST_STATUSES[:-1])}
_BAD_OTHER = len(BAD_REQUEST_STATUSES) - 1
_PHASE_INDEX = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 7: 5}  # Phase number -> TIMEOUT_PHASES
REFUSED_ACCEPT_ERROR, REFUSED_STOPPING = 0, 1
STATSD_SAMPLES = 1000
"""The most request durations kept for statsd between two sends (once a second); beyond
that the ones sent are a sample, and say so with statsd's `@rate`."""


class WorkerMetrics:
    """One worker's counters. Request threads add; the clock thread reads and sets gauges."""

    __slots__ = (
        "_buckets",
        "_monotonic",
        "_row",
        "accepted",
        "app_buckets",
        "app_sum",
        "bad",
        "body_bytes",
        "durations",
        "in_flight",
        "open_connections",
        "received_bytes",
        "refused",
        "requests",
        "sendfile_bytes",
        "static_hits",
        "static_not_modified",
        "status_codes",
        "timed_out",
        "total_buckets",
        "total_sum",
        "waiting",
    )

    def __init__(self, statsd: bool = False) -> None:
        self._monotonic = time.monotonic
        self._row = _ROW.get
        self._buckets = DURATION_BUCKETS
        self.requests = [0] * (len(METHODS) * _CLASSES)
        self.app_buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.app_sum = 0.0
        self.total_buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.total_sum = 0.0
        self.received_bytes = 0
        self.body_bytes = 0
        self.accepted = 0
        self.refused = [0] * len(REFUSAL_REASONS)
        self.timed_out = [0] * len(TIMEOUT_PHASES)
        self.bad = [0] * len(BAD_REQUEST_STATUSES)
        self.static_hits = 0
        self.static_not_modified = 0
        self.sendfile_bytes = 0
        self.open_connections = 0
        self.in_flight = 0
        self.waiting = 0
        # Only for statsd, which names every status code and wants each duration.
        # (A defaultdict: `codes[status] += 1` then calls no Python code a switch could
        # interrupt, where `codes.get(status, 0) + 1` would.)
        self.status_codes: defaultdict[int, int] | None = defaultdict(int) if statsd else None
        self.durations: list[float] | None = [] if statsd else None

    # -- the request path ----------------------------------------------------------------

    def request_done(
        self, method: str, status: int, body_bytes: int, started: float, app_started: float
    ) -> None:
        """A response is written: `started` when the thread took the request, `app_started`
        when the application was called (0.0: no application call) on the monotonic clock."""
        now = self._monotonic()
        status_class = status // 100
        if 0 < status_class <= _CLASSES:
            self.requests[self._row(method, _OTHER_ROW) + status_class] += 1
        self.body_bytes += body_bytes
        seconds = now - started
        self.total_buckets[bisect_left(self._buckets, seconds)] += 1
        self.total_sum += seconds
        if app_started:
            in_app = now - app_started
            self.app_buckets[bisect_left(self._buckets, in_app)] += 1
            self.app_sum += in_app
        codes = self.status_codes
        if codes is not None:
            codes[status] += 1
            durations = self.durations
            if durations is not None and len(durations) < STATSD_SAMPLES:
                durations.append(seconds)

    def static_served(self, status: int) -> None:
        """A static mount answered with `status`."""
        if status == 304:
            self.static_not_modified += 1
        elif status == 200 or status == 206:
            self.static_hits += 1

    def bad_request(self, status: int) -> None:
        """The HTTP core refused a request with `status`."""
        self.bad[_BAD_INDEX.get(status, _BAD_OTHER)] += 1

    def timed_out_in(self, phase: int) -> None:
        """A connection's deadline passed while it waited in `phase` (a Phase number)."""
        index = _PHASE_INDEX.get(phase)
        if index is not None:
            self.timed_out[index] += 1

    # -- the clock thread ----------------------------------------------------------------

    def values(self) -> list[float]:
        """Everything, in the order of `catalogue.WORKER_FAMILIES`."""
        snapshot: list[float] = [
            *self.requests,
            *self.app_buckets,
            self.app_sum,
            *self.total_buckets,
            self.total_sum,
            self.received_bytes,
            self.body_bytes,
            self.accepted,
            *self.refused,
            *self.timed_out,
            *self.bad,
            self.static_hits,
            self.static_not_modified,
            self.sendfile_bytes,
            self.open_connections,
            self.in_flight,
            self.waiting,
        ]
        assert len(snapshot) == BLOCK_SLOTS
        return snapshot
