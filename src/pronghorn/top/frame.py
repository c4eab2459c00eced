"""What one screen of `pronghorn top` says, computed from two scrapes of a server.

Owns `Frame` and `compute_frame(before, after, seconds)`: pure arithmetic on two
`pronghorn.metrics.textformat.Scrape`s taken `seconds` apart, no I/O. Rates are the growth
of a counter divided by `seconds`; the 50th and 99th percentiles come from the growth of a
duration histogram's buckets between the two scrapes (so they describe the requests of that
interval, not of the server's whole life), placed within a bucket by linear interpolation,
as Prometheus' `histogram_quantile` does. A counter that went down was reset (a new master,
or a server older than this one): its growth is then its new value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pronghorn.metrics.textformat import Scrape

RESTART_CAUSES = ("crash", "timeout", "max_requests", "reload", "boot_failure")
_SLOT_HISTOGRAM = "pronghorn_slot_request_duration_seconds"
_SERVER_HISTOGRAM = "pronghorn_request_duration_seconds"


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One worker (one slot) over the interval."""

    slot: int
    pid: int
    uptime: float | None
    requests: float
    rate: float
    in_flight: float
    connections: float
    p50: float | None
    p99: float | None
    restarts: float


@dataclass(frozen=True, slots=True)
class Totals:
    """The whole server over the interval."""

    requests: float
    rate: float
    error_rate: float
    in_flight: float
    waiting: float
    connections: float
    p50: float | None
    p99: float | None
    bytes_in_rate: float
    bytes_out_rate: float
    workers: dict[str, float]
    restarts: dict[str, float]
    listen_queues: list[tuple[str, float, float]]
    ready: bool | None


@dataclass(frozen=True, slots=True)
class Frame:
    """One screen: the rows by slot and the totals, over `seconds`."""

    seconds: float
    rows: list[WorkerRow]
    totals: Totals


def compute_frame(before: Scrape, after: Scrape, seconds: float) -> Frame:
    """The frame for the interval of `seconds` between the scrapes `before` and `after`."""
    seconds = max(seconds, 1e-9)
    restarted = before.get("pronghorn_start_time_seconds") != after.get(
        "pronghorn_start_time_seconds"
    )
    origin = Scrape({}) if restarted else before
    return Frame(seconds, _rows(origin, after, seconds), _totals(origin, after, seconds))


def _rows(before: Scrape, after: Scrape, seconds: float) -> list[WorkerRow]:
    uptimes = {
        labels.get("pid", ""): value
        for labels, value in after.series("pronghorn_worker_uptime_seconds")
    }
    rows = []
    for labels, pid in after.series("pronghorn_slot_pid"):
        slot = labels["slot"]
        requests = _value(after, "pronghorn_slot_requests_total", slot=slot)
        grown = _growth(before, after, "pronghorn_slot_requests_total", slot=slot)
        buckets = _bucket_growth(before, after, _SLOT_HISTOGRAM, slot=slot)
        rows.append(
            WorkerRow(
                slot=int(slot),
                pid=int(pid),
                uptime=uptimes.get(str(int(pid))),
                requests=requests,
                rate=grown / seconds,
                in_flight=_value(after, "pronghorn_slot_requests_in_flight", slot=slot),
                connections=_value(after, "pronghorn_slot_connections_open", slot=slot),
                p50=quantile(0.5, buckets),
                p99=quantile(0.99, buckets),
                restarts=_value(after, "pronghorn_slot_restarts_total", slot=slot),
            )
        )
    return sorted(rows, key=lambda row: row.slot)


def _totals(before: Scrape, after: Scrape, seconds: float) -> Totals:
    buckets = _bucket_growth(before, after, _SERVER_HISTOGRAM)
    ready = after.get("pronghorn_ready")
    return Totals(
        requests=_sum(after, "pronghorn_requests_total"),
        rate=_sum_growth(before, after, "pronghorn_requests_total") / seconds,
        error_rate=_sum_growth(before, after, "pronghorn_requests_total", status="5xx") / seconds,
        in_flight=_value(after, "pronghorn_requests_in_flight"),
        waiting=_value(after, "pronghorn_requests_waiting"),
        connections=_value(after, "pronghorn_connections_open"),
        p50=quantile(0.5, buckets),
        p99=quantile(0.99, buckets),
        bytes_in_rate=_growth(before, after, "pronghorn_received_bytes_total") / seconds,
        bytes_out_rate=_growth(before, after, "pronghorn_response_body_bytes_total") / seconds,
        workers={labels["state"]: value for labels, value in after.series("pronghorn_workers")},
        restarts={
            labels["cause"]: value
            for labels, value in after.series("pronghorn_worker_restarts_total")
        },
        listen_queues=[
            (labels["listener"], value, after.get("pronghorn_listen_queue_limit", **labels) or 0)
            for labels, value in after.series("pronghorn_listen_queue")
        ],
        ready=None if ready is None else ready == 1,
    )


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The `q` quantile of observations counted in `buckets`, (upper bound, cumulative
    count) by bound with +Inf last; None without observations; +Inf when it lies beyond the
    last finite bound (there is nothing to interpolate towards)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank and cumulative > below:
            if math.isinf(bound):
                return math.inf
            return lower + (bound - lower) * (rank - below) / (cumulative - below)
        lower, below = bound, cumulative
    return math.inf


def _value(scrape: Scrape, name: str, **labels: str) -> float:
    return scrape.get(name, **labels) or 0.0


def _matching(scrape: Scrape, name: str, labels: dict[str, str]) -> Iterable[float]:
    wanted = labels.items()
    return (value for have, value in scrape.series(name) if wanted <= have.items())


def _sum(scrape: Scrape, name: str, **labels: str) -> float:
    return sum(_matching(scrape, name, labels))


def _sum_growth(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    """Growth of every series of `name` whose labels include `labels`, each on its own."""
    total = 0.0
    for have, value in after.series(name):
        if labels.items() <= have.items():
            total += _grown(before.get(name, **have), value)
    return total


def _growth(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return _grown(before.get(name, **labels), _value(after, name, **labels))


def _grown(old: float | None, new: float) -> float:
    if old is None or new < old:
        return new  # new, or reset: counted from zero since
    return new - old


def _bucket_growth(
    before: Scrape, after: Scrape, name: str, **labels: str
) -> list[tuple[float, float]]:
    """(upper bound, growth of its cumulative count) of the histogram `name`'s buckets; from
    zero when any bucket went down (a reset)."""
    pairs = []
    reset = False
    for have, value in after.series(name + "_bucket"):
        rest = {k: v for k, v in have.items() if k != "le"}
        if rest != labels or "le" not in have:
            continue
        old = before.get(name + "_bucket", **have)
        reset = reset or (old is not None and value < old)
        pairs.append((float(have["le"]), value, old or 0.0))
    pairs.sort()
    return [(bound, new if reset else new - old) for bound, new, old in pairs]
