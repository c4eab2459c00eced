"""Health and readiness as a load balancer sees them: through a stop, a reload, a start.

The drain test plays the Kubernetes sequence with the server's own readiness instead of a
preStop sleep: a client polls /readyz on the metrics listener (the kubelet), clients send
requests only while it last said 200 (the endpoints controller and kube-proxy), a slow
request is in flight, and SIGTERM arrives. Readiness must fail at once, the listening socket
must stay open for --shutdown-delay after that (so the balancer has stopped sending before
it closes), no request may fail, and the metrics listener must keep answering (503) until
the last request in flight is done.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from observing import connectable, fetch, metrics_port, try_fetch, wait_until

from serverproc import Serve, ServerProcess

DELAY = 2.0


class _Poller:
    """GET /readyz every 50 ms; every answer with the monotonic time it came."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: list[tuple[float, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            outcome = try_fetch(self.port, "/readyz", timeout=5)
            self.answers.append(
                (time.monotonic(), outcome[0] if isinstance(outcome, tuple) else outcome)
            )
            self._stop.wait(0.05)

    def last(self) -> object:
        return self.answers[-1][1] if self.answers else None

    def first(self, wanted: object) -> float | None:
        return next((t for t, outcome in self.answers if outcome == wanted), None)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class _Balancer:
    """Clients that send requests (a connection each) only while readiness says 200."""

    def __init__(self, port: int, poller: _Poller, threads: int = 3) -> None:
        self.port = port
        self.poller = poller
        self.outcomes: list[object] = []
        self.last_sent = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.poller.last() != 200:
                self._stop.wait(0.01)
                continue
            self.last_sent = time.monotonic()
            outcome = try_fetch(self.port, "/", timeout=10)
            self.outcomes.append(outcome[0] if isinstance(outcome, tuple) else outcome)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def _start(serve: Serve, app_dir: Path, *extra: str) -> ServerProcess:
    return serve(
        "-b", "127.0.0.1:0", "-w", "2", "--threads", "4", "--metrics-bind", "127.0.0.1:0",
        *extra, "metricsapp:app", cwd=app_dir,
    )  # fmt: skip


def test_the_drain_sequence_loses_no_request(serve: Serve, app_dir: Path) -> None:
    server = _start(
        serve, app_dir, "--shutdown-delay", str(DELAY), "--graceful-timeout", "10",
        "--readiness-path", "/ready",
    )  # fmt: skip
    mport = metrics_port(server)
    assert wait_until(lambda: fetch(mport, "/readyz")[0] == 200, 15)
    poller = _Poller(mport)
    balancer = _Balancer(server.port, poller)
    assert wait_until(lambda: len(balancer.outcomes) >= 20, 15)

    slow: list[object] = []
    slow_sent_from = time.monotonic()  # the slow request is sent after this
    slow_thread = threading.Thread(
        target=lambda: slow.append(try_fetch(server.port, "/sleep?3", timeout=20)), daemon=True
    )
    slow_thread.start()
    assert wait_until(lambda: "GET /sleep" in _in_flight(mport), 5)
    signalled = time.monotonic()
    os.kill(server.pid, signal.SIGTERM)

    # Readiness fails at once; the main listener still answers (its readiness path too).
    assert wait_until(lambda: poller.first(503) is not None, 5)
    not_ready_at = poller.first(503)
    assert not_ready_at is not None
    assert fetch(server.port, "/ready")[0] == 503
    assert connectable(server.port)
    assert wait_until(lambda: not connectable(server.port), DELAY + 5)
    closed_at = time.monotonic()

    slow_thread.join(20)
    slow_done = time.monotonic()
    assert wait_until(lambda: server.returncode() is not None, 20)
    assert server.returncode() == 0, server.log_text()[-3000:]
    balancer.stop()
    poller.stop()

    assert slow and isinstance(slow[0], tuple) and slow[0][0] == 200, slow
    assert balancer.outcomes and set(balancer.outcomes) == {200}, balancer.outcomes[-5:]
    assert not_ready_at - signalled < 1.0
    assert closed_at - not_ready_at >= DELAY - 0.5, "the listener stayed open for the delay"
    assert balancer.last_sent < closed_at, "the balancer stopped before the listener closed"
    # Answers from SIGTERM until the slow request was surely still running: it sleeps 3 s
    # after it was sent. Later ones may follow its end, when the listener may have closed
    # (a poll just after the end was once refused, its answer stamped before `slow_done`).
    in_flight_until = min(slow_done, slow_sent_from + 3.0)
    after_term = [outcome for t, outcome in poller.answers if signalled + 0.2 < t < in_flight_until]
    assert after_term and set(after_term) == {503}, after_term


def _in_flight(port: int) -> str:
    status, body = fetch(port, "/metrics")
    assert status == 200
    line = next(x for x in body.splitlines() if x.startswith("pronghorn_requests_in_flight "))
    return "GET /sleep" if float(line.split()[1]) >= 1 else ""


def test_a_reload_stays_ready(serve: Serve, app_dir: Path) -> None:
    server = _start(serve, app_dir)
    mport = metrics_port(server)
    assert wait_until(lambda: fetch(mport, "/readyz")[0] == 200, 15)
    poller = _Poller(mport)
    assert wait_until(lambda: len(poller.answers) >= 3, 5)
    os.kill(server.pid, signal.SIGHUP)
    server.wait_for_log("Reload complete", 20)
    polls = len(poller.answers)
    assert wait_until(lambda: len(poller.answers) >= polls + 3, 5)
    poller.stop()
    assert {outcome for _, outcome in poller.answers} == {200}, poller.answers
    status, body = fetch(mport, "/readyz")
    assert status == 200 and body.startswith("ready: 2 worker(s) serving"), body


def test_not_ready_until_a_worker_has_loaded_the_app(serve: Serve, tmp_path: Path) -> None:
    (tmp_path / "slowapp.py").write_text(
        "import time\n"
        "time.sleep(2)  # a long import, as of a large application\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Length', '2')])\n"
        "    return [b'ok']\n"
    )
    server = serve("-b", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0", "--readiness-path",
                   "/ready", "slowapp:app", cwd=tmp_path)  # fmt: skip
    mport = metrics_port(server)
    status, body = fetch(mport, "/readyz")
    assert status == 503 and body.startswith("starting"), body
    assert fetch(mport, "/livez")[0] == 200, "booting is alive"
    assert wait_until(lambda: fetch(mport, "/readyz")[0] == 200, 20)
    assert fetch(server.port, "/ready") == (200, "ready\n")
