"""A/B of server commands on one scenario: interleaved rounds, every server restarted each round.

    python bench/ab.py [--rounds N] [--seconds S] [--app MODULE:CALLABLE] NAME=COMMAND ...

For telling apart two versions of pronghorn (or one with and without an option) whose
difference is smaller than the noise of one `bench/run.py` row. Each round starts every
COMMAND (with `--bind 127.0.0.1:PORT APP` appended, pinned to CPU 0 with taskset, in
bench/apps), waits until each answers, warms each up for a second, measures each with wrk
(`-t1 -c64`, pinned to CPU 1) for S seconds, and stops them all. The order of the servers
alternates round by round, and every server is started afresh each round, because the
same tree ran a few percent faster or slower from one start to the next (two A/B runs of
long-lived servers put the same variant at 0.992 and at 0.943 of the same baseline), which
a comparison of long-lived servers takes for the change. Prints, per server, the median req/s, the
median CPU time of its whole process tree per request (from /proc), and its ratio to the
first server's req/s in the same round (median, range, and each round's).

Example, what metrics cost the pure build:

    python bench/ab.py off=.venv/bin/pronghorn 'on=.venv/bin/pronghorn --metrics-bind 127.0.0.1:0'

A COMMAND is split on spaces; to measure another tree's sources, run its interpreter with
`env PYTHONPATH=DIR/src .venv/bin/python -m pronghorn`.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

APPS = Path(__file__).resolve().parent / "apps"
SERVER_CPU, WRK_CPU = 0, 1
READY_SECONDS = 20.0


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--app", default="hello:app")
    parser.add_argument("servers", nargs="+", metavar="NAME=COMMAND")
    args = parser.parse_args()
    specs = [tuple(spec.split("=", 1)) for spec in args.servers]
    if any(len(spec) != 2 for spec in specs):
        parser.error("each server is NAME=COMMAND")
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in specs}
    for number in range(args.rounds):
        order = specs if number % 2 == 0 else specs[::-1]
        servers = [_start(name, command, args.app) for name, command in order]
        try:
            for server in servers:
                _wait_until_up(server)
                _wrk(server.port, 1)
            for server in servers:
                before = _tree_cpu(server.process.pid)
                rate = _wrk(server.port, args.seconds)
                cpu = _tree_cpu(server.process.pid) - before
                runs[server.name].append((rate, cpu / (rate * args.seconds) * 1e6))
        finally:
            for server in servers:
                _stop(server)
    _report(runs)
    return 0


def _report(runs: dict[str, list[tuple[float, float]]]) -> None:
    base = next(iter(runs))
    for name, results in runs.items():
        ratios = [
            rate / base_rate for (rate, _), (base_rate, _) in zip(results, runs[base], strict=True)
        ]
        print(
            f"{name}: {statistics.median(r for r, _ in results):,.0f} req/s, "
            f"{statistics.median(c for _, c in results):.2f} µs CPU a request, "
            f"÷ {base} {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}; "
            f"{' '.join(f'{r:.3f}' for r in ratios)})"
        )


def _start(name: str, command: str, app: str) -> Server:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The servers run in bench/apps: a word that names a file from here becomes absolute.
    words = [os.path.abspath(w) if Path(w).exists() else w for w in command.split()]
    argv = ["taskset", "-c", str(SERVER_CPU), *words]
    argv += ["--bind", f"127.0.0.1:{port}", app]
    process = subprocess.Popen(
        argv,
        cwd=APPS,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Server(name, port, process)


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1.0) as conn:
                conn.sendall(b"GET / HTTP/1.1\r\nHost: ab\r\n\r\n")
                if conn.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)  # polling with a deadline, not waiting for readiness blind
    raise SystemExit(f"{server.name} did not answer within {READY_SECONDS:g} s")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


def _wrk(port: int, seconds: int) -> float:
    argv = ["taskset", "-c", str(WRK_CPU), "wrk", "-t1", "-c64", f"-d{seconds}s"]
    out = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"no rate in wrk's output:\n{out}")
    return float(found.group(1))


def _tree_cpu(leader: int) -> float:
    """User and system CPU seconds of every process in `leader`'s session."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == leader:  # the session id: start_new_session made it the leader's
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    raise SystemExit(main())
