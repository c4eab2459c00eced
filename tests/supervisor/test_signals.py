"""The master's signals under load: HUP, TTIN, TTOU, USR2 lose no request; TERM drains."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from svtools import BIND, ENV, LoadClient, alive, children, get, open_fds, wait_until, write_app

from serverproc import Serve


def _reloaded(server: object, count: int) -> bool:
    return server.log_text().count("Reload complete") >= count  # type: ignore[attr-defined]


def test_hup_twice_ttin_ttou_under_load(serve: Serve, app_dir: Path) -> None:
    server = serve(*BIND, "-w", "2", "--graceful-timeout", "5", "svapp:app", cwd=app_dir, env=ENV)
    master = server.pid
    assert wait_until(lambda: len(children(master)) == 2, 5)
    first = children(master)
    with LoadClient(server.host, server.port) as load:
        assert wait_until(lambda: load.ok >= 20, 5)
        write_app(app_dir, "v2-second")
        os.kill(master, signal.SIGHUP)
        assert wait_until(lambda: _reloaded(server, 1), 5), server.log_text()
        second = children(master) - first
        assert wait_until(lambda: children(master) == second, 8), "old workers still running"
        assert len(second) == 2
        assert get(server.host, server.port)[1].startswith("v2-second")

        write_app(app_dir, "v3-the-third")
        os.kill(master, signal.SIGHUP)
        assert wait_until(lambda: _reloaded(server, 2), 5), server.log_text()
        assert wait_until(lambda: len(children(master) & second) == 0, 8)
        third = children(master)
        assert len(third) == 2
        assert get(server.host, server.port)[1].startswith("v3-the-third")

        os.kill(master, signal.SIGTTIN)
        assert wait_until(lambda: len(children(master)) == 3, 5)
        assert third < children(master)
        os.kill(master, signal.SIGTTOU)
        assert wait_until(lambda: len(children(master)) == 2, 8)
        seen = load.count()
        assert wait_until(lambda: load.count() >= seen + 20, 5)
    assert load.failures == [], load.failures[:5]
    assert {"v1", "v2-second", "v3-the-third"} <= load.versions()


def test_usr2_upgrades_the_master_without_losing_requests(serve: Serve, app_dir: Path) -> None:
    pidfile = app_dir / "master.pid"
    server = serve(*BIND, "-w", "2", "--pid", str(pidfile), "svapp:app", cwd=app_dir, env=ENV)
    old = server.pid
    assert wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() == str(old), 5)
    new = 0
    try:
        with LoadClient(server.host, server.port) as load:
            assert wait_until(lambda: load.ok >= 20, 5)
            write_app(app_dir, "v2-upgraded")
            os.kill(old, signal.SIGUSR2)
            assert wait_until(lambda: pidfile.read_text().strip() != str(old), 10)
            new = int(pidfile.read_text())
            assert wait_until(lambda: server.returncode() is not None, 10), server.log_text()
            assert server.returncode() == 0
            assert len(children(new)) == 2
            seen = load.count()
            assert wait_until(lambda: load.count() >= seen + 20, 5)
        assert load.failures == [], load.failures[:5]
        assert "v2-upgraded" in load.versions()
        assert get(server.host, server.port)[1].startswith("v2-upgraded")
    finally:
        if new and alive(new):
            os.kill(new, signal.SIGTERM)  # started by this test, through the old master
            assert wait_until(lambda: not alive(new), 10)
    assert not pidfile.exists()


def test_term_lets_50_in_flight_requests_finish(serve: Serve, app_dir: Path) -> None:
    grace = 3.0
    server = serve(*BIND, "-w", "2", "--threads", "50", "--graceful-timeout", str(grace),
                   "svapp:app", cwd=app_dir, env=ENV)  # fmt: skip
    arrived = app_dir / "arrived.txt"
    results: list[int | str] = []
    lock = threading.Lock()

    def slow() -> None:
        try:
            status, _ = get(server.host, server.port, "/sleep?1.5", timeout=10,
                            headers={"X-Arrived": str(arrived)})  # fmt: skip
        except OSError as exc:
            status = repr(exc)  # type: ignore[assignment]
        with lock:
            results.append(status)

    threads = [threading.Thread(target=slow) for _ in range(50)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: arrived.exists() and arrived.read_text().count("x") == 50, 10)
    sent = time.monotonic()
    os.kill(server.pid, signal.SIGTERM)
    for thread in threads:
        thread.join(10)
    assert wait_until(lambda: server.returncode() is not None, grace + 1)
    took = time.monotonic() - sent
    assert server.returncode() == 0
    assert results == [200] * 50
    assert took < grace + 1


def test_no_descriptor_or_process_leak_across_20_reloads(serve: Serve, app_dir: Path) -> None:
    server = serve(*BIND, "-w", "1", "svapp:app", cwd=app_dir, env=ENV)
    master = server.pid
    assert wait_until(lambda: len(children(master)) == 1, 5)
    assert wait_until(lambda: "Ready" in server.log_text(), 5)
    fds_before = open_fds(master)
    for number in range(1, 21):
        os.kill(master, signal.SIGHUP)
        assert wait_until(lambda n=number: _reloaded(server, n), 5), server.log_text()[-2000:]
    assert wait_until(lambda: len(children(master)) == 1, 5)
    assert open_fds(master) == fds_before
    assert get(server.host, server.port)[0] == 200
