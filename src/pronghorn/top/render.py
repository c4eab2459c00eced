"""The text of one `pronghorn top` screen: a header of whole-server totals, then one row a
worker.

Owns `render(frame, source, readiness, width)`, plain lines without terminal codes (the
live screen adds those, `pronghorn.top.screen`), so that `--once` prints what a script can
read: the columns of the worker table are separated by spaces and no value contains one.
"""

from __future__ import annotations

import math
import time

from pronghorn.top.frame import RESTART_CAUSES, Frame

COLUMNS = ("SLOT", "PID", "UPTIME", "REQ/S", "INFLIGHT", "CONNS", "P50", "P99", "REQUESTS",
           "RESTARTS")  # fmt: skip
_WIDTHS = (4, 8, 8, 9, 8, 6, 9, 9, 10, 8)


def render(frame: Frame | None, source: str, readiness: str, width: int = 100) -> list[str]:
    """The lines of a screen; `frame` None: the first scrape is in, the second awaited."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    over = f"over {frame.seconds:.1f} s" if frame is not None else "collecting"
    lines = [f"pronghorn top  {source}  {stamp} UTC  ({over})", f"{readiness}"]
    if frame is None:
        return [line[:width] for line in lines]
    totals = frame.totals
    states = sorted(totals.workers.items(), key=lambda item: item[0] != "serving")
    workers = ", ".join(
        f"{int(count)} {state}" for state, count in states if count or state == "serving"
    )
    restarts = int(sum(totals.restarts.values()))
    causes = ", ".join(
        f"{cause} {int(totals.restarts.get(cause, 0))}"
        for cause in RESTART_CAUSES
        if totals.restarts.get(cause, 0)
    )
    lines += [
        f"workers: {workers or 'one process'}   restarts: {restarts}"
        + (f" ({causes})" if causes else ""),
        f"requests: {int(totals.requests)} total, {totals.rate:.1f}/s, "
        f"5xx {totals.error_rate:.1f}/s   p50 {duration(totals.p50)}  p99 {duration(totals.p99)}",
        f"in flight: {int(totals.in_flight)}   waiting for a thread: {int(totals.waiting)}"
        f"   connections open: {int(totals.connections)}",
        f"bytes/s: in {size(totals.bytes_in_rate)}, out {size(totals.bytes_out_rate)}",
    ]
    lines += [
        f"listen queue {listener}: {int(queued)} of {int(limit)}"
        for listener, queued, limit in totals.listen_queues
    ]
    lines.append("")
    lines.append(_table_line(COLUMNS))
    for row in frame.rows:
        cells = (
            str(row.slot),
            str(row.pid),
            "-" if row.uptime is None else elapsed(row.uptime),
            f"{row.rate:.1f}",
            str(int(row.in_flight)),
            str(int(row.connections)),
            duration(row.p50),
            duration(row.p99),
            str(int(row.requests)),
            str(int(row.restarts)),
        )
        lines.append(_table_line(cells))
    if not frame.rows:
        lines.append("(no per-worker series: is this server older than pronghorn top?)")
    return [line[:width] for line in lines]


def _table_line(cells: tuple[str, ...]) -> str:
    return " ".join(cell.rjust(width) for cell, width in zip(cells, _WIDTHS, strict=True))


def duration(seconds: float | None) -> str:
    """A percentile as a short text: `-` without requests, `>30s` beyond the buckets."""
    if seconds is None:
        return "-"
    if math.isinf(seconds):
        return ">30s"
    if seconds < 1.0:
        return f"{seconds * 1000.0:.3g}ms"
    return f"{seconds:.3g}s"


def elapsed(seconds: float) -> str:
    """`42s`, `3m07s`, `5h02m`, `2d03h`."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def size(count: float) -> str:
    """Bytes as `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`."""
    for unit in ("B", "KiB", "MiB"):
        if count < 1024.0:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024.0
    return f"{count:.1f} GiB"
