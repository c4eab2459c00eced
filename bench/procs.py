"""Child processes of the harness: start pinned, probe readiness, read /proc, stop by pid.

This module owns every process the benchmark starts. A `Server` is started in its own session
(so a Ctrl-C at the terminal reaches only the harness, which then stops it in order), its
process tree is read from /proc for CPU time and peak RSS, and `stop()` sends SIGTERM and then
SIGKILL after a deadline to the exact pids it started (checked by their start time, so a
recycled pid is never signalled).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = 1024


def free_port(host: str = "127.0.0.1") -> int:
    """Bind port 0, read the port the kernel picked, close the socket and return the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _children_map() -> dict[int, list[int]]:
    """Map of parent pid to child pids for every process visible in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree_pids(root: int) -> list[int]:
    """The root pid and all its living descendants."""
    children = _children_map()
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if _stat_fields(pid) is None:
            continue
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu_seconds(root: int) -> float:
    """utime+stime (plus reaped children's cutime+cstime) summed over the tree, in seconds."""
    ticks = 0
    for pid in tree_pids(root):
        fields = _stat_fields(pid)
        if fields:
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLK_TCK


def cpu_busy_seconds(cpu: int) -> float:
    """Time one CPU spent running processes (user, nice, system) since boot, in seconds.

    Interrupt and softirq time are left out: loopback networking runs there, and it is load the
    benchmark itself makes, not another process's.
    """
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            user, nice, system = (int(value) for value in line.split()[1:4])
            return (user + nice + system) / CLK_TCK
    return 0.0


def tree_peak_rss_kib(root: int) -> int:
    """VmHWM (peak resident set size) summed over the tree, in KiB."""
    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total


@dataclass
class Server:
    """One running server process (and, through /proc, its descendants)."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: signal.Signals = signal.SIGTERM
    known: dict[int, int] = field(default_factory=dict)  # pid -> start time

    @property
    def pid(self) -> int:
        return self.proc.pid

    def remember_tree(self) -> None:
        """Record the current descendants so they can be stopped even if the root dies first."""
        for pid in tree_pids(self.pid):
            start = _start_time(pid)
            if start is not None:
                self.known.setdefault(pid, start)

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def start_server(
    name: str,
    argv: list[str],
    *,
    cpu: int,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Server:
    """Start argv pinned to one CPU with taskset, output to log_path, in a new session."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), *argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name=name, argv=argv, proc=proc, log_path=log_path, stop_signal=stop_signal)
    server.remember_tree()
    return server


@dataclass(frozen=True)
class Probe:
    """What a readiness probe saw: an HTTP status and the body length, or an error."""

    status: int = 0
    body_len: int = 0
    error: str = ""


def probe_http(
    host: str, port: int, path: str, method: str, body: bytes, tls: bool = False
) -> Probe:
    """One HTTP request (HTTPS if `tls`, any certificate accepted); a Probe with status 0
    and an error if no response came."""
    conn = (
        http.client.HTTPSConnection(host, port, timeout=2, context=ssl._create_unverified_context())
        if tls
        else http.client.HTTPConnection(host, port, timeout=2)
    )
    try:
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return Probe(status=response.status, body_len=len(response.read()))
    except (OSError, http.client.HTTPException) as exc:
        return Probe(error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def try_ready(
    server: Server, host: str, port: int, path: str, method: str, body: bytes, tls: bool = False
) -> Probe:
    """One readiness attempt: a Probe with a status (answered) or an error ending in "exited"
    (gave up); a Probe with neither status nor "exited" means: not yet, try again."""
    if server.proc.poll() is not None:
        return Probe(error=f"exited with code {server.proc.returncode}")
    if not _port_open(host, port):
        return Probe(error="port not open")
    probe = probe_http(host, port, path, method, body, tls)
    if probe.status:
        server.remember_tree()
    return probe


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _alive_known(server: Server) -> list[int]:
    """Known pids that still exist and are still the same process (same start time)."""
    return [pid for pid, start in server.known.items() if _start_time(pid) == start]


def _signal_pids(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_server(server: Server, grace: float = 5.0) -> None:
    """Signal the root (SIGTERM by default), wait up to `grace` s, then SIGKILL known pids left."""
    server.remember_tree()
    if server.proc.poll() is None:
        _signal_pids([server.pid], server.stop_signal)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        server.proc.poll()
        if not _alive_known(server):
            break
        time.sleep(0.05)
    _signal_pids(_alive_known(server), signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(timeout=grace)


class ProcessRegistry:
    """Every server the harness started; `stop_all()` runs from a finally block."""

    def __init__(self) -> None:
        self._servers: list[Server] = []

    def add(self, server: Server) -> Server:
        self._servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        stop_server(server)
        if server in self._servers:
            self._servers.remove(server)

    def stop_all(self) -> None:
        while self._servers:
            self.stop(self._servers[-1])
