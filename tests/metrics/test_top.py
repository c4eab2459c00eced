"""`pronghorn top` against a real server with two workers: `--once` as a real subprocess
(its rows and totals checked against the requests the test sent, each answered with the pid
of the worker that ran it), the live view under a pseudo-terminal (redrawn in place, the
terminal given back on q and on SIGINT), and the clear failures (exit 1 or 2)."""

from __future__ import annotations

import http.client
import os
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from observing import free_port, metrics_port, scrape, value, wait_until

from pronghorn.top.screen import CLEAR_BELOW, ENTER, HOME, LEAVE
from serverproc import Serve, ServerProcess

TOP = [sys.executable, "-m", "pronghorn", "top"]


def _get(port: int, path: str = "/") -> str:
    """One request on a connection of its own (so the kernel spreads them over the
    workers): the pid of the worker that answered."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode().strip()
    finally:
        connection.close()


def _run_top(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRONGHORN_")}
    return subprocess.run(
        [*TOP, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def _rows(output: str) -> dict[int, dict[str, str]]:
    """The worker table of a frame, by pid: column name -> text."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["SLOT", "PID"])
    names = lines[header].split()
    rows = {}
    for line in lines[header + 1 :]:
        cells = line.split()
        assert len(cells) == len(names), line
        rows[int(cells[1])] = dict(zip(names, cells, strict=True))
    return rows


def _line(output: str, start: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(start))


def _two_workers(serve: Serve, app_dir: Path) -> tuple[ServerProcess, int]:
    server = serve("-b", "127.0.0.1:0", "-w", "2", "--metrics-bind", "127.0.0.1:0",
                   "metricsapp:app", cwd=app_dir)  # fmt: skip
    mport = metrics_port(server)
    # Both workers serving, not only the first: a request sent while the second still boots
    # can only reach the first.
    assert wait_until(lambda: value(scrape(mport), "pronghorn_workers", state="serving") == 2, 15)
    assert wait_until(lambda: value(scrape(mport), "pronghorn_slot_pid") > 0, 15)
    return server, mport


