"""Workers that die, hang or cannot boot; workers recycled by --max-requests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

from svtools import BIND, ENV, LoadClient, children, get, wait_until

from serverproc import Serve


def _replaced(master: int, gone: int, count: int) -> bool:
    now = children(master)
    return gone not in now and len(now) == count


def test_exited_and_sigkilled_workers_are_replaced_within_2s(serve: Serve, app_dir: Path) -> None:
    server = serve(*BIND, "-w", "2", "svapp:app", cwd=app_dir, env=ENV)
    master = server.pid
    assert wait_until(lambda: len(children(master)) == 2, 5)
    with contextlib.suppress(OSError):  # that request's worker is the one that died
        get(server.host, server.port, "/exit")
    assert wait_until(lambda: "exited with code 1" in server.log_text(), 2), server.log_text()
    assert wait_until(lambda: len(children(master)) == 2, 2)
    assert [get(server.host, server.port)[0] for _ in range(20)] == [200] * 20

    victim = min(children(master))
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)  # a worker of the master this test started
    assert wait_until(lambda: _replaced(master, victim, 2), 2)
    assert time.monotonic() - killed < 2
    assert "killed by SIGKILL: probably out of memory" in server.log_text()
    assert [get(server.host, server.port)[0] for _ in range(20)] == [200] * 20


def test_a_stuck_worker_is_killed_after_timeout(serve: Serve, app_dir: Path) -> None:
    server = serve(*BIND, "-w", "2", "--timeout", "1.5", "svapp:app", cwd=app_dir, env=ENV)
    master = server.pid
    assert wait_until(lambda: len(children(master)) == 2, 5)

    def hang() -> None:
        with contextlib.suppress(OSError):
            get(server.host, server.port, "/hang", timeout=10)

    thread = threading.Thread(target=hang, daemon=True)
    thread.start()
    server.wait_for_log("WORKER TIMEOUT", 5)
    assert "stuck in request 'GET /hang'" in server.log_text()
    assert wait_until(lambda: len(children(master)) == 2, 2)
    thread.join(5)
    assert [get(server.host, server.port)[0] for _ in range(10)] == [200] * 10


def test_a_hung_worker_leaves_its_stacks_and_request_in_the_log(
    serve: Serve, app_dir: Path
) -> None:
    server = serve(*BIND, "-w", "2", "--timeout", "2", "svapp:app", cwd=app_dir, env=ENV)
    master = server.pid
    assert wait_until(lambda: len(children(master)) == 2, 5)
    workers = children(master)

    def hang() -> None:
        with contextlib.suppress(OSError):
            get(server.host, server.port, "/hang?x=1", timeout=15)

    thread = threading.Thread(target=hang, daemon=True)
    thread.start()
    log = server.wait_for_log("killed by the master", 10)
    timeout_line = next(line for line in log.splitlines() if "WORKER TIMEOUT" in line)
    assert "stuck in request 'GET /hang?x=1' for 2." in timeout_line
    victim = int(timeout_line.split("(pid:")[1].split(")")[0])
    assert victim in workers
    # faulthandler's dump of every thread, the hung one in the app's function...
    stacks = log[log.index(timeout_line) : log.index("killed by the master")]
    assert "most recent call first" in stacks
    assert 'svapp.py", line' in stacks and "in hang_in_the_app" in stacks
    assert "in app" in stacks
    # ...and the worker's own list of its requests, naming the thread as the dump does.
    listed = re.search(r"in flight: thread (0x[0-9a-f]+): GET /hang\?x=1 for (\d+\.\d) s", log)
    assert listed is not None, stacks
    assert f"Thread {listed.group(1)}" in stacks
    assert float(listed.group(2)) >= 2.0
    assert wait_until(lambda: _replaced(master, victim, 2), 3)
    thread.join(15)


def test_boot_failure_stops_the_master(serve: Serve, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import no_such_module_here\napp = None\n")
    server = serve(*BIND, "-w", "2", "broken:app", cwd=tmp_path, env=ENV)
    assert wait_until(lambda: server.returncode() is not None, 5), server.log_text()
    assert server.returncode() == 3
    log = server.log_text()
    assert "no_such_module_here" in log
    assert "Worker failed to boot" in log
    assert log.count("Booting worker") == 2  # no respawn loop


def test_max_requests_rotates_workers_without_a_failure(serve: Serve, app_dir: Path) -> None:
    server = serve(*BIND, "-w", "2", "--max-requests", "30", "--max-requests-jitter", "10",
                   "svapp:app", cwd=app_dir, env=ENV)  # fmt: skip
    with LoadClient(server.host, server.port, threads=2) as load:
        assert wait_until(lambda: load.ok >= 250, 15)
    assert load.failures == [], load.failures[:5]
    pids = {body.split()[1] for body in load.bodies}
    assert len(pids) >= 5
    assert "--max-requests" in server.log_text()


def test_a_worker_at_max_requests_takes_no_more_connections(serve: Serve, app_dir: Path) -> None:
    # One worker, one thread: that thread accepts and serves inline, in batches of
    # accepts. Twelve requests are sent at once, so once the fifth is answered the next
    # ones are likely queued for the taking; the worker must leave them to its successor
    # instead of serving them until its clock thread begins the stop.
    server = serve(*BIND, "-w", "1", "--threads", "1", "--max-requests", "5",
                   "svapp:app", cwd=app_dir, env=ENV)  # fmt: skip
    status, body = get(server.host, server.port)  # the first worker is up: one of its five
    assert status == 200
    served: Counter[str] = Counter([body.split()[1]])
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    clients = []
    for _ in range(12):
        client = socket.create_connection((server.host, server.port), timeout=15)
        client.sendall(request)
        clients.append(client)
    for client in clients:
        with client:
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        served[answer.rsplit(b"\r\n\r\n", 1)[1].split()[1].decode()] += 1
    assert sum(served.values()) == 13
    assert max(served.values()) <= 5, served
