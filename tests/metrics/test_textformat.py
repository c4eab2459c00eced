"""The strict reader of the Prometheus text format (`pronghorn top` reads scrapes with it):
what it accepts, what it refuses and where, and that it reads back every series the
server's own writer produces (which `promtool` checks, tests/metrics/test_prometheus.py)."""

from __future__ import annotations

import math
import time

import pytest
from observing import parse_scrape

from pronghorn.metrics.exposition import Exposition, add_worker_families
from pronghorn.metrics.recorder import WorkerMetrics
from pronghorn.metrics.slots import SlotSample, add_slot_families
from pronghorn.metrics.textformat import TextFormatError, parse_text


def test_samples_labels_types_and_special_values() -> None:
    scrape = parse_text(
        "# HELP a_total A counter.\n"
        "# TYPE a_total counter\n"
        'a_total{method="GET",status="2xx"} 3\n'
        'a_total{status="2xx",method="POST"} 4.5e1\n'
        "# a comment that is neither HELP nor TYPE\n"
        "\n"
        "# TYPE h histogram\n"
        'h_bucket{le="0.5"} 1\n'
        'h_bucket{le="+Inf"} 2\n'
        "h_sum -0.25\n"
        "h_count 2 1700000000000\n"
        'g{path="a\\"b\\\\c\\nd"} +Inf\n'
        "n NaN\n"
        "m -Inf\n"
    )
    assert scrape.types == {"a_total": "counter", "h": "histogram"}
    assert scrape.get("a_total", method="GET", status="2xx") == 3
    assert scrape.get("a_total", method="POST", status="2xx") == 45
    assert scrape.get("h_bucket", le="+Inf") == 2
    assert scrape.get("h_sum") == -0.25
    assert scrape.get("h_count") == 2
    assert scrape.get("g", path='a"b\\c\nd') == math.inf
    assert math.isnan(scrape.get("n") or 0.0)
    assert scrape.get("m") == -math.inf
    assert scrape.get("a_total", method="GET") is None  # labels must match exactly
    assert [labels["method"] for labels, _ in scrape.series("a_total")] == ["GET", "POST"]


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("<html>\n", 1, "no metric name"),
        ("18726\n", 1, "no metric name"),
        ('a 1\na{x="1"} two\n', 2, "is not a number"),
        ("a{x=1} 1\n", 1, "a malformed label"),
        ('a{x="1" y="2"} 1\n', 1, "expected , or }"),
        ('a{x="1} 1\n', 1, "without its closing quote"),
        ('a{x="\\t"} 1\n', 1, "a bad escape"),
        ('a{x="1",x="2"} 1\n', 1, "the label x twice"),
        ("a 1\na 2\n", 2, "the same series twice"),
        ('a{x="1",y="2"} 1\na{y="2",x="1"} 1\n', 2, "the same series twice"),
        ("a1\n", 1, "no space before the value"),
        ("a 1 2 3\n", 1, "at most a timestamp"),
        ("a 1 soon\n", 1, "timestamp that is not an integer"),
        ("a 0x10\n", 1, "is not a number"),
        ("# TYPE a gauge\n# TYPE a gauge\n", 2, "a second TYPE line"),
        ("a 1\n# TYPE a gauge\n", 2, "after the family's samples"),
        ("# TYPE a meter\n", 1, "an unknown metric type"),
        ("# TYPE 1a gauge\n", 1, "without a metric name"),
        ("# HELP\n", 1, "without a metric name"),
        ("a 1\n b 2\n", 2, "no metric name"),
    ],
)
def test_anything_else_is_refused_with_its_line(text: str, line: int, why: str) -> None:
    with pytest.raises(TextFormatError, match=why) as raised:
        parse_text(text)
    assert raised.value.number == line


def _server_text() -> str:
    metrics = WorkerMetrics()
    now = time.monotonic()
    for seconds in (0.0002, 0.003, 0.04, 0.7, 40.0):
        metrics.request_done("GET", 200, 10, now - seconds, now - seconds / 2)
    metrics.request_done("BREW", 418, 0, now, 0.0)
    values = metrics.values()
    out = Exposition()
    add_worker_families(out, values)
    out.family("pronghorn_listen_queue", "gauge", "Queued here.")
    out.sample("pronghorn_listen_queue", [("listener", "https://[::1]:8443")], 3)
    add_slot_families(out, [SlotSample(1, 4242, values, 2), SlotSample(2, 4343, None, 0)])
    return out.render().decode()


def test_what_the_server_writes_reads_back_whole() -> None:
    text = _server_text()
    ours = parse_text(text)
    loose = parse_scrape(text)  # the tests' own lenient reading, line by line
    assert {(name, frozenset(labels)): v for (name, labels), v in ours.samples.items()} == loose
    assert (
        len(ours.samples)
        == len(loose)
        == sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    )
    assert ours.get("pronghorn_listen_queue", listener="https://[::1]:8443") == 3
    assert ours.get("pronghorn_slot_pid", slot="1") == 4242
    assert ours.get("pronghorn_slot_requests_total", slot="1") == 6
    assert ours.get("pronghorn_slot_request_duration_seconds_count", slot="1") == 6
    assert ours.get("pronghorn_slot_request_duration_seconds_bucket", slot="1", le="30.0") == 5
    assert ours.get("pronghorn_slot_requests_total", slot="2") == 0
    assert ours.types["pronghorn_slot_request_duration_seconds"] == "histogram"
