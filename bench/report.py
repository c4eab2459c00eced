"""Results: per-row medians, ratio to the best peer, efficiency, markdown tables and JSON.

A row is one (server, scenario) pair. Its runs are raw wrk numbers plus CPU time; the summary is
the median of each metric over the runs, errors summed. `ratio` is req/s divided by the best
peer's req/s in the same scenario (pronghorn rows are never the "best peer"); `efficiency` is
req/s divided by the in-process `limit` req/s of the same app.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int
    cpu_us_per_req: float
    server_cpu_s: float = 0.0  # CPU time of the server tree during the run
    core_busy_s: float = 0.0  # process time on the server's core during the run (any process)
    noise: float = 0.0  # share of the server core used by other processes during the run
    wrk_noise: float = 0.0  # share of wrk's core used by processes other than wrk


@dataclass
class Row:
    server: str
    peer: bool
    status: str = "ok"  # ok | unavailable | failed
    reason: str = ""
    argv: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    peak_rss_mib: float = math.nan
    summary: dict[str, float] = field(default_factory=dict)


@dataclass
class ScenarioResult:
    name: str
    kind: str
    note: str
    limit_rps: float = math.nan
    limit_error: str = ""
    rows: list[Row] = field(default_factory=list)


def _median(values: list[float]) -> float:
    clean = [value for value in values if not math.isnan(value)]
    return statistics.median(clean) if clean else math.nan


def summarize(result: ScenarioResult) -> None:
    """Fill each row's summary: medians, errors, ratio to best peer, efficiency."""
    for row in result.rows:
        if not row.runs:
            row.summary = {}
            continue
        row.summary = {
            metric: _median([getattr(run, metric) for run in row.runs])
            for metric in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")
        }
        row.summary["noise"] = _median([max(run.noise, run.wrk_noise) for run in row.runs])
        row.summary["non2xx"] = float(sum(run.non2xx for run in row.runs))
        row.summary["socket_errors"] = float(sum(run.socket_errors for run in row.runs))
        row.summary["efficiency"] = row.summary["rps"] / result.limit_rps
    best = best_peer(result)
    for row in result.rows:
        if row.summary:
            row.summary["ratio"] = row.summary["rps"] / best if best else math.nan


def best_peer(result: ScenarioResult) -> float:
    peers = [row.summary["rps"] for row in result.rows if row.peer and row.summary]
    return max(peers) if peers else 0.0


def _fmt(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def _row_cells(row: Row, wsgi: bool) -> list[str]:
    if not row.summary:
        return [row.server, f"{row.status}: {row.reason}"[:90]]
    summary = row.summary
    cells = [
        row.server,
        _fmt(summary["rps"]),
        f"{_fmt(summary['ratio'], 2)}x",
        _fmt(summary["p50_ms"], 2),
        _fmt(summary["p99_ms"], 2),
        _fmt(summary["cpu_us_per_req"], 0),
        _fmt(row.peak_rss_mib, 1),
        f"{int(summary['non2xx'])} / {int(summary['socket_errors'])}",
        f"{summary['noise'] * 100:.0f}%",
    ]
    if wsgi:
        cells.insert(3, f"{_fmt(summary['efficiency'] * 100, 1)}%")
    return cells


def scenario_table(result: ScenarioResult) -> str:
    wsgi = result.kind == "wsgi"
    header = ["server", "req/s", "ratio vs best peer"]
    header += ["efficiency"] if wsgi else []
    header += ["p50 ms", "p99 ms", "CPU µs/req", "peak RSS MiB", "non-2xx / socket errors"]
    header += ["other load"]
    lines = [f"### {result.name} — {result.note}", ""]
    if wsgi:
        limit = _fmt(result.limit_rps) if not result.limit_error else result.limit_error
        lines += [f"In-process limit (app alone, no server): {limit} calls/s", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ordered = sorted(result.rows, key=lambda row: -row.summary.get("rps", -1.0))
    for row in ordered:
        cells = _row_cells(row, wsgi)
        cells += [""] * (len(header) - len(cells))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(results: list[ScenarioResult]) -> str:
    return "\n".join(scenario_table(result) for result in results)


def _jsonable(value: Any) -> Any:
    """NaN becomes null so the file is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def write_json(path: Path, meta: dict[str, Any], results: list[ScenarioResult]) -> None:
    document = {"meta": meta, "scenarios": [asdict(result) for result in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(document), indent=2) + "\n")
