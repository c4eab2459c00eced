"""The counters of one worker, added to on the request path.

Owns `WorkerMetrics`: plain Python numbers and lists, and `values()`, the snapshot the
worker's clock thread publishes once a second (`pronghorn.metrics.block`) in the order of
`pronghorn.metrics.catalogue.WORKER_FAMILIES`.

A finished request is counted one of two ways, whichever costs its build less (measured:
docs/design.md, "Metrics and health"); `COUNT_IN_PLACE` says which the dispatcher uses.

- **Counted in place** (`request_done`, the compiled build): the request thread adds to a
  table, `table[method][status class][duration bucket]`, so that one increment counts both
  the request and its total time; `values()` adds up rows and columns. A duration within the
  first four buckets (up to 5 ms) is placed by two comparisons instead of `bisect`. The
  cell's offset comes from one tuple per method indexed by status (two subscripts, no
  arithmetic), and the counts are floats: an int past 256 is a new object at each `+= 1`, a
  float comes from CPython's free list. Compiled, this is a few hundred machine instructions.
- **Recorded, then folded** (`record`, the pure build): the request thread appends its
  numbers (method, status, body bytes, and the clock when it started, when the app was called
  and when it ended) as one tuple to a list (`record` is the list's own `extend`: one C call,
  no Python frame), and `fold()` counts them in bulk, with C-level `map`, `zip`, `bisect` and
  `Counter` over slices of that list, into the same table. As Python bytecode, counting in
  place cost a request several times what it cost in a tight loop: it ran cold bytecode and
  touched a dozen objects that the rest of the request had pushed out of the processor's
  caches, where the append touches the tail of one list. The clock thread folds every 0.1 s
  (`pronghorn.io.worker`), so what waits is a tenth of a second of requests, about 120
  bytes each; so does every reader of `values()` first (the publication once a second, the
  `--single-process` metrics listener). It folds in chunks of `FOLD_CHUNK` requests, so that
  it never holds the interpreter for more than about half a millisecond at once.

Why no lock on the request path: under CPython's global interpreter lock a thread switch
happens only at a call or a backward jump, never inside `x += 1` on an attribute or a list
item of ints and floats, and `list.extend` of a tuple is one C call, so the increments and
appends of several threads are never lost (`tests/metrics/test_recorder.py` runs threads
against each other to hold us to it). The fold takes what was there when it began, under
`_folding` (two readers may fold at once); a recorded request is folded whole. A free-threaded
build would need a recorder per thread.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import compress, repeat
from operator import sub
from typing import Any, Final

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

COUNT_IN_PLACE: Final = not __file__.endswith(".py")
"""True when this module is compiled (mypyc): the dispatcher then calls `request_done`,
and otherwise `record`."""

_BUCKETS: Final = len(DURATION_BUCKETS) + 1  # with +Inf
assert DURATION_BUCKETS[:4] == (0.0005, 0.001, 0.0025, 0.005)  # spelt out in request_done
_ROW: Final = _BUCKETS * 10  # one row a method: status classes 0-9 (a status has three digits)


def _slots(row: int) -> tuple[int, ...]:
    """Where each status's first bucket sits in the table, in the method row at `row`."""
    return tuple(row + status // 100 * _BUCKETS for status in range(1000))


# Per method, by status: the offset of its first bucket. Two subscripts, no arithmetic.
_SLOTS: Final = {method: _slots(index * _ROW) for method, index in METHOD_INDEX.items()}
_OTHER_SLOTS: Final = _slots((len(METHODS) - 1) * _ROW)
_TABLE: Final = len(METHODS) * _ROW
_BAD_INDEX: Final = {int(status): i for i, status in enumerate(BAD_REQUEST_STATUSES[:-1])}
_BAD_OTHER: Final = len(BAD_REQUEST_STATUSES) - 1
_PHASE_INDEX: Final = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 7: 5}  # Phase number -> TIMEOUT_PHASES
REFUSED_ACCEPT_ERROR: Final = 0
REFUSED_STOPPING: Final = 1
STATSD_SAMPLES: Final = 1000
"""The most request durations kept for statsd between two sends (once a second); beyond
that the ones sent are a sample, and say so with statsd's `@rate`."""
RECORD_FIELDS: Final = 6
"""What `record` is given a request: (method, status, body bytes, started, app started or
0.0, ended), the three times on the monotonic clock."""
FOLD_CHUNK: Final = 4096
"""Requests folded at once: enough that the C calls dominate, few enough (about half a
millisecond) that the request threads get the interpreter in between."""

Record = tuple[str, int, int, float, float, float]


