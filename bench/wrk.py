"""The load generator: build the wrk command line, run it pinned to one CPU, parse its report.

Parses `wrk --latency` output: total requests, Requests/sec, the 50% and 99% latency lines,
socket errors and the "Non-2xx or 3xx responses" count.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass(frozen=True)
class LoadSpec:
    """How wrk loads one scenario."""

    path: str
    headers: tuple[str, ...] = ()
    script: Path | None = None


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int


def wrk_argv(url: str, load: LoadSpec, duration: float, connections: int, cpu: int) -> list[str]:
    argv = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s"]
    argv.append("--latency")
    for header in load.headers:
        argv += ["-H", header]
    if load.script is not None:
        argv += ["-s", str(load.script)]
    return [*argv, url]


def run_wrk(url: str, load: LoadSpec, duration: float, connections: int, cpu: int) -> WrkResult:
    """Run wrk once and parse its report; raises RuntimeError if wrk fails."""
    argv = wrk_argv(url, load, duration, connections, cpu)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip()[:300]}")
    return parse_wrk(done.stdout)


def _latency_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"unparsable latency {text!r}")
    return float(match.group(1)) * UNIT_MS[match.group(2)]


def _percentile(output: str, percent: str) -> float:
    match = re.search(rf"^\s+{percent}%\s+(\S+)", output, re.MULTILINE)
    return _latency_ms(match.group(1)) if match else float("nan")


def _socket_errors(output: str) -> int:
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return sum(int(group) for group in match.groups()) if match else 0


def parse_wrk(output: str) -> WrkResult:
    """Numbers from one wrk --latency report."""
    requests = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if not requests or not rps:
        raise ValueError(f"unparsable wrk output:\n{output}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(requests.group(1)),
        rps=float(rps.group(1)),
        p50_ms=_percentile(output, "50"),
        p99_ms=_percentile(output, "99"),
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=_socket_errors(output),
    )
