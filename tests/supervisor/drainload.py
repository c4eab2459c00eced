"""Clients caught in the middle of a stop, a reload or an upgrade, and what became of them.

`DrainRound` opens `clients` connections and sends one slow request on each (`GET
/sleep?SECONDS`, `Connection: close`), and returns from `start()` only once every request is
sent: from then on the kernel holds each one, queued in the listen backlog or accepted and
waiting in a socket buffer for a free thread. The caller then sends its signal and calls
`follow()`, which starts `late` threads that keep opening new connections (one fast `GET /`
each) until `finish()`. Every exchange ends in one outcome:

- ``ok``: a complete 200 response;
- ``refused``: connect() was refused (nothing listens any more);
- ``connect-timeout``: connect() got no answer within the connect timeout;
- ``reset``: the connection was reset after it was made;
- ``closed``: the server closed it without a complete response;
- ``timeout``: no complete response within the deadline.

The round only counts: what is acceptable is the test's to say (a stop may refuse late
clients; nothing may ever be reset, closed or time out once its request was sent).
Every socket has a timeout and every wait a deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

from svtools import wait_until

OK = "ok"
REFUSED = "refused"
CONNECT_TIMEOUT = "connect-timeout"
RESET = "reset"
CLOSED = "closed"
TIMEOUT = "timeout"
_LATE_PAUSE = 0.01


def _connect(host: str, port: int, timeout: float) -> socket.socket | str:
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return REFUSED
    except TimeoutError:
        return CONNECT_TIMEOUT
    except ConnectionResetError:
        return RESET


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: drain\r\nConnection: close\r\n\r\n".encode()


def _send(sock: socket.socket, path: str) -> str | None:
    try:
        sock.sendall(_request(path))
    except (ConnectionResetError, BrokenPipeError):
        return RESET
    except TimeoutError:
        return TIMEOUT
    return None


def _complete_200(data: bytes) -> bool:
    head, found, body = data.partition(b"\r\n\r\n")
    if not found or not head.startswith(b"HTTP/1.1 200 "):
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) == int(value)
    return False


def _response(sock: socket.socket, deadline: float) -> str:
    """Read to EOF (the request said `Connection: close`) and judge what came."""
    data = bytearray()
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return TIMEOUT
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        return RESET
    except TimeoutError:
        return TIMEOUT
    return OK if _complete_200(bytes(data)) else CLOSED


def exchange(host: str, port: int, path: str, connect_timeout: float, timeout: float) -> str:
    """One whole request on a new connection; its outcome."""
    sock = _connect(host, port, connect_timeout)
    if isinstance(sock, str):
        return sock
    with sock:
        sock.settimeout(timeout)
        return _send(sock, path) or _response(sock, time.monotonic() + timeout)


class DrainRound:
    """The clients of one round against the server at `host:port`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clients: int = 50,
        seconds: float = 0.5,
        late: int = 4,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self.path = f"/sleep?{seconds:g}"
        self.clients, self.late = clients, late
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.sent: Counter[str] = Counter()
        """Outcomes of the requests sent before the signal."""
        self.after: Counter[str] = Counter()
        """Outcomes of the late clients' requests."""
        self._lock = threading.Lock()
        self._ready = 0
        self._stop_late = threading.Event()
        self._threads: list[threading.Thread] = []
        self._late_threads: list[threading.Thread] = []

    def start(self, within: float = 10.0) -> None:
        """Send every client's request; return once all are sent. Raises if they are not."""
        self._threads = [
            threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        wait_until(lambda: self._settled() >= self.clients, within, interval=0.01)
        with self._lock:
            if self._ready != self.clients:
                sent = dict(self.sent)
                raise AssertionError(f"only {self._ready} of {self.clients} sent: {sent}")

    def _settled(self) -> int:
        with self._lock:
            return self._ready + sum(self.sent.values())

    def follow(self, stop_on_refusal: bool) -> None:
        """Start the late clients (after the signal)."""
        self._late_threads = [
            threading.Thread(target=self._late_client, args=(stop_on_refusal,), daemon=True)
            for _ in range(self.late)
        ]
        for thread in self._late_threads:
            thread.start()

    def late_count(self) -> int:
        with self._lock:
            return sum(self.after.values())

    def finish(self) -> None:
        """Stop the late clients and wait for every client to know its outcome."""
        self._stop_late.set()
        deadline = time.monotonic() + self.timeout + self.connect_timeout + 5
        for thread in self._threads + self._late_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads + self._late_threads):
            raise AssertionError("a client thread did not finish")

    def failures(self, *, refusals_allowed: bool) -> int:
        """Requests that were sent and not answered, plus late clients whose connection
        was not answered (refused ones count only when refusals are not allowed)."""
        with self._lock:
            lost = sum(n for outcome, n in self.sent.items() if outcome != OK)
            allowed = {OK, REFUSED} if refusals_allowed else {OK}
            lost += sum(n for outcome, n in self.after.items() if outcome not in allowed)
        return lost

    def summary(self) -> str:
        with self._lock:
            return f"sent {_counts(self.sent)}; late {_counts(self.after)}"

    # -- client threads -------------------------------------------------------------------

    def _client(self) -> None:
        sock = _connect(self.host, self.port, self.connect_timeout)
        if isinstance(sock, str):
            self._record(self.sent, sock)
            return
        with sock:
            sock.settimeout(self.timeout)
            failed = _send(sock, self.path)
            if failed is not None:
                self._record(self.sent, failed)
                return
            with self._lock:
                self._ready += 1
            self._record(self.sent, _response(sock, time.monotonic() + self.timeout))

    def _late_client(self, stop_on_refusal: bool) -> None:
        for _ in range(100_000):  # bounded; the stop event ends it long before
            if self._stop_late.is_set():
                return
            outcome = exchange(self.host, self.port, "/", self.connect_timeout, self.timeout)
            self._record(self.after, outcome)
            if outcome == REFUSED and stop_on_refusal:
                return
            # Pacing, not waiting: a few hundred new connections a second are plenty to meet
            # the moment a listener closes, and leave the CPU to the servers.
            time.sleep(_LATE_PAUSE)

    def _record(self, counter: Counter[str], outcome: str) -> None:
        with self._lock:
            counter[outcome] += 1


def _counts(counter: Counter[str]) -> str:
    return " ".join(f"{name}={counter[name]}" for name in sorted(counter)) or "none"
