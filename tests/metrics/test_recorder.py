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
    METHODS,
    STATUS_CLASSES,
    WORKER_FAMILIES,
)
from pronghorn.metrics.exposition import Exposition, add_worker_families
from pronghorn.metrics.recorder import (
    FOLD_CHUNK,
    STATSD_SAMPLES,
    StatsdMetrics,
    WorkerMetrics,
)

BOTH_WAYS = pytest.mark.parametrize("how", ["in_place", "recorded"])
"""Each test of a request's numbers runs on both ways of counting it (the compiled build
counts in place, the pure build records and folds; see pronghorn.metrics.recorder)."""


def _done(
    metrics: WorkerMetrics,
    how: str,
    method: str,
    status: int,
    body_bytes: int,
    started: float,
    app_started: float,
) -> None:
    """A request done, as the dispatcher reports it in the build `how` stands for."""
    if how == "in_place":
        metrics.request_done(method, status, body_bytes, started, app_started)
    else:
        metrics.record((method, status, body_bytes, started, app_started, time.monotonic()))


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


@BOTH_WAYS
def test_each_number_lands_in_its_own_series(how: str) -> None:
    metrics = WorkerMetrics()
    now = time.monotonic()
    # An app call of ~35 ms: mid-bucket, so a busy machine's delay cannot cross a bound.
    _done(metrics, how, "GET", 200, 10, now - 0.04, now - 0.035)
    _done(metrics, how, "GET", 304, 0, now, 0.0)  # no app call: a static mount
    metrics.static_served(304)
    _done(metrics, how, "BREW", 418, 5, now, now)  # an unknown method is "other"
    _done(metrics, how, "POST", 503, 0, now, now)
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


@BOTH_WAYS
def test_histogram_buckets_are_cumulative(how: str) -> None:
    metrics = WorkerMetrics()
    # Each mid-bucket, milliseconds from a bound: a busy machine's delay cannot cross one.
    for seconds in (0.035, 0.35, 3.5, 100.0):
        _done(metrics, how, "GET", 200, 0, time.monotonic() - seconds, 0.0)
    samples = _render(metrics.values())
    name = "pronghorn_request_duration_seconds_bucket"
    assert value(samples, name, le="0.05") == 1
    assert value(samples, name, le="0.5") == 2
    assert value(samples, name, le="5.0") == 3
    assert value(samples, name, le="30.0") == 3
    assert value(samples, name, le="+Inf") == 4
    assert value(samples, "pronghorn_request_duration_seconds_count") == 4
    assert 103.885 <= value(samples, "pronghorn_request_duration_seconds_sum") < 104.0


@BOTH_WAYS
@pytest.mark.parametrize("bucket", range(len(DURATION_BUCKETS) + 1))
def test_every_bucket_gets_its_durations(bucket: int, how: str) -> None:
    """Just under each bound (and over the last): counted in that bucket, in both
    histograms (the first four are found by comparisons, the others by bisect)."""
    bounds = (*DURATION_BUCKETS, 60.0)
    seconds = bounds[bucket] * 0.9 if bucket < len(DURATION_BUCKETS) else 60.0
    # The recorder reads the clock itself: a call the machine paused for longer than the
    # tenth of a bound this leaves could cross it, so such a call is simply made again.
    for _ in range(100):
        metrics = WorkerMetrics()
        now = time.monotonic()
        _done(metrics, how, "GET", 200, 0, now - seconds, now - seconds)
        if time.monotonic() - now < bounds[bucket] * 0.1:
            break
    expected = [0] * (len(DURATION_BUCKETS) + 1)
    expected[bucket] = 1
    metrics.fold()
    assert metrics.app_buckets == expected
    row = metrics.table[: len(expected) * 10]  # GET's row
    assert row[len(expected) * 2 : len(expected) * 3] == expected  # status class 2


@BOTH_WAYS
def test_threads_lose_no_increment_while_another_folds(how: str) -> None:
    """Four request threads count while a fifth folds and reads, as the clock thread and
    the metrics listener do: every request is counted once; a recorded one, whole."""
    metrics = StatsdMetrics()
    rounds = 20_000
    start = threading.Barrier(5)
    recording = True
    halves: list[float] = []  # requests minus app calls, at each read

    def hammer() -> None:
        start.wait()
        now = time.monotonic()
        for _ in range(rounds):
            _done(metrics, how, "GET", 200, 1, now, now)
            metrics.received_bytes += 1

    def read() -> None:
        start.wait()
        while recording:
            values = metrics.values()  # requests by method and status, then the app's buckets
            split = len(METHODS) * len(STATUS_CLASSES)
            app_count = sum(values[split : split + len(DURATION_BUCKETS) + 1])
            halves.append(sum(values[:split]) - app_count)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    reader = threading.Thread(target=read)
    for thread in [*threads, reader]:
        thread.start()
    for thread in threads:
        thread.join()
    recording = False
    reader.join()
    total = 4 * rounds
    codes, samples = metrics.statsd_take()
    assert sum(metrics.table) == sum(metrics.app_buckets) == total
    assert metrics.body_bytes == metrics.received_bytes == total
    assert codes == {200: total}
    assert len(samples) <= STATSD_SAMPLES
    assert metrics.pending == []
    assert halves
    if how == "recorded":
        assert set(halves) == {0}, "a read saw a recorded request half counted"


def test_a_long_backlog_is_folded_in_chunks() -> None:
    """More requests than one chunk, of mixed methods and statuses: each lands once."""
    metrics = WorkerMetrics()
    now = time.monotonic()
    count = FOLD_CHUNK * 2 + 7
    for i in range(count):
        method = ("GET", "POST", "BREW")[i % 3]
        metrics.record((method, 200 + 100 * (i % 4), 2, now - 0.2, 0.0 if i % 2 else now, now))
    metrics.fold()
    assert metrics.pending == []
    assert sum(metrics.table) == count
    assert sum(metrics.app_buckets) == metrics.app_buckets[0] == (count + 1) // 2
    assert metrics.body_bytes == 2 * count
    samples = _render(metrics.values())
    name = "pronghorn_request_duration_seconds_bucket"
    assert value(samples, name, le="0.1") == 0
    assert value(samples, name, le="0.25") == count
    for method, status in (("GET", "2xx"), ("POST", "3xx"), ("other", "4xx"), ("GET", "5xx")):
        # i % 3 picks the method, i % 4 the status: each pair every 12th request.
        expected = sum(
            1
            for i in range(count)
            if ("GET", "POST", "other")[i % 3] == method and f"{2 + i % 4}xx" == status
        )
        assert value(samples, "pronghorn_requests_total", method=method, status=status) == expected


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
