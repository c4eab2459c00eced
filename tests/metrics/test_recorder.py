"""The worker's counters, their block and the text they become: no sockets, no processes."""

from __future__ import annotations

import struct
import threading
import time

import pytest
from observing import parse_scrape, value

from pronghorn.metrics.block import MetricsBlock
from pronghorn.metrics.catalogue import (
    BLOCK_SLOTS,
    DURATION_BUCKETS,
    GAUGE_SLOTS,
    WORKER_FAMILIES,
)
from pronghorn.metrics.exposition import Exposition, add_worker_families
from pronghorn.metrics.recorder import StatsdMetrics, WorkerMetrics


def _render(values: list[float]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = Exposition()
    add_worker_families(out, values)
    return parse_scrape(out.render().decode())


def test_the_families_tile_the_block() -> None:
    position = 0
    for family in WORKER_FAMILIES:
        assert family.start == position, family.name
        position += family.size
    assert position == BLOCK_SLOTS == len(WorkerMetrics().values())
    gauges = {f.name for f in WORKER_FAMILIES if f.kind == "gauge"}
    assert len(GAUGE_SLOTS) == len(gauges)


def test_each_number_lands_in_its_own_series() -> None:
    metrics = WorkerMetrics()
    now = time.monotonic()
    # An app call of ~35 ms: mid-bucket, so a busy machine's delay cannot cross a bound.
    metrics.request_done("GET", 200, 10, now - 0.04, now - 0.035)
    metrics.request_done("GET", 304, 0, now, 0.0)  # no app call: a static mount
    metrics.static_served(304)
    metrics.request_done("BREW", 418, 5, now, now)  # an unknown method is "other"
    metrics.request_done("POST", 503, 0, now, now)
    metrics.bad_request(431)
    metrics.bad_request(499)
    metrics.timed_out_in(2)  # HEAD
    metrics.timed_out_in(7)  # WRITE
    metrics.received_bytes += 100
    metrics.accepted += 3
    metrics.sendfile_bytes += 4096
    metrics.open_connections = 2
    samples = _render(metrics.values())

    assert value(samples, "pronghorn_requests_total", method="GET", status="2xx") == 1
    assert value(samples, "pronghorn_requests_total", method="GET", status="3xx") == 1
    assert value(samples, "pronghorn_requests_total", method="other", status="4xx") == 1
    assert value(samples, "pronghorn_requests_total", method="POST", status="5xx") == 1
    assert value(samples, "pronghorn_requests_total") == 4
    assert value(samples, "pronghorn_request_duration_seconds_count") == 4
    assert value(samples, "pronghorn_app_duration_seconds_count") == 3
    # ~35 ms in the app: above the 25 ms bound (where the two instant calls are), below 50 ms.
    app_bucket = "pronghorn_app_duration_seconds_bucket"
    assert value(samples, app_bucket, le="0.025") == 2
    assert value(samples, app_bucket, le="0.05") == 3
    assert value(samples, app_bucket, le="+Inf") == 3
    assert value(samples, "pronghorn_static_not_modified_total") == 1
    assert value(samples, "pronghorn_static_hits_total") == 0
    assert value(samples, "pronghorn_response_body_bytes_total") == 15
    assert value(samples, "pronghorn_bad_requests_total", status="431") == 1
    assert value(samples, "pronghorn_bad_requests_total", status="other") == 1
    assert value(samples, "pronghorn_connections_timed_out_total", phase="head") == 1
    assert value(samples, "pronghorn_connections_timed_out_total", phase="write") == 1
    assert value(samples, "pronghorn_received_bytes_total") == 100
    assert value(samples, "pronghorn_connections_accepted_total") == 3
    assert value(samples, "pronghorn_sendfile_bytes_total") == 4096
    assert value(samples, "pronghorn_connections_open") == 2


def test_histogram_buckets_are_cumulative() -> None:
    metrics = WorkerMetrics()
    # Each mid-bucket, milliseconds from a bound: a busy machine's delay cannot cross one.
    for seconds in (0.035, 0.35, 3.5, 100.0):
        metrics.request_done("GET", 200, 0, time.monotonic() - seconds, 0.0)
    samples = _render(metrics.values())
    name = "pronghorn_request_duration_seconds_bucket"
    assert value(samples, name, le="0.05") == 1
    assert value(samples, name, le="0.5") == 2
    assert value(samples, name, le="5.0") == 3
    assert value(samples, name, le="30.0") == 3
    assert value(samples, name, le="+Inf") == 4
    assert value(samples, "pronghorn_request_duration_seconds_count") == 4
    assert 103.885 <= value(samples, "pronghorn_request_duration_seconds_sum") < 104.0


@pytest.mark.parametrize("bucket", range(len(DURATION_BUCKETS) + 1))
def test_every_bucket_gets_its_durations(bucket: int) -> None:
    """Just under each bound (and over the last): counted in that bucket, in both
    histograms (the first four are found by comparisons, the others by bisect)."""
    bounds = (*DURATION_BUCKETS, 60.0)
    seconds = bounds[bucket] * 0.9 if bucket < len(DURATION_BUCKETS) else 60.0
    # The recorder reads the clock itself: a call the machine paused for longer than the
    # tenth of a bound this leaves could cross it, so such a call is simply made again.
    for _ in range(100):
        metrics = WorkerMetrics()
        now = time.monotonic()
        metrics.request_done("GET", 200, 0, now - seconds, now - seconds)
        if time.monotonic() - now < bounds[bucket] * 0.1:
            break
    expected = [0] * (len(DURATION_BUCKETS) + 1)
    expected[bucket] = 1
    assert metrics.app_buckets == expected
    row = metrics.table[: len(expected) * 10]  # GET's row
    assert row[len(expected) * 2 : len(expected) * 3] == expected  # status class 2


def test_threads_lose_no_increment() -> None:
    metrics = StatsdMetrics()
    rounds = 20_000
    start = threading.Barrier(4)

    def hammer() -> None:
        start.wait()
        now = time.monotonic()
        for _ in range(rounds):
            metrics.request_done("GET", 200, 1, now, now)
            metrics.received_bytes += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = 4 * rounds
    assert sum(metrics.table) == sum(metrics.app_buckets) == total
    assert metrics.body_bytes == metrics.received_bytes == total
    assert metrics.status_codes == {200: total}


def test_a_block_gives_back_what_was_published() -> None:
    block = MetricsBlock()
    assert block.read() is None  # nothing published yet
    values = [float(i) for i in range(BLOCK_SLOTS)]
    block.publish(values, 12.5)
    assert block.read() == (12.5, tuple(values))
    block.close()


def test_a_block_being_written_is_not_read_torn() -> None:
    block = MetricsBlock()
    first = [1.0] * BLOCK_SLOTS
    block.publish(first, 1.0)
    assert block.read() == (1.0, tuple(first))
    # What a reader sees while the writer is halfway: an odd sequence number, new numbers.
    memory = block._memory  # the test plays the writer stopped halfway
    struct.pack_into("=Q", memory, 0, 3)
    struct.pack_into("=d", memory, 16, 99.0)
    assert block.read() == (1.0, tuple(first)), "the last whole copy, not the torn one"
    block.close()


def test_label_values_and_help_are_escaped() -> None:
    out = Exposition()
    out.family("x_total", "counter", "a \\ and\na newline")
    out.sample("x_total", [("listener", 'a"b\\c\nd')], 1.5)
    text = out.render().decode()
    assert "# HELP x_total a \\\\ and\\na newline\n" in text
    assert 'x_total{listener="a\\"b\\\\c\\nd"} 1.5\n' in text
