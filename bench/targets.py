"""The performance targets of issue 13, read from the JSON of full benchmark runs.

    python bench/targets.py RUN.json [RUN.json ...]

Prints a Markdown table: for each target, each run's pure / compiled req/s divided by the
peer's in that run (the compiled figure in bold where it meets the target), and in how many
runs the compiled build met it; then the hello CPU a request of both builds and of bjoern.
The runs are the files `bench/run.py --json FILE` writes (bench/results/*.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TIMES = "\N{MULTIPLICATION SIGN}"  # as the docs' tables write a ratio

# (scenario, peer, the compiled build's req/s ÷ the peer's it must reach)
TARGETS = (
    ("hello", "granian", 1.2),
    ("hello", "bjoern", 0.7),
    ("post-echo", "granian", 1.2),
    ("post-echo", "bjoern", 0.7),
    ("flask-json", "granian", 1.3),
    ("flask-json", "bjoern", 0.95),
    ("django-json", "granian", 1.3),
    ("django-json", "bjoern", 0.95),
    ("hello-close", "uwsgi", 1.0),
    ("static-1k", "nginx", 0.8),
    ("static-1m", "nginx", 1.0),
)


def row(run: dict[str, Any], scenario: str, server: str) -> dict[str, Any] | None:
    """The summary of `server` in `scenario`, or None when it did not run or failed."""
    for found in run["scenarios"]:
        if found["name"] != scenario:
            continue
        for entry in found["rows"]:
            if entry["server"] == server and entry["status"] == "ok":
                summary: dict[str, Any] = entry["summary"]
                return summary
    return None


def cell(run: dict[str, Any], scenario: str, peer: str, goal: float) -> tuple[str, bool]:
    pure, compiled, other = (
        row(run, scenario, s) for s in ("pronghorn", "pronghorn-compiled", peer)
    )
    if pure is None or compiled is None or other is None:
        return "n/a", False
    ratio = compiled["rps"] / other["rps"]
    shown = f"{ratio:.2f}{TIMES}"
    text = f"{pure['rps'] / other['rps']:.2f}{TIMES} / {f'**{shown}**' if ratio >= goal else shown}"
    return f"{text} ({compiled['rps']:,.0f} vs {other['rps']:,.0f})", ratio >= goal


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    runs = [json.loads(Path(path).read_text(encoding="utf-8")) for path in paths]
    times = [run["meta"]["date"][11:16] for run in runs]
    print("| target | " + " | ".join(times) + " | met (compiled) |")
    print("| --- |" + " --- |" * (len(runs) + 1))
    for scenario, peer, goal in TARGETS:
        cells = [cell(run, scenario, peer, goal) for run in runs]
        met = sum(ok for _, ok in cells)
        texts = " | ".join(text for text, _ in cells)
        print(f"| {scenario} ≥ {goal}{TIMES} {peer} | {texts} | {met} of {len(runs)} |")
    for when, run in zip(times, runs, strict=True):
        cpu = {s: row(run, "hello", s) for s in ("pronghorn", "pronghorn-compiled", "bjoern")}
        figures = ", ".join(
            f"{name} {found['cpu_us_per_req']:.1f}" for name, found in cpu.items() if found
        )
        print(f"{when} hello CPU µs a request: {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
