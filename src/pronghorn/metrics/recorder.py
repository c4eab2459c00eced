"""The counters of one worker, incremented on the request path.

Owns `WorkerMetrics`: plain Python numbers and lists that the request threads add to,
and `values()`, the snapshot the worker's clock thread publishes once a second
(`pronghorn.metrics.block`) in the order of `pronghorn.metrics.catalogue.WORKER_FAMILIES`.

What a request costs, and why it is shaped so (counted with `bench/metrics_transport.py`):
one method call, two clock reads, and three list increments and three additions. The
request counter (by method and status class) and the histogram of the total time are one
table, `table[method][status class][duration bucket]`, so that one increment counts both;
`values()` adds up its rows and columns once a second. A duration within the first four
buckets (up to 5 ms: most requests of most applications) is placed by two comparisons
instead of `bisect`, whose call costs as much as the rest of the increment together, and the
app call's time, part of the request's, needs none when the request's is in the first
bucket. The table's cell comes from one tuple per method, indexed by status (two subscripts,
no arithmetic), and the counts are floats: an int past 256 is a new object at each `+= 1`,
a float comes from CPython's free list (the exposition prints whole floats as integers).

Why no lock: under CPython's global interpreter lock a thread switch happens only at a call
or a backward jump, never inside `x += 1` on an attribute or a list item of ints and floats
(nor `d[k] += 1` on a defaultdict(int), whose factory is C), so the increments of several
threads are never lost (`tests/metrics/test_recorder.py` runs four threads against each
other to hold us to it). A free-threaded build would need a recorder per thread. A snapshot
may see one request half counted (its request counted, its time in the app not yet): the
next snapshot is whole again.
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

_BUCKETS = len(DURATION_BUCKETS) + 1  # with +Inf
assert DURATION_BUCKETS[:4] == (0.0005, 0.001, 0.0025, 0.005)  # spelt out in request_done
_ROW = _BUCKETS * 10  # one row a method: status classes 0-9 (a status has three digits)


def _slots(row: int) -> tuple[int, ...]:
    """Where each status's first bucket sits in the table, in the method row at `row`."""
    return tuple(row + status // 100 * _BUCKETS for status in range(1000))


# Per method, by status: the offset of its first bucket. Two subscripts, no arithmetic.
_SLOTS = {method: _slots(index * _ROW) for method, index in METHOD_INDEX.items()}
_OTHER_SLOTS = _slots((len(METHODS) - 1) * _ROW)
_TABLE = len(METHODS) * _ROW
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
        "sendfile_bytes",
        "static_hits",
        "static_not_modified",
        "status_codes",
        "table",
        "timed_out",
        "total_sum",
        "waiting",
    )

    def __init__(self) -> None:
        self.table = [0.0] * _TABLE
        self.total_sum = 0.0
        self.app_buckets = [0.0] * _BUCKETS
        self.app_sum = 0.0
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
        # Only for statsd (StatsdMetrics), which names each status code and wants each
        # duration.
        self.status_codes: defaultdict[int, int] = defaultdict(int)
        self.durations: list[float] = []

    # -- the request path ----------------------------------------------------------------

    def request_done(
        self, method: str, status: int, body_bytes: int, started: float, app_started: float
    ) -> None:
        """A response is written: `started` when the thread took the request, `app_started`
        when the application was called (0.0: no application call) on the monotonic clock;
        `status` has three digits."""
        now = _monotonic()
        seconds = now - started
        try:
            slot = _SLOTS[method][status]
        except KeyError:
            slot = _OTHER_SLOTS[status]
        # The bucket: two comparisons up to 5 ms, where most requests are; bisect beyond.
        if seconds <= 0.001:
            bucket = 0 if seconds <= 0.0005 else 1
        elif seconds <= 0.005:
            bucket = 2 if seconds <= 0.0025 else 3
        else:
            bucket = bisect_left(DURATION_BUCKETS, seconds, 4)
        self.table[slot + bucket] += 1.0
        self.total_sum += seconds
        self.body_bytes += body_bytes
        if app_started:
            seconds = now - app_started
            # The app's time is part of the request's (app_started >= started, same clock):
            # when the request is in the first bucket, so is the app call, uncompared.
            if not bucket:
                pass
            elif seconds <= 0.001:
                bucket = 0 if seconds <= 0.0005 else 1
            elif seconds <= 0.005:
                bucket = 2 if seconds <= 0.0025 else 3
            else:
                bucket = bisect_left(DURATION_BUCKETS, seconds, 4)
            self.app_buckets[bucket] += 1.0
            self.app_sum += seconds

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
        table = self.table[:]  # one C call: a copy no thread changes under us
        requests = [
            sum(table[start : start + _BUCKETS])
            for row in range(0, _TABLE, _ROW)
            for start in range(row + _BUCKETS, row + _BUCKETS * (len(STATUS_CLASSES) + 1), _BUCKETS)
        ]
        total_buckets = [sum(table[bucket::_BUCKETS]) for bucket in range(_BUCKETS)]
        snapshot: list[float] = [
            *requests,
            *self.app_buckets,
            self.app_sum,
            *total_buckets,
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


class StatsdMetrics(WorkerMetrics):
    """The counters when statsd is on too: each status code, and up to `STATSD_SAMPLES`
    durations a second (see `pronghorn.metrics.statsd.WorkerStatsd`)."""

    __slots__ = ()

    def request_done(
        self, method: str, status: int, body_bytes: int, started: float, app_started: float
    ) -> None:
        super().request_done(method, status, body_bytes, started, app_started)
        self.status_codes[status] += 1
        durations = self.durations
        if len(durations) < STATSD_SAMPLES:
            durations.append(_monotonic() - started)


_monotonic = time.monotonic
