"""What a worker counts, named as Prometheus names it, and where each number sits.

Owns the fixed layout of a worker's numbers: `WORKER_FAMILIES`, in the order
`pronghorn.metrics.recorder.WorkerMetrics.values` lists them and a worker's shared block
(`pronghorn.metrics.block`) holds them, so the master can add up the blocks of all workers
without knowing anything else about them. Every label takes values from a fixed list (an
unknown method is `other`), so the number of series is bounded whatever clients send.

A histogram takes `len(DURATION_BUCKETS) + 2` slots: one count per bucket (not cumulative:
the renderer adds them up), the +Inf bucket, then the sum of the observed values.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from types import MappingProxyType
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other")
METHOD_INDEX = MappingProxyType({method: index for index, method in enumerate(METHODS[:-1])})
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
"""Upper bounds in seconds (Prometheus' defaults, with three finer ones for fast apps and
one coarser for slow ones)."""
BAD_REQUEST_STATUSES = ("400", "408", "413", "414", "431", "501", "505", "other")
"""The refusals of the HTTP core (`pronghorn.http.parser`), then any other."""
TIMEOUT_PHASES = ("fresh", "idle", "head", "body", "discard", "write")
"""What a connection waited for when its deadline passed, by `pronghorn.http.connection.Phase`
number (0 to 4; WRITE, 7, is the last)."""
REFUSAL_REASONS = ("accept_error", "stopping")
"""Why a connection was closed before it sent a request: accept() failed (out of descriptors
or memory), or it had sent nothing when a graceful stop began."""


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family of a worker's block: its name, type, help and label values; the
    slots from `start` hold one number per combination of label values (first label outer),
    or a histogram's buckets and sum."""

    name: str
    kind: Kind
    help: str
    labels: tuple[tuple[str, tuple[str, ...]], ...] = ()
    start: int = 0

    @property
    def combinations(self) -> list[tuple[tuple[str, str], ...]]:
        """Every combination of label values, as (name, value) pairs, in slot order."""
        names = [name for name, _ in self.labels]
        return [tuple(zip(names, values, strict=True)) for values in product(*self._values())]

    def _values(self) -> list[tuple[str, ...]]:
        return [values for _, values in self.labels]

    @property
    def size(self) -> int:
        if self.kind == "histogram":
            return len(DURATION_BUCKETS) + 2
        return len(self.combinations)


def _laid_out(*families: Family) -> tuple[Family, ...]:
    placed = []
    start = 0
    for family in families:
        placed.append(Family(family.name, family.kind, family.help, family.labels, start))
        start += family.size
    return tuple(placed)


WORKER_FAMILIES = _laid_out(
    Family(
        "pronghorn_requests_total", "counter",
        "Requests answered (by the application, a static mount or a health path), by "
        "method and status class.",
        (("method", METHODS), ("status", STATUS_CLASSES)),
    ),
    Family(
        "pronghorn_app_duration_seconds", "histogram",
        "Time in the WSGI application call: from calling it to the end of its response "
        "(iterating the body and writing it included).",
    ),
    Family(
        "pronghorn_request_duration_seconds", "histogram",
        "Time in the server, from the moment a thread takes the complete request to the "
        "moment its response is written or left with the event loop for a slow client.",
    ),
    Family(
        "pronghorn_received_bytes_total", "counter",
        "Bytes read from client connections (request heads and bodies).",
    ),
    Family(
        "pronghorn_response_body_bytes_total", "counter",
        "Bytes of response bodies, as the access log counts them.",
    ),
    Family("pronghorn_connections_accepted_total", "counter", "Connections accepted."),
    Family(
        "pronghorn_connections_refused_total", "counter",
        "Connections closed before they sent a request: accept() failed (reason "
        "accept_error), or a graceful stop began before they sent anything (stopping).",
        (("reason", REFUSAL_REASONS),),
    ),
    Family(
        "pronghorn_connections_timed_out_total", "counter",
        "Connections closed because their deadline passed, by what they waited for: a "
        "first request (fresh) or the next one (idle: --keep-alive), the rest of a head "
        "(--header-timeout: 408), of a body (--io-timeout: 408), of a body the application "
        "left unread (discard), or the client reading the response (write).",
        (("phase", TIMEOUT_PHASES),),
    ),
    Family(
        "pronghorn_bad_requests_total", "counter",
        "Requests refused by the HTTP core before any application saw them, by the status "
        "answered.",
        (("status", BAD_REQUEST_STATUSES),),
    ),
    Family(
        "pronghorn_static_hits_total", "counter",
        "Static files sent (200 and 206 answers of a static mount).",
    ),
    Family(
        "pronghorn_static_not_modified_total", "counter",
        "304 Not Modified answers of static mounts.",
    ),
    Family(
        "pronghorn_sendfile_bytes_total", "counter",
        "File bytes handed to sendfile (static files, wsgi.file_wrapper).",
    ),
    Family("pronghorn_connections_open", "gauge", "Client connections open now."),
    Family(
        "pronghorn_requests_in_flight", "gauge",
        "Requests a thread is running now (in the application, a static mount or a "
        "health path).",
    ),
    Family(
        "pronghorn_requests_waiting", "gauge",
        "Requests received and waiting for a free thread: counted only while every "
        "thread of a worker is busy (when one is free nothing waits for long).",
    ),
)  # fmt: skip

BLOCK_SLOTS = sum(family.size for family in WORKER_FAMILIES)
"""How many numbers one worker publishes."""

GAUGE_SLOTS = frozenset(
    slot
    for family in WORKER_FAMILIES
    if family.kind == "gauge"
    for slot in range(family.start, family.start + family.size)
)
"""Slots that describe the present: a worker that exits takes them with it, while its
counters stay in the server's totals."""
