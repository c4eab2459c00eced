"""What recording a request's metrics takes when the caches are cold, as in a running server.

    python bench/cold_recorder.py [--objects N] [--calls N] [--src DIR]

A tight loop (`timeit`, or callgrind's counts in bench/metrics_transport.py) runs the
recorder with its bytecode and its data in the processor's caches. In a server the rest of
a request runs between two recordings and pushes them out. This times one call at a time,
with `time.perf_counter`, after walking N objects (a list of floats and a dict of strings,
a few MB at the default) between calls, for each way of recording a request:

- `in place`: `WorkerMetrics.request_done` (the compiled build's way);
- `recorded`: `metrics.record((...))`, the append the pure build's dispatcher makes (its
  fold, on the clock thread, runs hot and is not timed here: bench/metrics_transport.py
  counts it);
- `empty`: a Python method that does nothing, for the cost of a call alone;
- `nothing`: the timing itself.

Prints the median of five rounds of each, in nanoseconds a call. Wall-clock: run it on a
quiet machine, and compare the rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class _Empty:
    def request_done(
        self, method: str, status: int, body_bytes: int, started: float, app_started: float
    ) -> None:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--src", default=str(HERE.parent / "src"))
    args = parser.parse_args()
    sys.path.insert(0, args.src)
    from pronghorn.metrics.recorder import WorkerMetrics

    floats = [float(i) for i in range(args.objects)]
    names = {str(i): i for i in range(args.objects // 10)}

    def walk() -> float:
        total = 0.0
        for number in floats[::20]:
            total += number
        for name in list(names)[::20]:
            total += names[name]
        return total

    def in_place(metrics: WorkerMetrics, started: float) -> None:
        metrics.request_done("GET", 200, 12, started, started)

    def recorded(metrics: WorkerMetrics, started: float) -> None:
        metrics.record(("GET", 200, 12, started, started, time.monotonic()))

    empty = _Empty()
    ways: dict[str, Callable[[Any, float], None]] = {
        "in place": in_place,
        "recorded": recorded,
        "empty": lambda metrics, started: empty.request_done("GET", 200, 12, started, started),
        "nothing": lambda metrics, started: None,
    }
    rounds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(5):
        for name, way in ways.items():
            rounds[name].append(_time_calls(way, walk, args.calls, WorkerMetrics))
    for name, figures in rounds.items():
        print(f"{name}: {statistics.median(figures):,.0f} ns a call")
    return 0


def _time_calls(
    way: Callable[[Any, float], None],
    walk: Callable[[], float],
    calls: int,
    make: Callable[[], Any],
) -> float:
    """Nanoseconds a call of `way`, each call after a walk over the other objects."""
    metrics = make()
    spent = 0.0
    for _ in range(calls):
        walk()
        started = time.monotonic()
        before = time.perf_counter()
        way(metrics, started)
        spent += time.perf_counter() - before
    fold = getattr(metrics, "fold", None)
    if fold is not None:
        fold()  # what was recorded, so that the next round starts as empty
    return spent / calls * 1e9


if __name__ == "__main__":
    raise SystemExit(main())
