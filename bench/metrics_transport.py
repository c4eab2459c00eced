"""What recording one request's metrics costs, by way of getting them to the master.

    python bench/metrics_transport.py [VARIANT ...] [--src DIR]

Counts, with callgrind (as bench/instructions.py does: the difference between a run of
60,000 and one of 20,000 calls, divided by 40,000, so start-up cancels out), the
instructions one request's recording takes in each way a worker could hand its numbers to
the master. Each records what pronghorn's /metrics shows of a request: a request counter by
method and status class, a histogram of the total time and one of the time in the
application, and the response's body bytes.

- `recorder`: pronghorn's way in the compiled build,
  `pronghorn.metrics.recorder.WorkerMetrics.request_done`, counted in place in plain Python
  numbers (the clock thread copies them to shared memory once a second).
- `recorded`: pronghorn's way in the pure build: the request path's `record` (one tuple
  appended) and its share of `fold()` (counted in bulk, here once every 8,000 requests).
- `record`: the request path's half of that alone, as the dispatcher calls it.
- `publish`: that copy, once (`values()` then `MetricsBlock.publish`): paid once a second
  per worker, not per request.
- `shared_memory`: every number read and written in place in a shared mapping with
  `struct` (no copy needed, every increment pays).
- `pipe`: one `os.write` of the request's numbers a request, for the master to add up.
- `prometheus_client`: prometheus_client's multiprocess mode (mmap'd files per process);
  needs `pip install prometheus-client`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMALL, LARGE = 20_000, 60_000
VARIANTS = (
    "recorder",
    "recorded",
    "record",
    "publish",
    "shared_memory",
    "pipe",
    "prometheus_client",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--src", default=str(HERE.parent / "src"))
    parser.add_argument("--run", nargs=2, help=argparse.SUPPRESS)  # inside valgrind
    args = parser.parse_args()
    if args.run:
        return _run(args.run[0], int(args.run[1]))
    for variant in args.variants:
        small, large = _count(variant, SMALL, args.src), _count(variant, LARGE, args.src)
        print(f"{variant}: {(large - small) / (LARGE - SMALL):,.0f} instructions a call")
    return 0


def _count(variant: str, calls: int, src: str) -> int:
    with tempfile.TemporaryDirectory() as work:
        out = f"{work}/cg.out"
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            sys.executable, __file__, "--run", variant, str(calls),
        ]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=src, PROMETHEUS_MULTIPROC_DIR=work)
        subprocess.run(command, env=env, check=True, capture_output=True)
        for line in Path(out).read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no totals")


def _run(variant: str, calls: int) -> int:
    record = _variant(variant)
    clock = time.monotonic
    for _ in range(calls):
        record(clock())  # a request that started just now (a fast one, as most are)
    return 0


def _variant(name: str) -> Callable[[float], None]:
    if name == "recorder":
        from pronghorn.metrics.recorder import WorkerMetrics

        metrics = WorkerMetrics()
        return lambda started: metrics.request_done("GET", 200, 12, started, started)
    if name in ("recorded", "record"):
        from pronghorn.metrics.recorder import WorkerMetrics

        metrics = WorkerMetrics()
        clock, record, calls = time.monotonic, metrics.record, [0]

        def record_and_fold(started: float) -> None:
            record(("GET", 200, 12, started, started, clock()))
            calls[0] += 1
            if calls[0] % 8000 == 0:
                metrics.fold()

        if name == "recorded":
            return record_and_fold
        return lambda started: record(("GET", 200, 12, started, started, clock()))
    if name == "publish":
        from pronghorn.metrics.block import MetricsBlock
        from pronghorn.metrics.recorder import WorkerMetrics

        metrics, block = WorkerMetrics(), MetricsBlock()
        return lambda started: block.publish(metrics.values(), started)
    if name == "shared_memory":
        return _shared_memory()
    if name == "pipe":
        return _pipe()
    if name == "prometheus_client":
        return _prometheus_client()
    raise SystemExit(f"unknown variant {name}; one of {', '.join(VARIANTS)}")


def _shared_memory() -> Callable[[float], None]:
    import mmap
    import struct
    from bisect import bisect_left

    from pronghorn.metrics.catalogue import DURATION_BUCKETS, METHOD_INDEX

    memory = mmap.mmap(-1, 4096)
    cell = struct.Struct("=d")

    def add(slot: int, amount: float) -> None:
        (old,) = cell.unpack_from(memory, slot * 8)
        cell.pack_into(memory, slot * 8, old + amount)

    def record(now: float) -> None:
        end = time.monotonic()
        add(METHOD_INDEX.get("GET", 7) * 5 + 200 // 100 - 1, 1)
        add(40 + bisect_left(DURATION_BUCKETS, end - now), 1)
        add(56, end - now)
        add(60 + bisect_left(DURATION_BUCKETS, end - now), 1)
        add(76, end - now)
        add(77, 12)

    return record


def _pipe() -> Callable[[float], None]:
    import struct

    read, write = os.pipe()
    os.set_blocking(read, False)
    packet = struct.Struct("=8sHQdd")
    sent = [0]

    def record(now: float) -> None:
        end = time.monotonic()
        os.write(write, packet.pack(b"GET", 200, 12, end - now, end - now))
        sent[0] += 1
        if sent[0] % 1000 == 0:  # the master's side, so that the pipe never fills
            while True:
                try:
                    os.read(read, 65536)
                except BlockingIOError:
                    break

    return record


def _prometheus_client() -> Callable[[float], None]:
    from prometheus_client import Counter, Histogram

    requests = Counter("requests", "", ["method", "status"])
    total = Histogram("request_duration_seconds", "")
    app = Histogram("app_duration_seconds", "")
    body = Counter("body_bytes", "")

    def record(now: float) -> None:
        end = time.monotonic()
        requests.labels("GET", "2xx").inc()
        total.observe(end - now)
        app.observe(end - now)
        body.inc(12)

    return record


if __name__ == "__main__":
    sys.exit(main())
