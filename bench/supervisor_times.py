"""Measure the supervisor: HUP reload time, killed-worker recovery time, --preload memory.

    .venv/bin/python bench/supervisor_times.py [--rounds N]

Reload and recovery use a small app (import cost near zero, so the figures are pronghorn's
own). Reload: HUP to the master of `-w 4`, time until the master logs "Reload complete" (every new
worker serves) and until a request is answered by a new worker. Recovery: SIGKILL the only
worker of `-w 1`, time until a request succeeds again (served by the replacement). Memory:
sum of the workers' unique set size (USS, /proc/PID/smaps_rollup Private_*) for `-w 4` with
an app that builds ~60 MB of objects at import, with and without --preload.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIGHT_APP = """\
import os
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""

HEAVY_APP = """\
import os
DATA = [{"id": i, "name": "item-%d" % i, "tags": ["a", "b"]} for i in range(200_000)]
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""


def get_pid(port: int) -> int | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/", headers={"Connection": "close"})
        body = connection.getresponse().read()
        connection.close()
        return int(body)
    except (OSError, ValueError):
        return None


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":
                found.add(int(entry))
    return found


def uss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(n) for n in re.findall(r"Private_(?:Clean|Dirty):\s+(\d+)", text))


def pss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    match = re.search(r"^Pss:\s+(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


class Server:
    def __init__(self, directory: str, *args: str, module: str = "lightapp") -> None:
        self.log = Path(directory) / f"log-{time.monotonic_ns()}.txt"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pronghorn", "-b", "127.0.0.1:0", "--error-logfile",
             str(self.log), *args, f"{module}:app"], cwd=directory,
        )  # fmt: skip
        self.port = 0
        while not self.port:
            match = re.search(r"Listening at: http://127.0.0.1:(\d+)", self.text())
            self.port = int(match.group(1)) if match else 0
            time.sleep(0.01)
        while "Ready" not in self.text():
            time.sleep(0.01)

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def measure_reload(directory: str, rounds: int) -> tuple[list[float], list[float]]:
    server = Server(directory, "-w", "4")
    logged, served = [], []
    try:
        for number in range(1, rounds + 1):
            old = children(server.proc.pid)
            started = time.monotonic()
            server.proc.send_signal(signal.SIGHUP)
            while server.text().count("Reload complete") < number:
                time.sleep(0.002)
            logged.append(time.monotonic() - started)
            while get_pid(server.port) in old:
                time.sleep(0.002)
            served.append(time.monotonic() - started)
            while children(server.proc.pid) & old:
                time.sleep(0.01)
    finally:
        server.stop()
    return logged, served


def measure_recovery(directory: str, rounds: int) -> list[float]:
    server = Server(directory, "-w", "1")
    times = []
    try:
        for _ in range(rounds):
            (victim,) = children(server.proc.pid)
            started = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            while get_pid(server.port) in (None, victim):
                time.sleep(0.002)
            times.append(time.monotonic() - started)
    finally:
        server.stop()
    return times


def measure_memory(directory: str, preload: bool) -> tuple[int, int, int]:
    options = ["-w", "4", *(["--preload"] if preload else [])]
    server = Server(directory, *options, module="heavyapp")
    try:
        workers = children(server.proc.pid)
        total_pss = sum(pss_kib(pid) for pid in {server.proc.pid, *workers})
        return uss_kib(server.proc.pid), sum(uss_kib(pid) for pid in workers), total_pss
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "lightapp.py").write_text(LIGHT_APP)
        Path(directory, "heavyapp.py").write_text(HEAVY_APP)
        logged, served = measure_reload(directory, rounds)
        recovery = measure_recovery(directory, rounds)
        plain = measure_memory(directory, preload=False)
        preloaded = measure_memory(directory, preload=True)
    ms = lambda xs: f"median {statistics.median(xs) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms"  # noqa: E731
    print(f"HUP -> 'Reload complete' (-w 4, {rounds} rounds): {ms(logged)}")
    print(f"HUP -> first request served by a new worker: {ms(served)}")
    print(f"SIGKILL worker -> request served by its replacement (-w 1): {ms(recovery)}")
    for name, (master, workers, pss) in (("without", plain), ("with", preloaded)):
        print(f"{name} --preload: USS master {master // 1024} MiB, 4 workers "
              f"{workers // 1024} MiB; PSS of all 5 processes {pss // 1024} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
