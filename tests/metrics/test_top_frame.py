"""The arithmetic of `pronghorn top` and the master's slot numbering: no sockets."""

from __future__ import annotations

import math
import time

from pronghorn.metrics.exposition import Exposition, add_worker_families
from pronghorn.metrics.recorder import WorkerMetrics
from pronghorn.metrics.slots import SlotSample, WorkerSlots, add_slot_families
from pronghorn.metrics.textformat import Scrape, parse_text
from pronghorn.top.frame import compute_frame, quantile


def test_a_replacement_takes_the_slot_freed_last() -> None:
    slots = WorkerSlots()
    assert [slots.take(pid) for pid in (101, 102)] == [1, 2]
    slots.give_back(102)  # a crash
    assert slots.take(103) == 2
    assert slots.occupied() == [(1, 101, 0), (2, 103, 1)]
    # A reload: the new workers start while the old ones serve, then the old ones go.
    assert [slots.take(pid) for pid in (104, 105)] == [3, 4]
    slots.give_back(101)
    slots.give_back(103)
    slots.give_back(105)  # a new one crashes: its replacement takes its slot again
    assert slots.take(106) == 4
    assert slots.occupied() == [(3, 104, 0), (4, 106, 1)]
    slots.give_back(999)  # not a worker it knows: nothing changes
    assert len(slots.occupied()) == 2


def test_a_slot_keeps_what_its_workers_counted() -> None:
    slots = WorkerSlots()
    slots.take(101)
    first = WorkerMetrics()
    first.request_done("GET", 200, 0, time.monotonic(), 0.0)
    first.in_flight = 5  # a gauge: it leaves with its worker
    slots.give_back(101, first.values())
    assert slots.take(102) == 1
    second = WorkerMetrics()
    second.request_done("GET", 200, 0, time.monotonic(), 0.0)
    out = Exposition()
    sample = slots.sample(1, 102, 1, second.values())
    add_slot_families(out, [sample, slots.sample(2, 103, 0, None)])
    scrape = parse_text(out.render().decode())
    assert scrape.get("pronghorn_slot_requests_total", slot="1") == 2
    assert scrape.get("pronghorn_slot_request_duration_seconds_count", slot="1") == 2
    assert scrape.get("pronghorn_slot_requests_in_flight", slot="1") == 0
    assert scrape.get("pronghorn_slot_pid", slot="1") == 102
    assert scrape.get("pronghorn_slot_requests_total", slot="2") == 0


def test_quantiles_interpolate_within_a_bucket() -> None:
    buckets = [(0.001, 0.0), (0.01, 50.0), (0.1, 100.0), (math.inf, 100.0)]
    assert math.isclose(quantile(0.5, buckets) or 0.0, 0.01)
    assert math.isclose(quantile(0.25, buckets) or 0.0, 0.001 + (0.01 - 0.001) * 0.5)
    assert math.isclose(quantile(0.99, buckets) or 0.0, 0.01 + 0.09 * 0.98)
    assert quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert quantile(0.99, [(0.1, 1.0), (math.inf, 10.0)]) == math.inf


def _scrape(slots: list[tuple[int, int, list[tuple[float, int]]]]) -> Scrape:
    """A scrape with one worker a slot: (slot, pid, [(seconds, requests)...])."""
    out = Exposition()
    samples = []
    total = [0.0] * len(WorkerMetrics().values())
    for slot, pid, requests in slots:
        metrics = WorkerMetrics()
        for seconds, count in requests:
            for _ in range(count):
                # The recorder reads the clock itself: each duration sits mid-bucket, tens
                # of milliseconds from a bound, so a busy machine cannot move it across one.
                metrics.request_done("GET", 200, 0, time.monotonic() - seconds, 0.0)
        values = metrics.values()
        total = [a + b for a, b in zip(total, values, strict=True)]
        samples.append(SlotSample(slot, pid, values, 0 if pid < 200 else 1))
    add_worker_families(out, total)
    out.family("pronghorn_start_time_seconds", "gauge", "Start.")
    out.sample("pronghorn_start_time_seconds", (), 1000.0)
    add_slot_families(out, samples)
    return parse_text(out.render().decode())


def test_a_frame_counts_growth_and_a_counter_reset_from_zero() -> None:
    before = _scrape([(1, 101, [(0.035, 10)]), (2, 102, [(0.035, 10)])])
    after = _scrape(
        [(1, 101, [(0.035, 10), (0.35, 20)]), (2, 202, [(0.035, 4)])]  # 10 -> 4: reset
    )
    frame = compute_frame(before, after, 2.0)
    one, two = frame.rows
    assert (one.slot, one.pid, one.requests, one.rate, one.restarts) == (1, 101, 30, 10.0, 0)
    assert one.p50 is not None and 0.25 < one.p50 <= 0.5
    assert (two.slot, two.pid, two.requests, two.rate, two.restarts) == (2, 202, 4, 2.0, 1)
    assert two.p99 is not None and 0.025 < two.p99 <= 0.05
    # The whole server's counter went 20 -> 34 (the whole-server families never go back
    # in a real server; here the replaced worker's counts are simply gone).
    assert frame.totals.requests == 34
    assert frame.totals.rate == 7.0
