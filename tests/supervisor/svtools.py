"""Helpers for the supervisor tests: a test app on disk, a load client, process queries.

Everything waits by polling with a deadline. Processes are only ever looked at through the
master the test started (its children), never by name.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

# Re-exported: the supervisor tests have always imported these from here.
from procstat import alive as alive
from procstat import children as children
from procstat import open_fds as open_fds

APP_TEMPLATE = """\
import os
import time

VERSION = {version!r}


def hang_in_the_app():
    time.sleep(3600)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":
        arrived = environ.get("HTTP_X_ARRIVED")
        if arrived:
            with open(arrived, "a") as file:
                file.write("x\\n")
        time.sleep(float(environ["QUERY_STRING"] or "1"))
    elif path == "/exit":
        os._exit(1)
    elif path == "/hang":
        hang_in_the_app()
    body = f"{{VERSION}} {{os.getpid()}}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def write_app(directory: Path, version: str) -> None:
    """(Re)write `directory/svapp.py` serving `version`; the size changes with the version, so
    no stale bytecode can be mistaken for the new source."""
    path = directory / "svapp.py"
    path.write_text(APP_TEMPLATE.format(version=version), encoding="utf-8")


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def get(
    host: str,
    port: int,
    path: str = "/",
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


class LoadClient:
    """Threads sending requests (a new connection each) until stopped or `limit` seconds.

    Records every outcome: `ok`, `failures` (with the error text) and `bodies` seen.
    """

    def __init__(self, host: str, port: int, threads: int = 4, limit: float = 30.0) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.ok = 0
        self.failures: list[str] = []
        self.bodies: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> LoadClient:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                status, body = get(self.host, self.port)
            except OSError as exc:
                with self._lock:
                    self.failures.append(repr(exc))
                continue
            with self._lock:
                if status == 200:
                    self.ok += 1
                    self.bodies[body] += 1
                else:
                    self.failures.append(f"status {status}")

    def versions(self) -> set[str]:
        with self._lock:
            return {body.split()[0] for body in self.bodies}

    def count(self) -> int:
        with self._lock:
            return self.ok + len(self.failures)


ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
"""No bytecode files: a rewritten app module is always read from source."""

BIND = ("-b", "127.0.0.1:0")
"""Every test server listens on a port of its own."""