class WorkerMetrics:
    """One worker's counters. Request threads count or record; the clock thread folds,
    reads and sets gauges."""

    __slots__ = (
        "_folding",
        "accepted",
        "app_buckets",
        "app_sum",
        "bad",
        "body_bytes",
        "durations",
        "in_flight",
        "open_connections",
        "pending",
        "received_bytes",
        "record",
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
        # A defaultdict(int), whose factory is C: `codes[new] += 1` runs no Python frame,
        # so no thread switch can fall inside it.
        self.status_codes: defaultdict[int, int] = defaultdict(int)
        self.durations: list[float] = []
        # The recorded requests not yet folded, RECORD_FIELDS items each, and the one way
        # to add one.
        self.pending: list[Any] = []
        self.record: Callable[[Record], None] = self.pending.extend
        self._folding = threading.Lock()

    # -- the request path ----------------------------------------------------------------

    def request_done(
        self, method: str, status: int, body_bytes: int, started: float, app_started: float
    ) -> None:
        """A response is written: `started` when the thread took the request, `app_started`
        when the application was called (0.0: no application call) on the monotonic clock;
        `status` has three digits. Counted now (see the module's docstring)."""
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

    def fold(self) -> None:
        """Count the requests recorded so far (any thread; see the module's docstring)."""
        with self._folding:
            self._fold_pending()

    def _fold_pending(self) -> None:
        pending = self.pending
        # Only what is there now: under a steady load the list never empties.
        left = len(pending)
        while left > 0:
            size = min(left, FOLD_CHUNK * RECORD_FIELDS)
            batch = pending[:size]
            del pending[:size]  # request threads only append, behind what is taken
            left -= size
            self._fold(batch)

    def _fold(self, batch: list[Any]) -> None:
        methods, statuses = batch[0::RECORD_FIELDS], batch[1::RECORD_FIELDS]
        started, app_started = batch[3::RECORD_FIELDS], batch[4::RECORD_FIELDS]
        ended = batch[5::RECORD_FIELDS]
        totals = list(map(sub, ended, started))
        table, size = self.table, len(methods)
        # One C pass each tells the usual batch, of one method and one status, from a mixed
        # one, which Counter groups by cell (a tuple hashed a request).
        method, status = methods[0], statuses[0]
        if methods.count(method) == size and statuses.count(status) == size:
            _count_into(table, _slot(method, status), totals)
        else:
            buckets = map(bisect_left, repeat(DURATION_BUCKETS), totals)
            cells = Counter(zip(methods, statuses, buckets, strict=True))
            for (method, status, bucket), count in cells.items():
                table[_slot(method, status) + bucket] += count
        self.total_sum += sum(totals)
        self.body_bytes += sum(batch[2::RECORD_FIELDS])
        # The app's time, of the requests that called it (app_started 0.0: none did).
        in_app = list(compress(map(sub, ended, app_started), app_started))
        _count_into(self.app_buckets, 0, in_app)
        self.app_sum += sum(in_app)
        self._folded(statuses, totals)

    def _folded(self, statuses: list[int], totals: list[float]) -> None:
        """A batch was folded: what a subclass counts besides (statsd)."""

    def statsd_take(self) -> tuple[dict[int, int], list[float]]:
        """Statsd's clock-thread read: the requests by status code so far, and the durations
        kept since the last call (see `StatsdMetrics`)."""
        with self._folding:
            self._fold_pending()
            samples, self.durations = self.durations, []
            return dict(self.status_codes), samples

    def values(self) -> list[float]:
        """Everything, in the order of `catalogue.WORKER_FAMILIES`."""
        with self._folding:
            self._fold_pending()
            table = self.table[:]  # one C call: a copy no thread changes under us
            app_buckets, app_sum, total_sum = self.app_buckets[:], self.app_sum, self.total_sum
            body_bytes = self.body_bytes
        requests = [
            sum(table[start : start + _BUCKETS])
            for row in range(0, _TABLE, _ROW)
            for start in range(row + _BUCKETS, row + _BUCKETS * (len(STATUS_CLASSES) + 1), _BUCKETS)
        ]
        total_buckets = [sum(table[bucket::_BUCKETS]) for bucket in range(_BUCKETS)]
        snapshot: list[float] = [
            *requests,
            *app_buckets,
            app_sum,
            *total_buckets,
            total_sum,
            self.received_bytes,
            body_bytes,
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


def _slot(method: str, status: int) -> int:
    """Where the first duration bucket of `method` and `status` sits in the table."""
    slots = _SLOTS.get(method)
    return (_OTHER_SLOTS if slots is None else slots)[status]


def _count_into(cells: list[float], first: int, durations: list[float]) -> None:
    """Add each duration to its histogram bucket, the buckets starting at `cells[first]`
    (a duration on a bound is in its bucket: Prometheus' `le`)."""
    if not durations:
        return
    # When the longest is in the first bucket, or shares one with the shortest, so do all:
    # one or two C passes instead of a bisect a duration (a fast application's requests are
    # often all under the first bound).
    high = bisect_left(DURATION_BUCKETS, max(durations))
    if not high or high == bisect_left(DURATION_BUCKETS, min(durations)):
        cells[first + high] += len(durations)
        return
    for bucket, count in Counter(map(bisect_left, repeat(DURATION_BUCKETS), durations)).items():
        cells[first + bucket] += count


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

    def _folded(self, statuses: list[int], totals: list[float]) -> None:
        codes = self.status_codes
        for code, count in Counter(statuses).items():
            codes[code] += count
        room = STATSD_SAMPLES - len(self.durations)
        if room > 0:
            self.durations.extend(totals[:room])


_monotonic: Final = time.monotonic