def test_once_shows_each_worker_and_the_totals(serve: Serve, app_dir: Path) -> None:
    server, mport = _two_workers(serve, app_dir)
    answered = Counter(_get(server.port) for _ in range(60))
    assert len(answered) == 2, "60 connections: both workers answered some"
    assert wait_until(lambda: value(scrape(mport), "pronghorn_slot_requests_total") == 60, 10), (
        "the workers publish within a second"
    )

    done = _run_top("--metrics", f"http://127.0.0.1:{mport}", "--once", "--interval", "0.5")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    rows = _rows(done.stdout)
    assert {pid: int(row["REQUESTS"]) for pid, row in rows.items()} == {
        int(pid): count for pid, count in answered.items()
    }
    assert sorted(int(row["SLOT"]) for row in rows.values()) == [1, 2]
    for row in rows.values():
        assert row["REQ/S"] == "0.0" and row["INFLIGHT"] == "0" and row["RESTARTS"] == "0"
        assert row["P50"] == row["P99"] == "-", "no request in the interval"
        assert row["UPTIME"].endswith("s")
    assert _line(done.stdout, "requests: ").startswith("requests: 60 total, 0.0/s, 5xx 0.0/s")
    assert _line(done.stdout, "workers: ") == "workers: 2 serving   restarts: 0"
    assert "ready: 2 worker(s) serving (/readyz 200)" in done.stdout
    assert f"listen queue http://127.0.0.1:{server.port}: 0 of 2048" in done.stdout

    # The same listener, found in the server's config file (a wildcard host: loopback).
    config = app_dir / "top.toml"
    config.write_text(f'metrics_bind = "0.0.0.0:{mport}"\n')
    done = _run_top("-c", str(config), "--once", "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    assert f"pronghorn top  http://127.0.0.1:{mport}  " in done.stdout
    assert sum(int(row["REQUESTS"]) for row in _rows(done.stdout).values()) == 60


def test_once_under_load_gives_rates_and_percentiles(serve: Serve, app_dir: Path) -> None:
    server, mport = _two_workers(serve, app_dir)
    stop = threading.Event()
    sent = Counter[str]()

    def load() -> None:
        for _ in range(5000):  # bounded; stopped long before
            if stop.is_set():
                return
            sent[_get(server.port, "/sleep?0.002")] += 1

    loaders = [threading.Thread(target=load) for _ in range(2)]
    for thread in loaders:
        thread.start()
    try:
        assert wait_until(lambda: value(scrape(mport), "pronghorn_requests_total") >= 20, 15)
        done = _run_top("--metrics", f"127.0.0.1:{mport}", "--once", "--interval", "2")
    finally:
        stop.set()
        for thread in loaders:
            thread.join(30)
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    total_rate = float(_line(done.stdout, "requests: ").split(", ")[1].removesuffix("/s"))
    assert total_rate > 5
    # Both views are read from the same scrapes: the rows add up to the whole server.
    assert abs(sum(float(row["REQ/S"]) for row in rows.values()) - total_rate) <= 0.11
    busy = [row for row in rows.values() if float(row["REQ/S"]) > 0]
    assert busy
    for row in busy:
        p50, p99 = (float(row[c].removesuffix("ms")) for c in ("P50", "P99"))
        # Each request slept 2 ms in the app: its bucket starts at 1 ms at least (a
        # percentile is placed within its bucket by interpolation, as Prometheus does).
        assert 1.0 <= p50 <= p99 < 1000, row
    assert sum(int(row["REQUESTS"]) for row in rows.values()) <= sum(sent.values())


def _read_until(fd: int, done: bytes, count: int, timeout: float) -> bytes:
    """Read the pseudo-terminal until `done` was seen `count` times, or `timeout`."""
    received = b""
    deadline = time.monotonic() + timeout
    while received.count(done) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                received += os.read(fd, 65536)
            except OSError:  # the other side closed
                break
    return received


@pytest.mark.parametrize("quit_by", ["q", "SIGINT"])
def test_the_live_view_redraws_and_gives_the_terminal_back(
    serve: Serve, app_dir: Path, quit_by: str
) -> None:
    server, mport = _two_workers(serve, app_dir)
    _get(server.port)
    terminal, user_side = os.openpty()
    before = termios.tcgetattr(user_side)
    top = subprocess.Popen(
        [*TOP, "--metrics", f"127.0.0.1:{mport}", "--interval", "0.3"],
        stdin=user_side, stdout=user_side, stderr=user_side, start_new_session=True,
    )  # fmt: skip
    try:
        shown = _read_until(terminal, HOME.encode(), 3, 20)
        assert shown.startswith(ENTER.encode()), shown[:100]
        frames = shown.split(HOME.encode())[1:]
        assert len(frames) >= 3, shown
        assert b"(collecting)" in frames[0]
        assert b"SLOT" in frames[1] and b"(over 0." in frames[1]
        assert frames[1].rstrip().endswith(CLEAR_BELOW.encode()) or len(frames) > 2
        if quit_by == "q":
            os.write(terminal, b"q")
        else:
            top.send_signal(signal.SIGINT)
        assert top.wait(10) == 0
        rest = shown + _read_until(terminal, LEAVE.encode(), 1, 5)
        assert rest.endswith(LEAVE.encode()), rest[-200:]
        assert b"Traceback" not in rest
        assert termios.tcgetattr(user_side) == before, "cbreak mode undone"
    finally:
        if top.poll() is None:
            top.kill()
            top.wait(10)
        os.close(terminal)
        os.close(user_side)


def test_failures_say_why_with_their_exit_status(
    serve: Serve, app_dir: Path, tmp_path: Path
) -> None:
    server, _ = _two_workers(serve, app_dir)
    nobody = free_port()
    cases = [
        (["--metrics", f"http://127.0.0.1:{nobody}"], 1, "connection refused"),
        (["--metrics", f"127.0.0.1:{server.port}"], 1, "is not a pronghorn metrics listener"),
        (["--metrics", "https://127.0.0.1:9100"], 2, "expected http://HOST:PORT"),
        (["--metrics", "127.0.0.1:9100/other"], 2, "without a path"),
        (["--metrics", "127.0.0.1:9100", "--interval", "0"], 2, "expected 0.1 to 3600"),
        (["--metrics", "127.0.0.1:9100", "--bogus"], 2, "unrecognized arguments: --bogus"),
        ([], 2, "no metrics listener: give --metrics"),
        (["-c", str(tmp_path / "none.toml")], 2, "no such file"),
    ]
    for args, status, message in cases:
        done = _run_top(*args, "--once", "--interval", "0.1", cwd=tmp_path)
        assert done.returncode == status, (args, done.stderr)
        assert done.stderr.startswith("pronghorn top: error: "), done.stderr
        assert message in done.stderr, (args, done.stderr)
        assert done.stdout == ""
