"""Without a master (--single-process) the one process serves its metrics listener itself,
from a thread, with its own counters."""

from __future__ import annotations

from pathlib import Path

from observing import fetch, metrics_port, scrape, value, wait_until

from serverproc import Serve


def test_single_process_serves_metrics_and_health(serve: Serve, app_dir: Path) -> None:
    server = serve(
        "-b", "127.0.0.1:0", "--single-process", "--metrics-bind", "127.0.0.1:0",
        "--liveness-path", "/live", "--readiness-path", "/ready", "metricsapp:app", cwd=app_dir,
    )  # fmt: skip
    mport = metrics_port(server)
    for _ in range(5):
        assert fetch(server.port, "/")[0] == 200
    assert fetch(server.port, "/status/500")[0] == 500
    assert fetch(server.port, "/live") == (200, "live\n")
    assert fetch(server.port, "/ready") == (200, "ready\n")
    # The health answers count as requests, with no time in the app.
    samples = scrape(mport)
    assert value(samples, "pronghorn_requests_total", method="GET", status="2xx") == 7
    assert value(samples, "pronghorn_requests_total", status="5xx") == 1
    assert value(samples, "pronghorn_app_duration_seconds_count") == 6
    assert value(samples, "pronghorn_ready") == 1
    assert fetch(mport, "/readyz") == (200, "ready\n")
    assert fetch(mport, "/livez") == (200, "live\n")
    assert wait_until(lambda: value(scrape(mport), "pronghorn_connections_open") == 0, 5)
    assert server.stop() == 0
